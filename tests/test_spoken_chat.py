"""A question asked aloud in the image and video chats (issue 28): the page's own events, spoken to as the browser
does (tests/page.py), on the real app and the tiny checkpoint. tests/test_browser_talk.py records through chromium's
fake microphone; this module checks what a person does around it: a recording alone or with words, Stop handing
it back, retry keeping it, a follow-up hearing it again, a file that is not sound."""

from __future__ import annotations

import pytest

from components.vqa import text_of

from .conftest import ASSETS
from .page import PageSession, chat_of, failed, fn_index
from .recorder import Recorder


@pytest.fixture(scope="module")
def served(apps):
    return apps(max_new_tokens=8)


@pytest.fixture()
def page(served):
    session = PageSession(served.url)
    yield session
    session.close()


def events(demo, tab: str) -> dict:
    media = "vqa-image" if tab == "vqa" else "video-input"
    return {"send": fn_index(demo, "send", media), "answer": fn_index(demo, "answer", media),
            "stopped": fn_index(demo, "stopped", f"{tab}-question"), "retry": fn_index(demo, "retry", f"{tab}-chat")}


def clips(message) -> list[str]:
    """The recordings a chat message holds, as the page gets them (file parts)."""
    parts = message["content"] if isinstance(message["content"], list) else [message["content"]]
    return [p["file"]["path"] for p in parts if isinstance(p, dict) and p.get("type") == "file"]


def test_a_recording_alone_is_a_question_the_model_hears_and_the_chat_plays(served, page):
    """No words typed: the recording is the question. The chat shows it as the person's turn (a file part the page
    plays); the model gets the image and the clip in one user turn; a typed follow-up hears the clip again."""
    fns = events(served.demo, "vqa")
    picture, clip = page.upload(ASSETS / "street.png"), page.upload(ASSETS / "speech_en.wav")
    chat, box, mic = page.call(fns["send"], ["", clip, picture, [], None])
    assert box == "" and mic is None and len(clips(chat[-1])) == 1 and not text_of(chat[-1]["content"]).strip()
    with Recorder(served.pipes.vqa.model) as seen:
        messages = page.wait(page.join(fns["answer"], [picture, None, chat, None, False, "Chelsie"]))
    assert not failed(messages), failed(messages)
    chat = chat_of(messages, chat)
    asked = seen.prompts[0]
    assert asked.images and len(asked.audio_seconds) == 1 and asked.audio_seconds[0] > 1.0
    assert asked.text.rindex("<|vision_bos|>") < asked.text.rindex("<|audio_bos|>")  # one user turn: image, clip
    assert len(clips(chat[0])) == 1 and chat[1]["role"] == "assistant"

    chat, _, _ = page.call(fns["send"], ["And the roof?", None, picture, chat, None])
    with Recorder(served.pipes.vqa.model) as seen:
        messages = page.wait(page.join(fns["answer"], [picture, None, chat, None, False, "Chelsie"]))
    assert not failed(messages), failed(messages)
    chat = chat_of(messages, chat)
    follow = seen.prompts[0]
    assert len(follow.audio_seconds) == 1 and follow.images and "And the roof?" in follow.text
    assert follow.text.index("<|audio_bos|>") < follow.text.index("And the roof?")  # the earlier turn, heard again
    assert len(clips(chat[0])) == 1 and text_of(chat[2]["content"]) == "And the roof?"  # still playable


def test_stop_hands_a_waiting_recording_back_to_the_microphone(served, page):
    """Stop before the answer: the spoken question leaves the conversation, its words go back to the box and its
    recording to the microphone, so that Ask sends it again."""
    fns = events(served.demo, "video")
    video, clip = page.upload(ASSETS / "street_en.mp4"), page.upload(ASSETS / "speech_zh.wav")
    chat, _, _ = page.call(fns["send"], ["Who speaks?", clip, video, [], None])
    back = page.predict(fns["stopped"], [chat, None, "", None])  # (run, stop, chat, box, microphone, notice)
    assert back[2] == [] and back[3] == "Who speaks?"
    assert back[4] and back[4]["path"] == clips(chat[-1])[0]


def test_retry_asks_the_spoken_question_again_with_its_recording(served, page):
    fns = events(served.demo, "vqa")
    picture, clip = page.upload(ASSETS / "chart.png"), page.upload(ASSETS / "speech_en.wav")
    chat, _, _ = page.call(fns["send"], ["In one word?", clip, picture, [], None])
    messages = page.wait(page.join(fns["answer"], [picture, None, chat, None, False, "Chelsie"]))
    chat = chat_of(messages, chat)
    again = page.call(fns["retry"], [chat, None], {"index": 1, "value": text_of(chat[1]["content"])})
    assert len(again[0]) == 1 and len(clips(again[0][0])) == 1 and text_of(again[0][0]["content"]) == "In one word?"


def test_a_file_that_is_not_sound_is_refused_when_sent_and_nothing_is_asked(served, page, tmp_path):
    fns = events(served.demo, "vqa")
    notes = tmp_path / "question.wav"
    notes.write_bytes(b"not a sound at all, only words" * 10)
    picture, clip = page.upload(ASSETS / "street.png"), page.upload(notes)
    messages = page.wait(page.join(fns["send"], ["", clip, picture, [], None]))
    errors = failed(messages)
    assert errors and "audio" in errors[0]["output"]["error"].lower(), messages


def test_the_microphone_shows_only_where_the_checkpoint_hears(tiny_settings):
    """With the image chat on Janus (which hears nothing), its microphone is not offered; the video chat's is."""
    from app import build_demo
    from pipelines.tasks import Pipelines

    pipes = Pipelines(tiny_settings(vqa_model=tiny_settings().image_model))
    demo = build_demo(pipes)
    shown = {b.elem_id: b.visible for b in demo.blocks.values() if getattr(b, "elem_id", None) in ("vqa-mic", "video-mic")}
    assert shown == {"vqa-mic": False, "video-mic": True}


def test_the_api_takes_a_spoken_question(served):
    """/vqa's `spoken_question`: the recording is the question (nothing typed); the conversation sent back holds it."""
    from gradio_client import handle_file

    client = served.new_client()
    with Recorder(served.pipes.vqa.model) as seen:
        history, box = client.predict(handle_file(str(ASSETS / "street.png")), "", [],
                                      spoken_question=handle_file(str(ASSETS / "speech_en.wav")), api_name="/vqa")
    assert box == "" and [m["role"] for m in history] == ["user", "assistant"]
    assert len(seen.prompts[0].audio_seconds) == 1 and seen.prompts[0].images


def test_a_checkpoint_that_cannot_hear_says_so(tiny_settings):
    from pipelines.errors import InputError
    from pipelines.tasks import Pipelines

    pipes = Pipelines(tiny_settings(vqa_model=tiny_settings().image_model))
    with pytest.raises(InputError) as refused:
        pipes.vqa.prepare(str(ASSETS / "street.png"), "", spoken=str(ASSETS / "speech_en.wav"))
    assert refused.value.key == "cannot_hear" and "type" in refused.value.message("en")
