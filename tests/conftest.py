"""Shared fixtures: tiny checkpoints built once per run, the real app served on them, a browser.

Nothing is mocked: every test drives the real pipelines and the real Gradio server on
random-weight miniatures of the default architectures.

One shape for a running app: `Served` (its demo, url, pipes and a client). A module asks for one with
`apps(**settings)`: one app per settings profile for the whole run, shared by every module that asks for the
same settings, closed at the end. A test that needs an app of its own (it closes it, or changes what it was
built with) uses `serve(pipes)`, a context manager. The browser tests open `server` (a URL; by default
`app.py --tiny` in a subprocess, as a person starts it) with `open_page`.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_OFFLINE"] = "1"
# One torch thread per process (the tests' and every app.py or benchmark they start, which inherit it; set
# before torch is imported). The miniatures' ops are tiny: a second thread saves nothing, and where the
# server's, the client's and the model's threads already share two cores, torch's spinning workers starve
# them: a spoken answer of the miniature took many times longer with two threads than with one.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
if "torch" in sys.modules:
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# A private upload cache (read when gradio is imported): Gradio keys uploads by content in one folder per
# machine, and any app that closes deletes the copies it made, even while another app reads the same path.
if "GRADIO_TEMP_DIR" not in os.environ:
    os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="mmdemo-tests-gradio-")
    atexit.register(shutil.rmtree, os.environ["GRADIO_TEMP_DIR"], ignore_errors=True)
ASSETS = ROOT / "assets"
ARTIFACTS = ROOT / "test-artifacts" / "browser"


# Fixtures that start a process (app.py, chromium, an engine): a test using one is marked slow.
PROCESS_FIXTURES = {"tiny_server", "browser", "started", "proxied", "engine"}


def pytest_collection_modifyitems(items):
    """`slow` (pytest.ini) on every test that starts a process through a fixture; the tests that start one
    themselves (a benchmark, `python app.py ...`) or run many rounds carry @pytest.mark.slow."""
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On CI (CI=true, set by .ci/run) a skipped test fails, whatever skipped it (tests/requires.py says why
    for the known ones): a skip there would leave an area untested without anyone noticing."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped on CI, where every test must run: {report.longrepr}"


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
                      search_model=str(tiny.build_search(tiny_dir)), search_cache=str(tiny_dir / ".search-cache"),
                      max_new_tokens=24)
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture(scope="session")
def pipes(tiny_settings):
    """The pipelines on the default tiny settings (the default app, `served`, answers with them)."""
    from pipelines.tasks import Pipelines

    return Pipelines(tiny_settings())


@dataclass
class Served:
    """One running app: the Gradio demo, its URL (ends with '/'), the pipelines it answers with."""

    demo: Any
    url: str
    pipes: Any

    @functools.cached_property
    def client(self):
        """A gradio_client on the app, made once (it reads the app's API description) and shared."""
        return self.new_client()

    def new_client(self, **kwargs):
        """A gradio_client of its own (its own session), e.g. with `headers=`."""
        from gradio_client import Client

        return Client(self.url, analytics_enabled=False, verbose=False, **kwargs)

    def close(self) -> None:
        close_demo(self.demo)


def close_demo(demo) -> None:
    """demo.close(), once more if Gradio's own close raced its server: it sets the app's asyncio stop Event from this
    thread while the server's loop waits on it ("deque mutated during iteration", seen once in CI); the second call
    finds the Event set and closes the rest."""
    try:
        demo.close()
    except RuntimeError:
        demo.close()


def launch(pipes, mcp_server: bool = False, **build_kwargs) -> Served:
    """Start the real app (app.build_demo with `build_kwargs`, app.launch_options) on a free loopback port."""
    from app import build_demo, launch_options

    demo = build_demo(pipes, **build_kwargs)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                mcp_server=mcp_server, **launch_options(pipes.settings))
    return Served(demo, f"http://127.0.0.1:{port}/", pipes)


@contextlib.contextmanager
def serve(pipes, mcp_server: bool = False, **build_kwargs):
    """An app of the test's own on `pipes`, closed when the block ends."""
    served = launch(pipes, mcp_server, **build_kwargs)
    try:
        yield served
    finally:
        served.close()


@pytest.fixture(scope="session")
def apps(tiny_settings, pipes):
    """apps(**settings) -> the Served app for these tiny settings, one per profile for the whole run.

    Modules asking for equal settings share the app (and its loaded models). A test must not change what
    others would see (close it, lower its limits); one that must, uses `serve` instead."""
    from pipelines.tasks import Pipelines

    started: dict = {}

    def get(**settings) -> Served:
        key = tuple(sorted(settings.items()))
        if key not in started:
            started[key] = launch(Pipelines(tiny_settings(**settings)) if settings else pipes)
        else:  # what a launch sets for the whole process (the upload cache's budget) is the last app's: this one's
            from app import launch_options

            launch_options(started[key].pipes.settings)
        return started[key]

    yield get
    for served in started.values():
        served.close()


@pytest.fixture(scope="session")
def served(apps):
    """The app on the default tiny settings."""
    return apps()


@pytest.fixture()
def client(served):
    """A client of the test's own on the default app (its own session)."""
    return served.new_client()


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


# Browser tests. Module scope: Playwright's sync API keeps an event loop running in this thread while it is
# open, which would break later tests that call asyncio.run (the MCP client, for one).
@contextlib.contextmanager
def tiny_app(tiny_dir, max_new_tokens: int, log_name: str):
    """`python app.py --tiny` with answers of `max_new_tokens`, its log in test-artifacts/browser/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MMDEMO_MAX_NEW_TOKENS=str(max_new_tokens), GRADIO_ANALYTICS_ENABLED="False",
               HF_HUB_OFFLINE="1")
    with run_app("--tiny", "--tiny-dir", str(tiny_dir), "--host", "127.0.0.1", env=env,
                 log_path=ARTIFACTS / log_name) as url:
        yield url


@dataclass
class Started:
    """An app started as a command: its URL and its log (stdout and stderr)."""

    url: str
    log: Path


@pytest.fixture(scope="session")
def tiny_server(tiny_dir):
    """`app.py --tiny` (answers of 16 new tokens) on a free port, as a person would start it, for the run."""
    name = f"app-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.log"  # one log per test process (pytest -n)
    with tiny_app(tiny_dir, max_new_tokens=16, log_name=name) as url:
        yield Started(url, ARTIFACTS / name)


@pytest.fixture(scope="module")
def server(tiny_server):
    """The page's URL for `open_page`: by default `tiny_server`. A module overrides it for an app with other
    settings (an in-process `apps(...)` one's URL)."""
    return tiny_server.url


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium through Playwright (fails rather than skips on CI: tests/requires.py)."""
    from tests.browser import CHROMIUM, CHROMIUM_ARGS
    from tests.requires import require, unavailable

    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    sync_api = require("playwright.sync_api", "requirements-dev.txt")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def open_page(browser, server):
    """open_page(locale=, viewport=) -> a fresh page (own context, own session) with the app loaded."""
    from tests.browser import WAIT_MS, WIDE

    contexts = []

    def open_(locale: str = "en-US", viewport: dict = WIDE):
        context = browser.new_context(locale=locale, viewport=viewport)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto(server)
        page.wait_for_selector("#caption-image")
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def media_browser(tmp_path_factory):
    """media_browser(audio_wav, video_y4m=None) -> chromium (as `browser`) whose microphone and camera are fakes fed
    from files (looped), allowed to use them and to play sound without a click (issue 28, the Talk tab). One per
    module; the shared `browser` stays as it is."""
    from tests.browser import CHROMIUM, CHROMIUM_ARGS
    from tests.requires import require, unavailable

    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    sync_api = require("playwright.sync_api", "requirements-dev.txt")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        opened = []

        def launch_with(audio: Path, video: Path | None = None):
            args = [*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-audio-capture={audio}", "--autoplay-policy=no-user-gesture-required"]
            if video is not None:
                args.append(f"--use-file-for-fake-video-capture={video}")
            opened.append(p.chromium.launch(executable_path=str(CHROMIUM), args=args))
            return opened[-1]

        yield launch_with
        for browser in opened:
            browser.close()
