"""Throughput of the understanding tasks: in-process backend vs. an OpenAI-compatible engine.

8 clients (gradio_client, one thread each) send caption, VQA and audio Q&A requests through
the app at once; the app runs them in-process, or forwards them to `transformers serve`
(started here on a loopback port with the tiny Qwen2.5-Omni thinker, CPU). Prints one
markdown table; numbers go to bench/RESULTS_openai.md.

    python bench/openai_backend.py                 # tiny checkpoints, CPU, ~2-4 min
    python bench/openai_backend.py --clients 8 --rounds 3 --max-new-tokens 64
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Before gradio is imported: offline hub, no analytics, a private Gradio upload cache (see conftest).
from tests.conftest import ASSETS, launch  # noqa: E402

from bench.common import timed  # noqa: E402


def requests_for(client_index: int, rounds: int):
    """Each client cycles through the three tasks, starting at a different one."""
    from gradio_client import handle_file

    tasks = [
        ("/caption", lambda: (handle_file(str(ASSETS / "street.png")), "en")),
        ("/vqa", lambda: (handle_file(str(ASSETS / "chart.png")), "Which bar is highest?", [])),
        ("/audio_qa", lambda: (handle_file(str(ASSETS / "speech_en.wav")), "What is said?")),
    ]
    return [tasks[(client_index + i) % 3] for i in range(rounds * 3)]


def run_clients(conns: list, rounds: int) -> dict:
    """All clients start together; returns wall time and per-request latency / time to first text."""
    clients = len(conns)
    latencies, firsts, errors = [], [], []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def work(i):
        barrier.wait()
        for api, args in requests_for(i, rounds):
            try:
                first, total, _ = timed(lambda: conns[i].submit(*args(), api_name=api))
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(f"{api}: {exc}")
                continue
            with lock:
                latencies.append(total)
                firsts.append(first)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {"wall": wall, "latencies": latencies, "firsts": firsts, "errors": errors}


def scenario(name: str, pipes, concurrency: int, clients: int, rounds: int) -> dict:
    """Launch the app on `pipes`, warm it (one request per task), then measure."""
    from gradio_client import Client

    demo, url = launch(pipes, concurrency=concurrency)
    try:
        # Clients live for the whole scenario: when a session ends, Gradio may delete the files it
        # uploaded, and clients uploading the same asset share one cached copy.
        conns = [Client(url, analytics_enabled=False, verbose=False) for _ in range(clients)]
        run_clients(conns[:1], 1)
        result = run_clients(conns, rounds)
    finally:
        demo.close()
    result["name"] = name
    return result


def row(r: dict) -> str:
    n = len(r["latencies"])
    lat = sorted(r["latencies"]) or [float("nan")]
    first = sorted(r["firsts"]) or [float("nan")]
    p90 = lat[min(len(lat) - 1, int(0.9 * len(lat)))]
    return (f"| {r['name']} | {n} | {len(r['errors'])} | {r['wall']:.1f} | {n / r['wall']:.2f} | "
            f"{statistics.median(lat):.2f} | {p90:.2f} | {statistics.median(first):.2f} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2, help="each client sends 3 x rounds requests")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--tiny-dir", default=None, help="reuse tiny checkpoints here (default: a temporary folder)")
    args = p.parse_args(argv)

    import torch

    from pipelines import tiny
    from pipelines.settings import Settings
    from pipelines.tasks import Pipelines
    from tests.engine import serve_available, transformers_serve

    if not serve_available():
        print("needs transformers[serving]: pip install -r requirements-dev.txt", file=sys.stderr)
        return 2
    root = Path(args.tiny_dir or tempfile.mkdtemp(prefix="mmdemo-bench-"))
    paths = tiny.build(root)
    thinker = tiny.build_thinker(root)
    omni, janus = str(paths[tiny.OMNI_DIR]), str(paths[tiny.JANUS_DIR])
    base = dict(caption_model=omni, vqa_model=omni, audio_model=omni, video_model=omni, image_model=janus, device="cpu",
                max_new_tokens=args.max_new_tokens)
    c = args.clients

    results = [
        scenario("in-process, --concurrency 1 (default)", Pipelines(Settings(**base)), 1, c, args.rounds),
        scenario(f"in-process, --concurrency {c}", Pipelines(Settings(**base)), c, c, args.rounds),
    ]
    for label, flags in (("transformers serve", ()), ("transformers serve --continuous-batching",
                                                       ("--continuous-batching",))):
        with transformers_serve(thinker, *flags) as url:
            settings = Settings(**base, backend="openai", endpoint=url, served_model=str(thinker),
                                remote_concurrency=c)
            results.append(scenario(f"openai backend -> {label}", Pipelines(settings), 1, c, args.rounds))

    print(f"\n{c} clients x {3 * args.rounds} requests (caption, VQA, audio Q&A in turn), "
          f"max_new_tokens={args.max_new_tokens}, tiny Qwen2.5-Omni, CPU "
          f"({os.cpu_count()} cores, torch {torch.__version__} threads={torch.get_num_threads()}, "
          f"{platform.python_version()})\n")
    print("| backend | requests ok | errors | wall s | requests/s | latency p50 s | latency p90 s | first text p50 s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(row(r))
    for r in results:
        for e in r["errors"][:3]:
            print(f"error in {r['name']}: {e}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
