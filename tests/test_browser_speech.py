"""Spoken answers in the page (issue 26, finding 4): every answer is heard from its beginning, and Stop
silences it at once. Same helpers as the other browser tests; this module's browser may autoplay, and its
app (in this process) speaks answers of at most 2 s.
The page-side recorder sees the player's <audio> element as components/speech.py SPOKEN_SCRIPT does.
"""

from __future__ import annotations

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, SHORT_MS, shot, tab, upload

SPEECH_MS = 300_000  # the miniature talker and token2wav on a shared CPU: tens of seconds an answer


@pytest.fixture(scope="module")
def served(apps):
    return apps(max_new_tokens=100, max_speech_seconds=2.0)


@pytest.fixture(scope="module")
def server(served):
    return served.url


@pytest.fixture(scope="module")
def browser():
    """Chromium as conftest's, allowed to play sound without a click (a headless page has none)."""
    from tests.requires import require, unavailable

    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    sync_api = require("playwright.sync_api", "requirements-dev.txt")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"])
        yield browser
        browser.close()


# Each stream the player loads (its 'loadstart'): where it was at its first 'playing' and first 'timeupdate',
# every seek it made, whether it ended. Once the second stream has played 0.2 s (its run still answers the
# question sent after it: Stop is live), Stop is clicked at once: afterStop says where the player was then, and
# 500 ms later.
RECORDER = """() => { window.streams = []; window.events = [];
  for (const kind of ['emptied', 'loadstart', 'loadedmetadata', 'playing', 'pause', 'waiting', 'ended'])
    document.addEventListener(kind, e => { if (of(e)) events.push([kind, at(e.target), e.target.paused]); }, true);
  const of = e => e.target instanceof HTMLMediaElement && e.target.closest('#vqa-spoken') ? e.target : null;
  const at = a => +a.currentTime.toFixed(2);
  document.addEventListener('loadstart', e => { if (of(e)) streams.push({playing: null, time: null, seeks: [],
                                                                             ended: false}); }, true);
  for (const kind of ['playing', 'timeupdate', 'seeking', 'ended'])
    document.addEventListener(kind, e => { const a = of(e), s = streams[streams.length - 1];
      if (!a || !s) return;
      if (kind === 'seeking') s.seeks.push(at(a));
      else if (kind === 'ended') s.ended = true;
      else if (kind === 'playing' && s.playing === null) s.playing = at(a);
      else if (kind === 'timeupdate' && !a.paused) { if (s.time === null) s.time = at(a);
        if (streams.length === 2 && a.currentTime >= 0.2 && !window.afterStop) stop(a); } }, true);
  function stop(a) { const button = document.querySelector('#vqa-stop');
    window.afterStop = {live: !button.disabled, at: at(a)};
    button.click();
    setTimeout(() => { afterStop.paused = a.paused; afterStop.later = at(a); }, 500); } }"""


def ask(page, question: str) -> None:
    page.fill("#vqa-question textarea", question)
    page.click("#vqa-run")
    page.wait_for_selector("#vqa-spoken-wav", state="hidden", timeout=SPEECH_MS)  # the new answer began


def test_each_spoken_answer_starts_at_its_beginning_and_stop_silences_it(open_page):
    """Finding 4. A second spoken answer plays from 0: at its first sound the player is within 0.3 s of the
    start and never seeks past that (before: it resumed where the first one ended, which the browser clamped
    to the new stream's length: it began partway, or at its end and said nothing). Stop pauses the player at
    once: 500 ms later it is paused, less than 0.1 s further (before: what was buffered played on)."""
    page = open_page()
    tab(page, "tab_vqa")
    upload(page, "vqa-image", "chart.png", "img")
    page.click("#vqa-speak input")
    page.wait_for_selector("#vqa-spoken", state="visible")
    page.evaluate(RECORDER)
    ask(page, "What is shown?")
    page.wait_for_selector("#vqa-spoken-wav", state="visible", timeout=SPEECH_MS)  # all said
    page.wait_for_function("streams.length && streams[streams.length - 1].ended", timeout=SPEECH_MS)  # all heard
    ask(page, "And what else?")
    page.fill("#vqa-question textarea", "And then?")  # waits its turn: the run goes on while the second is heard
    page.click("#vqa-run")
    try:
        page.wait_for_function("window.afterStop && afterStop.paused !== undefined || streams[1] && streams[1].ended",
                               timeout=SPEECH_MS)
    except Exception:
        pytest.fail(f"the second answer was not heard for 0.2 s: {page.evaluate('[streams, events]')}")
    streams, after = page.evaluate("[streams, window.afterStop || {}]")
    assert len(streams) == 2, streams
    for n, stream in enumerate(streams):
        assert stream["playing"] is not None and stream["playing"] <= 0.3, (n, streams)
        assert stream["time"] is not None and stream["time"] <= 0.3, (n, streams)
        assert all(seek <= 0.3 for seek in stream["seeks"]), (n, streams)
    assert after.get("live"), f"the run had ended before 0.2 s of the answer played: nothing to stop {after}"
    assert after["paused"] and after["later"] - after["at"] < 0.1, after
    shot(page, "spoken_1280_en")  # (docs/screenshots/spoken_1280_en.png)
    # the DOM hooks SPOKEN_SCRIPT relies on, in every tab that speaks
    assert page.locator("#vqa-spoken audio").count() == 1
    for prefix, key in (("video", "tab_video"), ("audio", "tab_audio")):
        tab(page, key)
        page.click(f"#{prefix}-speak input")
        page.wait_for_selector(f"#{prefix}-spoken", state="visible")
        assert page.locator(f"#{prefix}-stop").count() == 1 and page.locator(f"#{prefix}-clear").count() == 1
