"""What the browser tests share besides fixtures (those are in conftest.py): viewports, where screenshots go, and
the steps a person takes on the page (open a tab, upload a file, wait for an answer)."""

from __future__ import annotations

from pathlib import Path

from components.i18n import EN
from tests.conftest import ARTIFACTS, ASSETS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
WAIT_MS = 90_000  # first request loads the tiny weights; generous for a slow CI machine
SHORT_MS = 20_000  # for what must happen without any model work
WIDE, NARROW = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
TAB_BUTTON = {"tab_caption": "#caption-run", "tab_vqa": "#vqa-run", "tab_image": "#image-run",
              "tab_audio": "#audio-run", "tab_video": "#video-run",
              "tab_search": "#search-text-run", "tab_talk": "#talk-clear", "tab_status": "#status-refresh"}  # rendered once the tab is open


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


def watch_for_empty_answer(page, elem_id: str) -> None:
    """Before an edit or retry: note when the chat shows no answer at all (the step that rewinds it), so
    `wait_new_answer` cannot mistake the old answer, still shown a moment after the click, for the new one."""
    page.evaluate("""id => {
        const chat = document.getElementById(id);
        window.__noAnswerSeen = window.__noAnswerSeen || {};
        window.__noAnswerSeen[id] = false;
        const look = () => { if (!chat.querySelector('[data-testid=bot]')) window.__noAnswerSeen[id] = true; };
        new MutationObserver(look).observe(chat, {childList: true, subtree: true});
    }""", elem_id)


def wait_new_answer(page, elem_id: str) -> None:
    """After `watch_for_empty_answer`: wait for the answer that follows the rewind, then for its end."""
    page.wait_for_function(f"window.__noAnswerSeen['{elem_id}'] &&"
                           f" document.querySelector('#{elem_id} [data-testid=bot]') !== null")
    wait_done(page, elem_id)


def wait_text(page, elem_id: str) -> str:
    """Wait for a non-empty streamed answer in a Textbox and for the stream to end; returns it."""
    page.wait_for_function(f"document.querySelector('#{elem_id} textarea').value.length > 0")
    wait_done(page, elem_id)
    return page.locator(f"#{elem_id} textarea").input_value()


def toast(page) -> str:
    return page.locator("[data-testid=toast-body]").first.inner_text()


def shot(page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True, animations="disabled")
