"""The caption, VQA and audio tasks served by a real OpenAI-compatible engine.

`transformers serve` runs on 127.0.0.1 with the tiny Qwen2.5-Omni thinker (started and stopped by
the `engine` fixture, with bounded waits); the app is pointed at it with backend="openai" and
driven through its API, as users and clients do. Nothing is mocked.
"""

from __future__ import annotations

import base64
import io
import threading
import time

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from components.status import shown_model

from .conftest import ASSETS, close_demo, free_port, launch, serve
from .engine import serve_available, transformers_serve
from .requires import unavailable
# The same caption, VQA (image, follow-up) and audio (wav) API tests as the in-process app, on the engine:
from .test_api import test_audio_qa, test_caption_streams_over_the_api, test_vqa_follow_up_keeps_context  # noqa: F401

pytestmark = pytest.mark.slow  # an engine (`transformers serve`) in a process of its own


@pytest.fixture(scope="module")
def thinker(tiny_dir):
    from pipelines import tiny

    return tiny.build_thinker(tiny_dir)


@pytest.fixture(scope="module")
def engine(thinker):
    if not serve_available():
        unavailable("`transformers serve` needs `pip install -r requirements-dev.txt` (transformers[serving])")
    with transformers_serve(thinker) as url:
        yield url


@pytest.fixture(scope="module")
def remote_settings(tiny_settings, engine, thinker):
    def make(**overrides):
        values = dict(backend="openai", endpoint=engine, served_model=str(thinker), remote_timeout=30.0)
        return tiny_settings(**{**values, **overrides})

    return make


@pytest.fixture(scope="module")
def remote_pipes(remote_settings):
    from pipelines.tasks import Pipelines

    return Pipelines(remote_settings())


@pytest.fixture(scope="module")
def client(remote_pipes):
    """The app on the engine backend; overrides conftest's `client`, so the API tests imported above run on it."""
    with serve(remote_pipes) as served:
        yield served.client


def app_with(settings, **client_kwargs):
    """A second app on other settings (e.g. a dead endpoint); returns (its demo, a client)."""
    from pipelines.tasks import Pipelines

    served = launch(Pipelines(settings))
    return served.demo, Client(served.url, analytics_enabled=False, verbose=False, **client_kwargs)


def test_caption_streams_token_by_token_from_the_engine(client, remote_pipes):
    job = client.submit(handle_file(str(ASSETS / "street.png")), "en", api_name="/caption")
    outputs = list(job)
    assert len(outputs) > 1, "the answer should arrive token by token"
    assert all(b.startswith(a) for a, b in zip(outputs, outputs[1:])), "each update extends the last"
    assert isinstance(job.result(), str) and job.result()
    omni = remote_pipes.settings.caption_model
    assert omni not in remote_pipes.registry.load_counts, "the text model must not be loaded in-process"


def test_engine_stream_reaches_the_ui_at_most_20_times_a_second(remote_settings):
    """The engine sends an event per token; the UI gets them grouped (as from the local model), the
    first at once and the whole answer at the end."""
    from pipelines.generation import STREAM_INTERVAL
    from pipelines.inputs import load_image
    from pipelines.tasks import CAPTION_PROMPTS, Pipelines

    pipes = Pipelines(remote_settings(max_new_tokens=200))
    image = str(ASSETS / "street.png")
    content = [{"type": "image", "image": load_image(image)}, {"type": "text", "text": CAPTION_PROMPTS["en"]}]
    engine = pipes.registry.remote[pipes.settings.caption_model]
    per_token = list(engine.stream([{"role": "user", "content": content}], max_new_tokens=200))
    stamps, texts = [], []
    for text in pipes.caption(image, "en"):
        stamps.append(time.monotonic())
        texts.append(text)
    assert texts[-1] == per_token[-1] and len(per_token) > len(texts) > 1, (len(per_token), len(texts))
    assert all(b - a >= STREAM_INTERVAL * 0.9 for a, b in zip(stamps[:-2], stamps[1:-1])), stamps


def test_status_names_the_engine_model_not_its_address(client, remote_pipes):
    status = client.predict(api_name="/status")
    entry = status["models"][shown_model(remote_pipes.settings.caption_model)]
    assert entry["backend"] == "openai" and entry["served_model"] == remote_pipes.settings.served_model
    assert remote_pipes.settings.endpoint not in str(status)


def test_text_to_image_stays_local(client, remote_pipes):
    gallery, seed = client.predict("a red house", 3, 1, 256, 5, api_name="/text_to_image")
    assert len(gallery) == 1 and seed == 3
    assert remote_pipes.registry.load_counts == {remote_pipes.settings.image_model: 1}


def test_stop_closes_the_stream(remote_settings):
    """Stop ends the answer at once and the engine aborts it: the next request does not wait behind
    12000 tokens (about 25 s here)."""
    from pipelines.errors import Cancelled
    from pipelines.tasks import Pipelines

    pipes = Pipelines(remote_settings(max_new_tokens=12000))
    stop = threading.Event()
    stream = pipes.audio(str(ASSETS / "speech_en.wav"), "What is said?", max_new_tokens=12000, stop=stop)
    with pytest.raises(Cancelled):
        for i, _ in enumerate(stream):
            if i == 1:
                stop.set()
    start = time.monotonic()
    assert list(pipes.caption(str(ASSETS / "street.png"), max_new_tokens=4))
    assert time.monotonic() - start < 10


def test_server_down_is_a_clear_message_and_drawing_still_works(remote_settings):
    from gradio_client.exceptions import AppError

    demo, client = app_with(remote_settings(endpoint=f"http://127.0.0.1:{free_port()}/v1"))
    try:
        with pytest.raises(AppError, match="model server is not reachable"):
            client.predict(handle_file(str(ASSETS / "street.png")), "en", api_name="/caption")
        with pytest.raises(AppError, match="model server is not reachable"):
            client.predict(handle_file(str(ASSETS / "speech_en.wav")), "What?", api_name="/audio_qa")
        gallery, _ = client.predict("a boat", 1, 1, 256, 5, api_name="/text_to_image")
        assert len(gallery) == 1
    finally:
        close_demo(demo)


def test_errors_in_chinese(remote_settings):
    from gradio_client.exceptions import AppError

    demo, client = app_with(remote_settings(served_model="not-served"), headers={"Accept-Language": "zh-CN"})
    try:
        with pytest.raises(AppError, match="模型服务器拒绝了此请求（HTTP 400）"):
            client.predict(handle_file(str(ASSETS / "street.png")), "zh", api_name="/caption")
    finally:
        close_demo(demo)


@pytest.mark.parametrize("overrides, key", [
    ({"served_model": "not-served"}, "backend_rejected"),  # 4xx: the engine serves another model
    ({"remote_timeout": 0.001}, "backend_timeout"),       # slow: no bytes within the timeout
    ({"endpoint": "http://127.0.0.1:9/v1"}, "backend_down"),
])
def test_engine_failures_map_to_messages(remote_settings, overrides, key):
    from catalogue import MESSAGES
    from pipelines.errors import ModelError
    from pipelines.tasks import Pipelines

    pipes = Pipelines(remote_settings(**overrides))
    with pytest.raises(ModelError) as info:
        list(pipes.vqa(str(ASSETS / "chart.png"), "What?"))
    assert info.value.key == key
    assert key in MESSAGES["zh"] and info.value.message("zh") != info.value.message("en")


def test_messages_become_openai_parts():
    """Images travel as PNG data URIs, audio as 16 kHz WAV, text-only turns as plain strings."""
    import soundfile

    from pipelines.remote import to_openai

    image = Image.new("RGB", (40, 30), "red")
    audio = np.sin(np.linspace(0, 200, 16000)).astype(np.float32) * 0.5
    out = to_openai([
        {"role": "assistant", "content": [{"type": "text", "text": "earlier"}]},
        {"role": "user", "content": [{"type": "image", "image": image}, {"type": "audio", "audio": audio},
                                     {"type": "text", "text": "what?"}]},
    ])
    assert out[0] == {"role": "assistant", "content": "earlier"}
    img_part, audio_part, text_part = out[1]["content"]
    url = img_part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == (40, 30)
    assert audio_part["input_audio"]["format"] == "wav"
    samples, rate = soundfile.read(io.BytesIO(base64.b64decode(audio_part["input_audio"]["data"])))
    assert rate == 16000 and len(samples) == len(audio)
    assert text_part == {"type": "text", "text": "what?"}


def test_backend_settings_from_flags_and_environment(monkeypatch):
    from app import parse_args, settings_from
    from pipelines.errors import ModelError
    from pipelines.remote import base_url, remote_models
    from pipelines.settings import Settings

    monkeypatch.setenv("MMDEMO_API_KEY", "secret")
    settings = settings_from(parse_args(["--backend", "openai", "--endpoint", "http://h:8000",
                                         "--served-model", "Qwen/Qwen2.5-Omni-7B"]))
    assert (settings.backend, settings.endpoint, settings.api_key) == ("openai", "http://h:8000", "secret")
    assert "secret" not in repr(settings) + repr(remote_models(settings))
    models = remote_models(settings)
    assert set(models) == {settings.caption_model} and models[settings.caption_model].model_id == "Qwen/Qwen2.5-Omni-7B"
    assert base_url("http://h:8000") == base_url("http://h:8000/v1/") == "http://h:8000/v1"
    with pytest.raises(ModelError, match="needs --endpoint"):
        remote_models(Settings(backend="openai"))
    with pytest.raises(ModelError, match="Unknown backend"):
        remote_models(Settings(backend="grpc"))


def test_engine_tasks_queue_apart_from_local_models(remote_pipes):
    """Many requests go to the engine at once; text-to-image keeps the local limit."""
    from app import build_demo

    demo = build_demo(remote_pipes, concurrency=1)
    queues = {fn.api_name: (fn.concurrency_id, fn.concurrency_limit) for fn in demo.fns.values() if fn.api_name}
    limit = remote_pipes.settings.remote_concurrency
    assert queues["caption"] == queues["vqa"] == queues["audio_qa"] == ("remote", limit)
    assert queues["text_to_image"] == ("model", 1)


def test_cancelled_api_job_frees_the_engine(remote_settings):
    """A cancelled job (the Stop button does the same) closes the engine's stream: the next answer comes at once."""
    from pipelines.tasks import Pipelines

    demo, client = app_with(remote_settings(max_new_tokens=12000))
    try:
        job = client.submit(handle_file(str(ASSETS / "speech_en.wav")), "What is said?", api_name="/audio_qa")
        deadline = time.monotonic() + 30
        while len(job.outputs()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job.outputs(), "the answer should have started"
        job.cancel()
        start = time.monotonic()
        assert list(Pipelines(remote_settings()).caption(str(ASSETS / "street.png"), max_new_tokens=4))
        assert time.monotonic() - start < 10, "the engine was still writing the cancelled answer"
    finally:
        close_demo(demo)


def test_video_goes_to_the_engine_and_a_failure_reads_clearly(client):
    """--backend openai: the video travels as `video_url` (the frames and sound the app sampled, as an MP4).
    `transformers serve` 5.23 decodes a video's sound only with torchcodec, which this project does not install:
    it fails the request (HTTP 500), and the user reads "the model server failed", not a trace; the app keeps
    serving. (Where the engine reads video, the same call answers; the request body is pinned in test_video.py.)"""
    from gradio_client.exceptions import AppError

    try:
        history, _ = client.predict(handle_file(str(ASSETS / "street_en.mp4")), "What happens?", [], True,
                                    api_name="/video_qa")
        assert history[-1]["role"] == "assistant"
    except AppError as exc:
        assert str(exc).startswith("The model server failed on this request (HTTP 500"), str(exc)
    assert client.predict(handle_file(str(ASSETS / "street.png")), "en", api_name="/caption")



def test_sampling_settings_and_the_system_prompt_reach_the_engine(remote_pipes):
    """The engine takes OpenAI's own fields (temperature, top_p, seed, max_tokens; the system prompt in the
    messages). top_k and repetition_penalty are not OpenAI's: vLLM and SGLang take them, `transformers serve`
    refuses them, and its reason reaches the person as the message."""
    from pipelines.errors import ModelError

    caption = remote_pipes.caption
    steering = caption.steer(system_prompt="Be brief.", temperature=0.8, top_p=0.9, seed=3, max_new_tokens=4)
    asked = caption.prepare(str(ASSETS / "street.png"), steering=steering)
    assert asked.messages[0]["content"][0]["text"] == "Be brief."
    assert isinstance(list(caption.answer(asked))[-1], str)
    asked = caption.prepare(str(ASSETS / "street.png"), steering=caption.steer(temperature=0.8, top_k=20))
    with pytest.raises(ModelError, match="top_k"):
        list(caption.answer(asked))
