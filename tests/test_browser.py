"""The page as a person uses it: Debian's chromium clicks through every tab of `app.py --tiny`.

The app runs as a real subprocess (as `python app.py` would), the browser uploads the example
files, types, clicks and waits for the streamed answer or the drawn image. Screenshots of every
tab, both viewports and both languages land in test-artifacts/browser/ for a reviewer to look at.
Without /usr/bin/chromium the suite is skipped locally but fails on CI (CI=true). The browser, the
app (`server`) and `open_page` are in conftest.py, the page steps in tests/browser.py.
"""

from __future__ import annotations

import re

import pytest

from catalogue import MESSAGES
from components.i18n import EN, ZH
from tests.browser import NARROW, TAB_BUTTON, WIDE, shot, tab, toast, upload, wait_done, wait_text


@pytest.mark.parametrize("name, field, file, shown, question", [
    ("caption", "caption-image", "street.png", "img", None),
    ("audio", "audio-input", "speech_en.wav", "audio", "What is the speaker talking about?"),
], ids=["caption", "audio"])
def test_streamed_text_answer(open_page, name, field, file, shown, question):
    """Caption and Ask about audio: upload the example, (ask,) click, the streamed answer appears."""
    page = open_page()
    tab(page, f"tab_{name}")
    upload(page, field, file, shown)
    if question:
        page.fill(f"#{name}-question textarea", question)
    page.click(f"#{name}-run")
    assert wait_text(page, f"{name}-output").strip()
    shot(page, name)


def test_vqa_tab(open_page):
    page = open_page()
    tab(page, "tab_vqa")
    upload(page, "vqa-image", "chart.png", "img")
    page.fill("#vqa-question textarea", "Which bar is the highest?")
    page.click("#vqa-run")
    page.wait_for_selector("#vqa-chat [data-testid=bot]")
    wait_done(page, "vqa-chat")
    assert "Which bar is the highest?" in page.locator("#vqa-chat [data-testid=user]").first.inner_text()
    assert page.locator("#vqa-chat [data-testid=bot]").count() == 1
    assert page.locator("#vqa-question textarea").input_value() == ""  # cleared for the follow-up
    shot(page, "vqa")


def test_create_image_tab(open_page):
    page = open_page()
    tab(page, "tab_image")
    page.fill("#image-prompt textarea", "A red house on a quiet street, watercolor")
    page.click("#image-run")
    page.wait_for_selector("#image-gallery img")  # (a preview first: the drawing fills in row by row)
    wait_done(page, "image-gallery")
    image = page.wait_for_selector("#image-gallery img")  # the final image
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image)  # the PNG really loaded
    shot(page, "create_image")


def test_example_click_fills_inputs_and_runs(open_page):
    page = open_page()
    tab(page, "tab_vqa")
    page.get_by_text(EN["example_house_colour"], exact=True).click()
    page.wait_for_selector("#vqa-image img")  # the example image was put in
    page.wait_for_selector("#vqa-chat [data-testid=bot]")  # and the task ran on it
    wait_done(page, "vqa-chat")
    shot(page, "vqa_example")


def test_error_is_shown_to_the_person(open_page):
    page = open_page()
    tab(page, "tab_caption")
    page.click("#caption-run")  # no image
    assert MESSAGES["en"]["no_image"] in toast(page)
    shot(page, "error_no_image")


@pytest.mark.parametrize("name, viewport", [("narrow_390", NARROW), ("wide_1280", WIDE)],
                         ids=["390px", "1280px"])
def test_page_fits_viewport(open_page, name, viewport):
    page = open_page(viewport=viewport)
    width = viewport["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "page scrolls sideways"
    for elem_id in ("caption-image", "caption-run", "caption-output"):
        box = page.locator(f"#{elem_id}").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, f"#{elem_id} is cut off"
    upload(page, "caption-image", "street.png", "img")
    page.click("#caption-run")
    assert wait_text(page, "caption-output").strip()
    shot(page, name)
    # every tab can be reached and used, also those that do not fit the tab bar
    tab(page, "tab_audio")
    run = page.locator("#audio-run").bounding_box()
    assert run and run["x"] + run["width"] <= width, "#audio-run is cut off"


def visible_texts(page) -> list[str]:
    """Every line of text a person sees, plus placeholders."""
    lines = page.locator("body").inner_text().splitlines()
    lines += page.locator("[placeholder]").evaluate_all("els => els.map(e => e.placeholder)")
    return [line.strip() for line in lines if line.strip()]


@pytest.mark.parametrize("locale, lang, other", [("zh-CN", ZH, EN), ("en-US", EN, ZH)],
                         ids=["zh-CN", "en-US"])
def test_every_label_translated(open_page, locale, lang, other):
    page = open_page(locale=locale)
    assert page.get_by_role("tab", name=lang["tab_caption"], exact=True).is_visible()
    raw_key = re.compile(r"\b(" + "|".join(k for k in EN if "_" in k) + r")\b")
    foreign = {other[k] for k in EN if other[k] != lang[k]}
    for key in TAB_BUTTON:
        tab(page, key, lang)
        texts = visible_texts(page)
        text = "\n".join(texts)
        assert "__i18n__" not in text and "[object Object]" not in text, f"{key}: untranslated label"
        assert not raw_key.search(text), f"{key}: raw key {raw_key.search(text).group()!r} shown"
        assert not foreign & set(texts), f"{key}: labels in the other language: {foreign & set(texts)}"
        shot(page, f"{locale}_{key}")
    tab(page, "tab_caption", lang)
    answer_in = "中文" if locale == "zh-CN" else "English"  # descriptions default to the browser's language
    assert page.locator("#caption-language").get_by_role("radio", name=answer_in, exact=True).is_checked()
    page.click("#caption-run")  # errors come in the browser's language too
    assert MESSAGES["zh" if locale == "zh-CN" else "en"]["no_image"] in toast(page)
