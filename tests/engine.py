"""Start a real OpenAI-compatible engine (`transformers serve`) on a loopback port, for tests and benches."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from .conftest import free_port, stop_process


def serve_available() -> bool:
    """`transformers serve` needs the `transformers[serving]` extra (openai, fastapi, uvicorn)."""
    from transformers.utils.import_utils import is_serve_available

    return is_serve_available()


@contextmanager
def transformers_serve(model_dir: Path, *flags: str, start_timeout: float = 120.0):
    """Run `transformers serve MODEL_DIR` on 127.0.0.1 (CPU, offline); yield its base URL (`.../v1`).

    The model is preloaded before the port opens, so a healthy /health means ready. The process
    is always stopped on exit: terminate, then kill after 10 s.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model_dir),
           "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", *flags]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, "HF_HUB_OFFLINE": "1"})
        try:
            deadline = time.monotonic() + start_timeout
            while not _healthy(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-3000:]
                    raise RuntimeError(f"transformers serve did not come up (exit {proc.poll()}):\n{tail}")
                time.sleep(0.5)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            stop_process(proc, timeout=10)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
