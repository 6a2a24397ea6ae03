"""What every benchmark section shares: the app in a subprocess, an API client, the model called
directly, and small statistics / table helpers.

The app runs as `python app.py ...` in its own process (as a user runs it), so the bench's
client threads do not compete with the server for one interpreter lock; the direct model
calls run in this process on the very same checkpoint files.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

IMAGE = ASSETS / "street.png"
AUDIO = ASSETS / "speech_en.wav"
QUESTION = "What colour is the house?"
AUDIO_QUESTION = "What is the speaker talking about?"
TEXT_TASKS = ("caption", "vqa", "audio_qa")


# ---------------------------------------------------------------- statistics and tables

def median(xs) -> float:
    return statistics.median(xs) if xs else float("nan")


def table(title: str, header: list[str], rows: list[list]) -> str:
    """A GitHub markdown table (readable in a terminal too)."""
    def cell(v):
        if not isinstance(v, float):
            return str(v)
        return f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"

    lines = [f"\n### {title}\n", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the app as a user runs it

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """`python app.py ARGS` on a free port; `up_seconds` is launch -> first page served."""

    proc: subprocess.Popen
    url: str
    up_seconds: float
    cache: str = ""  # its Gradio cache folder (GRADIO_TEMP_DIR)

    def memory_mb(self) -> tuple[float, float]:
        """(current RSS, peak RSS) of the app process, from /proc."""
        values = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0]) / 1024
        return values["VmRSS"], values["VmHWM"]


@contextmanager
def app_server(*args: str, script: Path = ROOT / "app.py", timeout: float = 600, env: dict | None = None):
    """Start the app with `args` (and `env` added to the environment), wait for its page, yield a Server, stop it."""
    import httpx

    port = free_port()
    cmd = [sys.executable, str(script), "--host", "127.0.0.1", "--port", str(port), *args]
    start = time.perf_counter()
    log = open(os.environ.get("BENCH_APP_LOG", os.devnull), "ab")
    # A cache folder of its own: apps sharing /tmp/gradio clean up (delete_cache) each other's uploads.
    cache = tempfile.mkdtemp(prefix="bench-gradio-")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {}), "GRADIO_TEMP_DIR": cache})
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"app exited with {proc.returncode}: {' '.join(cmd)} (set BENCH_APP_LOG=FILE)")
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"app not up after {timeout} s")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        yield Server(proc, url, time.perf_counter() - start, cache)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(cache, ignore_errors=True)


class _Poll:
    fast = False
    installed = False


def fast_poll(on: bool = True) -> None:
    """Make gradio_client read streamed messages within 1 ms instead of 50 ms (or back).

    gradio_client's reader thread sleeps 50 ms whenever no message is waiting
    (gradio_client/utils.py stream_sse_v1plus), which puts a 50 ms floor under every call
    and hides the server's own latency. A browser's EventSource has no such wait. Only
    that loop is changed; every message still goes through gradio_client unchanged.
    """
    _Poll.fast = on
    if _Poll.installed:
        return
    import types

    import gradio_client.utils as gcu

    real = gcu.time

    def sleep(seconds):
        if _Poll.fast and seconds == 0.05 and sys._getframe(1).f_code.co_name == "stream_sse_v1plus":
            seconds = 0.001
        real.sleep(seconds)

    gcu.time = types.SimpleNamespace(**{k: getattr(real, k) for k in dir(real) if not k.startswith("__")})
    gcu.time.sleep = sleep
    _Poll.installed = True


def client(url: str, tuned: bool = True):
    """A gradio_client Client. `tuned` skips loading the CA bundle on this plain-HTTP
    loopback URL (ssl_verify=False): gradio_client makes a new httpx client for every upload and every queue join,
    and loading the bundle took it 17-200 ms each time here, which no browser pays."""
    from gradio_client import Client

    return Client(url, analytics_enabled=False, verbose=False, ssl_verify=not tuned)


def api_args(task: str) -> tuple[tuple, str]:
    """(arguments, api_name) of one request on a text task, the same for every run."""
    from gradio_client import handle_file

    if task == "caption":
        return (handle_file(str(IMAGE)), "en"), "/caption"
    if task == "vqa":
        return (handle_file(str(IMAGE)), QUESTION, []), "/vqa"
    return (handle_file(str(AUDIO)), AUDIO_QUESTION), "/audio_qa"


def timed(submit, text_of=lambda output: output) -> tuple[float, float, object]:
    """Run `submit()` (a gradio_client job) to the end: (seconds to the first output with text,
    total seconds, the job's result)."""
    start = time.perf_counter()
    job = submit()
    first = None
    for output in job:
        if first is None and text_of(output):
            first = time.perf_counter() - start
    total = time.perf_counter() - start
    return (first if first is not None else total), total, job.result()


def noop_call(c, task: str) -> tuple[float, float, str]:
    """The same upload through bench/noop_app.py, which does nothing with it."""
    from gradio_client import handle_file

    return timed(lambda: c.submit(handle_file(str(AUDIO if task == "audio_qa" else IMAGE)), "?", api_name="/echo"))


def answer_text(task: str, output) -> str:
    if task == "vqa":
        from components.vqa import text_of

        history = output[0]
        return text_of(history[-1]["content"]) if history else ""
    return output or ""


def api_call(c, task: str) -> tuple[float, float, str]:
    """One request through the API: (seconds to first non-empty text, total seconds, answer)."""
    args, api_name = api_args(task)
    first, total, result = timed(lambda: c.submit(*args, api_name=api_name), lambda o: answer_text(task, o))
    return first, total, answer_text(task, result)


# ---------------------------------------------------------------- the model called directly

class _FirstToken:
    """A streamer that only notes when the first new token comes out of generate()."""

    def __init__(self):
        self.prompt_seen, self.at = False, None

    def put(self, value):
        if self.prompt_seen and self.at is None:
            self.at = time.perf_counter()
        self.prompt_seen = True

    def end(self):
        pass


class Direct:
    """The checkpoint with its processor and generate(), as a transformers user calls them."""

    def __init__(self, loaded):
        self.loaded = loaded

    def messages(self, task: str) -> list[dict]:
        import librosa
        from PIL import Image

        from pipelines.tasks import CAPTION_PROMPTS

        if task == "audio_qa":
            samples, _ = librosa.load(AUDIO, sr=16_000, mono=True)
            content = [{"type": "audio", "audio": samples}, {"type": "text", "text": AUDIO_QUESTION}]
        else:
            text = CAPTION_PROMPTS["en"] if task == "caption" else QUESTION
            content = [{"type": "image", "image": Image.open(IMAGE).convert("RGB")}, {"type": "text", "text": text}]
        system = self.loaded.family.system_prompt
        head = [{"role": "system", "content": [{"type": "text", "text": system}]}] if system else []
        return head + [{"role": "user", "content": content}]

    def __call__(self, task: str, max_new_tokens: int) -> dict:
        """Seconds to the first token, in generate(), in all; the answer and its token count."""
        import torch

        loaded = self.loaded
        start = time.perf_counter()
        inputs = loaded.processor.apply_chat_template(
            self.messages(task), add_generation_prompt=True, tokenize=True, return_dict=True,
            return_tensors="pt").to(loaded.device).to(loaded.dtype)
        streamer = _FirstToken()
        tok = loaded.tokenizer
        result = []

        def work():
            with torch.inference_mode():
                result.append(loaded.generator.generate(
                    **inputs, **loaded.family.text_generate_kwargs, max_new_tokens=max_new_tokens, do_sample=False,
                    streamer=streamer, pad_token_id=tok.pad_token_id or tok.eos_token_id))
            sync(loaded.device)

        # In a worker thread, as transformers' streaming recipe (TextIteratorStreamer) and the app
        # run it: on a busy 2-core machine a main-thread generate() ran up to 10x slower (OpenMP
        # threads contending), which would flatter the app.
        gen_start = time.perf_counter()
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        end = time.perf_counter()
        new = result[0][0, inputs["input_ids"].shape[1]:]
        first = streamer.at or end
        return dict(ttft=first - start, generate=end - gen_start, total=end - start, prefill=first - gen_start,
                    text=tok.decode(new, skip_special_tokens=True), tokens=int(new.numel()))


def pipeline_call(pipes, task: str) -> tuple[float, float, str]:
    """One request through the app's own pipeline, in this process (no HTTP, no queue)."""
    start = time.perf_counter()
    if task == "caption":
        stream = pipes.caption(str(IMAGE), "en")
    elif task == "vqa":
        stream = pipes.vqa(str(IMAGE), QUESTION, [])
    else:
        stream = pipes.audio(str(AUDIO), AUDIO_QUESTION)
    first, text = None, ""
    for text in stream:
        if first is None and text:
            first = time.perf_counter() - start
    total = time.perf_counter() - start
    return (first if first is not None else total), total, text


def sync(device) -> None:
    import torch

    if getattr(device, "type", str(device)).startswith("cuda"):
        torch.cuda.synchronize()


def run_threads(n: int, fn) -> list:
    """Run fn(i) in n threads at once; return their results in order."""
    results = [None] * n
    errors = []

    def work(i):
        try:
            results[i] = fn(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results
