"""Every control of every tab at its bounds and just past them, through the API: a result or a
clear message, never a crash (guidance 1.0, the slider's own minimum, once crashed generate()).
"""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from pipelines.settings import Settings

from .conftest import ASSETS, launch

STREET = handle_file(str(ASSETS / "street.png"))
MAX_CHARS = 2000
MAX_IMAGES = 4
LIMITS = dict(max_new_tokens=4, max_prompt_chars=MAX_CHARS, max_images=MAX_IMAGES, max_audio_seconds=30.0,
              max_history_turns=4)


@pytest.fixture(scope="module")
def served(apps):
    return apps(**LIMITS)


@pytest.fixture(scope="module")
def client(served):
    return served.new_client()


def draw(client, prompt="a cat", seed=1, count=1, size=256, guidance=5.0):
    return client.predict(prompt, seed, count, size, guidance, api_name="/text_to_image")


# --- Create an image ------------------------------------------------------------------------------

@pytest.mark.parametrize("guidance", [1.0, 1.5, 10.0])
def test_guidance_at_its_bounds_draws(client, guidance):
    gallery, seed = draw(client, guidance=guidance, count=2)
    assert len(gallery) == 2 and seed == 1


@pytest.mark.parametrize("guidance", [0.99, 10.01, -1])
def test_guidance_just_past_its_bounds_is_refused(client, guidance):
    with pytest.raises(AppError, match="guidance scale must be between 1 and 10"):
        draw(client, guidance=guidance)


def test_guidance_one_is_the_unguided_drawing(served):
    """At 1.0 the unconditional row is dropped, not mixed in: two runs with one seed agree."""
    pipes = served.pipes
    first, _ = pipes.image("a cat", 3, 1, 384, 1.0)
    second, _ = pipes.image("a cat", 3, 1, 384, 1.0)
    assert np.array_equal(np.asarray(first[0]), np.asarray(second[0]))


@pytest.mark.parametrize("seed", [0, 2**32 - 1, -1])
def test_seed_at_its_bounds_draws(client, seed):
    _, used = draw(client, seed=seed)
    assert used == seed if seed >= 0 else 0 <= used < 2**32


@pytest.mark.parametrize("seed", [-2, 2**32])
def test_seed_just_past_its_bounds_is_refused(client, seed):
    with pytest.raises(AppError, match="seed must be between 0 and 4294967295"):
        draw(client, seed=seed)


@pytest.mark.parametrize("count", [1, MAX_IMAGES])
def test_image_count_at_its_bounds_draws(client, count):
    gallery, _ = draw(client, count=count)
    assert len(gallery) == count


@pytest.mark.parametrize("count", [0, MAX_IMAGES + 1])
def test_image_count_just_past_its_bounds_is_refused(client, count):
    with pytest.raises(AppError, match=f"number of images must be between 1 and {MAX_IMAGES}"):
        draw(client, count=count)


@pytest.mark.parametrize("size", [256, 384, 512, 768, 1024])
def test_every_size_draws_at_that_size(client, size):
    gallery, _ = draw(client, size=size)
    assert Image.open(gallery[0]["image"]).size == (size, size)


@pytest.mark.parametrize("size", [255, 383, 1025, 0])
def test_a_size_off_the_list_is_refused(client, size):
    with pytest.raises(AppError, match="256, 384, 512, 768, 1024"):
        draw(client, size=size)


# --- text boxes of every tab: empty, exactly the limit, one past it -------------------------------

def ask(client, api: str, text: str):
    if api == "/text_to_image":
        return draw(client, prompt=text)
    if api == "/vqa":
        return client.predict(STREET, text, [], api_name=api)
    return client.predict(handle_file(str(ASSETS / "speech_en.wav")), text, api_name=api)


EMPTY = {"/text_to_image": "Please describe the image you want.", "/vqa": "Please type a question.",
         "/audio_qa": "Please type a question."}


@pytest.mark.parametrize("api", list(EMPTY))
def test_text_at_its_bounds(client, api):
    with pytest.raises(AppError, match=EMPTY[api]):
        ask(client, api, "")
    assert ask(client, api, "界" * MAX_CHARS)  # exactly the limit, in characters (not bytes)
    with pytest.raises(AppError, match=f"The text is {MAX_CHARS + 1:,} characters long; the limit is {MAX_CHARS:,}"):
        ask(client, api, "x" * (MAX_CHARS + 1))


# --- Caption: both answer languages, and one not offered ------------------------------------------

@pytest.mark.parametrize("language", ["en", "zh"])
def test_caption_languages(client, language):
    assert isinstance(client.predict(STREET, language, api_name="/caption"), str)


def test_caption_language_off_the_list_is_refused_without_a_trace(client):
    with pytest.raises(AppError) as info:
        client.predict(STREET, "fr", api_name="/caption")
    assert "fr" in str(info.value) and "Traceback" not in str(info.value)


# --- Ask about an image: the history window at its bound and past it ------------------------------

@pytest.mark.parametrize("turns", [4, 5, 40])
def test_vqa_history_at_and_past_the_kept_turns(client, turns):
    history = []
    for i in range(turns):
        history += [{"role": "user", "content": [{"type": "text", "text": f"question {i}"}]},
                    {"role": "assistant", "content": [{"type": "text", "text": f"answer {i}"}]}]
    result, _ = client.predict(STREET, "and now?", history, api_name="/vqa")
    kept = min(turns, Settings().max_history_turns)  # only the kept window comes back (bounded history)
    assert len(result) == 2 * kept + 2 and result[-1]["role"] == "assistant"
    if kept:
        assert result[0]["content"][0]["text"] == f"question {turns - kept}"


# --- Ask about audio: the clip length limit -------------------------------------------------------

@pytest.mark.parametrize("seconds", [0.1, 30.0, 30.5])
def test_audio_length_at_and_past_the_limit(client, tmp_path, seconds):
    import soundfile

    path = tmp_path / f"{seconds}.wav"
    rate = 16_000
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)
    assert isinstance(client.predict(handle_file(str(path)), "what?", api_name="/audio_qa"), str)


def test_audio_just_under_the_shortest_is_refused(client, tmp_path):
    import soundfile

    path = tmp_path / "short.wav"
    soundfile.write(path, np.zeros(1599, dtype=np.float32), 16_000)
    with pytest.raises(AppError, match="shorter than 0.1 s"):
        client.predict(handle_file(str(path)), "what?", api_name="/audio_qa")


# --- max_new_tokens: the pipelines' bound (the app sets it from --max-new-tokens) ---------------

@pytest.mark.parametrize("tokens", [1, 4])
def test_max_new_tokens_at_its_bounds_answers(served, tokens):
    pipes = served.pipes
    img = Image.open(ASSETS / "street.png")
    assert isinstance(list(pipes.caption(img, "en", max_new_tokens=tokens))[-1], str)


def test_each_requests_max_new_tokens_is_what_the_model_writes(served):
    """A request's own limit, below the app's (4 here), ends the answer there: the model wrote that many tokens."""
    pipes = served.pipes
    img = Image.open(ASSETS / "street.png")
    for tokens in (1, 2, 4):
        *_, answer = pipes.caption(img, "en", max_new_tokens=tokens)
        assert len(answer.usage.tokens) == tokens


def ask_for(pipes, task: str):
    """A prepared request of each task that writes text, on the test assets."""
    if task == "caption":
        return pipes.caption, pipes.caption.prepare(Image.open(ASSETS / "street.png"), "en")
    if task == "vqa":
        return pipes.vqa, pipes.vqa.prepare(str(ASSETS / "street.png"), "What is it?")
    if task == "audio":
        return pipes.audio, pipes.audio.prepare(str(ASSETS / "speech_en.wav"), "What is said?")
    return pipes.video, pipes.video.prepare(str(ASSETS / "street_en.mp4"), "What is it?", sound=True)


@pytest.mark.parametrize("task", ["caption", "vqa", "audio", "video"])
def test_each_tasks_request_writes_at_most_its_own_max_new_tokens(served, task):
    """Every text task: a request's limit under the app's (4 here) is the number of tokens the model writes for
    it, counted at the model's own forward passes (one per token written), not read from the answer only."""
    from tests.recorder import Recorder

    pipeline, asked = ask_for(served.pipes, task)
    steps = []
    with Recorder(pipeline.model) as heard:
        handle = pipeline.model.generator.register_forward_pre_hook(lambda module, args: steps.append(1))
        try:
            for tokens in (1, 2, 3):
                steps.clear()
                *_, answer = pipeline.answer(asked, tokens)
                assert len(answer.usage.tokens) == tokens, (task, tokens)
                assert len(steps) == tokens, (task, tokens, len(steps))
        finally:
            handle.remove()
    assert len(heard.prompts) == 3 and len(set(tuple(p.ids) for p in heard.prompts)) == 1


@pytest.mark.parametrize("tokens", [0, 5])
def test_max_new_tokens_past_its_bounds_is_refused(served, tokens):
    from pipelines.errors import InputError

    with pytest.raises(InputError) as info:
        served.pipes.caption(Image.open(ASSETS / "street.png"), "en", max_new_tokens=tokens)
    assert info.value.message("en") == "max_new_tokens must be between 1 and 4."


def test_one_new_token_through_the_api(tiny_settings):
    """--max-new-tokens 1, the lowest the command line takes, still answers on every text tab."""
    from pipelines.tasks import Pipelines

    served = launch(Pipelines(tiny_settings(max_new_tokens=1)))
    try:
        client = Client(served.url, analytics_enabled=False, verbose=False)
        assert isinstance(client.predict(STREET, "en", api_name="/caption"), str)
        history, _ = client.predict(STREET, "what?", [], api_name="/vqa")
        assert history[-1]["role"] == "assistant"
        assert isinstance(client.predict(handle_file(str(ASSETS / "speech_en.wav")), "what?",
                                         api_name="/audio_qa"), str)
    finally:
        served.close()
