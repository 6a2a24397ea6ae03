"""What the server keeps between requests stays bounded, whatever clients do: memory per API
session, files on disk. Each test is named after the attack it stops; all run against the
real app (in this process, or `python app.py --tiny`), nothing mocked.
"""

from __future__ import annotations

import gc
import tracemalloc

import httpx
import pytest

from .conftest import launch


@pytest.fixture(scope="module")
def served(apps):
    # Thousands of sessions from one address stand for many people: the cheap routes' rate is raised.
    return apps(max_new_tokens=2, max_requests_per_second=1000)


def call(http: httpx.Client, url: str, api: str, data: list) -> str:
    """One plain-HTTP API call (each gets a session of its own, as with curl)."""
    event = http.post(f"{url}gradio_api/call/{api}", json={"data": data}).json()["event_id"]
    return http.get(f"{url}gradio_api/call/{api}/{event}", timeout=60).text


def test_ten_thousand_api_sessions_do_not_hold_a_gigabyte(served):
    """The attack: every plain API call is a new session, and Gradio kept ~108 KB for each (a copy
    of every component's config, and the last values sent) until 10,000 were held: about 1 GB.
    Now a session keeps no config copy (a few KB of Gradio's queue bookkeeping) and at most 1,000 are held."""
    demo, url = served.demo, served.url
    with httpx.Client() as http:
        for _ in range(20):  # warm-up: lazy imports, first-use caches
            call(http, url, "status", [])
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            n = 200
            for _ in range(n):
                assert "event: complete" in call(http, url, "status", [])
            gc.collect()
            per_session = (tracemalloc.get_traced_memory()[0] - before) / n
        finally:
            tracemalloc.stop()
    # Gradio's own per-session queue bookkeeping stays (~5 KB alone; up to ~40 KB measured in a long test run,
    # where other tests' threads allocate meanwhile): at most 1,000 sessions x 50 KB = 50 MB, not 1 GB.
    assert per_session < 50_000, f"{per_session / 1024:.0f} KB kept per API session"
    assert demo.state_holder.capacity <= 1000


def test_uploads_cannot_fill_the_disk(tiny_settings):
    """The attack: 500 MB of uploads went in within 2.5 s; only an hourly sweep deleted them. Now the
    cache stays within --max-cache-mb as files arrive, oldest out first, and a file a running request
    holds is never deleted under it."""
    import os

    from components.resources import DISK
    from pipelines.tasks import Pipelines

    served = launch(Pipelines(tiny_settings(max_new_tokens=2, max_cache_mb=2, max_file_mb=1)))
    try:
        with httpx.Client() as http:
            kept = http.post(f"{served.url}gradio_api/upload", files={"files": ("kept.bin", os.urandom(300_000))}).json()[0]
            with DISK.hold([kept]):  # as a running request does
                for i in range(20):  # 6 MB in all, three times the budget
                    r = http.post(f"{served.url}gradio_api/upload", files={"files": (f"f{i}.bin", os.urandom(300_000))})
                    assert r.status_code == 200
                    assert DISK.used() <= 2 * 2**20 + 300_000
                assert os.path.exists(kept)
            (newest,) = r.json()
            assert os.path.exists(newest)  # the newest file, just arrived for its request, stays
    finally:
        served.close()


def test_a_thousand_cheap_sessions_do_not_evict_a_waiting_question(served):
    """The attack: past 1,000 sessions Gradio evicts the oldest; 1,100 cheap /status calls (a session each)
    evicted a page whose question waited for its answer, and that question then ended with nothing. A session
    holding waiting questions (the chat tabs' `holds_work` state) stays; sessions without any go instead.
    (Also the canary for the holder override: Gradio must still build its holder through gradio.routes.)"""
    from components.resources import WORK_STATES, KeepingStateHolder

    demo, url = served.demo, served.url
    holder = demo.state_holder
    assert isinstance(holder, KeepingStateHolder)
    waiting = [i for i in WORK_STATES if i in demo.blocks]
    assert len(waiting) == 2  # the image chat's and the video chat's
    holder["asker"][waiting[0]] = ["What colour is the house?"]  # what the page's send leaves for its answer
    idle = "idle"
    holder[idle]  # noqa: B018 - a session with nothing waiting
    with httpx.Client() as http:
        for _ in range(1100):
            assert "event: complete" in call(http, url, "status", [])
    assert "asker" in holder and holder["asker"][waiting[0]] == ["What colour is the house?"]
    assert idle not in holder  # the room came from sessions without waiting work
    assert len(holder.session_data) <= holder.capacity
