"""The UI around the tasks: English and Chinese, example inputs, the model queue, the status panel.

What only a browser shows (the page rendered in zh-CN and en-US) is in test_browser.py.
"""

import json
import re

import gradio as gr
import pytest
from gradio_client import Client, handle_file

from catalogue import message
from components.common import MODEL_QUEUE
from components.i18n import EN, ZH
from components.status import shown_model

from .conftest import ASSETS, launch

STREET = str(ASSETS / "street.png")
ZH_HEADERS = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}


@pytest.fixture(scope="module")
def demo(pipes):
    from app import build_demo

    return build_demo(pipes)


def test_every_visible_text_goes_through_the_translations(demo):
    config = demo.get_config_file()
    plain = []
    for comp in config["components"]:
        props, kind = comp["props"], comp["type"]
        texts = [props.get(k) for k in ("label", "placeholder", "info")]
        if kind in ("button", "markdown"):
            texts.append(props.get("value"))
        plain += [(kind, v) for v in texts if v is not None and str(v).strip() and "__i18n__" not in str(v)]
        if kind == "dataset":  # example captions: translated on the server, so English here, and hidden
            assert props["sample_labels"] and set(props["sample_labels"]) <= set(EN.values())
            assert props["visible"] is False  # until the page load sets them in the page's language
        if kind == "radio":  # the answer-language picker and the page's switch name each language in itself
            assert props["choices"] in ([("English", "en"), ("中文", "zh")], [("English", "en"), ("简体中文", "zh")])
    assert not plain, f"labels not in catalogue.LABELS: {plain}"
    used = set(re.findall(r'translation_metadata\\?", \\?"key\\?": \\?"([\w.]+)', json.dumps(config, default=str)))
    assert used and used <= EN.keys()


def test_example_captions_follow_the_browser_language(demo):
    translate = [fn.fn for fn in demo.fns.values() if fn.name == "translate"]
    assert len(translate) == 5  # one per tab with examples (caption, image chat, drawing, audio, video)
    for header, table in (("zh-CN,zh;q=0.9", ZH), ("en-US,en;q=0.9", EN), ("fr-FR", EN)):
        update = translate[0](gr.Request(headers={"accept-language": header}))
        assert update.sample_labels == [table["example_street"], table["example_chart"]] and update.visible is True


def notices(job) -> list:
    """Every status update the job received (warnings in .log, progress texts in .progress_data)."""
    updates = []
    while not job.communicator.updates.empty():
        updates.append(job.communicator.updates.get_nowait())
    return [u for u in updates if hasattr(u, "log")]  # not the output updates


@pytest.mark.parametrize("lang, headers", [("en", None), ("zh", ZH_HEADERS)])
def test_warnings_and_progress_follow_the_callers_language(served, lang, headers, tmp_path):
    """Errors are checked in test_bad_input.py; here what else the server writes for a person."""
    import numpy as np
    import soundfile as sf

    client = Client(served.url, analytics_enabled=False, verbose=False, headers=headers)
    clip = tmp_path / "long.wav"
    sf.write(clip, np.zeros(16_000 * 32, dtype=np.float32), 16_000)  # over the 30 s limit
    job = client.submit(handle_file(str(clip)), "what is this?", api_name="/audio_qa")
    job.result(timeout=60)
    trimmed = message("audio_trimmed", lang, seconds=32, limit=30)
    assert (trimmed, "warning") in [u.log for u in notices(job) if u.log]

    job = client.submit("a red house", 1, 1, 256, 5, api_name="/text_to_image")
    job.result(timeout=60)
    descs = {p.desc for u in notices(job) for p in (u.progress_data or [])}
    assert descs == {message("drawing", lang)}


def test_stop_cancels_every_model_run_example_clicks_too(demo):
    """(test_load.py checks that they all share the model queue.)"""
    from components.vqa import SEND_QUEUE

    # (the chat tabs' quick steps, sending a question and their notices, wait in a queue of their own)
    # (nor the Talk tab's microphone and camera streams and its page-closed step, which run no model)
    runs = {i for i, fn in demo.fns.items() if fn.fn is not None and fn.queue
            and fn.concurrency_id not in (SEND_QUEUE["concurrency_id"], "talk_listen", "talk_see") and fn.name != "gone"}
    # Per tab. Caption: its run and Enter. Image chat: the answer (after Ask/Enter, an example, a retry,
    # an edit), /vqa, /vqa_spoken. Drawing: its run and Enter, the default drawing, "Describe this drawing"
    # (a caption run). Audio: the page's run and Enter, /audio_qa_spoken, /audio_qa and its example.
    # Video: the answer (after Ask/Enter, an example, a retry, an edit), /video_qa, /video_qa_spoken. The attention pass on
    # caption, image chat, audio and video (a word clicked, heads, first and last layer released or typed: 6 each),
    # and /attention. Search: its run and Enter, /classify, /similarity_matrix. Issue 30: the rerun without an input
    # under each of those four tabs, and /ablation.
    show = 6
    # Talk: its answer (New conversation cancels it; speaking over it stops it through its stop Event).
    assert len(runs) == (2 + show) + (4 + 2 + show) + 4 + (5 + show) + (4 + 2 + show) + 1 + 4 + 4 + 1 + 1
    cancelled = {i for dep in demo.get_config_file()["dependencies"] for i in dep["cancels"]}
    # The page's drawings stop on a session flag instead (RunControls quiet_stop): Stop raises it.
    flagged = {i for i, fn in demo.fns.items() if fn.fn is not None and fn.fn.__name__ == "text_to_image"}
    assert len(flagged) == 2 and runs - flagged <= cancelled


def test_clicking_an_example_fills_the_inputs_then_runs_on_the_model_queue(demo):
    fills = [fn for fn in demo.fns.values() if fn.inputs and isinstance(fn.inputs[0], gr.Dataset)]
    assert len(fills) == 5 and not any(fn.queue for fn in fills)  # filling is instant
    from components.vqa import SEND_QUEUE

    def quick(fn):  # unqueued, or the chat's send queue that never waits
        return not fn.queue or fn.concurrency_id == SEND_QUEUE["concurrency_id"]

    for fill in fills:  # (the buttons say busy, the chat takes the question first: quick steps)
        runs, after = [], {fill._id}
        while after:
            steps = [fn for fn in demo.fns.values() if fn.trigger_after in after]
            runs += [fn for fn in steps if not quick(fn)]
            after = {fn._id for fn in steps if quick(fn)}
        assert len(runs) == 1 and runs[0].concurrency_id == MODEL_QUEUE
        assert runs[0].inputs and runs[0].outputs


def test_cached_examples_run_once_on_the_model_queue(pipes, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_EXAMPLES_CACHE", str(tmp_path))
    served = launch(pipes, cache_examples=True)
    try:
        cached = {i: fn for i, fn in served.demo.fns.items() if fn.name == "load_example_output"}
        assert len(cached) == 5 and {fn.concurrency_id for fn in cached.values()} == {MODEL_QUEUE}
        client = Client(served.url, analytics_enabled=False, verbose=False)
        caption = next(i for i, fn in cached.items() if fn.outputs[0].elem_id == "caption-output")
        first = client.predict(1, fn_index=caption)  # runs the model, then caches
        assert isinstance(first, str) and first
        assert list(tmp_path.glob("*/log.csv"))
        assert client.predict(1, fn_index=caption) == first  # from the cache
        for chat in ("vqa-chat", "video-chat"):  # the chats' examples call their API function (history [])
            index = next(i for i, fn in cached.items() if fn.outputs[0].elem_id == chat)
            history = client.predict(0, fn_index=index)[0]
            assert [m["role"] for m in history] == ["user", "assistant"] and history[1]["content"], (chat, history)
    finally:
        served.close()


def test_status_after_using_a_tab(client, pipes):
    import torch
    import transformers

    client.predict(handle_file(STREET), "en", api_name="/caption")
    for _ in range(50):  # the queue frees its slot just after the answer went out
        status = client.predict(api_name="/status")
        if not status["queue"]["running"]:
            break
    omni = status["models"][shown_model(pipes.caption.model_id)]  # a local folder by its name only
    on_gpu = torch.cuda.is_available()  # --device auto: the GPU when there is one
    assert omni["loaded"] and omni["device"] == ("cuda:0" if on_gpu else "cpu")
    assert omni["dtype"] == ("bfloat16" if on_gpu else "float32")
    assert {"caption", "vqa", "audio"} <= set(omni["tasks"])
    assert omni["parameters"] > 0 and omni["architecture"]
    assert status["memory"]["process_rss_mb"] > 0
    assert status["queue"] == {"waiting": 0, "running": 0, "limit": 1, "max_size": pipes.settings.queue_size}
    assert status["versions"] == {**status["versions"], "torch": torch.__version__,
                                  "transformers": transformers.__version__, "gradio": gr.__version__}
    assert status["device"]["cuda"] is on_gpu
