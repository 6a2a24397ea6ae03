"""Shared fixtures: tiny checkpoints built once per run, the real app launched on them.

Nothing is mocked: every test drives the real pipelines and the real Gradio server on
random-weight miniatures of the default architectures.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# A private upload cache (read when gradio is imported): Gradio keys uploads by content in one folder per
# machine, and any app that closes deletes the copies it made, even while another app reads the same path.
if "GRADIO_TEMP_DIR" not in os.environ:
    os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="mmdemo-tests-gradio-")
    atexit.register(shutil.rmtree, os.environ["GRADIO_TEMP_DIR"], ignore_errors=True)
ASSETS = ROOT / "assets"


def free_port() -> int:
    """A free port below the kernel's ephemeral range (32768 and up on Linux): a port the kernel hands out
    may be given next to an outgoing connection (a client, the browser), and an app started on it then
    fails to bind while a poll of its URL can reach that other end."""
    import random

    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32000")


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    from pipelines import tiny

    root = Path(os.environ.get("MMDEMO_TINY_DIR") or tmp_path_factory.mktemp("tiny"))
    tiny.build(root)
    return root


@pytest.fixture(scope="session")
def tiny_settings(tiny_dir):
    """Settings pointing every task at the tiny checkpoints, with short answers."""
    from pipelines import tiny
    from pipelines.settings import Settings

    def make(**overrides):
        omni, janus = str(tiny_dir / tiny.OMNI_DIR), str(tiny_dir / tiny.JANUS_DIR)
        values = dict(caption_model=omni, vqa_model=omni, audio_model=omni, video_model=omni, image_model=janus,
                      max_new_tokens=24)
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture(scope="session")
def pipes(tiny_settings):
    from pipelines.tasks import Pipelines

    return Pipelines(tiny_settings())


def launch(pipes, **build_kwargs):
    """Start the real app on a free loopback port; returns (demo, url)."""
    from app import build_demo, launch_options

    demo = build_demo(pipes, **build_kwargs)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(pipes.settings))
    return demo, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="session")
def app_url(pipes):
    demo, url = launch(pipes)
    yield url
    demo.close()


@pytest.fixture()
def client(app_url):
    from gradio_client import Client

    return Client(app_url, analytics_enabled=False, verbose=False)


@contextlib.contextmanager
def run_app(*args: str, env: dict | None = None, log_path: Path | None = None, port: int | None = None):
    """`python app.py --port P ARGS...` as a person starts it; yields its URL once it answers, then stops it.

    The log (stdout and stderr) goes to `log_path` (or a temporary file) and its tail is shown if
    the app does not come up.
    """
    import subprocess
    import time
    import urllib.error
    import urllib.request

    port = port or free_port()
    log_path = log_path or Path(tempfile.mkstemp(prefix="app-", suffix=".log")[1])
    url = f"http://127.0.0.1:{port}/"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), *args], cwd=ROOT,
                                env=env if env is not None else dict(os.environ), stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(url + "gradio_api/info", timeout=2).close()
                break
            except urllib.error.HTTPError:  # it answers (e.g. 401 behind --auth): it is up
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"app.py did not start (exit code {proc.poll()}):\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        if proc.poll() is not None:  # what answered is not this app (it could not bind its port)
            pytest.fail(f"app.py exited (code {proc.poll()}):\n{log_path.read_text()[-3000:]}")
        yield url
    finally:
        stop_process(proc)


def stop_process(proc, timeout: float = 20) -> None:
    """Terminate a server we started; kill it if it does not go within `timeout` seconds."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
