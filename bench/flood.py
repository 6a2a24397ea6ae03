"""A caption's latency while another client floods /status (issue 23), against `python app.py --tiny`.

    python -m bench.flood                    # 5 captions alone, then 5 under a flood of ~100 requests/s
    python -m bench.flood --captions 3 --rate 100

The flood comes from another loopback address (127.0.0.2) than the captions, as from another machine;
the table gives the captions' median seconds alone and under the flood, and how many of the flood's
requests were answered (200) and refused (429, the per-client limit of the cheap routes).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

import httpx

from .common import IMAGE, app_server, median, table


def caption(http: httpx.Client, url: str) -> float:
    (path,) = http.post(f"{url}gradio_api/upload", files={"files": ("s.png", IMAGE.read_bytes())}).json()
    start = time.perf_counter()
    event = http.post(f"{url}gradio_api/call/caption",
                      json={"data": [{"path": path, "meta": {"_type": "gradio.FileData"}}, "en"]}).json()["event_id"]
    text = http.get(f"{url}gradio_api/call/caption/{event}").text
    assert "event: complete" in text, text[-300:]
    return time.perf_counter() - start


def flood(url: str, rate: float, stop: threading.Event, codes: list) -> None:
    """`rate` POST /gradio_api/run/status a second, from 127.0.0.2, over 8 threads, until `stop`."""
    def worker():
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=30) as http:
            while not stop.is_set():
                start = time.perf_counter()
                try:
                    codes.append(http.post(f"{url}gradio_api/run/status", json={"data": []}).status_code)
                except httpx.HTTPError:
                    codes.append("error")
                time.sleep(max(0.0, 8 / rate - (time.perf_counter() - start)))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    stop.wait()
    for t in threads:
        t.join(30)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--captions", type=int, default=5)
    p.add_argument("--rate", type=float, default=100.0, help="flood requests a second")
    args = p.parse_args(argv)
    with app_server("--tiny", "--max-new-tokens", "16") as server, httpx.Client(timeout=120) as http:
        caption(http, server.url)  # loads the model
        alone = [caption(http, server.url) for _ in range(args.captions)]
        stop, codes = threading.Event(), []
        flooding = threading.Thread(target=flood, args=(server.url, args.rate, stop, codes), daemon=True)
        started = time.perf_counter()
        flooding.start()
        time.sleep(2)  # past the flood's burst
        under = [caption(http, server.url) for _ in range(args.captions)]
        stop.set()
        flooding.join(60)
        seconds = time.perf_counter() - started
    print(f"`python -m bench.flood --captions {args.captions} --rate {args.rate:g}`, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.1f}\n")
    print(table("Caption latency under a /status flood from another client",
                ["captions", "median s", "flood requests/s sent", "flood 200", "flood 429"],
                [["alone", f"{median(alone):.2f}", "-", "-", "-"],
                 ["under the flood", f"{median(under):.2f}", f"{len(codes) / seconds:.0f}", codes.count(200),
                  codes.count(429)]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
