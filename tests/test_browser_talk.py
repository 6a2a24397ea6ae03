"""The Talk tab in a real browser (issue 28): chromium's microphone and camera are fakes fed from files made here
(espeak-ng and sox: a spoken question, then a pause; chromium loops the file, so the person asks again and again).
The app runs in this process, so that tests/recorder.py sees what reaches the model and the tab's conversations
(components/talk.py CONVERSATIONS) can be read."""

from __future__ import annotations

import shutil
import subprocess
import time

import numpy as np
import pytest

from components.i18n import EN, ZH
from tests.browser import NARROW, WAIT_MS, WIDE, shot, tab, upload, wait_done
from tests.recorder import Recorder

SPEECH_MS = 300_000  # the miniature talker on a shared CPU: tens of seconds an answer


@pytest.fixture(scope="module")
def served(apps):
    return apps(max_new_tokens=12, max_speech_seconds=4.0)


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory):
    """1 s of quiet, "What do you see in this picture?", 2.5 s of quiet (48 kHz 16-bit mono, as chromium wants)."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            from tests.requires import unavailable

            unavailable(f"{tool} not found (apt-get install {tool})")
    root = tmp_path_factory.mktemp("talk")
    fmt = ["-r", "48000", "-c", "1", "-b", "16"]
    subprocess.run(["espeak-ng", "-w", str(root / "raw.wav"), "What do you see in this picture?"], check=True)
    subprocess.run(["sox", str(root / "raw.wav"), *fmt, str(root / "speech.wav")], check=True)
    subprocess.run(["sox", "-n", *fmt, str(root / "lead.wav"), "trim", "0", "1"], check=True)
    subprocess.run(["sox", "-n", *fmt, str(root / "tail.wav"), "trim", "0", "2.5"], check=True)
    subprocess.run(["sox", str(root / "lead.wav"), str(root / "speech.wav"), str(root / "tail.wav"),
                    str(root / "question.wav")], check=True)
    return root / "question.wav"


@pytest.fixture(scope="module")
def camera_y4m(tmp_path_factory):
    """Ten 320x240 frames (a red square on blue) as Y4M, what chromium's fake camera reads."""
    path = tmp_path_factory.mktemp("camera") / "camera.y4m"
    w, h = 320, 240
    rgb = np.zeros((h, w, 3), np.float32)
    rgb[..., 2] = 200
    rgb[60:180, 100:220] = (220, 30, 30)
    y = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    u = (rgb[..., 2] - y) * 0.564 + 128
    v = (rgb[..., 0] - y) * 0.713 + 128
    planes = [y, u[::2, ::2], v[::2, ::2]]
    frame = b"FRAME\n" + b"".join(np.clip(p, 0, 255).astype(np.uint8).tobytes() for p in planes)
    path.write_bytes(f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode() + frame * 10)
    return path


@pytest.fixture(scope="module")
def browser(media_browser, question_wav, camera_y4m):
    return media_browser(question_wav, camera_y4m)


def open_talk(browser, served, viewport=WIDE, locale="en-US", speak: bool = False):
    context = browser.new_context(locale=locale, viewport=viewport, permissions=["microphone", "camera"])
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(served.url)
    page.wait_for_selector("#caption-image")
    name = "语音对话" if locale.startswith("zh") else "Talk"
    if page.get_by_role("tab", name=name, exact=True).count():
        page.get_by_role("tab", name=name, exact=True).click()
    else:
        page.click(".overflow-menu > button")
        page.locator(".overflow-dropdown button", has_text=name).click()
    page.wait_for_selector("#talk-mic .record-button")
    if not speak:
        page.click("#talk-speak input")
        page.wait_for_function("!document.querySelector('#talk-speak input').checked")
    return context, page


def session_conversations():
    from components.talk import CONVERSATIONS

    with CONVERSATIONS.lock:
        return [talk for _, talk in CONVERSATIONS.held.values()]


def answered_turns(page) -> int:
    """Questions in the conversation that have an answer after them."""
    return page.evaluate("""() => {
        const chat = document.querySelector('#talk-chat');
        const bots = chat.querySelectorAll('[data-testid=bot]');
        return [...bots].filter(b => b.innerText.trim().length > 0).length; }""")


def start_listening(page) -> None:
    page.click("#talk-mic .record-button")
    page.wait_for_selector("#talk-mic .record-button", state="detached")  # it became Stop: recording


def stop_listening(context) -> None:
    context.close()


def test_a_spoken_question_with_the_camera_reaches_the_model_with_both(browser, served):
    context, page = open_talk(browser, served)
    try:
        page.click("#talk-camera button:has-text('Click to Access Webcam'), #talk-camera .wrap")
        page.wait_for_selector("#talk-camera video", state="attached")
        page.click("#talk-camera button:has-text('Record')")  # the camera streams its frames
        with Recorder(served.pipes.talk.model) as seen:
            start_listening(page)
            page.wait_for_function("document.querySelector('#talk-chat [data-testid=bot]') !== null",
                                   timeout=WAIT_MS)
            page.wait_for_function("document.querySelector('#talk-chat [data-testid=user] [data-testid^=waveform]') !== null")
        prompt = next(p for p in seen.prompts if p.images)
        assert prompt.audio_frames and 1.0 < prompt.audio_seconds[-1] < 4.5  # the question, not the loop
        assert prompt.text.rindex("<|vision_bos|>") < prompt.text.rindex("<|audio_bos|>")
        shot(page, "talk-camera-en-1280")
    finally:
        stop_listening(context)


def test_two_turns_follow_each_other_without_a_click(browser, served):
    """Record is pressed once; the looped question is heard, answered, heard again, answered again. At 390 px, in
    Chinese."""
    context, page = open_talk(browser, served, viewport=NARROW, locale="zh-CN")
    try:
        start_listening(page)
        deadline = time.monotonic() + 2 * WAIT_MS / 1000
        while not [t for t in session_conversations() if len(t.history) >= 2]:  # two turns answered
            assert time.monotonic() < deadline, "two answers did not come"
            time.sleep(0.5)
        page.wait_for_function("document.querySelectorAll('#talk-chat [data-testid=user] [data-testid^=waveform]')"
                               ".length >= 2")
        assert answered_turns(page) >= 1
        assert "正在" in page.inner_text("#talk-status") or "听到" in page.inner_text("#talk-status")
        shot(page, "talk-zh-390")
    finally:
        stop_listening(context)


def test_speaking_during_an_answer_stops_it_and_the_next_turn_begins(browser, served):
    """With answers spoken (the miniature's talker takes seconds a piece), the looped question comes back while the
    answer is still being spoken: that answer stops (its stop Event set, the talker takes no further step) and the
    new question is answered, without a click."""
    context, page = open_talk(browser, served, speak=True)
    try:
        with Recorder(served.pipes.talk.model) as seen:
            start_listening(page)
            deadline = time.monotonic() + SPEECH_MS / 1000
            while not (mine := [t for t in session_conversations() if t.barged]):
                assert time.monotonic() < deadline, "no answer was cut in on"
                time.sleep(0.2)
            talk = mine[0]
            cut = next(at for kind, at in talk.events if kind == "cut")
            deadline = time.monotonic() + SPEECH_MS / 1000
            # the next turn: heard after the cut, and an answer begun for it
            while not [at for kind, at in list(talk.events) if kind == "answer" and at > cut]:
                assert time.monotonic() < deadline, "the next turn was not answered"
                time.sleep(0.2)
        events = list(talk.events)
        cut = next(at for kind, at in events if kind == "cut")
        following = next(at for kind, at in events if kind == "answer" and at > cut)
        # within one talker step of the cut (a step of the miniature takes milliseconds): none later, until the
        # next answer began
        assert not [s for s in seen.talker_steps if cut + 0.5 < s < following]
        assert len(seen.prompts) >= 2 and not talk.closed.is_set()
        # the page's player (components/talk.py TALK_SCRIPT) was told to go quiet when cut in on
        page.wait_for_function("window.mmdemoTalk.stops >= 1")
        page.wait_for_function("document.querySelectorAll('#talk-chat [data-testid=user] [data-testid^=waveform]')"
                               ".length >= 2")
    finally:
        stop_listening(context)


def test_the_pages_player_plays_pieces_one_after_another_and_a_stop_silences_it(browser, served):
    """TALK_SCRIPT, fed what the server sends (components/talk.piece_message): two pieces of 0.4 s are scheduled
    one right after the other; a stop ends what plays and drops a piece still on its way."""
    from components.talk import piece_message

    tone = (0.2 * np.sin(np.arange(9600) * 2 * np.pi * 440 / 24_000)).astype(np.float32)
    context, page = open_talk(browser, served)
    try:
        page.locator("#talk-mic").dispatch_event("pointerdown")  # the gesture that unlocks sound
        page.evaluate("([a, b]) => { window.mmdemoTalk.play(a); window.mmdemoTalk.play(b); }",
                      [piece_message(tone), piece_message(tone)])
        page.wait_for_function("window.mmdemoTalk.started.length === 2")
        first, second = page.evaluate("window.mmdemoTalk.started")
        assert 350 < second - first < 450  # back to back: the second starts as the first ends
        page.evaluate("([s, c]) => { window.mmdemoTalk.play(c); window.mmdemoTalk.play(s); }",
                      [piece_message(None), piece_message(tone)])
        page.wait_for_timeout(500)
        assert page.evaluate("window.mmdemoTalk.sources.length") == 0 and page.evaluate("window.mmdemoTalk.stops") == 1
    finally:
        context.close()


def test_closing_the_page_frees_its_conversation(browser, served):
    context, page = open_talk(browser, served)
    start_listening(page)
    deadline = time.monotonic() + WAIT_MS / 1000
    while not any(t.history or t.answering for t in session_conversations()):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    before = len(session_conversations())
    context.close()
    deadline = time.monotonic() + 30
    while len(session_conversations()) >= before:
        assert time.monotonic() < deadline, "the closed page's conversation was kept"
        time.sleep(0.5)


# --- a spoken question in the image and video chats ------------------------------------------------------------

def open_chat_tab(browser, served, key: str, viewport=WIDE, locale="en-US"):
    context = browser.new_context(locale=locale, viewport=viewport, permissions=["microphone"])
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(served.url)
    page.wait_for_selector("#caption-image")
    tab(page, key, ZH if locale.startswith("zh") else EN)
    return context, page


def ask_aloud(page, prefix: str, seconds: float = 3.0) -> None:
    """Record `seconds` of the fake microphone (the looped question), then stop: stopping sends it, no click on
    Ask."""
    page.click(f"#{prefix}-mic .record-button")
    page.wait_for_selector(f"#{prefix}-mic .stop-button")
    page.wait_for_timeout(seconds * 1000)
    page.click(f"#{prefix}-mic .stop-button")


def answers(page, prefix: str) -> int:
    return page.evaluate(f"""() => [...document.querySelectorAll('#{prefix}-chat [data-testid=bot]')]
        .filter(b => b.innerText.trim().length > 0).length""")


def spoken_turns(page, prefix: str) -> int:
    """The person's turns the chat shows as a playable recording."""
    return page.locator(f"#{prefix}-chat [data-testid=user] [data-testid^=waveform]").count()


def test_a_spoken_question_about_an_image_reaches_the_model_with_both(browser, served):
    """The image chat's microphone: record, stop, and the question (the recording, with the image) is answered; the
    chat plays it back as the person's turn and the microphone is ready again. A typed follow-up hears it again."""
    context, page = open_chat_tab(browser, served, "tab_vqa")
    try:
        upload(page, "vqa-image", "street.png", "img")
        with Recorder(served.pipes.vqa.model) as seen:
            ask_aloud(page, "vqa")
            page.wait_for_function("document.querySelectorAll('#vqa-chat [data-testid=bot]').length >= 1")
            wait_done(page, "vqa-chat")
        asked = seen.prompts[0]
        assert asked.images and len(asked.audio_seconds) == 1 and 1.0 < asked.audio_seconds[0] < 4.5
        assert asked.text.rindex("<|vision_bos|>") < asked.text.rindex("<|audio_bos|>")  # one turn: image, clip
        assert spoken_turns(page, "vqa") == 1 and answers(page, "vqa") == 1
        page.wait_for_selector("#vqa-mic .record-button")  # emptied: ready for the next one
        with Recorder(served.pipes.vqa.model) as seen:
            page.fill("#vqa-question textarea", "And the roof?")
            page.press("#vqa-question textarea", "Enter")
            page.wait_for_function("document.querySelectorAll('#vqa-chat [data-testid=bot]').length >= 2")
            wait_done(page, "vqa-chat")
        follow = seen.prompts[0]
        assert len(follow.audio_seconds) == 1 and follow.images and "And the roof?" in follow.text
        assert spoken_turns(page, "vqa") == 1  # the earlier turn still plays
        shot(page, "spoken-question-image-en-1280")
    finally:
        context.close()


def test_a_spoken_question_about_a_video_at_390_px_in_chinese(browser, served):
    """On a phone, in Chinese: the video chat's microphone sends a spoken question; the model hears the video's
    sound track and the question, and sees the frames."""
    context, page = open_chat_tab(browser, served, "tab_video", viewport=NARROW, locale="zh-CN")
    try:
        upload(page, "video-input", "street_en.mp4", "video")
        assert page.locator("#video-mic").is_visible()
        with Recorder(served.pipes.video.model) as seen:
            ask_aloud(page, "video")
            page.wait_for_function("document.querySelectorAll('#video-chat [data-testid=bot]').length >= 1")
            wait_done(page, "video-chat")
        asked = seen.prompts[0]
        assert "<|VIDEO|>" in asked.text and len(asked.audio_seconds) == 2  # the sound track and the question
        assert spoken_turns(page, "video") == 1
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= NARROW["width"], "the page scrolls sideways"
        shot(page, "spoken-question-video-zh-390")
    finally:
        context.close()
