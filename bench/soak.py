"""Soak: N mixed requests against `python app.py --tiny` (loopback), memory and disk watched.

    python -m bench.soak                      # 2,000 requests, a row every 200
    python -m bench.soak --requests 40 --every 20 --max-cache-mb 20

Every request is a plain-HTTP API call (a new Gradio session each, as curl makes): captions and
questions about freshly uploaded images (unique bytes, so the cache keeps filling), the same
images as base64 `data:` URLs, a question with a hand-written history, audio questions,
drawings and status. Every `--every` requests it prints the app's RSS and its cache folder's
size. Targets: RSS growth after warm-up (the first row) <= 5 % of the RSS then, and the cache
within --max-cache-mb (+ the one newest file, which is kept for its request). Exit code 1 if
either is missed. Bounded: --requests, and --timeout seconds in all.
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import os
import sys
import time

import httpx
import numpy as np
from PIL import Image

from .common import ROOT, app_server

SPEECH = (ROOT / "assets" / "speech_en.wav").read_bytes()


def noise_png(seed: int, side: int = 160) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def call(http: httpx.Client, url: str, api: str, data: list) -> bool:
    """One API call through Gradio's plain HTTP API; True if it completed."""
    event = http.post(f"{url}gradio_api/call/{api}", json={"data": data}).json()["event_id"]
    return "event: complete" in http.get(f"{url}gradio_api/call/{api}/{event}").text


def upload(http: httpx.Client, url: str, name: str, content: bytes) -> dict:
    (path,) = http.post(f"{url}gradio_api/upload", files={"files": (name, content)}).json()
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def request(i: int, http: httpx.Client, url: str) -> bool:
    """The i-th request of the mix."""
    kind = i % 7
    if kind == 0:
        return call(http, url, "caption", [upload(http, url, "a.png", noise_png(i)), "en"])
    if kind == 1:
        data_url = {"url": "data:image/png;base64," + base64.b64encode(noise_png(i)).decode(),
                    "meta": {"_type": "gradio.FileData"}}
        return call(http, url, "caption", [data_url, "zh"])
    if kind == 2:
        history = [{"role": role, "content": [{"type": "text", "text": role[0] * 200}]}
                   for role in ("user", "assistant")] * 50
        return call(http, url, "vqa", [upload(http, url, "b.png", noise_png(i)), "what is it?", history])
    if kind == 3:
        return call(http, url, "audio_qa", [upload(http, url, "s.wav", SPEECH), "what is said?"])
    if kind == 4:
        return call(http, url, "text_to_image", ["a red cat", i, 1, 256, 5])
    if kind == 5:
        data_url = {"url": "data:image/png;base64," + base64.b64encode(noise_png(i)).decode(),
                    "meta": {"_type": "gradio.FileData"}}
        return call(http, url, "vqa", [data_url, "and this?", []])
    return call(http, url, "status", [])


def folder_mb(folder: str) -> float:
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(folder) for f in fs
               if os.path.exists(os.path.join(r, f))) / 2**20


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--every", type=int, default=200)
    p.add_argument("--max-cache-mb", type=int, default=32)
    p.add_argument("--timeout", type=float, default=3600, help="seconds for the whole run")
    p.add_argument("--out", help="also append the table to this file")
    args = p.parse_args(argv)
    lines = [f"`python -m bench.soak --requests {args.requests} --every {args.every} "
             f"--max-cache-mb {args.max_cache_mb}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"load average {os.getloadavg()[0]:.1f} at the start", "",
             "| requests | failed | RSS MB | cache MB | seconds |", "|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    rows = []
    with app_server("--tiny", "--max-new-tokens", "4", "--max-cache-mb", str(args.max_cache_mb)) as server, \
            httpx.Client(timeout=120) as http:
        start, failed = time.monotonic(), 0
        for i in itertools.count(1):
            if i > args.requests or time.monotonic() - start > args.timeout:
                break
            try:
                failed += not request(i, http, server.url)
            except httpx.HTTPError:
                failed += 1
            if i % args.every == 0 or i == args.requests:
                rss, _ = server.memory_mb()
                rows.append((i, failed, rss, folder_mb(server.cache), time.monotonic() - start))
                line = "| {} | {} | {:.0f} | {:.1f} | {:.0f} |".format(*rows[-1])
                lines.append(line)
                print(line, flush=True)
    base = rows[0][2]
    growth = rows[-1][2] - base
    cache_ok = all(r[3] <= args.max_cache_mb + 1 for r in rows)
    grew_ok = growth <= 0.05 * base
    verdict = (f"\nRSS after warm-up (first row) {base:.0f} MB, at the end {rows[-1][2]:.0f} MB: growth {growth:+.0f} MB "
               f"= {100 * growth / base:+.1f} % (target <= 5 %: {'met' if grew_ok else 'MISSED'}); cache at most "
               f"{max(r[3] for r in rows):.1f} MB of {args.max_cache_mb} MB ({'met' if cache_ok else 'MISSED'}); "
               f"{rows[-1][1]} of {rows[-1][0]} requests failed.")
    lines.append(verdict)
    print(verdict, flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n".join(lines) + "\n")
    return 0 if grew_ok and cache_ok and rows[-1][1] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
