"""The page as a person uses it: Debian's chromium clicks through every tab of `app.py --tiny`.

The app runs as a real subprocess (as `python app.py` would), the browser uploads the example
files, types, clicks and waits for the streamed answer or the drawn image. Screenshots of every
tab, both viewports and both languages land in test-artifacts/browser/ for a reviewer to look at.
Without /usr/bin/chromium the suite is skipped locally but fails on CI (CI=true).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import pytest

from catalogue import MESSAGES
from components.i18n import EN, ZH
from tests.conftest import ASSETS, ROOT, run_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
WAIT_MS = 90_000  # first request loads the tiny weights; generous for a slow CI machine
WIDE, NARROW = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
TAB_BUTTON = {"tab_caption": "#caption-run", "tab_vqa": "#vqa-run", "tab_image": "#image-run",
              "tab_audio": "#audio-run", "tab_video": "#video-run",
              "tab_status": "#status-refresh"}  # rendered once the tab is open


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: the browser tests must run on CI (install chromium, see .ci/run)")
    pytest.skip(reason)


# Module scope: Playwright's sync API keeps an event loop running in this thread while it is open,
# which would break later tests that call asyncio.run (the MCP client, for one).
@pytest.fixture(scope="module")
def server(tiny_dir):
    """`app.py --tiny` on a free port, as a person would start it; stopped at the end."""
    with tiny_app(tiny_dir, max_new_tokens=16, log_name="app.log") as url:
        yield url


@contextlib.contextmanager
def tiny_app(tiny_dir, max_new_tokens: int, log_name: str, **more_env: str):
    """`python app.py --tiny` with answers of `max_new_tokens` (and `more_env`), its log in test-artifacts/browser/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MMDEMO_MAX_NEW_TOKENS=str(max_new_tokens), GRADIO_ANALYTICS_ENABLED="False",
               HF_HUB_OFFLINE="1", **more_env)
    with run_app("--tiny", "--tiny-dir", str(tiny_dir), "--host", "127.0.0.1", env=env,
                 log_path=ARTIFACTS / log_name) as url:
        yield url


# Module scope: Playwright's sync API keeps an event loop running in this thread while it is open,
# which would break later tests that call asyncio.run (the MCP client, for one).
@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright for Python is not installed (requirements-dev.txt)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def open_page(browser, server):
    """open_page(locale=, viewport=) -> a fresh page (own context, own session) with the app loaded."""
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


def tab(page, key: str, lang: dict = EN) -> None:
    """Click a tab by its label (inactive tabs are not rendered until then).

    On a narrow screen the tabs that do not fit sit in a "More tabs" menu.
    """
    name = lang[key]
    if page.get_by_role("tab", name=name, exact=True).count():
        page.get_by_role("tab", name=name, exact=True).click()
    else:
        page.click(".overflow-menu > button")
        page.locator(".overflow-dropdown button", has_text=name).click()
    page.wait_for_selector(f"[role=tab][aria-selected=true]:text-is('{name}')")
    page.wait_for_selector(TAB_BUTTON[key])


def upload(page, elem_id: str, name: str, shown: str) -> None:
    """Pick a file in the component's file input and wait until the component shows it."""
    page.locator(f"#{elem_id} input[type=file]").set_input_files(ASSETS / name)
    page.wait_for_selector(f"#{elem_id} {shown}", state="attached")


def wait_done(page, elem_id: str) -> None:
    """Wait until the output's progress tracker is hidden again: the run (or stream) has ended."""
    page.wait_for_selector(f"#{elem_id} [data-testid=status-tracker].hide", state="attached")


def wait_text(page, elem_id: str) -> str:
    """Wait for a non-empty streamed answer in a Textbox and for the stream to end; returns it."""
    page.wait_for_function(f"document.querySelector('#{elem_id} textarea').value.length > 0")
    wait_done(page, elem_id)
    return page.locator(f"#{elem_id} textarea").input_value()


def toast(page) -> str:
    return page.locator("[data-testid=toast-body]").first.inner_text()


def shot(page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True, animations="disabled")


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
