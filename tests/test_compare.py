"""Two models side by side (issue 30, part 3): the same image question to --vqa-model (the tiny Omni) and
--compare-model (the tiny Janus), both answers streamed, each checkpoint loaded once, and a compare model that
does not fit refused at start-up with the numbers."""

from __future__ import annotations

import os
import shutil

import pytest
from gradio_client import handle_file

from pipelines import device, tiny
from pipelines.compare import side_by_side, stats
from pipelines.errors import ModelError, UserFacingError
from pipelines.settings import Settings
from pipelines.tasks import Pipelines
from tests.conftest import ASSETS
from tests.recorder import Recorder

QUESTION = "Which colour is the house?"


@pytest.fixture(scope="module")
def janus(tiny_dir):
    return str(tiny_dir / tiny.JANUS_DIR)


@pytest.fixture(scope="module")
def compared(apps, janus):
    """The app with a second model for image questions (longer answers, so that they stream in several updates)."""
    return apps(compare_model=janus, max_new_tokens=32)


class Prompts:
    """The prompts (token ids) that reach a Janus model's first forward of each generate()."""

    def __init__(self, loaded):
        self.loaded, self.ids = loaded, []

    def __enter__(self):
        def hook(module, args, kwargs):
            cache = kwargs.get("past_key_values")
            if cache is None or cache.get_seq_length() == 0:
                self.ids.append(kwargs["input_ids"][0].tolist())
        self.handle = self.loaded.generator.register_forward_pre_hook(hook, with_kwargs=True)
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def test_both_models_get_the_question_and_both_answers_stream(compared, janus):
    pipes = compared.pipes
    first, second = pipes.vqa, pipes.compared("vqa")
    assert second.model_id == janus and second.flag == "--compare-model" and type(second).task == "vqa"
    asked = [p.prepare(str(ASSETS / "street.png"), QUESTION) for p in (first, second)]
    updates = {0: [], 1: []}
    with Recorder(first.model) as omni, Prompts(second.model) as other:
        for i, answer in side_by_side([lambda stop, i=i: (first, second)[i].answer(asked[i], stop=stop)
                                       for i in range(2)]):
            updates[i].append(answer)
    assert QUESTION in omni.last.text and omni.last.images  # the question and the image reached both
    janus_prompt = second.model.tokenizer.decode(other.ids[0])
    assert QUESTION in janus_prompt and other.ids[0].count(second.model.generator.config.image_token_id) > 0
    for i in (0, 1):
        texts = [str(a) for a in updates[i]]
        assert texts and all(b.startswith(a) for a, b in zip(texts, texts[1:]))  # growing, in order
        figures = stats(updates[i][-1])
        assert figures["tokens"] == len(updates[i][-1].usage.tokens) > 0 and figures["done"]
        assert figures["seconds"] >= figures["first_token_seconds"] >= 0
    assert len(updates[0]) + len(updates[1]) > 2


def test_the_compare_endpoint_streams_both_answers_with_their_figures(compared, janus):
    client = compared.new_client()
    job = client.submit(handle_file(str(ASSETS / "street.png")), QUESTION, api_name="/compare")
    seen = list(job)
    a, b, stats_a, stats_b = job.result()
    assert a and b and "tokens" in stats_a and "tokens" in stats_b
    assert len(seen) >= 2
    counts = compared.pipes.registry.load_counts
    assert counts[janus] == 1  # the compare model and the drawing tab share one load
    client.predict(prompt="a red house", seed=1, count=1, size=384, guidance=5.0, api_name="/text_to_image")
    assert counts[janus] == 1
    status = client.predict(api_name="/status")["models"]
    assert "compare" in status["janus"]["tasks"] and status["janus"]["loaded"]
    with pytest.raises(Exception) as err:  # bad input: one clear message, before either model runs
        client.predict(None, QUESTION, api_name="/compare")
    assert "image" in str(err.value).lower()


def test_no_compare_tab_without_a_second_model(served):
    assert "/compare" not in served.client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert served.pipes.compared("vqa") is None


def test_a_compare_model_that_cannot_take_the_tasks_input_is_not_offered(tiny_settings, janus):
    pipes = Pipelines(tiny_settings(compare_model=janus))
    assert pipes.compared("audio") is None and pipes.compared("vqa") is not None
    assert janus in pipes.model_ids()


def test_the_flag_and_the_variable_choose_it():
    from app import parse_args, settings_from

    assert Settings.from_env({"MMDEMO_COMPARE_MODEL": "org/other"}).compare_model == "org/other"
    assert settings_from(parse_args(["--compare-model", "org/flag"])).compare_model == "org/flag"
    assert Settings().compare_model == ""


def test_a_compare_model_that_does_not_fit_is_refused_at_start_up(tiny_settings, tiny_dir, tmp_path):
    """The memory plan counts the second checkpoint; with a budget just short of it, start-up stops with the
    numbers; with the budget that fits, it starts as asked."""
    other = tmp_path / "omni-copy"  # a second checkpoint (the same shapes, its own id)
    shutil.copytree(tiny_dir / tiny.OMNI_DIR, other)
    pipes = Pipelines(tiny_settings(compare_model=str(other)))
    plan = device.plan_memory(pipes, False, None, False)
    mine = sum(p.bytes for p in plan.parts if p.model_id == str(other))
    assert mine > 0
    without = device.plan_memory(Pipelines(tiny_settings()), False, None, False)
    assert plan.total == without.total + mine
    with pytest.raises(ModelError) as err:
        device.startup_warnings(pipes, environ={}, dev=tmp_path, which=lambda name: None, available=plan.total - 1,
                                on_gpu=False)
    assert err.value.key == "compare_too_big"
    text = err.value.message("en")
    assert str(other) in text and f"{plan.total / 2**30:.1f} GB needed" in text and "RAM" in text
    assert "不加它" in err.value.message("zh")
    fits = Pipelines(tiny_settings(compare_model=str(other)))
    assert device.startup_warnings(fits, environ={}, dev=tmp_path, which=lambda name: None, available=plan.total,
                                   on_gpu=False) == []
    assert any(p.model_id == str(other) for p in fits.memory_plan.parts)


@pytest.mark.slow
def test_python_app_with_compare_model_serves_the_compare_endpoint(janus):
    """`python app.py --tiny --compare-model DIR`, as a person starts it: the flag reaches the page's tab and API."""
    from gradio_client import Client

    from tests.conftest import run_app

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MMDEMO_MAX_NEW_TOKENS": "4"}
    with run_app("--tiny", "--compare-model", janus, env=env) as url:
        client = Client(url, verbose=False, analytics_enabled=False)
        a, b, stats_a, stats_b = client.predict(handle_file(str(ASSETS / "street.png")), QUESTION,
                                                api_name="/compare")
        assert a and b and "tokens" in stats_a and "tokens" in stats_b


def test_closing_the_stream_stops_both_models_within_a_step(compared):
    """Stop (the handler's generator closed) stops both answers, and waits for both threads."""
    import threading

    pipes = compared.pipes
    sides = [pipes.vqa, pipes.compared("vqa")]
    asked = [p.prepare(str(ASSETS / "street.png"), QUESTION) for p in sides]
    stops: list[threading.Event] = []

    def answer(i):
        def run(stop):
            stops.append(stop)
            return sides[i].answer(asked[i], stop=stop)
        return run

    stream = side_by_side([answer(0), answer(1)])
    next(stream)
    stream.close()
    assert len(stops) == 2 and all(s.is_set() for s in stops)
    assert not [t for t in threading.enumerate() if t.name.startswith("compare ")]


def test_one_side_failing_leaves_the_other_answering(compared):
    """A side that fails (here: asked for more tokens than --max-new-tokens allows) says why in its own column;
    the other answer still comes whole."""
    pipes = compared.pipes
    sides = [pipes.vqa, pipes.compared("vqa")]
    asked = [p.prepare(str(ASSETS / "street.png"), QUESTION) for p in sides]
    limits = [10**6, None]
    updates = {0: [], 1: []}
    for i, item in side_by_side([lambda stop, i=i: sides[i].answer(asked[i], limits[i], stop) for i in (0, 1)]):
        updates[i].append(item)
    assert len(updates[0]) == 1 and isinstance(updates[0][0], UserFacingError)
    assert updates[0][0].key == "bad_max_tokens"
    assert updates[1] and str(updates[1][-1])


def test_status_names_a_compare_model_no_tab_uses(tiny_settings, tiny_dir, tmp_path):
    """A second checkpoint of its own shows in Status as the comparison's, loaded once it answered."""
    from components.status import collect

    other = tmp_path / "omni-second"
    shutil.copytree(tiny_dir / tiny.OMNI_DIR, other)
    pipes = Pipelines(tiny_settings(compare_model=str(other)))
    assert collect(pipes)["models"]["omni-second"] == {"tasks": ["compare"], "loaded": False}
    for _ in pipes.compared("vqa").answer(pipes.compared("vqa").prepare(str(ASSETS / "street.png"), QUESTION)):
        pass
    entry = collect(pipes)["models"]["omni-second"]
    assert entry["tasks"] == ["compare"] and entry["loaded"] and pipes.registry.load_counts[str(other)] == 1
