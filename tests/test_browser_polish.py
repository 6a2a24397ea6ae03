"""The smaller findings of issue 26 (10), as a person meets them in the page: Status current when opened and
naming tabs, a new image clears the old description, a chat's Ask says it is answering, a drawing shown
whole, no raw Gradio key read aloud on the Chinese page. Same browser and helpers as test_browser.py; this
module's app (in this process, test_browser_ux's) writes long answers (1000 new tokens) so a test can act while one
streams.
"""

from __future__ import annotations

import pytest

from catalogue import message
from components.i18n import EN, ZH
from tests.browser import NARROW, SHORT_MS, WIDE, shot, tab, upload, wait_done
from tests.test_browser_ux import LONG_ANSWERS, model_busy

LANGS = [("en-US", "en"), ("zh-CN", "zh")]


@pytest.fixture(scope="module")
def served(apps):
    return apps(**LONG_ANSWERS)


@pytest.fixture(scope="module")
def server(served):
    return served.url


@pytest.mark.parametrize("locale, lang", LANGS, ids=["en", "zh"])
def test_status_is_current_when_opened_and_names_the_tabs(open_page, served, locale, lang):
    """Opening Status shows it as it is now, without Refresh (before: as it was when the page loaded, e.g.
    "not loaded yet" or nothing running), and names each model's tasks by their tabs (before: task ids)."""
    page = open_page(locale=locale)
    labels = EN if lang == "en" else ZH
    with model_busy(served):  # after the page loaded, a description runs
        tab(page, "tab_status", labels)
        page.wait_for_function("t => document.querySelector('#status-panel').innerText.includes(t)",
                               arg=f"1 {message('status_running', lang)}", timeout=SHORT_MS)
    models = page.locator("#status-panel li").first.inner_text()
    assert labels["tab_caption"] in models and labels["tab_vqa"] in models, models
    assert f"{message('status_tasks', lang)}: caption" not in models and ", vqa" not in models, models


def test_a_new_image_clears_the_last_description(open_page):
    """Caption: a new image empties the description, also one still being written, and Describe is ready
    again (before: the old image's description stayed under the new image)."""
    page = open_page()
    tab(page, "tab_caption")
    upload(page, "caption-image", "street.png", "img")
    page.click("#caption-run")
    page.wait_for_function("document.querySelector('#caption-output textarea').value.length > 0")
    upload(page, "caption-image", "chart.png", "img")
    page.wait_for_function("document.querySelector('#caption-output textarea').value === ''", timeout=SHORT_MS)
    page.wait_for_timeout(1500)  # and nothing of the old description streams back in
    assert page.locator("#caption-output textarea").input_value() == ""
    assert page.locator("#caption-run").inner_text().strip() == EN["describe"]
    assert page.locator("#caption-run").is_enabled()


def test_clear_during_a_description_ends_it(open_page):
    """Caption: Clear while the description streams empties the image and the box for good (the run is cancelled:
    its words do not stream back) and Describe is ready again (before: Clear cancelled nothing)."""
    page = open_page()
    tab(page, "tab_caption")
    upload(page, "caption-image", "street.png", "img")
    page.click("#caption-run")
    page.wait_for_function("document.querySelector('#caption-output textarea').value.length > 0")
    page.click("#caption-clear")
    page.wait_for_selector("#caption-run:not([disabled])", timeout=SHORT_MS)
    page.wait_for_timeout(1500)  # and nothing of the old description streams back in
    assert page.locator("#caption-output textarea").input_value() == ""
    assert page.locator("#caption-stop").is_disabled()


@pytest.mark.parametrize("locale, lang", LANGS, ids=["en", "zh"])
def test_a_chats_ask_says_it_is_answering(open_page, locale, lang):
    """While an answer streams, a chat's Ask reads "Answering…" and stays live (a question sent now waits
    its turn); after Stop it reads Ask again (before: it read Ask throughout)."""
    labels = EN if lang == "en" else ZH
    page = open_page(locale=locale)
    tab(page, "tab_vqa", labels)
    upload(page, "vqa-image", "chart.png", "img")
    page.fill("#vqa-question textarea", "What is shown?")
    page.click("#vqa-run")
    page.wait_for_selector("#vqa-chat [data-testid=bot]")
    page.wait_for_function("t => document.querySelector('#vqa-run').innerText.trim() === t",
                           arg=labels["busy_answer"], timeout=SHORT_MS)
    assert page.locator("#vqa-run").is_enabled()
    page.click("#vqa-stop")
    page.wait_for_function("t => document.querySelector('#vqa-run').innerText.trim() === t",
                           arg=labels["ask"], timeout=SHORT_MS)


@pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["390px", "1280px"])
def test_a_single_drawing_is_shown_whole(open_page, viewport):
    """Create an image: the one drawing is shown whole in its gallery, inside the page (before: a cropped
    thumbnail)."""
    page = open_page(viewport=viewport)
    tab(page, "tab_image")
    page.fill("#image-prompt textarea", "A red house on a quiet street, watercolor")
    page.click("#image-run")
    page.wait_for_selector("#image-gallery img")
    wait_done(page, "image-gallery")
    image = page.wait_for_selector("#image-gallery img")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image)
    shown = image.evaluate("""img => { const box = img.getBoundingClientRect(), fit = getComputedStyle(img).objectFit,
        gallery = document.querySelector('#image-gallery').getBoundingClientRect(),
        scale = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
        return {fit, width: box.width, height: box.height, natural: img.naturalWidth / img.naturalHeight,
                drawn: [img.naturalWidth * scale, img.naturalHeight * scale], box: [box.top, box.bottom, box.right],
                gallery: [gallery.top, gallery.bottom, gallery.right]}; }""")
    whole = shown["fit"] in ("contain", "scale-down") or abs(shown["width"] / shown["height"] - shown["natural"]) < 0.02
    assert whole, shown
    top, bottom, right = shown["box"]
    assert shown["gallery"][0] - 1 <= top and bottom <= shown["gallery"][1] + 1, shown  # not cut off by the gallery
    assert right <= min(shown["gallery"][2], viewport["width"]) + 1, shown
    assert min(shown["drawn"]) >= 0.5 * min(viewport["width"] - 40, 300), shown  # not a small thumbnail
    shot(page, f"image_{viewport['width']}")


def test_the_chinese_page_announces_no_raw_key(open_page):
    """A screen reader hears what Gradio's status region says after a run: on the Chinese page it was the
    raw key "common.complete" (Gradio's zh-CN table lacks it); now the Chinese word."""
    page = open_page(locale="zh-CN")
    page.evaluate("""() => { window.said = []; new MutationObserver(() => document.querySelectorAll(
        '.sr-only[role=status]').forEach(e => e.textContent.trim() && said.push(e.textContent.trim())))
        .observe(document.body, {subtree: true, childList: true, characterData: true}); }""")
    tab(page, "tab_caption", ZH)
    upload(page, "caption-image", "street.png", "img")
    page.click("#caption-run")
    page.wait_for_function("said.some(s => s.includes('complete') || s.includes('完成'))",
                           timeout=180_000)  # the description is written
    said = page.evaluate("said")
    assert not [s for s in said if "common." in s or "status." in s], said
    assert ZH["common.complete"] in said, said


# What a screen reader is read, collected as it changes: Gradio's status region and every aria-label.
HEARD = """() => { window.said = []; window.labels = new Set(); const note = () => {
    document.querySelectorAll('.sr-only[role=status], [aria-live]').forEach(e => {
        const text = e.textContent.trim(); if (text && said[said.length - 1] !== text) said.push(text); });
    document.querySelectorAll('[aria-label]').forEach(e => labels.add(e.getAttribute('aria-label'))); };
    note(); new MutationObserver(note).observe(document.body,
        {subtree: true, childList: true, characterData: true, attributes: true}); }"""
RAW_KEY = r"^(common|status|chatbot|audio|image|video|upload_text|chat_interface|dataframe|image_editor|errors|" \
          r"blocks|checkbox|file|label|login|number|plot|radio|slider|dropdown)\.[a-z_0-9]+$"


def test_the_chinese_page_announces_its_queue_place_in_chinese(open_page, served):
    """Finding 10: while a question waits its turn, Gradio's status region tells a screen reader its place:
    on the Chinese page that was English ("In queue: 1 of 1": Gradio's zh-CN table lacks status.queue_position).
    Now the Chinese sentence, with the place filled in; no raw key is heard, or labels anything, while it
    waits or after the answer."""
    import re

    from catalogue import GRADIO_ZH

    page = open_page(locale="zh-CN")
    page.evaluate(HEARD)
    tab(page, "tab_caption", ZH)
    upload(page, "caption-image", "street.png", "img")
    waiting = GRADIO_ZH["status.queue_position"].split("{")[0]  # "排队中：第 "
    with model_busy(served):
        page.click("#caption-run")
        page.wait_for_function("said.some(s => /\\d/.test(s))", timeout=SHORT_MS)  # its place, said
        during = page.evaluate("said")
    page.wait_for_function("c => said.includes(c)", arg=ZH["common.complete"], timeout=180_000)
    said, labels = page.evaluate("said"), page.evaluate("[...labels]")
    assert any(s.startswith(waiting) and re.search(r"\d", s) for s in during), during
    assert not [s for s in said if re.search(RAW_KEY, s) or "{" in s], said
    assert not [s for s in labels if re.search(RAW_KEY, s or "")], labels


def gradio_tables(page) -> tuple[dict, dict]:
    """Gradio's own English and zh-CN tables, flat ("status.queue_position": ...), as its page loads them."""
    from pathlib import Path

    import gradio

    assets = Path(gradio.__file__).parent / "templates" / "frontend" / "assets"
    names = [next(assets.glob(f"{lang}-*.js")).name for lang in ("en", "zh-CN")]
    return tuple(page.evaluate("""async name => { const table = await import('./assets/' + name);
        const flat = (o, p, out) => { for (const [k, v] of Object.entries(o)) { if (k === 'default' || k === '_name')
            continue; if (v && typeof v === 'object') flat(v, p + k + '.', out); else out[p + k] = v; } return out; };
        return flat(table, '', {}); }""", name) for name in names)


def test_every_gradio_string_reads_in_chinese(open_page):
    """Every string of Gradio's own the page can show (its English table, and the keys its code asks for
    that no table has, such as "common.webcam") has a Chinese text on the Chinese page and an English one
    on the English page: 53 read in English or as the raw key before."""
    import re
    from pathlib import Path

    import gradio

    from components.i18n import I18N

    english, chinese = gradio_tables(open_page(locale="zh-CN"))
    assert len(english) > 100 and "common.clear" in chinese  # the tables were read
    code = Path(gradio.__file__).parent / "templates" / "frontend" / "assets"
    asked = {key for path in code.glob("*.js")
             for key in re.findall(r"i18n\([`'\"]([a-z_]+\.[a-z_0-9]+)[`'\"]\)", path.read_text(errors="ignore"))}
    assert "status.queue_position" in asked and "common.complete" in asked  # the code was read
    ours = I18N.translations
    assert not sorted(k for k in set(english) | asked if k not in chinese and k not in ours["zh-CN"])
    assert not sorted(k for k in asked if k not in english and k not in ours["en"])
    assert ours["zh"] == ours["zh-CN"]


def test_the_api_page_shows_no_success_rate(open_page, server):
    """"Use via API" listed each endpoint's share of successful calls, every Stop counted a failure (the
    caption endpoint read "57 % successful"); with monitoring off it shows none."""
    from gradio_client import Client, handle_file

    from tests.conftest import ASSETS

    job = Client(server, verbose=False).submit(handle_file(str(ASSETS / "street.png")), "en", api_name="/caption")
    for _ in job:  # a caption stopped after its first words: a "failed" call
        break
    job.cancel()
    page = open_page()
    page.get_by_text("Use via API").click()
    page.wait_for_selector("text=/caption", timeout=SHORT_MS)
    page.wait_for_timeout(1500)  # (the rates come from a request of their own)
    assert "successful" not in page.locator("body").inner_text()


def test_the_api_pages_sample_file_is_a_link_this_app_serves(open_page, server):
    """"Use via API" wrote the caption's sample image as a dict holding a path relative to this repository
    (`{"path": "assets/street.png", ...}`), which a reader cannot run elsewhere; now it is handle_file() of a URL
    this app serves (tests/test_api.py runs the snippets as written)."""
    page = open_page()
    page.get_by_text("Use via API").click()
    page.wait_for_selector("text=/caption", timeout=SHORT_MS)
    code = page.locator("code", has_text='api_name="/caption"').first.inner_text()
    assert f"handle_file('{server.rstrip('/')}/gradio_api/file=" in code and "street.png')" in code, code
    assert '"path"' not in code, code
