"""The chat tabs as a person uses them (issue 26): no question lost, no silent refusal, Stop says what
happened, both chats alike. Same browser and helpers as test_browser.py, and the same in-process app as
test_browser_ux.py: answers are long (1000 new tokens) so a test can stop or ask while one streams. Stop-then-ask rounds (finding 1): tests/test_chat_rounds.py,
100 a tab through the page's own queue protocol.
"""

from __future__ import annotations

import pytest

from catalogue import MESSAGES
from components.i18n import EN, ZH
from tests.browser import NARROW, SHORT_MS, shot, tab, upload
from tests.test_browser_ux import LONG_ANSWERS, model_busy

CHATS = {"vqa": ("tab_vqa", "vqa-image", "chart.png", "img", "no_image"),
         "video": ("tab_video", "video-input", "street_en.mp4", "video", "no_video")}


@pytest.fixture(scope="module")
def served(apps):
    return apps(**LONG_ANSWERS)


@pytest.fixture(scope="module")
def server(served):
    return served.url


def texts(page, prefix: str, who: str) -> list[str]:
    return page.locator(f"#{prefix}-chat [data-testid={who}]").all_inner_texts()


def toasts(page) -> list[str]:
    return page.locator("[data-testid=toast-body]").all_inner_texts()


def wait_toast(page, text: str) -> None:
    page.wait_for_function("t => [...document.querySelectorAll('[data-testid=toast-body]')]"
                           ".some(e => e.innerText.includes(t))", arg=text, timeout=SHORT_MS)


def box(page, prefix: str):
    return page.locator(f"#{prefix}-question textarea")


def open_chat(page, prefix: str, lang: dict = EN, media: bool = True) -> None:
    key, field, asset, shown, _ = CHATS[prefix]
    tab(page, key, lang)
    if media:
        upload(page, field, asset, shown)


def close_toasts(page) -> None:
    page.evaluate("document.querySelectorAll('[data-testid=toast-close]').forEach(b => b.click())")
    page.wait_for_selector("[data-testid=toast-body]", state="detached", timeout=SHORT_MS)


@pytest.mark.parametrize("locale, lang", [("en-US", "en"), ("zh-CN", "zh")], ids=["en", "zh"])
def test_an_empty_question_is_refused_on_the_page(open_page, locale, lang):
    """Finding 2: Ask or Enter with an empty box says so, in the page's language (before: a 500 the page
    never showed), in both chats."""
    page = open_page(locale=locale)
    for prefix, send in (("vqa", "click"), ("video", "enter")):
        open_chat(page, prefix, EN if lang == "en" else ZH)
        if send == "click":
            page.click(f"#{prefix}-run")
        else:
            box(page, prefix).press("Enter")
        wait_toast(page, MESSAGES[lang]["no_question"])
        assert not texts(page, prefix, "user")
        close_toasts(page)


@pytest.mark.parametrize("prefix", ["vqa", "video"])
def test_a_question_typed_before_the_picture_stays_in_the_box(open_page, prefix):
    """Finding 3: asked before the image or video, the question stays in the box with "add one first";
    the upload keeps it; then it is sent and answered (before: it went into the chat, and the upload
    wiped it)."""
    page = open_page()
    open_chat(page, prefix, media=False)
    box(page, prefix).fill("What is shown?")
    page.click(f"#{prefix}-run")
    wait_toast(page, MESSAGES["en"][CHATS[prefix][4]])
    assert box(page, prefix).input_value() == "What is shown?" and not texts(page, prefix, "user")
    _, field, asset, shown, _ = CHATS[prefix]
    upload(page, field, asset, shown)
    page.wait_for_timeout(1000)
    assert box(page, prefix).input_value() == "What is shown?"
    page.click(f"#{prefix}-run")
    page.wait_for_selector(f"#{prefix}-chat [data-testid=bot]", timeout=60_000)
    assert texts(page, prefix, "user") == ["What is shown?"] and box(page, prefix).input_value() == ""
    page.click(f"#{prefix}-stop")


@pytest.mark.parametrize("locale, lang", [("en-US", "en"), ("zh-CN", "zh")], ids=["en", "zh"])
def test_stop_hands_the_waiting_questions_back(open_page, served, locale, lang):
    """Findings 7 and 2: questions waiting behind a stopped answer go back to the box, and a notice says
    so; the sixth waiting question is refused on the page and stays in the box."""
    page = open_page(locale=locale)
    open_chat(page, "vqa", EN if lang == "en" else ZH)
    with model_busy(served):
        for n in range(8):  # five wait (the first may be answered meanwhile): a sixth or seventh is refused
            box(page, "vqa").fill(f"q{n}")
            page.click("#vqa-run")
            page.wait_for_function(f"document.querySelectorAll('#vqa-chat [data-testid=user]').length === {n + 1}"
                                   " || document.querySelector('[data-testid=toast-body]')", timeout=SHORT_MS)
            if toasts(page):
                break
        assert MESSAGES[lang]["too_many_waiting"].format(limit=5) in toasts(page)[0] and n >= 5
        assert box(page, "vqa").input_value() == f"q{n}"
        close_toasts(page)
        page.click("#vqa-stop")
        said = MESSAGES[lang]["stop_returned"].split("{count}")
        page.wait_for_function("s => [...document.querySelectorAll('[data-testid=toast-body]')]"
                               ".some(e => e.innerText.includes(s[0]) && e.innerText.includes(s[1]))", arg=said,
                               timeout=SHORT_MS)
    # the questions not answered yet are back, in order, before what was typed; the chat keeps the answered
    back = box(page, "vqa").input_value().split("\n")
    count = int(toasts(page)[0].split(said[0])[1].split(said[1])[0])
    assert back[-1] == f"q{n}" and len(back) == count + 1 and count >= 1
    assert texts(page, "vqa", "user") + back[:-1] == [f"q{i}" for i in range(n)]
    assert len(texts(page, "vqa", "bot")) == len(texts(page, "vqa", "user"))
    shot(page, f"vqa_stop_returns_{lang}")


def test_video_chat_has_retry_undo_edit_and_refuses_a_blank_edit(open_page):
    """Finding 10: the video chat has the image chat's retry, undo and edit; a question edited to blank
    is refused and stands as it was; the chat's trash icon stops a streaming answer."""
    page = open_page()
    open_chat(page, "video")
    box(page, "video").fill("What happens?")
    page.click("#video-run")
    page.wait_for_selector("#video-chat [data-testid=bot]", timeout=60_000)
    page.click("#video-stop")
    page.wait_for_function("document.querySelector('#video-stop').disabled", timeout=SHORT_MS)
    for name in ("Retry", "Undo", "Edit"):
        assert page.locator(f"#video-chat button[aria-label='{name}']").count(), name
    page.locator("#video-chat button[aria-label='Edit']").click()
    page.locator("#video-chat textarea").first.fill("")
    page.locator("#video-chat button[aria-label='Submit']").first.click()
    wait_toast(page, MESSAGES["en"]["no_question"])
    page.wait_for_function("[...document.querySelectorAll('#video-chat [data-testid=user]')]"
                           ".some(u => u.innerText.includes('What happens?'))", timeout=SHORT_MS)
    page.locator("#video-chat button[aria-label='Retry']").click()
    page.wait_for_function("document.querySelector('#video-stop') && !document.querySelector('#video-stop').disabled",
                           timeout=SHORT_MS)
    page.locator("#video-chat button[aria-label='Clear']").click()  # the trash icon, while it streams
    page.wait_for_function("document.querySelector('#video-stop').disabled", timeout=SHORT_MS)
    page.wait_for_timeout(1500)
    assert not texts(page, "video", "bot"), "the answer went on after the chat was emptied"


@pytest.mark.parametrize("locale, lang", [("zh-HK", ZH), ("zh", ZH), ("zh-Hans-CN", ZH), ("fr-FR", EN)])
def test_any_chinese_locale_gets_the_chinese_page_and_any_other_english(open_page, locale, lang):
    """Finding 5: the page's labels and Gradio's own strings follow the browser's locale: any Chinese one gives
    the Chinese page (before: zh, zh-HK... got English tabs beside Chinese examples), any other English."""
    page = open_page(locale=locale)
    page.wait_for_selector(f"[role=tab]:text-is('{lang['tab_vqa']}')", timeout=SHORT_MS)
    body = page.locator("body").inner_text()
    assert ("将图像拖放到此处" in body) == (lang is ZH) and ("Drop Image Here" in body) == (lang is EN)


@pytest.mark.parametrize("locale, lang", [("en-US", "en"), ("zh-CN", "zh")], ids=["en", "zh"])
def test_a_wrong_file_type_is_refused_in_the_pages_language(open_page, locale, lang):
    """Finding 8 (and the canary of components/common.py FILE_TYPE_SCRIPT): a file of the wrong type,
    in every upload area, is refused with our message in the page's language, titled Error in every
    tab (before: Gradio's "Invalid file type: ... Only audio/aac,audio/midi,... allowed." in English,
    Error in some tabs and Warning in others). Nothing is uploaded: the area stays empty."""
    page = open_page(locale=locale)
    notes = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a picture, a sound or a film"}
    for key, field, kind in (("tab_caption", "caption-image", "image"), ("tab_vqa", "vqa-image", "image"),
                             ("tab_audio", "audio-input", "audio"), ("tab_video", "video-input", "video")):
        tab(page, key, EN if lang == "en" else ZH)
        page.locator(f"#{field} input[type=file]").first.set_input_files(notes)
        wait_toast(page, MESSAGES[lang][f"wrong_file_{kind}"])
        page.wait_for_timeout(300)  # a toast of Gradio's own would be there by now
        shown = toasts(page)  # one toast: ours (a toast's text is its title, ×, then its message)
        assert len(shown) == 1 and shown[0].endswith(MESSAGES[lang][f"wrong_file_{kind}"]), (key, shown)
        assert page.locator(".toast-title.error").count() == 1 and not page.locator(".toast-title.warning").count()
        assert not page.locator(f"#{field} img, #{field} video, #{field} audio").count(), key
        close_toasts(page)


@pytest.mark.parametrize("locale, lang", [("en-US", "en"), ("zh-CN", "zh")], ids=["en", "zh"])
def test_a_phone_sees_the_tabs_and_ask_on_its_first_screen(open_page, locale, lang):
    """Finding 9, at 390x844: header, banner and tabs take well under half the screen (before: 410-446 px),
    the image chat's Ask is within about one screen (before: 1.7 screens down), the spoken-answer player
    within a screen of Ask, and "Use via API" is shown and opens (before: hidden under 640 px)."""
    page = open_page(locale=locale, viewport=NARROW)
    page.wait_for_function("document.querySelector('#models').innerText.trim().length > 0", timeout=SHORT_MS)
    open_chat(page, "vqa", EN if lang == "en" else ZH, media=False)
    page.click("#vqa-speak input")
    page.wait_for_selector("#vqa-spoken", state="visible", timeout=SHORT_MS)
    box = page.evaluate("""() => { const r = s => { const e = document.querySelector(s);
        if (!e || !e.offsetParent) return null; const b = e.getBoundingClientRect();
        return {top: b.top + scrollY, bottom: b.bottom + scrollY}; };
        return {tabs: r('[role=tablist]'), warning: r('#device-warning'), ask: r('#vqa-run'),
                player: r('#vqa-spoken'), width: document.documentElement.scrollWidth}; }""")
    # (a device warning, when the machine has one, comes on top and is left out of the count)
    warning = box["warning"]["bottom"] - box["warning"]["top"] if box["warning"] else 0
    assert box["width"] <= NARROW["width"], "the page scrolls sideways"
    assert box["tabs"]["bottom"] - warning <= 300, box
    assert box["ask"]["bottom"] - warning <= 1.05 * NARROW["height"], box
    assert box["player"]["bottom"] - box["ask"]["top"] <= NARROW["height"], box
    shot(page, f"chat_390_{lang}")  # (docs/screenshots/chat_390_zh.png)
    api = page.locator("footer .show-api")  # "Use via API"
    assert api.is_visible() and "API" in api.inner_text()
    api.click()
    page.wait_for_selector(".api-docs", state="visible", timeout=SHORT_MS)
