"""The Search by meaning tab in a real browser, at 390 px and 1280 px, in English and Chinese: a query ranks the
gallery, and the contrast mode draws the similarity matrix. Same browser and helpers as test_browser.py."""

from __future__ import annotations

import pytest

from catalogue import MESSAGES
from components.i18n import EN, ZH
from tests.browser import NARROW, SHORT_MS, WAIT_MS, WIDE, shot, tab, toast
from tests.conftest import ASSETS


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
@pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["390", "1280"])
def test_search_and_contrast(open_page, locale, viewport):
    lang = ZH if locale == "zh-CN" else EN
    page = open_page(locale=locale, viewport=viewport)
    tab(page, "tab_search", lang)
    assert page.get_by_role("tab", name=lang["search_matrix_mode"], exact=True).is_visible()  # no "more" menu
    page.click("#search-text-run")  # nothing typed: the message, in the page's language
    page.wait_for_selector("[data-testid=toast-body]", timeout=SHORT_MS)
    assert MESSAGES["zh" if lang is ZH else "en"]["no_query"] in toast(page)
    page.fill("#search-query textarea", "一栋红房子" if lang is ZH else "a red house")
    page.click("#search-text-run")
    page.wait_for_selector("#search-results img, #search-results video", timeout=WAIT_MS)
    page.wait_for_selector("#search-text-run:not([disabled])", timeout=WAIT_MS)
    assert page.locator("#search-ranking").inner_text().count("score") == 4  # every bundled sample, ranked
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"the page is {width} px wide at {viewport['width']} px"
    shot(page, f"search_{viewport['width']}_{locale}")

    page.get_by_role("tab", name=lang["search_matrix_mode"], exact=True).click()
    page.locator("#search-matrix-images input[type=file]").set_input_files([ASSETS / "street.png",
                                                                            ASSETS / "chart.png"])
    page.wait_for_function("document.querySelector('#search-matrix-images').innerText.includes('chart')",
                           timeout=SHORT_MS)
    page.click("#search-matrix-run")
    page.wait_for_selector("#search-heat-map img", timeout=WAIT_MS)
    page.wait_for_selector("#search-matrix-table table", timeout=WAIT_MS)
    assert page.locator("#search-matrix-table tbody tr").count() == 2
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    shot(page, f"search_matrix_{viewport['width']}_{locale}")
