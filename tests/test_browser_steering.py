"""The Advanced accordion in the page (issue 30), at 390 px and 1280 px: presets fill the fields, "Speak the
answer" locks the system prompt and says why, and what the fields say reaches the real model."""

from __future__ import annotations

import pytest

from components.i18n import EN
from pipelines.sampling import PRESETS
from tests.browser import NARROW, SHORT_MS, WIDE, shot, tab, upload, wait_text

from .conftest import ARTIFACTS
from .recorder import Recorder

LIMIT = 12  # --max-new-tokens here: the "short answer" preset's 64 is cut to it


@pytest.fixture(scope="module")
def served(apps):
    return apps(max_new_tokens=LIMIT)


@pytest.fixture(scope="module")
def server(served):
    return served.url


def choose_preset(page, prefix: str, key: str) -> None:
    page.click(f"#{prefix}-preset input")
    page.locator(f"#{prefix}-preset [role=option]", has_text=EN[key]).first.click()


def value_of(page, prefix: str, field: str) -> str:
    """A slider's or number box's value as the page shows it."""
    return page.locator(f"#{prefix}-{field} input").first.input_value()


def fits_the_width(page) -> bool:
    return page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["390px", "1280px"])
def test_presets_fill_the_fields_and_speech_locks_the_system_prompt(open_page, served, viewport):
    page = open_page(viewport=viewport)
    tab(page, "tab_vqa")
    own = served.pipes.vqa.default_system_prompt
    prompt = page.locator("#vqa-system-prompt textarea")
    page.click("#vqa-advanced > button")  # open "Advanced"
    prompt.wait_for(timeout=SHORT_MS)
    assert prompt.input_value() == own
    choose_preset(page, "vqa", "preset_blind")
    page.wait_for_function("document.querySelector('#vqa-system-prompt textarea').value.includes('blind')")
    assert prompt.input_value() == PRESETS["blind"]["system_prompt"]
    choose_preset(page, "vqa", "preset_creative")
    page.wait_for_function("document.querySelector('#vqa-temperature input').value === '0.9'")
    assert (value_of(page, "vqa", "top-p"), value_of(page, "vqa", "top-k")) == ("0.9", "50")
    assert prompt.input_value() == own  # the creative preset keeps the model's own prompt
    prompt.fill("Answer like a pirate.")

    page.click("#vqa-speak input")  # speech on: the model's own prompt, locked, and why
    page.wait_for_selector("#vqa-system-prompt-locked", state="visible")
    assert "Locked while" in page.locator("#vqa-system-prompt-locked").inner_text()
    assert prompt.input_value() == own and prompt.is_disabled()
    choose_preset(page, "vqa", "preset_short")  # a preset leaves a locked prompt as it is
    page.wait_for_function(f"document.querySelector('#vqa-max-new-tokens input').value === '{LIMIT}'"
                           " && document.querySelector('#vqa-temperature input').value === '0'")  # both fields drawn
    assert prompt.input_value() == own and value_of(page, "vqa", "temperature") == "0"
    assert fits_the_width(page)
    shot(page, f"steering_vqa_locked_{viewport['width']}")

    page.click("#vqa-speak input")  # speech off: editable again
    page.wait_for_selector("#vqa-system-prompt-locked", state="hidden")
    assert not prompt.is_disabled()


def test_the_fields_reach_the_model_from_the_page(open_page, served):
    """The caption tab, "Short answer" and a seed: the model's prompt has the preset's system prompt, its
    generate() the preset's settings within the server's limit."""
    page = open_page(viewport=NARROW)
    upload(page, "caption-image", "street.png", "img")
    page.click("#caption-advanced > button")
    choose_preset(page, "caption", "preset_short")
    page.wait_for_function("document.querySelector('#caption-system-prompt textarea').value.includes('short')")
    page.locator("#caption-temperature input[type=number]").fill("0.7")
    page.locator("#caption-temperature input[type=number]").press("Enter")
    page.locator("#caption-seed input").fill("42")
    page.locator("#caption-seed input").press("Tab")
    with Recorder(served.pipes.caption.model) as seen:
        page.click("#caption-run")
        assert wait_text(page, "caption-output")
    call = seen.generate_calls[-1]
    assert (call.get("do_sample"), call.get("temperature"), call.get("max_new_tokens")) == (True, 0.7, LIMIT)
    assert PRESETS["short"]["system_prompt"] in seen.last.text
    assert fits_the_width(page)
    page.locator("#caption-advanced").screenshot(path=ARTIFACTS / "steering_caption_390.png", animations="disabled")


def test_the_chinese_page_says_it_in_chinese(open_page):
    from components.i18n import ZH

    page = open_page(locale="zh-CN", viewport=NARROW)
    tab(page, "tab_audio", ZH)
    page.click("#audio-advanced > button")
    page.click("#audio-preset input")
    assert page.locator("#audio-preset [role=option]", has_text=ZH["preset_blind"]).count() == 1
    page.keyboard.press("Escape")
    assert ZH["advanced"] in page.locator("#audio-advanced").inner_text()
    page.click("#audio-speak input")
    page.wait_for_selector("#audio-system-prompt-locked", state="visible")
    assert page.locator("#audio-system-prompt-locked").inner_text().strip() == ZH["system_prompt_locked_info"]
