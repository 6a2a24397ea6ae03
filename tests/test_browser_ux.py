"""The page as a person enjoys it (issue 14): nothing typed is lost, a busy button says so, Enter sends,
one language switch, every tab one tap away, quiet Stop, a header that names the models.

Same browser and helpers as test_browser.py; this module's app runs in this process (so a test can hold its
model) and streams longer answers (1000 new tokens), so a test can type, click or stop while an answer is still
coming.
"""

from __future__ import annotations

import contextlib

import pytest

from catalogue import MESSAGES
from components.i18n import EN, ZH
from tests.browser import (NARROW, SHORT_MS, TAB_BUTTON, WIDE, shot, tab, toast, upload, wait_done, wait_new_answer,
                           watch_for_empty_answer)
from tests.conftest import ASSETS

LONG_ANSWERS = {"max_new_tokens": 1000}  # the settings of this module's app (and test_browser_chat's)


@pytest.fixture(scope="module")
def served(apps):
    """The app with long answers, in this process: a test can act while one streams, or hold its model."""
    return apps(**LONG_ANSWERS)


@pytest.fixture(scope="module")
def server(served):
    return served.url


def bot_texts(page) -> list[str]:
    return page.locator("#vqa-chat [data-testid=bot]").all_inner_texts()


def user_texts(page) -> list[str]:
    return page.locator("#vqa-chat [data-testid=user]").all_inner_texts()


def start_vqa(page, question: str) -> None:
    tab(page, "tab_vqa")
    upload(page, "vqa-image", "chart.png", "img")
    page.fill("#vqa-question textarea", question)
    page.click("#vqa-run")


@contextlib.contextmanager
def model_busy(served):
    """For the block, a description through the API holds the app's one queue slot, and cannot end: the Omni
    model's lock is held alone (pipelines/loaded.py, ModelLock), so it waits at its first step (a miniature's answer may
    otherwise end within a few tokens). A question sent from the page meanwhile waits in the queue before
    any answer comes."""
    import time

    from gradio_client import Client, handle_file
    from gradio_client.utils import Status

    loaded = served.pipes.caption.model
    with loaded.lock.alone():
        job = Client(served.url, verbose=False).submit(handle_file(str(ASSETS / "street.png")), "en",
                                                       api_name="/caption")
        try:
            deadline = time.monotonic() + SHORT_MS / 1000
            while job.status().code != Status.PROCESSING:  # it holds the slot now
                assert time.monotonic() < deadline and not job.done(), job.status()
                time.sleep(0.05)
            yield
        finally:
            job.cancel()


def test_typing_while_a_question_waits_is_kept(open_page, served):
    """Finding 1: what is typed after sending is never cleared by the answer's updates (Gradio
    skips unchanged values, so the loss was the first update: typing while the question waited)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = open_page()
    with model_busy(served):
        start_vqa(page, "Which bar is the highest?")
        try:  # emptied at once, when sent (before: only with the answer's first update)
            page.wait_for_function("document.querySelector('#vqa-question textarea').value === ''", timeout=3000)
        except PlaywrightTimeout:
            pass
        assert not bot_texts(page), "the answer had started: nothing would be checked"
        page.fill("#vqa-question textarea", "and the lowest")
    page.wait_for_selector("#vqa-chat [data-testid=bot]")
    wait_done(page, "vqa-chat")
    assert bot_texts(page)[-1].strip()
    assert page.locator("#vqa-question textarea").input_value() == "and the lowest"


def test_question_sent_while_one_waits_gets_its_turn(open_page, served):
    """Finding 2: a second Ask while the first question waits or streams is kept in the chat and
    answered next (before: the click was dropped, the question lost)."""
    page = open_page()
    with model_busy(served):
        start_vqa(page, "Which bar is the highest?")
        page.wait_for_timeout(1000)  # (the box empties at once; before, only with the first answer's words)
        page.fill("#vqa-question textarea", "And the lowest?")
        assert not bot_texts(page), "the first answer had started: nothing would be checked"
        page.click("#vqa-run")
        page.wait_for_function("document.querySelector('#vqa-question textarea').value === ''", timeout=SHORT_MS)
    page.wait_for_function("document.querySelectorAll('#vqa-chat [data-testid=bot]').length === 2")
    wait_done(page, "vqa-chat")
    users = user_texts(page)
    assert len(users) == 2 and "And the lowest?" in users[1]
    assert len(bot_texts(page)) == 2 and all(t.strip() for t in bot_texts(page))
    shot(page, "vqa_two_questions")


def test_video_chat_keeps_what_is_typed_while_its_question_waits(open_page, served):
    """The video tab's chat works as the image chat's: the box empties when the question is sent (not
    with the answer), and what is typed next survives the answer's updates (before: every update
    emptied the box, so a follow-up typed while the answer streamed was lost)."""
    page = open_page()
    with model_busy(served):
        tab(page, "tab_video")
        upload(page, "video-input", "street_en.mp4", "video")
        page.fill("#video-question textarea", "What happens?")
        page.click("#video-run")
        page.wait_for_function("document.querySelector('#video-question textarea').value === ''", timeout=SHORT_MS)
        assert page.locator("#video-chat [data-testid=user]").all_inner_texts() == ["What happens?"]
        assert not page.locator("#video-chat [data-testid=bot]").count(), "the answer had started"
        page.fill("#video-question textarea", "and then?")
    page.wait_for_selector("#video-chat [data-testid=bot]")
    wait_done(page, "video-chat")
    assert page.locator("#video-chat [data-testid=bot]").all_inner_texts()[-1].strip()
    assert page.locator("#video-question textarea").input_value() == "and then?"


def test_audio_question_is_checked_before_the_audio(open_page, tmp_path):
    """Finding 2: no question is said at once, before the clip is decoded (a clip that is not
    audio would otherwise be the first complaint)."""
    page = open_page()
    tab(page, "tab_audio")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wave file" * 100)
    page.locator("#audio-input input[type=file]").set_input_files(broken)
    page.wait_for_timeout(500)
    page.click("#audio-run")
    page.wait_for_selector("[data-testid=toast-body]", timeout=SHORT_MS)
    assert MESSAGES["en"]["no_question"] in toast(page)


def test_run_button_says_busy_and_stop_is_live_only_while_running(open_page):
    """Findings 2 and 9: while an answer runs, Ask is disabled and says why; Stop is off otherwise."""
    page = open_page()
    tab(page, "tab_audio")
    run, stop = page.locator("#audio-run"), page.locator("#audio-stop")
    assert run.is_enabled() and stop.is_disabled()
    upload(page, "audio-input", "speech_en.wav", "audio")
    page.fill("#audio-question textarea", "What is it about?")
    run.click()
    page.wait_for_function(f"document.querySelector('#audio-run').innerText.includes('{EN['busy_answer']}')",
                           timeout=SHORT_MS)
    assert run.is_disabled() and stop.is_enabled()
    wait_done(page, "audio-output")
    page.wait_for_function(f"document.querySelector('#audio-run').innerText.trim() === '{EN['ask']}'",
                           timeout=SHORT_MS)
    assert run.is_enabled() and stop.is_disabled()
    bodies = page.locator("[data-testid=toast-body]").all_inner_texts()
    assert not bodies, f"unexpected toasts: {bodies}"


@pytest.mark.parametrize("locale, lang", [("en-US", EN), ("zh-CN", ZH)], ids=["en", "zh"])
def test_enter_sends_and_shift_enter_adds_a_line(open_page, locale, lang):
    """Finding 3: Enter sends, Shift+Enter makes a new line, and the placeholder says so."""
    page = open_page(locale=locale)
    tab(page, "tab_vqa", lang)
    box = page.locator("#vqa-question textarea")
    assert "Shift+Enter" in box.get_attribute("placeholder")
    upload(page, "vqa-image", "chart.png", "img")
    box.click()
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    assert box.input_value() == "first line\nsecond line"
    page.keyboard.press("Enter")
    page.wait_for_selector("#vqa-chat [data-testid=user]", timeout=SHORT_MS)
    assert "second line" in user_texts(page)[0]
    wait_done(page, "vqa-chat")
    tab(page, "tab_image", lang)
    prompt = page.locator("#image-prompt textarea")
    assert "Shift+Enter" in prompt.get_attribute("placeholder")
    prompt.click()
    page.keyboard.type("a red house")
    page.keyboard.press("Enter")
    page.wait_for_selector("#image-gallery img")
    tab(page, "tab_audio", lang)
    assert "Shift+Enter" in page.locator("#audio-question textarea").get_attribute("placeholder")


def test_one_language_switch_changes_the_whole_page(open_page):
    """Finding 6: the header's switch (English / 简体中文 only) turns labels, Gradio's own texts,
    example captions, errors and their headings to Chinese, and back."""
    page = open_page(locale="en-US")
    options = page.locator("#lang-switch label").all_inner_texts()
    assert [o.strip() for o in options] == ["English", "简体中文"]
    assert page.get_by_text("Settings", exact=True).count() == 0  # the footer's 33-language menu is gone
    assert page.locator("footer > .divider:visible").count() == 1  # "API · Gradio", no stray "·" after it
    border = "e => getComputedStyle(e).borderTopWidth"  # one border round the miniature banner, not two
    assert (page.locator(".block.tiny-banner").evaluate(border), page.locator(".prose.tiny-banner").evaluate(border)) \
        == ("1px", "0px")
    page.locator("#lang-switch label", has_text="简体中文").click()
    page.wait_for_selector(f"[role=tab]:text-is('{ZH['tab_caption']}')", timeout=SHORT_MS)
    page.wait_for_selector("#caption-image")
    assert page.get_by_role("tab", name=ZH["tab_vqa"], exact=True).is_visible()
    body = page.locator("body").inner_text()
    assert "Drop Image Here" not in body and "Click to Upload" not in body
    page.get_by_text(ZH["example_street"], exact=True).wait_for(timeout=SHORT_MS)  # example captions
    assert page.locator("#lang-switch input[value=zh]").is_checked()
    page.click("#caption-run")  # no image: the error and its heading in Chinese
    page.wait_for_selector("[data-testid=toast-body]", timeout=SHORT_MS)
    assert MESSAGES["zh"]["no_image"] in toast(page)
    heading = page.evaluate("getComputedStyle(document.querySelector('[data-testid=toast-body] .toast-title'),"
                            " '::before').content")
    assert MESSAGES["zh"]["error_title"] in heading  # Gradio writes "Error"; the page's CSS says it in Chinese
    page.wait_for_function(f"document.querySelector('#caption-run').innerText.trim() === '{ZH['describe']}'",
                           timeout=SHORT_MS)  # the error ended the run: the button is back
    shot(page, "language_switched_zh")
    tab(page, "tab_audio", ZH)
    assert "这张" not in page.locator("#audio-question textarea").get_attribute("placeholder")
    page.locator("#lang-switch label", has_text="English").click()
    page.wait_for_selector(f"[role=tab]:text-is('{EN['tab_caption']}')", timeout=SHORT_MS)


def test_every_tab_one_tap_away_at_390px(open_page):
    """Finding 7: at 390 px every tab shows in the tab bar (none behind a "more" menu)."""
    page = open_page(viewport=NARROW)
    for key in TAB_BUTTON:
        button = page.get_by_role("tab", name=EN[key], exact=True)
        assert button.is_visible(), f"{key} is not in the tab bar"
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= NARROW["width"]
    assert not page.locator(".overflow-menu").is_visible()
    page.get_by_role("tab", name=EN["tab_status"], exact=True).click()
    page.wait_for_selector(TAB_BUTTON["tab_status"])


def test_stop_ends_a_drawing_quietly(open_page):
    """Finding 4: Stop, at any moment of a drawing, leaves no red "Error" (badge or toast)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = open_page()
    tab(page, "tab_image")
    page.fill("#image-prompt textarea", "A red house on a quiet street, watercolor")
    stopped = 0
    for delay_ms in (0, 50, 150, 300, 500, 800, 0, 100, 250, 400, 600, 1000):
        page.click("#image-run")
        page.wait_for_timeout(delay_ms)
        try:  # the miniature draws 16 tokens in well under a second: a late Stop may find it done (disabled)
            page.locator("#image-stop").click(timeout=1000)
            stopped += 1
        except PlaywrightTimeout:
            pass
        page.wait_for_function(f"document.querySelector('#image-run').innerText.trim() === '{EN['generate']}'",
                               timeout=SHORT_MS)
        page.wait_for_timeout(300)
        shown = page.locator("body").inner_text()  # a red badge on an output says "Error"
        toasts = page.locator("[data-testid=toast-body]").all_inner_texts()
        assert "Error" not in shown and not toasts, f"after Stop at {delay_ms} ms: {toasts}"
    assert stopped >= 3, f"only {stopped} of 12 Stops came while drawing"


def test_api_page_speaks_plainly(open_page):
    """Finding 5: "Use via API" names each parameter, samples our own files, lists sizes as integers."""
    page = open_page()
    page.get_by_text("Use via API").click()
    page.wait_for_selector("text=/text_to_image", timeout=SHORT_MS)
    text = page.locator("body").inner_text()
    assert "[object Object]" not in text and "bus.png" not in text and "audio_sample.wav" not in text
    assert 'provided in the "Image" Image component' in text or "Image" in text
    assert "assets/street.png" in text and "assets/speech_en.wav" in text
    assert "Literal[256, 384, 512, 768, 1024]" in text and "'384'" not in text
    shot(page, "api_page")


@pytest.mark.parametrize("locale, lang", [("en-US", "en"), ("zh-CN", "zh")], ids=["en", "zh"])
def test_header_names_the_models_and_warns_of_tiny_ones(open_page, locale, lang):
    """Finding 8: each model with what it does and where it runs; a banner in --tiny mode."""
    from catalogue import message

    page = open_page(locale=locale)
    models = page.locator("#models")
    models.get_by_text("qwen2_5_omni").wait_for(timeout=SHORT_MS)
    text = models.inner_text()
    assert "janus" in text and message("header_cpu", lang) in text and message("header_image", lang) in text
    assert "/" not in text.replace("·", "")  # a local folder by its name only, no server path
    banner = page.locator("#tiny-banner")
    assert banner.is_visible() and ("gibberish" if lang == "en" else "乱码") in banner.inner_text()


def test_status_is_a_readable_panel_that_fits_a_phone(open_page):
    """Finding 8: Status reads as lines (models, device, memory, queue), the JSON one click away."""
    page = open_page(viewport=NARROW)
    tab(page, "tab_status")
    panel = page.locator("#status-panel")
    panel.get_by_text("qwen2_5_omni").first.wait_for(timeout=SHORT_MS)
    for heading in ("Models", "Device", "Memory", "Queue"):
        assert panel.get_by_role("heading", name=heading).is_visible()
    fits = page.evaluate("el => el.scrollWidth <= el.clientWidth + 1",
                         page.locator("#status-panel").element_handle())
    assert fits and page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    shot(page, "status_390")


def test_drawing_controls(open_page):
    """Finding 9: no seed shown before a drawing, one progress bar, the seed can be reused, Clear."""
    page = open_page()
    tab(page, "tab_image")
    assert not page.locator("#image-seed-used").is_visible()  # no "0" before any drawing
    page.fill("#image-prompt textarea", "A red house")
    page.click("#image-run")
    # Counted in the same instant the drawing's progress shows (counted after, a quick drawing was over: 0).
    trackers, bars = page.wait_for_function("""() => {
        if (!document.querySelector('#image-gallery .progress-text, #image-gallery .progress-level')) return false;
        return [document.querySelectorAll('[data-testid=status-tracker]:not(.hide)').length,
                document.querySelectorAll('[data-testid=status-tracker]:not(.hide) .progress-level').length];
    }""", timeout=SHORT_MS).json_value()
    assert trackers == 1, f"{trackers} progress trackers during one drawing (bars: {bars})"
    page.wait_for_selector("#image-gallery img")
    wait_done(page, "image-gallery")
    used = page.locator("#image-seed-used input").input_value()
    assert used.isdigit()
    page.click("#image-reuse-seed")
    assert page.locator("#image-seed input").input_value() == used
    page.click("#image-clear")
    page.wait_for_function("document.querySelector('#image-prompt textarea').value === ''", timeout=SHORT_MS)
    assert page.locator("#image-gallery img").count() == 0


def test_a_new_run_closes_old_error_toasts_and_clear_empties_the_tab(open_page):
    """Finding 9: an old error does not sit on top of a later success; caption and audio have Clear."""
    page = open_page()
    page.click("#caption-run")  # no image yet
    page.wait_for_selector("[data-testid=toast-body]", timeout=SHORT_MS)
    upload(page, "caption-image", "street.png", "img")
    page.click("#caption-run")
    page.wait_for_function("document.querySelector('#caption-output textarea').value.length > 0")
    # Gone within its closing animation (an error toast stays until closed): the fresh CI run once saw it
    # still fading when a tiny model's answer was already there.
    page.wait_for_selector("[data-testid=toast-body]", state="detached", timeout=3000)
    wait_done(page, "caption-output")
    page.click("#caption-clear")
    page.wait_for_function("document.querySelector('#caption-output textarea').value === ''", timeout=SHORT_MS)
    assert page.locator("#caption-image img").count() == 0
    tab(page, "tab_audio")
    assert page.locator("#audio-clear").is_visible()


def test_start_up_points_to_the_share_flag(tiny_server):
    """Finding 9: the start-up lines name --share, not Gradio's `share=True` in launch(). The server answers
    before app.py prints them (run alone, this test comes first): they are waited for, 30 s at most."""
    import time

    deadline = time.monotonic() + 30
    while "public link" not in (log := tiny_server.log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "--share" in log and "share=True" not in log


def test_image_chat_several_images_retry_undo_edit_copy(open_page):
    """The chat: two images in one question, then retry, undo (the question comes back to the box),
    edit of the question (asked again), a copy button on each message."""
    page = open_page()
    tab(page, "tab_vqa")
    more = page.locator("#vqa-more-images")  # its label once sat over its upload icon
    label, icon = more.locator("[data-testid=block-label]").bounding_box(), more.locator("svg").last.bounding_box()
    assert label["y"] + label["height"] <= icon["y"], (label, icon)
    upload(page, "vqa-image", "chart.png", "img")
    page.locator("#vqa-more-images input[type=file]").set_input_files([ASSETS / "street.png"])
    page.wait_for_selector("#vqa-more-images :text('street.png')")
    page.fill("#vqa-question textarea", "Compare the two pictures")
    page.click("#vqa-run")
    page.wait_for_selector("#vqa-chat [data-testid=bot]")
    wait_done(page, "vqa-chat")
    assert page.locator("#vqa-chat [aria-label='Copy message']").count() >= 2
    first = bot_texts(page)[0]
    page.locator("#vqa-chat button[aria-label='Retry']").click()
    page.wait_for_function(f"(() => {{ const b = document.querySelectorAll('#vqa-chat [data-testid=bot]');"
                           f" return b.length === 1 && b[0].innerText !== {first!r}; }})()")
    wait_done(page, "vqa-chat")
    assert len(user_texts(page)) == 1 and "Compare the two pictures" in user_texts(page)[0]
    shot(page, "vqa_two_images")
    page.locator("#vqa-chat button[aria-label='Undo']").click()
    page.wait_for_function("document.querySelectorAll('#vqa-chat [data-testid=user]').length === 0",
                           timeout=SHORT_MS)
    assert page.locator("#vqa-question textarea").input_value() == "Compare the two pictures"
    page.click("#vqa-run")
    page.wait_for_selector("#vqa-chat [data-testid=bot]")
    wait_done(page, "vqa-chat")
    page.locator("#vqa-chat button[aria-label='Edit']").click()
    editor = page.locator("#vqa-chat textarea").first
    editor.fill("Which one shows a house?")
    watch_for_empty_answer(page, "vqa-chat")
    page.locator("#vqa-chat button[aria-label='Submit']").first.click()
    page.wait_for_function("[...document.querySelectorAll('#vqa-chat [data-testid=user]')]"
                           ".some(u => u.innerText.includes('Which one shows a house?'))", timeout=SHORT_MS)
    wait_new_answer(page, "vqa-chat")
    assert len(user_texts(page)) == 1 and len(bot_texts(page)) == 1


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
@pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["390", "1280"])
def test_screenshots_of_every_tab(open_page, locale, viewport):
    """For a reviewer (docs/screenshots.md): every tab, both widths, both languages."""
    lang = ZH if locale == "zh-CN" else EN
    page = open_page(locale=locale, viewport=viewport)
    page.locator("#models").get_by_text("janus").wait_for(timeout=SHORT_MS)
    for key in TAB_BUTTON:
        tab(page, key, lang)
        page.wait_for_timeout(300)
        shot(page, f"tab_{key[4:]}_{viewport['width']}_{locale}")
