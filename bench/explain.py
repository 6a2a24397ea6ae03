"""Issue 17's costs: answering with the explain feature unused vs today's path, and one attention map.

1. Answer latency, side by side in one run (repeats interleaved): "today" is main's streaming loop
   (generation._generate before issue 17, copied below verbatim but for Answer/Usage), "explain off"
   is this branch's caption handler path: pipelines that attach Usage to the answer and the tab's
   @explained record with its token budget, the attention never asked for. Target: ratio <= 1.02.
2. One attention map at real input scale (a 1024x768 photo, a 30 s clip): time of the extra
   forward pass and its peak memory (CUDA's allocator peak on a GPU; the process's peak resident
   memory above the baseline on a CPU, sampled every 2 ms).

    python -m bench.explain                          # CPU, tiny checkpoints
    python -m bench.explain --device cuda --full-size  # GPU, full-size random-weight models
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ASSETS, median, table  # noqa: E402


def long_chat(words: int) -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": "tree " * words}]}]


def today(loaded, messages, max_new_tokens):
    """main's _generate (before issue 17): the same steps, plain strings, no Usage."""
    from pipelines.generation import STREAM_INTERVAL, Row, TokenStreamer, generate_rows, prepared

    stop = threading.Event()
    inputs = prepared(loaded, messages)
    row = Row(inputs, max_new_tokens, stop, TokenStreamer(loaded.tokenizer))
    thread = threading.Thread(target=generate_rows, args=(loaded, [row]), daemon=True)
    thread.start()
    text = ""
    try:
        for piece in row.streamer.chunks(STREAM_INTERVAL):
            text += piece
            yield text
    finally:
        stop.set()
        thread.join()


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_during(fn):
    """(result, seconds, peak MB above the start) of fn()."""
    import torch

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**20
    else:
        base = rss_mb()
    peak, done = [base], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.002)

    sampler = None if cuda else threading.Thread(target=sample, daemon=True)
    if sampler:
        sampler.start()
    start = time.perf_counter()
    result = fn()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    done.set()
    if sampler:
        sampler.join()
    top = torch.cuda.max_memory_allocated() / 2**20 if cuda else max(peak[0], rss_mb())
    return result, seconds, top - base


def forward_pass(loaded, full):
    """The same conversation through the model as answering runs it: the reference for the map's cost."""
    import torch

    with torch.inference_mode():
        return loaded.generator(**full, use_cache=False)


INPUTS = ("image-1024", "image-480", "audio-30s", "chat-1000", "chat-4000")  # the attention-map table's rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.explain", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--full-size", action="store_true", help="full-size random-weight models (bench/fullsize.py)")
    p.add_argument("--full-size-layers", type=int, default=None)
    p.add_argument("--models-dir", default=str(Path(__file__).resolve().parent.parent / ".bench-models"))
    p.add_argument("--tokens", type=int, default=32, help="max_new_tokens of every answer")
    p.add_argument("--repeats", type=int, default=20, help="timed runs of each variant (after 2 warm-ups)")
    p.add_argument("--out", help="also append the tables to this markdown file")
    p.add_argument("--inputs", default=",".join(INPUTS),
                   help=f"which rows of the attention-map table, comma-separated from: {', '.join(INPUTS)}")
    p.add_argument("--map-runs", type=int, default=None,
                   help="timed runs of each attention map (default: a quarter of --repeats, at least 3)")
    args = p.parse_args(argv)
    unknown = set(args.inputs.split(",")) - set(INPUTS)
    if unknown:
        p.error(f"--inputs: unknown {', '.join(sorted(unknown))}")

    import gradio as gr
    import numpy as np
    from PIL import Image

    from bench.run import model_paths
    from components.explain import RECORDS, explained
    from pipelines import explain
    from pipelines.inputs import Audio, load_image
    from pipelines.registry import ModelRegistry
    from pipelines.settings import Settings
    from pipelines.tasks import Pipelines

    omni, janus = model_paths(args)
    settings = Settings(caption_model=omni, vqa_model=omni, audio_model=omni, image_model=janus, device=args.device)
    pipes = Pipelines(settings, ModelRegistry(args.device))
    loaded = pipes.caption.model
    image = load_image(str(ASSETS / "street.png"), settings.max_image_side, settings.max_image_pixels)
    request = gr.Request(session_hash="bench")

    @explained("caption", lambda: pipes.caption)
    def feature_off(request):
        yield from pipes.caption(image, "en", max_new_tokens=args.tokens)

    # Both start from the same picture and build the chat the same way; only the streaming path differs.
    variants = {"today (main's path)": lambda: today(loaded, pipes.caption.messages(load_image(
                    image, settings.max_image_side, settings.max_image_pixels), "en"), args.tokens),
                "explain off (this branch)": lambda: feature_off(request),
                # The same path as the first row again: the noise of this machine, for scale.
                "today again (noise check)": lambda: today(loaded, pipes.caption.messages(load_image(
                    image, settings.max_image_side, settings.max_image_pixels), "en"), args.tokens)}
    times = {name: [] for name in variants}
    for i in range(args.repeats + 2):
        order = list(variants.items())
        order = order[i % len(order):] + order[:i % len(order)]  # interleaved, each variant going first in turn
        for name, run in order:
            start = time.perf_counter()
            for _ in run():
                pass
            if i >= 2:
                times[name].append(time.perf_counter() - start)
    assert RECORDS, "the branch's path recorded nothing"
    base, off, noise = (median(times[n]) for n in variants)
    out = [table(f"Answer latency with the explain feature unused (caption, {args.tokens} new tokens, greedy; "
                 f"medians of {args.repeats}, interleaved; device {args.device})",
                 ["variant", "median ms", "ratio to today"],
                 [[n, median(times[n]) * 1000, median(times[n]) / base] for n in variants])]
    # What the branch adds, timed alone (no noise from the model): the budget and record once per
    # answer, an Answer object per streamed update (at most 20 a second).
    from components.explain import Record
    from pipelines.generation import Answer

    answer = None
    for answer in pipes.caption(image, "en", max_new_tokens=args.tokens):  # noqa: B007
        pass
    usage, n = answer.usage, 200
    start = time.perf_counter()
    for _ in range(n):
        Record(pipes.caption.model_id, usage.messages, list(usage.tokens), explain.budget(loaded, usage))
    per_answer = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for _ in range(10_000):
        wrapped = Answer(str(answer))
        wrapped.usage = usage
    per_update = (time.perf_counter() - start) / 10_000
    updates = base / 0.05 + 1  # STREAM_INTERVAL: at most one update per 50 ms
    bound = 1 + (per_answer + updates * per_update) / base
    out.append(f"\nAdded work, timed alone: {per_answer * 1000:.3f} ms per answer (token budget and record), "
               f"{per_update * 1e6:.2f} µs per streamed update: at most {bound:.4f} × today's "
               f"{base * 1000:.0f} ms answer. Target ratio <= 1.02: "
               f"{'met' if bound <= 1.02 else 'NOT met'} by the added work; side by side above: {off / base:.3f} "
               f"(the same path twice differs by {abs(noise / base - 1):.1%} on this machine now).\n")

    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (768, 1024, 3), dtype=np.uint8))
    t = np.arange(30 * 16_000) / 16_000
    speech = Audio((0.2 * np.sin(2 * np.pi * (200 + 50 * np.sin(t)) * t)).astype(np.float32), 30.0)
    answer = list(range(100, 100 + args.tokens))  # an answer of --tokens tokens
    first, last = explain.default_layers(loaded)
    rows = []
    cases = {"image-1024": ("image 1024x768 (caption)", pipes.caption, lambda: pipes.caption.messages(photo)),
             "image-480": ("image 480x320 (caption)", pipes.caption,
                           lambda: pipes.caption.messages(photo.resize((480, 320)))),
             "audio-30s": ("audio 30 s (audio Q&A)", pipes.audio, lambda: pipes.audio.messages(speech, "What is said?")),
             # a long conversation, as a /vqa caller's history makes one (issue 23)
             "chat-1000": ("text chat, 1,000 words", pipes.vqa, lambda: long_chat(1000)),
             "chat-4000": ("text chat, 4,000 words", pipes.vqa, lambda: long_chat(4000))}
    runs = args.map_runs or max(3, args.repeats // 4)
    for label, pipeline, chat in (cases[key] for key in INPUTS if key in args.inputs.split(",")):
        chat_messages = chat()
        timings, peaks, plain = [], [], []
        full, _ = explain.conversation(pipeline.model, chat_messages, answer)
        for i in range(runs + 1):
            (weights, inputs), seconds, peak = peak_during(
                lambda: explain.answer_attention(pipeline.model, chat_messages, answer, (first, last), "mean"))
            _, forward, _ = peak_during(lambda: forward_pass(pipeline.model, full))
            if i:  # the first is a warm-up
                timings.append(seconds)
                peaks.append(peak)
                plain.append(forward)
        media = sum(s.tokens for s in explain.segments(pipeline.model, inputs))
        rows.append([label, media, inputs["input_ids"].shape[-1] + len(answer), f"{first}-{last}",
                     median(timings) * 1000, median(plain) * 1000, max(peaks)])
    out.append(table(f"One attention map (one extra forward pass, eager arithmetic in chunks of query rows, "
                     f"answer of {len(answer)} tokens; "
                     f"device {args.device})",
                     ["input", "image/audio tokens", "sequence", "layers", "median ms",
                      "plain forward ms (fast kernels, no weights; preprocessing excluded)",
                      "peak MB (GPU allocator)" if args.device == "cuda" else "peak MB (resident, above start)"],
                     rows))
    text = "".join(out)
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
