"""Stop, then ask again, many times over (issue 26, finding 1): every new question is answered.

The chat tabs' events are the page's own (private): this module speaks the page's queue protocol to the
real app (join, the session's event stream, /cancel) as the browser does, so a hundred rounds per tab run
in a minute or two where a browser would take far longer on a shared CPU. tests/test_browser_chat.py
does a few rounds through chromium.
"""

from __future__ import annotations

import time

import pytest

from components.vqa import text_of

from .conftest import ASSETS
from .page import PageSession, chat_of, failed, fn_index

ROUNDS = 100


@pytest.fixture(scope="module")
def served(apps):
    return apps(max_new_tokens=8)


@pytest.mark.parametrize("tab, media, asset", [("vqa", "vqa-image", "chart.png"),
                                               ("video", "video-input", "street_en.mp4")], ids=["image", "video"])
@pytest.mark.slow
def test_every_question_after_stop_is_answered(served, tab, media, asset):
    """ROUNDS times: ask, Stop at once or a moment later (while the clip is decoded or the answer streams),
    ask again: the new question is answered (before: a stopped run cleaned up the waiting questions when
    Gradio finally closed it, which could be after the next question was sent, so that question was
    dropped or its run failed with "pop from empty list")."""
    demo, url = served.demo, served.url
    send, answer = fn_index(demo, "send", media), fn_index(demo, "answer", media)
    stopped = fn_index(demo, "stopped", f"{tab}-question")
    page = PageSession(url)
    try:
        picture = page.upload(ASSETS / asset)
        extra = None if tab == "vqa" else True  # more images / the sound switch
        chat: list = []
        for n in range(ROUNDS):
            chat, box, _ = page.call(send, [f"question {n}", None, picture, chat, None])
            assert box == "" and text_of(chat[-1]["content"]) == f"question {n}"
            run = page.join(answer, [picture, extra, chat, None, False, "Chelsie"])
            page.wait(run, "process_starts")
            if n % 3:  # a moment into the answer: its first words
                time.sleep(0.05 * (n % 5))
            page.cancel(answer, run)  # Stop: Gradio's cancel, and the tab's own handler
            with page.changed:
                shown = chat_of(page.messages.get(run, []), chat)
            back = page.predict(stopped, [shown, None, "", None])  # (run, stop, chat, box, microphone, notice)
            chat = back[2] if isinstance(back[2], list) else shown
            chat, box, _ = page.call(send, [f"follow-up {n}", None, picture, chat, None])
            messages = page.wait(page.join(answer, [picture, extra, chat, None, False, "Chelsie"]))
            assert not failed(messages), f"round {n}: {failed(messages)}"
            chat = chat_of(messages, chat)
            assert text_of(chat[-2]["content"]) == f"follow-up {n}", f"round {n}: {chat[-3:]}"
            assert chat[-1]["role"] == "assistant" and text_of(chat[-1]["content"]).strip(), f"round {n}: not answered"
    finally:
        page.close()
