"""The video tab in a real browser: upload and ask, the webcam source offered, an example click runs, the sound
switch decides what the model hears.

Same browser and helpers as test_browser.py; the app (8 new tokens) runs in this process. Lean on purpose.
"""

from __future__ import annotations

import pytest

from components.i18n import EN
from tests.browser import tab, upload
from tests.recorder import Recorder

LONG_MS = 120_000  # a tiny model answering on a shared 2-core CI machine


@pytest.fixture(scope="module")
def server(apps):
    """The app with short answers (8 new tokens), in this process."""
    return apps(max_new_tokens=8).url


def answered(page) -> list[str]:
    page.wait_for_selector("#video-chat [data-testid=bot]", timeout=LONG_MS)
    page.wait_for_selector("#video-run:not([disabled])", timeout=LONG_MS)
    return page.locator("#video-chat [data-testid=bot]").all_inner_texts()


def test_upload_ask_and_the_webcam_is_offered(open_page):
    page = open_page()
    tab(page, "tab_video")
    assert page.locator("#video-input [aria-label='Capture from camera']").count() == 1, "no webcam source"
    assert page.locator("#video-sound input[type=checkbox]").is_checked()  # the sound is heard by default
    upload(page, "video-input", "street_en.mp4", "video")
    page.fill("#video-question textarea", "What happens?")
    page.click("#video-run")
    assert len(answered(page)) == 1
    assert page.locator("#video-chat [data-testid=user]").all_inner_texts() == ["What happens?"]


def test_example_click_fills_the_video_and_runs(open_page):
    page = open_page()
    tab(page, "tab_video")
    page.get_by_text(EN["example_video_en"], exact=True).click()
    page.wait_for_selector("#video-input video", state="attached", timeout=LONG_MS)
    assert len(answered(page)) == 1


def test_the_pages_sound_switch_decides_whether_the_model_hears_the_soundtrack(open_page, apps):
    """The page's own event (not the /video_qa API): with the switch on, the soundtrack's features and tokens
    reach the model; switched off, the next question gets the same frames and no sound at all."""
    model = apps(max_new_tokens=8).pipes.video.model
    page = open_page()
    tab(page, "tab_video")
    upload(page, "video-input", "street_en.mp4", "video")
    with Recorder(model) as seen:
        for n, sound in enumerate((True, False), 1):
            page.set_checked("#video-sound input[type=checkbox]", sound)
            page.fill("#video-question textarea", f"Question {n}?")
            page.click("#video-run")
            page.wait_for_function(f"document.querySelectorAll('#video-chat [data-testid=bot]').length === {n}",
                                   timeout=LONG_MS)
            page.wait_for_selector("#video-run:not([disabled])", timeout=LONG_MS)
            asked = seen.last
            assert f"Question {n}?" in asked.text
            assert asked.count(seen.token_id("<|VIDEO|>")) > 0
            assert (asked.count(seen.token_id("<|AUDIO|>")) > 0) is sound, sound
            assert bool(asked.audio_frames) is sound, sound
