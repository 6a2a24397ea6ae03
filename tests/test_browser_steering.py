

def test_the_chinese_page_says_it_in_chinese(open_page):
    from components.i18n import ZH

    page = open_page(locale="zh-CN", viewport=NARROW)
    tab(page, "tab_audio", ZH)
    page.click("#audio-advanced > button")
    page.click("#audio-preset input")
    assert page.locator("#audio-preset [role=option]", has_text=ZH["preset_blind"]).count() == 1
    assert ZH["advanced"] in page.locator("#audio-advanced").inner_text()
    page.click("#audio-speak input")
    page.wait_for_selector("#audio-system-prompt-locked", state="visible")
    assert page.locator("#audio-system-prompt-locked").inner_text().strip() == ZH["system_prompt_locked_info"]
