"""Issue 17 in a real browser: click a word of the answer, its heat map appears over the image; a
drawing fills in and goes to the Caption tab in one click. Screenshots in test-artifacts/browser/."""

from __future__ import annotations

import pytest

from components.i18n import EN
from tests.browser import NARROW, WAIT_MS, WIDE, shot, tab, upload, wait_done, wait_text


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


def last_words_heat_map(page):
    """Caption the street photo, open Show attention and click the answer's last word: its heat map's img,
    loaded."""
    upload(page, "caption-image", "street.png", "img")
    page.click("#caption-run")
    wait_text(page, "caption-output")
    page.click("#caption-explain > button")
    page.wait_for_selector("#caption-budget table")
    words = page.locator("#caption-words .token")
    words.nth(words.count() - 1).click()
    heat = page.wait_for_selector("#caption-heatmap img")
    wait_done(page, "caption-heatmap")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=heat)
    return heat


def test_heat_maps_are_shown_whole_and_a_typed_layer_counts(page):
    """Issue 26, finding 6: the heat map over a 3:2 picture is shown whole in its gallery (before: a square
    thumbnail cut its sides off), and a layer typed in the slider's box recomputes the view at once
    (before: only once the box lost focus)."""
    tab(page, "tab_caption")
    heat = last_words_heat_map(page)
    shown = heat.evaluate("""img => { const box = img.getBoundingClientRect(), fit = getComputedStyle(img).objectFit,
        gallery = document.querySelector('#caption-heatmap').getBoundingClientRect();
        return {fit, ratio: box.width / box.height, natural: img.naturalWidth / img.naturalHeight,
                box: [box.top, box.bottom, box.left, box.right], gallery: [gallery.top, gallery.bottom, gallery.left,
                gallery.right], imgs: document.querySelectorAll('#caption-heatmap img').length,
                inside: box.top >= gallery.top - 1 && box.bottom <= gallery.bottom + 1
                        && box.left >= gallery.left - 1 && box.right <= gallery.right + 1}; }""")
    assert shown["inside"] and (shown["fit"] in ("contain", "scale-down")
                                or abs(shown["ratio"] - shown["natural"]) < 0.02), shown
    page.locator("#caption-explain button", has_text=EN["explain_raw"]).click()  # the raw JSON, with its layers
    page.wait_for_function("document.querySelector('#caption-raw') && "
                           "document.querySelector('#caption-raw').innerText.includes('layers')")
    layers = "/\"?layers\"?:\\s*\\[\\s*0\\s*,/.test(document.querySelector('#caption-raw').innerText.replace(/\\n/g, ''))"
    assert not page.evaluate(layers), "the view began at layer 0: typing 0 would change nothing"
    box = page.locator("#caption-first-layer input[type=number]")
    box.fill("0")  # typed, the box keeps the focus
    page.wait_for_function(layers, timeout=WAIT_MS)


@pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["390", "1280"])
def test_the_heat_map_shown_has_its_colour_key(open_page, viewport):
    """Issue 26, finding 6: the heat map the page shows carries its colour key under the picture (before: the
    picture alone, 480x320 for this image, no way to tell what a colour means), shown whole within the page's
    width on a phone as on a desktop."""
    from PIL import Image

    from components.i18n import ZH
    from tests.conftest import ARTIFACTS, ASSETS

    width, height = Image.open(ASSETS / "street.png").size
    page = open_page(locale="zh-CN", viewport=viewport)
    tab(page, "tab_caption", ZH)
    heat = last_words_heat_map(page)
    shown = heat.evaluate("""img => { const box = img.getBoundingClientRect();
        return {natural: [img.naturalWidth, img.naturalHeight], right: box.right, left: box.left}; }""")
    assert shown["natural"][0] == width and shown["natural"][1] > height * 1.05, shown  # the picture, then its key
    assert shown["left"] >= 0 and shown["right"] <= viewport["width"] + 1, shown
    heat.scroll_into_view_if_needed()
    page.locator("#caption-explain").screenshot(path=ARTIFACTS / f"explain_{viewport['width']}_zh.png",
                                                animations="disabled")
