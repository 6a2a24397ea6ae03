"""Issue 17 in a real browser: click a word of the answer, its heat map appears over the image; a
drawing fills in and goes to the Caption tab in one click. Screenshots in test-artifacts/browser/."""

from __future__ import annotations

import pytest

from components.i18n import EN
from tests.browser import shot, tab, upload, wait_done, wait_text


@pytest.fixture(scope="module")
def server(apps):
    """The app with short answers (8 new tokens), in this process."""
    return apps(max_new_tokens=8).url


@pytest.fixture()
def page(open_page):
    return open_page()


def test_click_a_word_and_its_heat_map_appears(page):
    tab(page, "tab_caption")
    upload(page, "caption-image", "street.png", "img")
    page.click("#caption-run")
    wait_text(page, "caption-output")
    page.click("#caption-explain > button")  # open "Show attention · token budget"
    page.wait_for_selector("#caption-budget table")
    assert "Context used" in page.locator("#caption-budget").inner_text()
    words = page.locator("#caption-words .token")
    assert words.count() >= 1
    words.nth(words.count() - 1).click()
    heat = page.wait_for_selector("#caption-heatmap img")
    wait_done(page, "caption-heatmap")
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", heat)
    shot(page, "explain_caption_attention")


def test_a_drawing_goes_to_the_caption_tab_in_one_click(page):
    tab(page, "tab_image")
    page.fill("#image-prompt textarea", "A red house")
    page.click("#image-run")
    page.wait_for_selector("#image-describe", state="visible")
    wait_done(page, "image-gallery")
    page.click("#image-describe")
    page.wait_for_selector(f"[role=tab][aria-selected=true]:text-is('{EN['tab_caption']}')")
    page.wait_for_selector("#caption-image img")
    assert wait_text(page, "caption-output")
    shot(page, "explain_round_trip")
