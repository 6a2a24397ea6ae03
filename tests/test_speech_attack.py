"""Spoken answers under attack (issue 16): what a hostile or careless API caller sends as the voice and the
speech switch, through plain HTTP as curl sends it. One app for the module; most refusals come before any
model work, so the module stays quick.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import ASSETS, launch
from tests.browser import NARROW, tab, upload


@pytest.fixture(scope="module")
def served(apps):
    return apps(max_new_tokens=8)


@pytest.fixture(scope="module")
def server(served):
    """The page the browser tests open (conftest's open_page): this module's app."""
    return served.url


@pytest.fixture(scope="module")
def files(served) -> dict:
    """The assets uploaded once, as an API caller sends them (FileData with its meta)."""
    uploaded = {}
    for key, name in (("audio", "speech_en.wav"), ("image", "street.png"), ("video", "street_en.mp4")):
        with open(ASSETS / name, "rb") as f:
            path = httpx.post(f"{served.url}gradio_api/upload", files={"files": (name, f)}, timeout=60).json()[0]
        uploaded[key] = {"path": path, "meta": {"_type": "gradio.FileData"}}
    return uploaded


def call(app: str, api: str, data: list, language: str = "en") -> tuple[str, object]:
    """One call through Gradio's plain HTTP API: (last event name, its data)."""
    headers = {"Accept-Language": language}
    event = httpx.post(f"{app}gradio_api/call/{api}", content=json.dumps({"data": data}),
                       headers={**headers, "content-type": "application/json"}, timeout=60).json()["event_id"]
    lines = httpx.get(f"{app}gradio_api/call/{api}/{event}", headers=headers, timeout=300).text.splitlines()
    name = [line for line in lines if line.startswith("event:")][-1].split(": ", 1)[1]
    data = [line for line in lines if line.startswith("data:")][-1].split(": ", 1)[1]
    return name, json.loads(data)


def spoken_calls(files, *, voice="Chelsie", speak=True) -> list[tuple[str, list]]:
    """The three spoken endpoints with the same voice (and, where there is one, speech switch)."""
    return [("audio_qa_spoken", [files["audio"], "What is said?", speak, voice]),
            ("vqa_spoken", [files["image"], "What is this?", [], voice, None]),
            ("video_qa_spoken", [files["video"], "What is said?", [], voice, True])]


HOSTILE_VOICES = ["Nobody", "chelsie", "../../spk_dict.pt", 5, True, ["Chelsie"], {"name": "Chelsie"},
                  "x" * 1_000_000]


@pytest.mark.parametrize("voice", HOSTILE_VOICES, ids=["unknown", "case", "path", "number", "bool", "list",
                                                       "dict", "1MB"])
def test_a_voice_that_is_not_offered_is_refused_clearly(served, files, voice):
    """Before any model work, in the caller's language, naming the voices there are (not Gradio's raw
    English "not in the list of choices", and not a text answer whose speech then fails on a TypeError);
    a megabyte of voice name is not echoed back."""
    for api, data in spoken_calls(files, voice=voice):
        for language, words in (("en", "choose one of: Chelsie, Ethan"), ("zh-CN", "可选：Chelsie, Ethan")):
            name, error = call(served.url, api, data, language)
            assert name == "error", (api, language, error)
            assert words in error["error"] and "list of choices" not in error["error"], (api, error)
            assert len(error["error"]) < 300


@pytest.mark.parametrize("switch", ["false", "yes", 0, 1, [], {"on": True}], ids=str)
def test_speech_and_sound_switches_take_true_or_false_only(served, files, switch):
    """The string "false" is true in Python: it switched speech on (and its GPU time) for a curl user.
    A switch takes a JSON boolean; anything else is refused before model work, in the caller's language."""
    calls = [("audio_qa_spoken", [files["audio"], "What is said?", switch, "Chelsie"]),
             ("video_qa_spoken", [files["video"], "What is said?", [], "Chelsie", switch]),
             ("video_qa", [files["video"], "What is said?", [], switch])]
    for api, data in calls:
        for language, words in (("en", "true or false"), ("zh-CN", "true 或 false")):
            name, error = call(served.url, api, data, language)
            assert name == "error" and words in error["error"], (api, language, error)


def test_speech_off_and_a_left_out_switch_answer_in_text_only(served, files):
    """false, or null (a caller that leaves the switch out), is text only: no speech is made."""
    for switch in (False, None):
        name, (text, wav) = call(served.url, "audio_qa_spoken", [files["audio"], "What is said?", switch, None])
        assert name == "complete" and isinstance(text, str) and text and wav is None


def notices(job) -> list[tuple[str, str]]:
    found = []
    while not job.communicator.updates.empty():
        update = job.communicator.updates.get_nowait()
        if getattr(update, "log", None):
            found.append(update.log)
    return found


def test_without_a_voices_file_the_text_stands_with_a_clear_notice_in_each_language(tiny_dir, tiny_settings,
                                                                                   tmp_path):
    """spk_dict.pt gone from the checkpoint: each spoken endpoint still answers in text, returns no wav, and
    says why in the caller's language (a sentence, not a sentence inside a sentence with its full stop)."""
    import shutil

    from gradio_client import Client, handle_file

    from pipelines.tasks import Pipelines

    folder = shutil.copytree(tiny_dir / "qwen2_5_omni", tmp_path / "omni")
    (folder / "spk_dict.pt").unlink()
    pipes = Pipelines(tiny_settings(audio_model=str(folder), vqa_model=str(folder), video_model=str(folder),
                                    caption_model=str(folder), max_new_tokens=4))
    served = launch(pipes)
    try:
        for language, said in (("en", "The answer could not be spoken (The checkpoint "),
                               ("zh-CN", "回答无法朗读（模型 ")):
            client = Client(served.url, headers={"Accept-Language": language}, analytics_enabled=False, verbose=False)
            job = client.submit(handle_file(str(ASSETS / "speech_en.wav")), "What is said?", True, "Ethan",
                                api_name="/audio_qa_spoken")
            text, wav = job.result(timeout=300)
            assert text and wav is None
            (notice,) = [log for log, level in notices(job) if level == "warning"]
            assert notice.startswith(said) and "spk_dict.pt" in notice, notice
            assert ".)" not in notice and "。）" not in notice, notice
    finally:
        served.close()


def test_clear_during_speech_ends_the_answer_and_its_speech(open_page):
    """Audio tab, 中文 at 390 px, speech on: Clear while the answer is being spoken empties the answer and the
    speech for good (the run is cancelled: neither the text nor the wav comes back), and Ask works again."""
    from components.i18n import ZH

    page = open_page(locale="zh-CN", viewport=NARROW)
    tab(page, "tab_audio", ZH)
    upload(page, "audio-input", "speech_en.wav", "audio")
    page.fill("#audio-question textarea", "说了什么？")
    page.check("#audio-speak input[type=checkbox]")
    page.click("#audio-run")
    page.wait_for_function("document.querySelector('#audio-output textarea').value.length > 0")
    page.click("#audio-clear")
    page.wait_for_selector("#audio-run:not([disabled])")
    page.wait_for_timeout(8000)  # longer than the tiny model takes to say its 8 tokens
    assert page.locator("#audio-output textarea").input_value() == ""
    assert not page.locator("#audio-spoken-wav").is_visible()
    assert page.locator("#audio-stop").is_disabled()
    upload(page, "audio-input", "speech_en.wav", "audio")
    page.fill("#audio-question textarea", "说了什么？")
    page.click("#audio-run")
    page.wait_for_selector("#audio-spoken-wav", state="visible")
    assert page.locator("#audio-output textarea").input_value()


@pytest.mark.parametrize("argv, env", [(["--max-speech-seconds", "inf"], {}), ([], {"MMDEMO_MAX_SPEECH_SECONDS": "inf"})],
                         ids=["flag", "env"])
def test_an_endless_speech_limit_is_refused_at_startup(monkeypatch, argv, env):
    """"inf" was taken, then every spoken answer failed (OverflowError): a limit must be a finite number
    (app.main prints this message and exits 2, as for any limit out of range)."""
    from app import parse_args, settings_from

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError) as err:
        settings_from(parse_args(argv))
    assert str(err.value) == "--max-speech-seconds (MMDEMO_MAX_SPEECH_SECONDS) must be a finite number, not inf"


def test_voice_at_startup_loads_the_speech_of_every_tab_that_speaks(tiny_dir, tiny_settings, tmp_path):
    """--voice (Pipelines.load_speech) with the video tab on a checkpoint of its own: its talker loads at start-up
    too, not on the first spoken video answer."""
    import shutil

    from pipelines.tasks import Pipelines

    video = str(shutil.copytree(tiny_dir / "qwen2_5_omni", tmp_path / "omni_video"))
    pipes = Pipelines(tiny_settings(video_model=video))
    pipes.load_speech()
    for model_id in (pipes.audio.model_id, pipes.vqa.model_id, video):
        assert pipes.registry.speech_loaded(model_id) is not None, model_id
