"""Stop really stops: the model's generate() ends within a step, and the queue slot frees.

The app runs in this process (conftest.launch), so the worker threads the pipelines name
("generate", "text-to-image") are visible here through threading.enumerate().
"""

import threading
import time

import pytest
from gradio_client import handle_file

from pipelines.errors import Cancelled
from pipelines.tasks import Pipelines

from .conftest import ASSETS, serve

STREET = str(ASSETS / "street.png")


def alive(*names: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name in names and t.is_alive()]


def within(seconds: float, condition) -> bool:
    """Poll `condition` until it holds or `seconds` pass; the answer is its last value."""
    deadline = time.monotonic() + seconds
    while not (ok := condition()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(ok)


@pytest.fixture(scope="module")
def long_pipes(tiny_settings, tmp_path_factory):
    """Answers of up to 4000 tokens and a tiny Janus drawing 576 tokens per image, as the real one."""
    from pipelines import tiny

    janus = tiny.build_janus(tmp_path_factory.mktemp("long") / "janus-576", patches=24)
    return Pipelines(tiny_settings(max_new_tokens=4000, image_model=str(janus)))


@pytest.fixture(scope="module")
def long_app(long_pipes):
    with serve(long_pipes) as served:
        yield served


def test_stop_event_ends_generate_within_one_step(long_pipes):
    loaded = long_pipes.caption.model
    forwards = []  # one forward pass of the model per generated token
    hook = loaded.generator.register_forward_hook(lambda *_: forwards.append(None))
    stop = threading.Event()
    try:
        stream = long_pipes.caption(STREET, stop=stop)
        next(stream), next(stream)
        assert alive("generate")
        stop.set()
        at_stop = len(forwards)
        with pytest.raises(Cancelled):
            for _ in stream:
                pass
    finally:
        hook.remove()
    assert not alive("generate")
    assert len(forwards) - at_stop <= 1, "generate() went on after the stop event was set"


def test_closing_the_stream_stops_generate(long_pipes):
    """What Gradio does on Stop or a vanished client: close the generator."""
    stream = long_pipes.caption(STREET)
    next(stream)
    assert alive("generate")
    started = time.monotonic()
    stream.close()
    assert not alive("generate") and time.monotonic() - started < 1


def test_text_to_image_stops_between_steps(pipes):
    stop, steps = threading.Event(), []

    def on_step(i, total):
        steps.append(i)
        if i == 3:
            stop.set()

    with pytest.raises(Cancelled):
        pipes.image("a red house", seed=1, on_step=on_step, stop=stop)
    assert steps == [1, 2, 3]


@pytest.mark.parametrize("api, args, threads", [
    ("/caption", (handle_file(STREET), "en"), ["generate"]),
    ("/audio_qa", (handle_file(str(ASSETS / "speech_en.wav")), "What is said?"), ["generate"]),
    ("/text_to_image", ("a red house", 1, 1, 256, 5), ["text-to-image", "generate"]),
])
def test_cancel_stops_the_model_and_frees_the_queue(long_app, api, args, threads):
    demo, client = long_app.demo, long_app.client
    job = client.submit(*args, api_name=api)
    assert within(60, job.outputs), "no streamed output"
    assert alive(*threads), "finished before it could be stopped: make the generation longer"
    assert client.predict(api_name="/status")["queue"]["running"] == 1
    job.cancel()
    assert within(1, lambda: not alive(*threads)), f"{alive(*threads)} still running 1 s after cancel"
    assert within(1, lambda: demo._queue.get_active_worker_count() == 0), "queue slot still taken"

    # With one slot (concurrency 1) the next request starts only if the slot is free.
    following = client.submit(*args, api_name=api)
    assert within(5, following.outputs), "the next request did not start"
    following.cancel()
    assert within(1, lambda: not alive(*threads))
