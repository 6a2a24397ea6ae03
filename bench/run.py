"""Benchmarks: what the app adds to the model's own cost, streaming, memory, many users, start-up.

Prints markdown tables (and appends them to --out). Every comparison is measured side by side
in one run, with the repeats of its variants interleaved, so a busy machine slows them alike.

    python -m bench.run                                 # CPU, tiny checkpoints (a few minutes)
    python -m bench.run --device cuda --full-size       # GPU, full-size random-weight models
    python -m bench.run --sections overhead,users --repeats 5 --out bench/results.md
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from contextlib import ExitStack
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py` as well as `python -m bench.run`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (TEXT_TASKS, Direct, api_call, app_server, client, fast_poll, median,  # noqa: E402
                          noop_call, pipeline_call, run_threads, sync, table)

SECTIONS = ("overhead", "scale", "memory", "users", "startup", "decode")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--full-size", action="store_true",
                   help="full-size random-weight Qwen2.5-Omni-3B and Janus-Pro-1B (bench/fullsize.py), not the tiny ones")
    p.add_argument("--full-size-layers", type=int,
                   help="with --full-size: this many layers per stack, at full width (a CPU-sized run)")
    p.add_argument("--models-dir", default=str(Path(__file__).resolve().parent.parent / ".bench-models"),
                   help="where --full-size checkpoints are built (about 13 GB)")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"any of {','.join(SECTIONS)}")
    p.add_argument("--tokens", type=int, default=64, help="max_new_tokens of every answer (greedy)")
    p.add_argument("--repeats", type=int, default=10, help="timed runs of each variant (after 2 warm-ups)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients in the users section")
    p.add_argument("--requests", type=int, default=6, help="requests per client in the users section")
    p.add_argument("--max-batch-size", type=int, default=8, help="the app's batching setting for the batched run")
    p.add_argument("--no-stock-client", action="store_true", help="skip the unpatched gradio_client column")
    p.add_argument("--out", help="also append the tables to this markdown file")
    return p.parse_args(argv)


def model_paths(args) -> tuple[str, str]:
    from pipelines import tiny

    if args.full_size:
        from bench import fullsize

        paths = fullsize.build(Path(args.models_dir), args.full_size_layers)
    else:
        paths = tiny.build(tiny.DEFAULT_DIR)  # where `python app.py --tiny` finds them
    return str(paths[tiny.OMNI_DIR]), str(paths[tiny.JANUS_DIR])


class Bench:
    """Shared state: the checkpoints, the app server, the model in this process, the printed tables."""

    def __init__(self, args, stack: ExitStack):
        self.args, self.stack = args, stack
        self.omni, self.janus = model_paths(args)
        self.app = None
        self.memory_after_load = None
        self.out: list[str] = []
        self._registry = None

    def model(self):
        """(registry, the understanding model) loaded in this process, for the direct calls."""
        from pipelines.registry import ModelRegistry

        self._registry = self._registry or ModelRegistry(self.args.device)
        return self._registry, self._registry.get(self.omni)

    def app_args(self) -> list[str]:
        a = self.args
        if not a.full_size:
            return ["--tiny", "--device", a.device, "--max-new-tokens", str(a.tokens)]
        return ["--caption-model", self.omni, "--vqa-model", self.omni, "--audio-model", self.omni,
                "--video-model", self.omni, "--image-model", self.janus, "--device", a.device, "--max-new-tokens", str(a.tokens)]

    def launch(self, *extra: str, env: dict | None = None):
        """A context manager: the app on these checkpoints with `extra` flags, as a user starts it."""
        return app_server(*self.app_args(), *extra, env=env)

    def server(self):
        """The app as by default (no batching), weights preloaded; started on first use, kept for the run."""
        if self.app is None:
            self.app = self.stack.enter_context(self.launch("--preload"))
            self.memory_after_load = (self.app.memory_mb(), status(self.app))
        return self.app

    def print(self, text: str) -> None:
        print(text, flush=True)
        self.out.append(text)


def status(srv) -> dict:
    return client(srv.url).predict(api_name="/status")


# ---------------------------------------------------------------- sections

def overhead(bench: Bench) -> None:
    """Targets 1 and 2: end-to-end latency and time to first token, app vs. the model alone."""
    # An app of its own, with Gradio's profiler on: it times each request's queue wait, pre- and
    # postprocessing and handler inside the server (a few clock reads per request).
    with bench.launch("--preload", env={"GRADIO_PROFILING": "1"}) as srv:
        _overhead(bench, srv)


def _overhead(bench: Bench, srv) -> None:
    import httpx

    from pipelines.settings import Settings
    from pipelines.tasks import Pipelines

    args = bench.args
    registry, loaded = bench.model()
    direct = Direct(loaded)
    pipes = Pipelines(Settings(caption_model=bench.omni, vqa_model=bench.omni, audio_model=bench.omni,
                               video_model=bench.omni, image_model=bench.janus, max_new_tokens=args.tokens), registry)
    api, stock = client(srv.url), client(srv.url, tuned=False)
    noop_srv = bench.stack.enter_context(app_server(script=Path(__file__).with_name("noop_app.py")))
    noop = client(noop_srv.url)

    def api_fast(task):
        fast_poll(True)
        return api_call(api, task)

    def api_stock(task):
        fast_poll(False)
        return api_call(stock, task)

    def api_noop(task):
        fast_poll(True)
        return noop_call(noop, task)

    variants = {"direct": lambda t: direct(t, args.tokens), "pipeline": lambda t: pipeline_call(pipes, t),
                "api": api_fast, "noop": api_noop}
    if not args.no_stock_client:
        variants["api_stock"] = api_stock
    runs = {(task, v): [] for task in TEXT_TASKS for v in variants}
    for rep in range(args.repeats + 2):
        if rep == 2:  # after the two warm-ups
            httpx.post(srv.url + "gradio_api/profiling/clear")
        for task in TEXT_TASKS:
            names = list(variants)
            names = names[rep % len(names):] + names[:rep % len(names)]  # rotate the order
            for name in names:
                result = variants[name](task)
                if rep >= 2:  # two warm-ups
                    runs[task, name].append(result)
    fast_poll(True)

    def total(task, v):
        return [r["total"] if isinstance(r, dict) else r[1] for r in runs[task, v]]

    def first(task, v):
        return [r["ttft"] if isinstance(r, dict) else r[0] for r in runs[task, v]]

    rows, ttft_rows = [], []
    for task in TEXT_TASKS:
        d = runs[task, "direct"][0]
        gen = median([r["generate"] for r in runs[task, "direct"]])
        same = runs[task, "api"][0][2] == d["text"]
        row = [task, d["tokens"], gen * 1e3, median(total(task, "direct")) * 1e3,
               median(total(task, "pipeline")) * 1e3, median(total(task, "api")) * 1e3]
        if "api_stock" in variants:
            row.append(median(total(task, "api_stock")) * 1e3)
        floor = median(total(task, "noop"))
        row += [floor * 1e3, median(total(task, "pipeline")) / median(total(task, "direct")),
                median(total(task, "api")) / median(total(task, "direct")),
                min(total(task, "api")) / min(total(task, "direct")),
                (median(total(task, "api")) - floor) / median(total(task, "direct")), "yes" if same else "no"]
        rows.append(row)
        ttft_rows.append([task, median(first(task, "direct")) * 1e3, median(first(task, "pipeline")) * 1e3,
                          median(first(task, "api")) * 1e3, median(first(task, "noop")) * 1e3,
                          median(first(task, "api")) / median(first(task, "direct")),
                          min(first(task, "api")) / min(first(task, "direct")),
                          (median(first(task, "api")) - median(first(task, "noop"))) / median(first(task, "direct"))])
    header = ["task", "new tokens", "generate() ms", "direct ms", "pipeline ms", "API ms"]
    if "api_stock" in variants:
        header.append("API, stock client ms")
    header += ["no-op Gradio endpoint ms", "pipeline / direct", "API / direct (median)", "API / direct (min)",
               "(API - no-op) / direct", "API answer = direct"]
    bench.print(table(f"Overhead: end-to-end latency, {args.tokens} new tokens, greedy, medians of {args.repeats}",
                      header, rows))
    traces = httpx.get(srv.url + "gradio_api/profiling/traces").json()
    split = []
    for task in TEXT_TASKS:
        mine = [t for t in traces if t["fn_name"] == task]
        ms = {key: median([t[key] for t in mine]) for key in mine[0] if key.endswith("_ms")}
        server = median([t["queue_wait_ms"] + t["total_ms"] for t in mine])
        api_ms, direct_ms = median(total(task, "api")) * 1e3, median(total(task, "direct")) * 1e3
        split.append([task, api_ms, api_ms - server, server, ms["queue_wait_ms"],
                      ms["preprocess_ms"] + ms["postprocess_ms"] + ms["streaming_diff_ms"], ms["fn_call_ms"],
                      direct_ms, ms["fn_call_ms"] / direct_ms, server / direct_ms])
    bench.print(table("Where the API's time goes: inside the app server (Gradio's profiler) and outside it", [
        "task", "API ms", "outside the server: client, HTTP, upload ms", "inside the server ms", "queue wait ms",
        "Gradio pre/postprocess ms", "handler ms (the app's pipeline, model included)", "direct ms",
        "handler / direct", "inside the server / direct"], split))
    bench.print(table("Streaming: time to first token", [
        "task", "direct ms", "pipeline ms", "API ms", "no-op Gradio endpoint ms", "API / direct (median)",
        "API / direct (min)", "(API - no-op) / direct"], ttft_rows))


def memory(bench: Bench) -> None:
    """Target 3: after using all four tabs, memory stays near what loading the models took."""
    from gradio_client import handle_file

    from bench.common import ASSETS

    srv = bench.server()
    (rss0, peak0), status0 = bench.memory_after_load
    c = client(srv.url)
    for _ in range(2):
        for task in TEXT_TASKS:
            api_call(c, task)
        c.predict("a red house", 1, 1, 384, 5.0, api_name="/text_to_image")
    c.predict(handle_file(str(ASSETS / "chart.png")), "zh", api_name="/caption")
    rss1, peak1 = srv.memory_mb()
    status1 = status(srv)
    loaded = [m for m in status1["models"].values() if m["loaded"]]
    tabs = sum(len(m["tasks"]) for m in status1["models"].values())
    rows = [["process RSS MB", rss0, rss1, rss1 / rss0], ["process peak RSS MB", peak0, peak1, peak1 / peak0]]
    cuda0, cuda1 = status0["memory"], status1["memory"]
    if "cuda_max_allocated_mb" in cuda1:
        rows.append(["torch.cuda.max_memory_allocated MB", cuda0["cuda_max_allocated_mb"],
                     cuda1["cuda_max_allocated_mb"], cuda1["cuda_max_allocated_mb"] / cuda0["cuda_max_allocated_mb"]])
    bench.print(table(f"Memory: {tabs} tabs served by {len(loaded)} loaded checkpoints "
                      f"({', '.join(Path(m).name for m in status1['models'])}), each loaded once",
                      ["measure", "after loading", "after using all tabs", "ratio"], rows))


def users(bench: Bench) -> None:
    """Target 4: answers per second with 1 and with N concurrent clients, batching off and on."""
    args = bench.args
    rows = []
    for batch in dict.fromkeys([1, args.max_batch_size]):
        with ExitStack() as own:  # the batched app is stopped after its turn (one model copy less on the GPU)
            srv = bench.server() if batch == 1 else own.enter_context(
                bench.launch("--preload", "--max-batch-size", str(batch)))
            rows += users_rows(bench, srv, batch)
    bench.print(table(f"Users: text tasks in rotation, {args.tokens} new tokens each", [
        "--max-batch-size", "clients", "answers", "seconds", "answers/s", "vs 1 client", "median latency ms"], rows))


def users_rows(bench: Bench, srv, batch: int) -> list[list]:
    args, rows = bench.args, []
    clients = [client(srv.url) for _ in range(args.clients)]
    for task in TEXT_TASKS:  # warm-up
        api_call(clients[0], task)
    single = None
    for n in (1, args.clients):
        def work(i):
            return [api_call(clients[i], TEXT_TASKS[(i + k) % len(TEXT_TASKS)])[1] for k in range(args.requests)]

        start = time.perf_counter()
        latencies = [x for per in run_threads(n, work) for x in per]
        seconds = time.perf_counter() - start
        rate = len(latencies) / seconds
        single = single or rate
        rows.append([batch, n, len(latencies), seconds, rate, rate / single, median(latencies) * 1e3])
    return rows


def startup(bench: Bench) -> None:
    """Target 5: launch -> first page served, and what the first request (lazy load) costs."""
    rows = []
    for preload in (False, True):
        extra = ["--preload"] if preload else []
        with bench.launch(*extra) as srv:
            c = client(srv.url)
            first = api_call(c, "caption")[1]
            second = api_call(c, "caption")[1]
            rows.append(["--preload" if preload else "lazy (default)", srv.up_seconds, first, second])
    bench.print(table("Start-up: launch to first page served; first and second caption request", [
        "loading", "page served s", "first request s", "second request s"], rows))


def decode(bench: Bench) -> None:
    """Decode speed against what memory bandwidth allows (weights read once per token), alone and
    as one batch of N requests. Meant for the GPU; on CPU the tiny model is bound by Python, not memory."""
    import torch

    from pipelines.generation import Batcher, stream_text

    args = bench.args
    registry, loaded = bench.model()
    direct = Direct(loaded)
    n = 2**28 if args.device == "cuda" else 2**25  # 512 MB (GPU) or 64 MB (CPU) of bf16, copied each way
    src = torch.empty(n, dtype=torch.bfloat16, device=loaded.device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    sync(loaded.device)
    start = time.perf_counter()
    for _ in range(20):
        dst.copy_(src)
    sync(loaded.device)
    bandwidth = 20 * 2 * src.numel() * src.element_size() / (time.perf_counter() - start)
    del src, dst
    gen = loaded.generator
    # Read once per decoding step: the text decoder and the output head; of the input embedding
    # table only one row per token (unless it is the output head too).
    weights = {id(p): p for m in (gen.get_decoder(), gen.get_output_embeddings()) for p in m.parameters()}
    if gen.get_input_embeddings().weight is not gen.get_output_embeddings().weight:
        weights.pop(id(gen.get_input_embeddings().weight), None)
    per_token = sum(p.numel() * p.element_size() for p in weights.values())
    ideal = bandwidth / per_token
    rows = []
    for task in TEXT_TASKS:
        direct(task, args.tokens)
        r = min((direct(task, args.tokens) for _ in range(3)), key=lambda r: r["generate"])
        rate = (r["tokens"] - 1) / (r["generate"] - r["prefill"])
        rows.append([f"{task}, 1 request", r["tokens"], rate, ideal, rate / ideal])
    batcher, messages = Batcher(loaded, args.max_batch_size), direct.messages("caption")
    for clients in (1, args.max_batch_size):
        def one(i):
            return list(stream_text(loaded, messages, max_new_tokens=args.tokens, batcher=batcher))

        run_threads(clients, one)  # warm-up
        start = time.perf_counter()
        run_threads(clients, one)
        seconds = time.perf_counter() - start
        label = "1 request via the batcher" if clients == 1 else f"{clients} concurrent requests, one batch"
        rows.append([f"caption, {label}", clients * args.tokens,
                     clients * args.tokens / seconds, ideal * clients, "-"])
    bench.print(table(f"Decode: tokens/s vs. memory bandwidth ({bandwidth / 1e9:.0f} GB/s measured, "
                      f"{per_token / 1e6:.1f} MB of weights read per token; batcher rows: whole requests, prefill "
                      "included, all rows together)",
                      ["run", "new tokens", "tokens/s", "bandwidth bound tokens/s", "fraction"], rows))


def scale(bench: Bench) -> None:
    """Real input scale: the inputs real users send, through the real preprocessing of each checkpoint
    (the miniatures share it, pipelines/tiny.py), then one new token (prefill and the encoders)."""
    import numpy as np
    import torch
    from PIL import Image

    from pipelines.generation import model_inputs
    from pipelines.inputs import Audio, load_audio
    from pipelines.registry import ModelRegistry
    from pipelines.settings import Settings
    from pipelines.tasks import Pipelines

    args = bench.args
    settings = Settings(caption_model=bench.omni, vqa_model=bench.omni, audio_model=bench.omni,
                        video_model=bench.omni, image_model=bench.janus, device=args.device)
    pipes = Pipelines(settings, ModelRegistry(args.device))
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (768, 1024, 3), dtype=np.uint8))
    t = np.arange(30 * 16_000) / 16_000
    speech = Audio((0.2 * np.sin(2 * np.pi * (200 + 50 * np.sin(t)) * t)).astype(np.float32), 30.0)
    asset = load_audio(str(Path(__file__).resolve().parent.parent / "assets" / "speech_en.wav"))
    cases = [
        ("image 1024x768 (caption)", pipes.caption, lambda: pipes.caption.messages(photo, "en"), "image_token_id"),
        ("image 480x320 (caption)", pipes.caption,
         lambda: pipes.caption.messages(photo.resize((480, 320)), "en"), "image_token_id"),
        ("audio 30 s (audio Q&A)", pipes.audio, lambda: pipes.audio.messages(speech, "What is said?"),
         "audio_token_id"),
        (f"audio {asset.seconds:.1f} s (audio Q&A)", pipes.audio, lambda: pipes.audio.messages(asset, "What is said?"),
         "audio_token_id"),
        ("image 1024x768 (Janus-Pro, text mode)", None, None, None),
    ]
    rows = []
    for name, pipe, make, token in cases:
        if pipe is None:  # the drawing model understanding a photo: 576 placeholders whatever the size
            janus = Pipelines(Settings(caption_model=bench.janus, vqa_model=bench.janus, audio_model=bench.janus,
                                       video_model=bench.janus, image_model=bench.janus, device=args.device),
                              pipes.registry)
            pipe, make = janus.vqa, (lambda j=janus: j.vqa.messages(photo, "What is in it?"))
        loaded = pipe.model
        prep, first, n = [], [], 0
        for rep in range(args.repeats + 1):
            start = time.perf_counter()
            inputs = model_inputs(loaded, make())
            sync(loaded.device)
            mid = time.perf_counter()
            with torch.inference_mode():
                loaded.generator.generate(**inputs, **loaded.family.text_generate_kwargs, max_new_tokens=1,
                                          do_sample=False)
            sync(loaded.device)
            if rep:  # one warm-up
                prep.append(mid - start)
                first.append(time.perf_counter() - start)
            config = getattr(loaded.model.config, "thinker_config", loaded.model.config)
            n = int((inputs["input_ids"] == getattr(config, token or "image_token_id")).sum())
        rows.append([name, n, int(inputs["input_ids"].shape[1]), median(prep) * 1000, median(first) * 1000])
    drawer = pipes.image
    if not args.full_size:  # the miniature draws 16 tokens (pipelines/tiny.py); time the real 576 steps
        from pipelines import tiny

        path = tiny.DEFAULT_DIR / "janus_draw576"
        if not (path / "config.json").exists():
            tiny.build_janus(path, patches=24)
        drawer = Pipelines(Settings(image_model=str(path), caption_model=bench.omni, vqa_model=bench.omni,
                                    audio_model=bench.omni, video_model=bench.omni, device=args.device),
                           pipes.registry).image
    draws = []
    for rep in range(min(args.repeats, 3) + 1):
        start = time.perf_counter()
        drawer("a red house, watercolour", 1, 1, 384, 5.0)
        if rep:  # one warm-up
            draws.append(time.perf_counter() - start)
    total = drawer.model.model.model.vision_model.config.num_image_tokens
    rows.append([f"drawing 1 image, {total} image tokens (Janus-Pro)", total, "-", "-", median(draws) * 1000])
    bench.print(table(f"Real input scale: real preprocessing (pipelines/tiny.py), medians of {args.repeats}",
                      ["input", "image/audio tokens", "prompt tokens", "preprocessing ms",
                       "first token ms (preprocessing included; drawing: the whole image)"], rows))


def machine(args) -> str:
    import gradio
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    models = "full-size random-weight (bench/fullsize.py)" if args.full_size else "tiny random-weight (pipelines/tiny.py)"
    if args.full_size and args.full_size_layers:
        models += f", {args.full_size_layers} layer(s) per stack at full width"
    return (f"\n## Run of {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n\n"
            f"- command: `python -m bench.run {' '.join(sys.argv[1:])}`\n"
            f"- machine: {cpu}, {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}, GPU: {gpu}; "
            f"load average at start {os.getloadavg()[0]:.1f}\n"
            f"- models: {models}, device {args.device}\n"
            f"- versions: Python {platform.python_version()}, torch {torch.__version__}, transformers "
            f"{transformers.__version__}, gradio {gradio.__version__}\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        sys.exit(f"unknown section(s): {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    with ExitStack() as stack:
        bench = Bench(args, stack)
        bench.print(machine(args))
        for name in SECTIONS:  # fixed order: memory readings wrap the sections that use the tabs
            if name in chosen and name != "memory":
                globals()[name](bench)
        if "memory" in chosen:
            memory(bench)
    if args.out:
        with open(args.out, "a") as f:
            f.write("".join(bench.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
