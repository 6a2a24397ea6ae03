"""Issue 30 in a real browser, at 390 px and 1280 px: rerun without the image (both answers, their words
compared, the likelihood figures) under Caption's answer, and the Compare models tab's two answers side by side
(stacked on a phone). Screenshots in test-artifacts/browser/."""

from __future__ import annotations

import pytest

from components.i18n import EN, ZH
from pipelines import tiny
from tests.browser import NARROW, WIDE, shot, tab, upload, wait_done, wait_text


@pytest.fixture(scope="module")
def server(apps, tiny_dir):
    """The app with the tiny Janus as --compare-model and short answers, in this process."""
    return apps(compare_model=str(tiny_dir / tiny.JANUS_DIR), max_new_tokens=8).url


def open_compare(page, lang: dict = EN) -> None:
    """The Compare models tab (only on an app with --compare-model, so not in tests/browser.py's TAB_BUTTON, which
    every app has): as tests.browser.tab, its own button's selector."""
    name = lang["tab_compare"]
    if page.get_by_role("tab", name=name, exact=True).count():
        page.get_by_role("tab", name=name, exact=True).click()
    else:  # at 390 px the tabs that do not fit sit in a "More tabs" menu
        page.click(".overflow-menu > button")
        page.locator(".overflow-dropdown button", has_text=name).click()
    page.wait_for_selector("#compare-run")


def no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def box(page, selector: str) -> dict:
    return page.locator(selector).bounding_box()


@pytest.mark.parametrize("viewport,name", [(NARROW, "390"), (WIDE, "1280")])
def test_rerun_without_the_image_shows_both_answers_and_the_scores(open_page, viewport, name):
    page = open_page(viewport=viewport)
    tab(page, "tab_caption")
    upload(page, "caption-image", "street.png", "img")
    page.click("#caption-run")
    original = wait_text(page, "caption-output")
    page.click("#caption-ablation > button")  # open "What each input contributed"
    page.wait_for_function("document.querySelector('#caption-ablation-original textarea')?.value.length > 0")
    assert page.locator("#caption-ablation-original textarea").input_value() == original
    assert page.locator("#caption-ablation-what input").input_value() == "the image(s)"
    page.click("#caption-ablation-run")
    page.wait_for_function("document.querySelector('#caption-ablation-score')?.innerText.includes('How likely')")
    wait_done(page, "caption-ablation-answer")
    assert page.locator("#caption-ablation-answer textarea").input_value()
    assert "per token" in page.locator("#caption-ablation-score").inner_text()
    assert page.locator("#caption-ablation-diff .token").count() >= 1
    original_box, answer_box = box(page, "#caption-ablation-original"), box(page, "#caption-ablation-answer")
    if viewport is WIDE:  # side by side
        assert abs(original_box["y"] - answer_box["y"]) < 2 and answer_box["x"] > original_box["x"]
    else:  # stacked, each the column's width
        assert answer_box["y"] > original_box["y"] and answer_box["width"] <= viewport["width"]
    no_sideways_scroll(page)
    page.locator("#caption-ablation").scroll_into_view_if_needed()
    shot(page, f"ablation_caption_{name}")


@pytest.mark.parametrize("viewport,name", [(NARROW, "390"), (WIDE, "1280")])
def test_two_models_answer_side_by_side(open_page, viewport, name):
    page = open_page(viewport=viewport)
    open_compare(page)
    upload(page, "compare-image", "street.png", "img")
    page.fill("#compare-question textarea", "Which colour is the house?")
    page.click("#compare-run")
    answers = [wait_text(page, f"compare-answer-{i}") for i in (0, 1)]
    assert all(answers)
    for i in (0, 1):
        page.wait_for_function(f"document.querySelector('#compare-stats-{i}')?.innerText.includes('tokens')")
    first, second = box(page, "#compare-answer-0"), box(page, "#compare-answer-1")
    if viewport is WIDE:
        assert abs(first["y"] - second["y"]) < 2 and second["x"] > first["x"] + first["width"] - 1
    else:
        assert second["y"] > first["y"] + first["height"] - 1
    assert "qwen2_5_omni" in page.locator("#compare-model-0").inner_text()
    assert "janus" in page.locator("#compare-model-1").inner_text()
    assert "/" not in page.locator("#compare-answers").inner_text().split("\n")[0]  # a folder by its name only
    assert "compared" in page.locator("#models").inner_text()  # the header names the second model's role
    no_sideways_scroll(page)
    shot(page, f"compare_{name}")


def test_the_views_speak_chinese(open_page):
    page = open_page(locale="zh-CN", viewport=NARROW)
    open_compare(page, ZH)
    assert page.locator("#compare-run").inner_text().strip() == ZH["compare_run"]
    tab(page, "tab_caption", ZH)
    assert ZH["ablation"] in page.locator("#caption-ablation").inner_text()
    assert EN["ablation"] not in page.locator("body").inner_text()
