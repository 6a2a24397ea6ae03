"""Floods and faults through the launched app: one model queue for every tab, a capped queue
that refuses the excess at once, and a model that fails (out of memory, any exception)
answers clearly and serves the next request.

Hooks on the real tiny models watch (and, where a test needs it, hold or break) each
decoding step; nothing is mocked.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import QueueError, Status

from .conftest import ASSETS, launch

STREET = handle_file(str(ASSETS / "street.png"))
SPEECH = handle_file(str(ASSETS / "speech_en.wav"))
REQUESTS = {  # one request per tab, short answers
    "/caption": (STREET, "en"),
    "/vqa": (STREET, "what is this?", []),
    "/audio_qa": (SPEECH, "what is said?"),
    "/text_to_image": ("a red house", 3, 1, 256, 5),
}


def decoder_layer(loaded):
    """The first text-decoder layer: every decoding step of every mode passes through it."""
    return next(m for m in loaded.model.modules() if type(m).__name__.endswith("DecoderLayer"))


class Watch:
    """Hooks on both tiny models: which thread decodes when, a gate to hold them, a fault to throw once."""

    def __init__(self, pipes):
        self.lock = threading.Lock()
        self.spans: dict[threading.Thread, list[float]] = {}  # generation thread -> [first, last] step
        self.gate = threading.Event()
        self.gate.set()
        self.arrived = threading.Event()  # a request reached the model
        self.fault: BaseException | None = None
        self.fault_after = 0
        self.handles = [decoder_layer(m).register_forward_pre_hook(self.step)
                        for m in (pipes.caption.model, pipes.image.model)]

    def step(self, module, args):
        self.arrived.set()
        self.gate.wait(timeout=60)
        now = time.monotonic()
        with self.lock:
            span = self.spans.setdefault(threading.current_thread(), [now, now])
            span[1] = now
            fault = self.fault
            if fault is not None:
                if self.fault_after > 0:
                    self.fault_after -= 1
                    fault = None
                else:
                    self.fault = None  # once
        if fault is not None:
            raise fault

    def close(self):
        for h in self.handles:
            h.remove()


def start(tiny_settings, **limits):
    """A fresh app (its own queue and models) with hooks on both models; returns (served, watch)."""
    from pipelines.tasks import Pipelines

    pipes = Pipelines(tiny_settings(max_new_tokens=4, **limits))
    pipes.check(load=True)
    watch = Watch(pipes)
    return launch(pipes), watch


def stop(served, watch):
    watch.gate.set()
    watch.close()
    served.close()


@pytest.fixture()
def fresh_app(tiny_settings):
    """fresh_app(**limits) -> (served, watch): an app of the test's own with these limits, stopped after it."""
    started = []

    def make(**limits):
        started.append(start(tiny_settings, **limits))
        return started[-1]

    yield make
    for served, watch in started:
        stop(served, watch)


@pytest.fixture(scope="module")
def faulty(tiny_settings):
    """(served, watch): one app for all the fault tests: each must leave it as good as new."""
    served, watch = started = start(tiny_settings)
    yield started
    stop(served, watch)


def connect(url: str) -> Client:
    return Client(url, analytics_enabled=False, verbose=False)


def wait_until_queued(job, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while job.status().code not in (Status.IN_QUEUE, Status.PROCESSING, Status.ITERATING, Status.FINISHED):
        assert time.monotonic() < deadline, f"job never reached the queue: {job.status()}"
        time.sleep(0.02)


# The chats' quick steps (a question into the conversation, retry, edit, undo, a notice) and the wrong-file
# notice: no model work, queued only so that the page shows their refusals, in a queue that never waits.
QUICK = {"send", "send_new", "retry", "edit", "undo", "notice", "refuse"}
# The Talk tab's microphone and camera streams and its page-closed step: no model work (pipelines/listening.py),
# each chunk handled at once, in queues of their own that never wait.
LISTENING = {"hear": ("talk_listen", None), "see": ("talk_see", None)}


@pytest.mark.parametrize("concurrency", [1, 2])
def test_every_model_event_shares_one_queue(pipes, concurrency):
    from app import build_demo
    from components.common import MODEL_QUEUE

    demo = build_demo(pipes, concurrency=concurrency)
    queued = [fn for fn in demo.fns.values() if fn.fn is not None and fn.queue]
    assert {fn.api_name for fn in queued} >= {name.strip("/") for name in REQUESTS}
    for fn in queued:  # every other queued event runs a model; together they get `--concurrency` slots
        if fn.name == "gone":  # demo.unload: closes a page's conversation, no model work
            continue
        if fn.name in LISTENING:
            assert (fn.concurrency_id, fn.concurrency_limit) == LISTENING[fn.name], fn.name
            continue
        expected = ("chat_send", None) if fn.name in QUICK else (MODEL_QUEUE, concurrency)
        assert (fn.concurrency_id, fn.concurrency_limit) == expected, fn.name


def test_with_batching_text_events_share_a_batch_and_drawing_keeps_its_limit(tiny_settings):
    """--max-batch-size 4: four text requests may reach the model together (one batch); the
    drawings wait in their own queue, still one at a time, not four."""
    from app import build_demo
    from components.common import DRAW_QUEUE, MODEL_QUEUE
    from components.status import collect
    from pipelines.tasks import Pipelines

    pipes = Pipelines(tiny_settings(max_batch_size=4))
    demo = build_demo(pipes, concurrency=1)
    queued = {fn.name: (fn.concurrency_id, fn.concurrency_limit) for fn in demo.fns.values() if fn.fn and fn.queue}
    drawing = {"text_to_image", "generate_default"}  # the Create tab's button/Enter, and its examples
    assert all(queued[name] == (DRAW_QUEUE, 1) for name in drawing), queued
    assert all(limits == (MODEL_QUEUE, 4) for name, limits in queued.items()
               if name not in drawing | QUICK | set(LISTENING) | {"gone"}), queued
    assert all(queued[name] == ("chat_send", None) for name in QUICK), queued
    queue = collect(pipes, demo)["queue"]
    assert (queue["limit"], queue["drawing"]) == (4, {"waiting": 0, "running": 0, "limit": 1})


def test_twenty_requests_across_tabs_all_complete_in_order_one_at_a_time(fresh_app):
    served, watch = fresh_app(queue_size=32)
    url = served.url
    client = connect(url)
    plan = [list(REQUESTS)[i % len(REQUESTS)] for i in range(20)]
    finished: list[int] = []
    jobs = []
    watch.gate.clear()  # hold the first request inside the model while the others queue up behind it
    for i, api in enumerate(plan):
        job = client.submit(*REQUESTS[api], api_name=api)
        job.add_done_callback(lambda _, i=i: finished.append(i))
        wait_until_queued(job)
        jobs.append(job)
    assert connect(url).predict(api_name="/status")["queue"]["waiting"] == 19  # the rest of the app answers
    watch.gate.set()
    results = [job.result(timeout=120) for job in jobs]
    assert all(r is not None for r in results)
    assert sorted(finished) == list(range(20)), "a request was lost"
    runs = sorted((span, thread.name) for thread, span in watch.spans.items())
    assert len(runs) == 20  # one generation thread per request
    assert [name for _, name in runs] == ["text-to-image" if api == "/text_to_image" else "generate"
                                          for api in plan], "the model ran the requests out of order"
    for (before, _), (after, _) in zip(runs, runs[1:]):
        assert after[0] >= before[1], "two requests ran a model at the same time"


def test_full_queue_refuses_the_excess_at_once_and_serves_the_rest(fresh_app):
    served, watch = fresh_app(queue_size=3)
    url = served.url
    client = connect(url)
    watch.gate.clear()
    running = client.submit(*REQUESTS["/caption"], api_name="/caption")
    assert watch.arrived.wait(timeout=30)  # the first request is inside the model, held by the gate
    waiting = []
    for api in ("/vqa", "/audio_qa", "/text_to_image"):
        waiting.append(client.submit(*REQUESTS[api], api_name=api))
        wait_until_queued(waiting[-1])
    start = time.monotonic()
    for api in REQUESTS:
        with pytest.raises(QueueError, match="Queue is full"):
            connect(url).predict(*REQUESTS[api], api_name=api)
    assert time.monotonic() - start < 30  # refused, not left hanging
    # What a browser gets: HTTP 503 with a sentence (the page shows "This application is currently busy").
    r = httpx.post(f"{url}gradio_api/queue/join", json={"data": ["a cat"], "fn_index": 0, "session_hash": "x"})
    assert r.status_code == 503 and "Queue is full" in r.json()["detail"]
    # The page and the (unqueued) status panel still answer, as they do in a browser.
    assert httpx.get(url).status_code == 200
    status = httpx.post(f"{url}gradio_api/run/status", json={"data": []}).json()["data"][0]
    assert status["queue"]["waiting"] == 3 and status["queue"]["max_size"] == 3
    watch.gate.set()
    assert isinstance(running.result(timeout=60), str)
    assert all(job.result(timeout=60) is not None for job in waiting)
    assert isinstance(connect(url).predict(*REQUESTS["/caption"], api_name="/caption"), str)  # room again


FAULTS = [
    (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"), "ran out of memory"),
    (MemoryError(), "ran out of memory"),
    (RuntimeError("something broke deep inside"), r"model failed on this request \(RuntimeError\)"),
]


@pytest.mark.parametrize("api", list(REQUESTS))
@pytest.mark.parametrize("fault, message", FAULTS, ids=["cuda-oom", "memory-error", "runtime-error"])
def test_fault_inside_generation_is_a_clear_message_and_the_next_request_succeeds(faulty, api, fault, message):
    served, watch = faulty
    url = served.url
    client = connect(url)
    watch.fault, watch.fault_after = fault, 1  # one step in: the first words may already be out
    with pytest.raises(AppError, match=message) as info:
        client.predict(*REQUESTS[api], api_name=api)
    assert "Traceback" not in str(info.value) and "deep inside" not in str(info.value)
    assert watch.fault is None, "the fault was not hit"
    assert client.predict(*REQUESTS[api], api_name=api) is not None
    time.sleep(0.2)
    leftovers = [t.name for t in threading.enumerate() if t.name in ("generate", "text-to-image")]
    assert not leftovers, f"generation threads left running: {leftovers}"


def test_one_client_holds_at_most_its_share_of_the_queue_and_others_are_still_served(tiny_settings):
    """The attack: 40 joins in 0.66 s from one client filled all 32 queue places, and everyone else got "Queue
    is full". Now one address holds at most its share (a quarter of the places stays for others), and fewer of
    them for spoken answers; another address still gets in. (Also the canary for server.FairQueue: Gradio's
    Queue.push must still be the one door into the queue.)"""
    import inspect

    from gradio import queueing

    from components.server import FairQueue
    from pipelines.tasks import Pipelines

    assert list(inspect.signature(queueing.Queue.push).parameters) == ["self", "body", "request", "username"]
    pipes = Pipelines(tiny_settings(queue_size=8, max_new_tokens=24))
    served = launch(pipes)
    stop = threading.Event()
    try:
        assert isinstance(served.demo._queue, FairQueue)
        places, spoken_places = FairQueue.share(8)
        assert (places, spoken_places) == (6, 1)
        index = {fn.api_name: i for i, fn in served.demo.fns.items()}
        image = {"path": str(ASSETS / "street.png"), "meta": {"_type": "gradio.FileData"}}

        listening = []

        def join(http, api, data, session):
            """A join as the page makes it, then the session's stream (Gradio drops the events of a session
            that never listens)."""
            r = http.post(f"{served.url}gradio_api/queue/join", json={"data": data, "fn_index": index[api],
                                                                "session_hash": session}, timeout=30)
            if r.status_code == 200:
                heard = threading.Event()

                def listen():
                    with http.stream("GET", f"{served.url}gradio_api/queue/data", params={"session_hash": session},
                                     timeout=60) as stream:
                        for _ in stream.iter_lines():
                            heard.set()
                            if stop.is_set():
                                return

                listening.append(threading.Thread(target=listen, daemon=True))
                listening[-1].start()
                heard.wait(10)
            return r

        model, drawing = pipes.image.model, ["a red house", 3, 1, 256, 5]
        with httpx.Client() as mine, httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
            with model.lock.alone():  # the model stays busy (the first drawing waits inside it): the rest queue up
                answers = [join(mine, "text_to_image", drawing, f"s{i}") for i in range(12)]  # a new session each
                refused = [r for r in answers if r.status_code == 503]
                assert refused and "requests waiting" in refused[0].json()["detail"], [r.status_code for r in answers]
                assert sum(r.status_code == 200 for r in answers) <= places + 1  # its share, and the one running
                assert join(other, "text_to_image", drawing, "o1").status_code == 200  # someone else still gets in
                spoken = [join(other, "vqa_spoken", [image, "What?", [], "Chelsie", None], f"t{i}") for i in range(3)]
                assert [r.status_code for r in spoken][-1] == 503, "past its spoken share"
    finally:
        stop.set()
        served.close()
