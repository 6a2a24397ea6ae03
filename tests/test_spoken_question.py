"""A spoken question beside a picture or a video (issue 28): the image chat's and the video chat's prepare() take the
question as a recording, and one user turn then holds the images (or the video) AND the clip; the model hears it
(no transcript). Observed at the model's input with tests/recorder.py, on the miniature."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.errors import InputError
from pipelines.inputs import SAMPLE_RATE, Audio
from tests.conftest import ASSETS
from tests.recorder import Recorder


def answer_of(pipeline, asked) -> str:
    text = ""
    for text in pipeline.answer(asked):
        pass
    return str(text)


def audio_tokens(recorder, prompt) -> int:
    return prompt.count(recorder.token_id("<|AUDIO|>"))


def test_an_image_and_a_spoken_question_reach_the_model_in_one_turn(pipes):
    asked = pipes.vqa.prepare(str(ASSETS / "street.png"), "", spoken=str(ASSETS / "speech_en.wav"))
    user = [m for m in asked.messages if m["role"] == "user"]
    assert len(user) == 1
    kinds = [p["type"] for p in user[0]["content"]]
    assert kinds == ["image", "audio"]  # nothing typed: no text part
    with Recorder(pipes.vqa.model) as seen:
        answer_of(pipes.vqa, asked)
    prompt = seen.last
    assert len(prompt.images) == 1 and len(prompt.audio_frames) == 1
    assert audio_tokens(seen, prompt) > 0
    assert prompt.audio_seconds[0] == pytest.approx(Audio(asked.messages[-1]["content"][1]["audio"], 0).seconds,
                                                    abs=0.05)
    # the clip comes after the image, inside the same user turn
    text = prompt.text
    assert text.rindex("<|im_start|>user") < text.index("<|vision_bos|>") < text.index("<|audio_bos|>")


def test_typed_and_spoken_together(pipes):
    asked = pipes.vqa.prepare(str(ASSETS / "chart.png"), "Answer in one word.", spoken=str(ASSETS / "speech_zh.wav"))
    assert [p["type"] for p in asked.messages[-1]["content"]] == ["image", "audio", "text"]
    assert asked.question == "Answer in one word."


def test_a_follow_up_hears_its_own_clip_and_keeps_the_image_in_the_first_turn(pipes):
    asked = pipes.vqa.prepare(str(ASSETS / "street.png"), "", [("What is this?", "A street.")],
                              spoken=str(ASSETS / "speech_en.wav"))
    users = [m for m in asked.messages if m["role"] == "user"]
    assert [p["type"] for p in users[0]["content"]] == ["image", "text"]
    assert [p["type"] for p in users[1]["content"]] == ["audio"]


def test_without_a_clip_a_question_must_still_be_typed(pipes):
    with pytest.raises(InputError) as err:
        pipes.vqa.prepare(str(ASSETS / "street.png"), "  ", spoken=None)
    assert err.value.key == "no_question"


def test_a_long_spoken_question_is_trimmed_with_a_notice(tiny_settings):
    from pipelines.tasks import Pipelines

    pipes = Pipelines(tiny_settings(max_audio_seconds=1.0))
    long = (0.1 * np.sin(np.arange(3 * SAMPLE_RATE) / 10)).astype(np.float32)
    asked = pipes.vqa.prepare(str(ASSETS / "street.png"), "", spoken=long)
    assert asked.notices and asked.notices[0][0] == "audio_trimmed"
    assert len(asked.messages[-1]["content"][1]["audio"]) == SAMPLE_RATE


def test_a_bad_recording_is_refused_before_the_model(pipes, tmp_path):
    bad = tmp_path / "q.wav"
    bad.write_bytes(b"RIFF not really a wav")
    with pytest.raises(InputError):
        pipes.vqa.prepare(str(ASSETS / "street.png"), "", spoken=str(bad))


def test_a_video_and_a_spoken_question(pipes):
    """The video's own sound (interleaved with its frames) and the spoken question: two clips the model hears."""
    asked = pipes.video.prepare(str(ASSETS / "street_en.mp4"), "", spoken=str(ASSETS / "speech_zh.wav"))
    assert [p["type"] for p in asked.messages[-1]["content"]] == ["video", "audio"]
    with Recorder(pipes.video.model) as seen:
        answer_of(pipes.video, asked)
    prompt = seen.last
    assert len(prompt.audio_frames) == 2  # the soundtrack, then the question
    spoken = Audio(asked.messages[-1]["content"][1]["audio"], 0).seconds
    assert prompt.audio_seconds[1] == pytest.approx(spoken, abs=0.05)
    assert prompt.text.index("<|VIDEO|>") < prompt.text.rindex("<|audio_bos|>")


def test_a_video_without_its_sound_and_a_spoken_question(pipes):
    asked = pipes.video.prepare(str(ASSETS / "street_en.mp4"), "What is said?", sound=False,
                                spoken=str(ASSETS / "speech_en.wav"))
    with Recorder(pipes.video.model) as seen:
        answer_of(pipes.video, asked)
    assert len(seen.last.audio_frames) == 1


def test_a_talk_turn_holds_the_camera_frame_and_the_clip_and_earlier_turns_keep_their_clips(pipes):
    """The Talk tab's turn (pipelines/tasks/talk.py): the latest frame and the spoken clip in one user turn; the earlier
    turns as their clips and answers, at most --max-history-turns of them."""
    from pipelines.listening import Said

    clip = (0.1 * np.sin(np.arange(SAMPLE_RATE) / 7)).astype(np.float32)
    frame = np.zeros((120, 160, 3), np.uint8)
    earlier = [Said(clip, f"answer {i}") for i in range(pipes.settings.max_history_turns + 2)]
    asked = pipes.talk.prepare(clip, frame, earlier)
    users = [m for m in asked.messages if m["role"] == "user"]
    assert len(users) == pipes.settings.max_history_turns + 1
    assert [p["type"] for p in users[-1]["content"]] == ["image", "audio"]
    assert all([p["type"] for p in u["content"]] == ["audio"] for u in users[:-1])
    with Recorder(pipes.talk.model) as seen:
        answer_of(pipes.talk, asked)
    assert len(seen.last.images) == 1 and len(seen.last.audio_frames) == len(users)
    camera_off = pipes.talk.prepare(clip, None, [])
    assert [p["type"] for p in camera_off.messages[-1]["content"]] == ["audio"]
