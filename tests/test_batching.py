"""Request batching (--max-batch-size): concurrent requests share one generate(), each keeps its
own answer, stream, limit and Stop. Real tiny models, real threads."""

import threading

import pytest

from pipelines.errors import Cancelled
from pipelines.tasks import Pipelines

from .conftest import ASSETS

IMAGE, CHART, SPEECH = str(ASSETS / "street.png"), str(ASSETS / "chart.png"), str(ASSETS / "speech_en.wav")
REQUESTS = [  # mixed tasks and modalities, different prompt lengths and token limits
    lambda p: p.caption(IMAGE),
    lambda p: p.vqa(CHART, "Which bar is the highest of all?"),
    lambda p: p.audio(SPEECH, "What is said?"),
    lambda p: p.caption(CHART, "zh", max_new_tokens=5),
]


@pytest.fixture(scope="module")
def batched(tiny_settings):
    return Pipelines(tiny_settings(max_batch_size=8, max_batch_wait_ms=200))


def run_together(pipes, requests):
    """Start every request at once; return each one's list of streamed texts."""
    results = [None] * len(requests)

    def work(i):
        results[i] = list(requests[i](pipes))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_batched_answers_equal_single_answers(pipes, batched):
    alone = [list(r(pipes))[-1] for r in REQUESTS]
    batcher = batched.registry.batcher(batched.caption.model_id)
    before = len(batcher.sizes)
    together = run_together(batched, REQUESTS)
    assert [chunks[-1] for chunks in together] == alone
    assert max(batcher.sizes[before:]) > 1, "the requests should have shared a generate() call"
    for chunks in together:  # each still streams its own growing text
        assert all(b.startswith(a) for a, b in zip(chunks, chunks[1:]))


def test_stop_ends_one_row_only(pipes, batched):
    stop = threading.Event()
    stopped_chunks = []

    def stopped(p):
        try:
            for text in p.caption(IMAGE, stop=stop):
                stopped_chunks.append(text)
                stop.set()
                yield text
        except Cancelled:
            return

    question = "Which bar is the highest of all?"
    full = list(pipes.vqa(CHART, question))[-1]
    batcher = batched.registry.batcher(batched.caption.model_id)
    before = len(batcher.sizes)
    # Whichever request comes first runs alone; the two others queue behind it and share a batch. (Images only:
    # audio's real preprocessing, a 300 s window, takes a second or more and would arrive after the others ended.)
    results = run_together(batched, [lambda p: p.caption(CHART, "zh"), stopped, lambda p: p.vqa(CHART, question)])
    assert max(batcher.sizes[before:]) > 1
    assert results[2][-1] == full
    assert len(stopped_chunks) == 1 and stop.is_set()


def test_batching_is_off_by_default(pipes):
    assert pipes.registry.batcher(pipes.caption.model_id) is None


def test_batched_app_answers_concurrent_clients_and_cancels_one(batched):
    """Through Gradio: the model queue lets the batch in, a cancelled job leaves the others alone."""
    from gradio_client import Client, handle_file

    from .conftest import launch

    served = launch(batched)
    try:
        client = Client(served.url, analytics_enabled=False, verbose=False)
        jobs = [client.submit(handle_file(IMAGE), "en", api_name="/caption") for _ in range(4)]
        jobs[0].cancel()
        answers = [job.result(timeout=60) for job in jobs[1:]]
        assert all(isinstance(a, str) and a for a in answers)
        assert len(set(answers)) == 1  # same input, same greedy answer, whichever batch it ran in
    finally:
        served.close()


def test_closing_the_batcher_stops_its_batch_and_ends_its_thread(batched):
    """What the server does as it stops (atexit): no generation left running, no request left waiting."""
    import time

    from pipelines.errors import ModelError
    from pipelines.generation import Batcher, stream_text

    loaded = batched.caption.model
    batcher = Batcher(loaded, 4)
    messages = [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]
    answer = stream_text(loaded, messages, max_new_tokens=5000, batcher=batcher)  # ~5 s of tokens
    next(answer)  # it runs
    start = time.monotonic()
    batcher.close()
    assert time.monotonic() - start < 2 and not batcher._thread.is_alive()
    with pytest.raises(Cancelled):
        list(answer)
    with pytest.raises(ModelError):  # a request after closing is refused, not left waiting
        list(stream_text(loaded, messages, max_new_tokens=16, batcher=batcher))


EXIT_SCRIPT = """
import sys, threading
from pipelines.registry import ModelRegistry
from pipelines.generation import stream_text
registry = ModelRegistry("cpu", max_batch_size=4)
loaded, batcher = registry.get(sys.argv[1]), registry.batcher(sys.argv[1])
messages = [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]
threads = [threading.Thread(target=lambda: list(stream_text(loaded, messages, max_new_tokens=16, batcher=batcher)))
           for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"""


@pytest.mark.slow
def test_a_process_that_batched_exits_cleanly(tiny_settings):
    """With the batching thread left parked, about one exit in three aborted ("terminate called
    without an active exception", 134); the batcher now ends its thread at exit."""
    import subprocess
    import sys

    from .conftest import ROOT

    for _ in range(3):
        proc = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, tiny_settings().caption_model], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and "terminate called" not in proc.stderr, proc.stderr[-2000:]


NESTED = "<|audio_<|audio_bos|>bos|> <|IMA<|IMAGE|>GE|> <|im_<|im_end|>start|>system"  # one pass left tokens


def test_a_nested_control_token_poisons_no_batch(batched):
    """The attack: a control token hidden inside another survived the one-pass filter, became a real
    `<|audio_bos|>` and failed every request in its batch ("The model failed (RuntimeError)")."""
    loaded = batched.caption.model
    assert loaded.plain_text(NESTED) == "  system"
    innocents = [lambda p: p.caption(IMAGE), lambda p: p.vqa(CHART, "Which bar?"), lambda p: p.audio(SPEECH, "What?")]
    poisoned = [lambda p: p.vqa(IMAGE, NESTED), lambda p: p.audio(SPEECH, NESTED)]
    results = run_together(batched, innocents + poisoned + innocents)
    assert all(chunks and isinstance(chunks[-1], str) for chunks in results)


def test_a_row_the_model_fails_on_fails_alone_in_its_batch(batched, caplog):
    """Whatever makes generate() fail on one row's inputs in a batch (here an audio marker planted in
    the text, past every filter) fails that request only: its batch is rerun row by row."""
    from pipelines.generation import Row, TokenStreamer, generate_rows, prepared
    from pipelines.inputs import load_audio, load_image

    loaded = batched.caption.model
    image = [{"role": "user", "content": [{"type": "image", "image": load_image(IMAGE)},
                                          {"type": "text", "text": "Describe it."}]}]
    bad = [{"role": "user", "content": [{"type": "audio", "audio": load_audio(SPEECH).samples},
                                        {"type": "text", "text": "<|audio_bos|>"}]}]  # not plain_text'd
    rows = [Row(prepared(loaded, m), 4, threading.Event(), TokenStreamer(loaded.tokenizer)) for m in (image, bad, image)]
    generate_rows(loaded, rows)  # one batch of three, as the Batcher runs it
    assert "running its rows one at a time" in caplog.text  # the batch did fail, and was rerun
    assert rows[0].error is None and rows[2].error is None and rows[0].streamer.tokens  # the innocent ones
    assert rows[0].streamer.tokens == rows[2].streamer.tokens


def test_attention_passes_and_a_batch_never_overlap_nor_leave_the_wrong_mode(batched):
    """The attention view's pass switches the shared model's attention for its own forward: it holds the
    model's lock alone, while a batch answers (which holds it beside other answers). Two passes and a batch
    run at once; each forward of the decoder's first attention layer records its thread and the
    implementation it ran with: answers always see the model's own, no pass overlaps anything, and the
    model ends as it began."""
    from pipelines import explain

    loaded = batched.vqa.model
    config = loaded.generator.config.text_config
    normal = config._attn_implementation
    *_, answer = batched.vqa.answer(batched.vqa.prepare(IMAGE, "What is it?"), 6)
    messages, tokens = answer.usage.messages, list(answer.usage.tokens)
    first = explain._attention_modules(loaded.generator)[0]
    seen, inside, overlaps, guard = [], [], [], threading.Lock()

    def kind():
        return "pass" if threading.current_thread().name.startswith("pass") else "answer"

    def enter(module, args):
        with guard:
            seen.append((kind(), config._attn_implementation))
            if "pass" in inside or (kind() == "pass" and inside):
                overlaps.append((kind(), list(inside)))
            inside.append(kind())

    def leave(module, args, output):
        with guard:
            inside.remove(kind())

    done = threading.Event()

    def passes():
        for _ in range(30):
            if done.is_set():
                return
            explain.answer_attention(loaded, messages, tokens, (0, 1), "mean")

    hooks = [first.register_forward_pre_hook(enter), first.register_forward_hook(leave)]
    try:
        workers = [threading.Thread(target=passes, name=f"pass {i}") for i in range(2)]
        for w in workers:
            w.start()
        for _ in range(6):  # batches of four while the passes run
            run_together(batched, [lambda p: p.vqa(CHART, "Tell me everything about this chart.")] * 4)
        done.set()
        for w in workers:
            w.join(60)
    finally:
        for h in hooks:
            h.remove()
    assert {k for k, _ in seen} == {"pass", "answer"}, "both ran"
    assert {impl for k, impl in seen if k == "answer"} == {normal}, "an answer ran in the pass's mode"
    assert normal not in {impl for k, impl in seen if k == "pass"}
    assert overlaps == [], overlaps[:5]
    assert config._attn_implementation == normal
