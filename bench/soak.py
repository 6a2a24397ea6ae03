"""Soak: N mixed requests against `python app.py --tiny` (loopback), memory and disk watched.

    python -m bench.soak                      # 2,000 requests, a row every 200
    python -m bench.soak --requests 40 --every 20 --max-cache-mb 20

Every request is a plain-HTTP API call (a new Gradio session each, as curl makes): captions and
questions about freshly uploaded images (unique bytes, so the cache keeps filling), the same
images as base64 `data:` URLs, a question with a hand-written history, audio questions,
drawings and status; and, one request in two, a hostile one (issue 23): a file `path` that is a
megabyte of `data:` URL, a JSON body over the limit (every tenth time; the others a lone surrogate
in a question), "component" messages in a chat, audio past the caps in containers libsndfile does
not read (WavPack 8 channels at 2 MHz, 64-channel WebM/Opus, made with sox/ffmpeg), a multi-file
upload, and Gradio's recording route. A hostile request counts as failed unless it is refused as it
should be (or, for the uploads and the chat, answered). Every `--every` requests it prints the app's
RSS, its cache folder's size, its temp folder's size (a private TMPDIR) and its thread count.
Targets: RSS growth after warm-up (the first row) <= 5 % of the RSS then, the cache within
--max-cache-mb (+ the one newest file, which is kept for its request), the temp folder and the
thread count no larger at the end than after warm-up (+2 threads of slack). Exit code 1 if any is
missed. Bounded: --requests, and --timeout seconds in all.
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
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


def bad_audio(folder: str) -> list[bytes]:
    """Audio past the caps in containers libsndfile does not read: WavPack (8 channels, 2 MHz), WebM/Opus (64)."""
    wav, wv, webm = (os.path.join(folder, n) for n in ("w.wav", "w.wv", "o.webm"))
    subprocess.run(["sox", "-n", "-r", "2000000", "-c", "8", "-b", "16", wav, "trim", "0", "0.2"], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", wav, "-c:a", "wavpack", wv], check=True)
    channels = "|".join(["0.1*sin(440*2*PI*t)"] * 64)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"aevalsrc={channels}:s=48000:d=0.5",
                    "-c:a", "libopus", "-mapping_family", "255", webm], check=True)
    return [open(wv, "rb").read(), open(webm, "rb").read()]


def answer_of(http: httpx.Client, url: str, api: str, data: list) -> str:
    response = http.post(f"{url}gradio_api/call/{api}", content=json.dumps({"data": data}),  # ASCII: surrogates go
                         headers={"content-type": "application/json"})
    if response.status_code != 200:
        return f"status {response.status_code}"
    return http.get(f"{url}gradio_api/call/{api}/{response.json()['event_id']}").text


HUGE_PATH = "data:image/png;base64," + "QUFB/" * 200_000  # 1 MB: realpath walked it on the event loop
COMPONENT = {"type": "component", "component": "audio", "value": None, "constructor_args": {}, "props": {}}


def hostile(i: int, http: httpx.Client, url: str, audio: list[bytes]) -> bool:
    """The i-th hostile request; True if it was refused (or, uploads and chats, answered) as it should be."""
    kind = (i // 2) % 6
    if kind == 0:
        return "not among this app" in answer_of(http, url, "caption", [{"path": HUGE_PATH}, "en"])
    if kind == 1:
        if (i // 12) % 10 == 0:  # 33 MB each: every tenth time
            body = b'{"data": ["' + b"a" * (34 * 2**20) + b'"]}'
            return http.post(f"{url}gradio_api/call/vqa", content=body,
                             headers={"content-type": "application/json"}).status_code == 413
        return "event: complete" in answer_of(http, url, "vqa", [upload(http, url, "c.png", noise_png(i)),
                                                                  "what \ud800 is it?", []])
    if kind == 2:
        chat = [{"role": "user", "content": [{"type": "text", "text": "hi"}, COMPONENT]},
                {"role": "assistant", "content": [COMPONENT]}]
        return "event: complete" in answer_of(http, url, "vqa", [upload(http, url, "d.png", noise_png(i)), "and?",
                                                                  chat])
    if kind == 3:
        clip = upload(http, url, "bad.wv" if i % 4 else "bad.webm", audio[(i // 2) % 2])
        return "this demo takes at most 8 channels" in answer_of(http, url, "audio_qa", [clip, "what?"])
    if kind == 4:
        files = [("files", (f"m{k}.png", noise_png(i * 10 + k))) for k in range(4)]
        paths = http.post(f"{url}gradio_api/upload", files=files).json()
        return "event: complete" in answer_of(http, url, "caption", [{"path": paths[-1],
                                                                     "meta": {"_type": "gradio.FileData"}}, "en"])
    video = {"video": ("recording.mp4", secrets.token_bytes(8_500))}
    return http.post(f"{url}gradio_api/process_recording", files=video).status_code == 404


def request(i: int, http: httpx.Client, url: str, audio: list[bytes] | None = None) -> bool:
    """The i-th request of the mix: with `audio` (bad_audio), every other one is hostile."""
    if audio is not None and i % 2:
        return hostile(i, http, url, audio)
    kind = (i // 2 if audio is not None else i) % 7
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


def threads_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--every", type=int, default=200)
    p.add_argument("--max-cache-mb", type=int, default=32)
    p.add_argument("--timeout", type=float, default=3600, help="seconds for the whole run")
    p.add_argument("--out", help="also append the table to this file")
    p.add_argument("--no-hostile", action="store_true", help="the plain mix only (no hostile requests)")
    args = p.parse_args(argv)
    lines = [f"`python -m bench.soak --requests {args.requests} --every {args.every} "
             f"--max-cache-mb {args.max_cache_mb}{' --no-hostile' if args.no_hostile else ''}`, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"load average {os.getloadavg()[0]:.1f} at the start", "",
             "| requests | failed | RSS MB | cache MB | temp MB | threads | seconds |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    rows = []
    tmp = tempfile.mkdtemp(prefix="soak-tmp-")  # the app's TMPDIR: what it leaves outside the cache shows here
    audio = None if args.no_hostile else bad_audio(tempfile.mkdtemp(prefix="soak-audio-"))
    with app_server("--tiny", "--max-new-tokens", "4", "--max-cache-mb", str(args.max_cache_mb),
                    env={"TMPDIR": tmp}) as server, httpx.Client(timeout=120) as http:
        start, failed = time.monotonic(), 0
        for i in itertools.count(1):
            if i > args.requests or time.monotonic() - start > args.timeout:
                break
            try:
                failed += not request(i, http, server.url, audio)
            except (httpx.HTTPError, ValueError, KeyError):  # ValueError/KeyError: an answer that is not JSON
                failed += 1
            if i % args.every == 0 or i == args.requests:
                rss, _ = server.memory_mb()
                rows.append((i, failed, rss, folder_mb(server.cache), folder_mb(tmp), threads_of(server.proc.pid),
                             time.monotonic() - start))
                line = "| {} | {} | {:.0f} | {:.1f} | {:.1f} | {} | {:.0f} |".format(*rows[-1])
                lines.append(line)
                print(line, flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    base = rows[0][2]
    growth = rows[-1][2] - base
    cache_ok = all(r[3] <= args.max_cache_mb + 1 for r in rows)
    grew_ok = growth <= 0.05 * base
    tmp_ok = rows[-1][4] <= rows[0][4] + 0.1
    threads_ok = rows[-1][5] <= rows[0][5] + 2
    verdict = (f"\nRSS after warm-up (first row) {base:.0f} MB, at the end {rows[-1][2]:.0f} MB: growth {growth:+.0f} MB "
               f"= {100 * growth / base:+.1f} % (target <= 5 %: {'met' if grew_ok else 'MISSED'}); cache at most "
               f"{max(r[3] for r in rows):.1f} MB of {args.max_cache_mb} MB ({'met' if cache_ok else 'MISSED'}); "
               f"temp folder {rows[0][4]:.1f} -> {rows[-1][4]:.1f} MB ({'met' if tmp_ok else 'MISSED'}); threads "
               f"{rows[0][5]} -> {rows[-1][5]} ({'met' if threads_ok else 'MISSED'}); "
               f"{rows[-1][1]} of {rows[-1][0]} requests failed.")
    lines.append(verdict)
    print(verdict, flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n".join(lines) + "\n")
    return 0 if grew_ok and cache_ok and tmp_ok and threads_ok and rows[-1][1] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
