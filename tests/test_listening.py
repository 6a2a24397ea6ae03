"""The Talk tab's listening (issue 28): Silero VAD's decision on clips of speech, silence and noise, made here with
espeak-ng and sox, fed in the browser's way (48 kHz chunks of 0.2 s), and the conversation's barge-in."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from pipelines.listening import (END_SILENCE_SECONDS, Conversation, Listener, VoiceDetector, load_detector,
                                 to_16k)

RATE = 48_000  # what a browser's microphone gives
CHUNK = 0.2  # seconds a chunk, as the Talk tab streams them

SENTENCE = "Hello, what do you see in this picture? Please describe it to me."
SENTENCE_ZH = "你好，请告诉我图片里有什么。"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        from tests.requires import unavailable

        unavailable(f"{name} not found (apt-get install {name})")
    return path


def make(path, source: str, *effects: str) -> None:
    """sox SOURCE (a file, or -n: nothing) -> a 48 kHz 16-bit mono wav at `path`, through `effects`."""
    subprocess.run([tool("sox"), source, "-r", str(RATE), "-c", "1", "-b", "16", str(path), *effects],
                   check=True, capture_output=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """speech (en, zh), silence, white and pink noise, speech under noise, two questions with a pause."""
    root = tmp_path_factory.mktemp("clips")
    for name, text, voice in (("en", SENTENCE, "en"), ("zh", SENTENCE_ZH, "cmn")):
        subprocess.run([tool("espeak-ng"), "-v", voice, "-w", str(root / f"{name}-raw.wav"), text], check=True)
        make(root / f"{name}.wav", str(root / f"{name}-raw.wav"))
    make(root / "silence.wav", "-n", "trim", "0", "40")
    make(root / "white.wav", "-n", "synth", "20", "whitenoise", "vol", "0.3")
    make(root / "pink.wav", "-n", "synth", "20", "pinknoise", "vol", "0.5")
    make(root / "pause.wav", "-n", "trim", "0", "1.5")
    make(root / "lead.wav", "-n", "trim", "0", "1")
    # speech at about 20 dB over pink noise
    make(root / "quiet-pink.wav", "-n", "synth", "6", "pinknoise", "vol", "0.02")
    subprocess.run([tool("sox"), "-m", str(root / "quiet-pink.wav"),
                    "|sox " + str(root / "lead.wav") + " " + str(root / "en.wav") + " -p",
                    str(root / "noisy.wav")], check=True, capture_output=True)
    subprocess.run([tool("sox"), str(root / "lead.wav"), str(root / "en.wav"), str(root / "pause.wav"),
                    str(root / "zh.wav"), str(root / "pause.wav"), str(root / "two.wav")], check=True)
    return root


def read(path) -> np.ndarray:
    data, rate = sf.read(str(path), dtype="int16")
    assert rate == RATE
    return data


def feed(listener: Listener, samples: np.ndarray):
    """The clip in 0.2 s chunks, as the page streams it; every Heard."""
    step = int(CHUNK * RATE)
    return [listener.hear(RATE, samples[i:i + step]) for i in range(0, len(samples), step)]


def turns(heards) -> list:
    return [t for h in heards for t in h.turns]


def speech_seconds(path) -> float:
    return len(read(path)) / RATE


def test_the_detector_loads_from_the_wheel_without_changing_torch_threads():
    """silero_vad's own import calls torch.set_num_threads(1) for the whole process; the app loads the model file
    itself and leaves torch's threads as they were."""
    import torch

    before = torch.get_num_threads()
    load_detector()
    assert torch.get_num_threads() == before
    import sys

    assert "silero_vad.model" not in sys.modules


@pytest.mark.parametrize("name", ["en", "zh"])
def test_one_spoken_question_is_one_turn(clips, name):
    silence = read(clips / "lead.wav")
    heards = feed(Listener(30), np.concatenate([silence, read(clips / f"{name}.wav"), silence, silence]))
    got = turns(heards)
    assert len(got) == 1 and not got[0].cut
    spoken = speech_seconds(clips / f"{name}.wav")
    # the turn holds the speech (espeak's own leading and trailing quiet may be left out), not the silence around it
    assert spoken - 0.8 < got[0].seconds < spoken + END_SILENCE_SECONDS + 0.5
    assert sum(h.began for h in heards) == 1
    began = next(i for i, h in enumerate(heards) if h.began)
    ended = next(i for i, h in enumerate(heards) if h.turns)
    # speech began within the first half second of it, after the 1 s lead; the turn ended within a second of it
    assert 1.0 <= began * CHUNK <= 1.8
    assert ended * CHUNK <= 1.0 + spoken + 1.0


def test_silence_is_never_a_turn_and_a_long_one_is_said_once(clips):
    heards = feed(Listener(30), read(clips / "silence.wav"))
    assert not turns(heards) and not any(h.began for h in heards)
    assert sum(h.idle for h in heards) == 1  # 40 s: said once, at 30 s


@pytest.mark.parametrize("name", ["white", "pink"])
def test_steady_noise_is_not_speech(clips, name):
    heards = feed(Listener(30), read(clips / f"{name}.wav"))
    assert not turns(heards) and not any(h.began for h in heards)


def test_speech_under_noise_is_heard(clips):
    got = turns(feed(Listener(30), np.concatenate([read(clips / "noisy.wav"), read(clips / "lead.wav")])))
    assert len(got) == 1


def test_two_questions_with_a_pause_are_two_turns(clips):
    got = turns(feed(Listener(30), read(clips / "two.wav")))
    assert len(got) == 2


def test_a_monologue_is_cut_at_the_limit_and_listening_goes_on(clips):
    """Speech with no pause past --max-audio-seconds: a turn of that length, marked cut, then listening goes on."""
    speech = read(clips / "en.wav")
    got = turns(feed(Listener(max_seconds=2.0), np.concatenate([speech, read(clips / "lead.wav")])))
    assert got and got[0].cut and got[0].seconds <= 2.0 + 0.05
    assert all(t.seconds <= 2.05 for t in got)


def test_chunks_of_any_shape_become_16k_mono():
    stereo = (np.random.default_rng(0).standard_normal((4800, 2)) * 1000).astype(np.int16)
    out = to_16k(48_000, stereo)
    assert out.dtype == np.float32 and out.shape == (1600,) and np.abs(out).max() <= 1.0
    assert to_16k(16_000, np.zeros(0, np.int16)).shape == (0,)


def test_a_detector_carries_its_state_per_conversation(clips):
    """Two listeners never share recurrent state: one in the middle of speech does not make the other hear it."""
    a, b = VoiceDetector(), VoiceDetector()
    assert a.model is not b.model
    speech = to_16k(RATE, read(clips / "en.wav"))
    silence = np.zeros(16_000, np.float32)
    a.probabilities(speech[:16_000])
    assert max(b.probabilities(silence)) < 0.35


def test_speaking_over_an_answer_stops_it_and_is_answered_next(clips):
    """Barge-in: speech that begins while an answer runs sets that answer's stop Event; the new turn waits."""
    talk = Conversation(max_seconds=30, max_turns=4)
    lead, speech = read(clips / "lead.wav"), read(clips / "en.wav")
    step = int(CHUNK * RATE)
    samples = np.concatenate([lead, speech, lead])
    first = []
    for i in range(0, len(samples), step):
        first += talk.hear(RATE, samples[i:i + step]).turns
    turn = talk.next_turn()
    assert turn is not None and talk.next_turn() is None
    stop = talk.begin_answer()
    for i in range(0, len(lead), step):  # silence while it answers: it goes on
        talk.hear(RATE, lead[i:i + step])
    assert not stop.is_set()
    for i in range(0, len(speech), step):
        talk.hear(RATE, speech[i:i + step])
        if stop.is_set():
            break
    assert stop.is_set() and talk.barged == 1
    talk.end_answer()
    talk.done(turn, "an answer cut short")
    for i in range(0, len(samples), step):
        talk.hear(RATE, samples[i:i + step])
    assert talk.next_turn() is not None
    assert [s.answer for s in talk.history] == ["an answer cut short"]


def test_close_stops_the_answer_and_drops_what_waits(clips):
    talk = Conversation(max_seconds=30, max_turns=4)
    feed_all = np.concatenate([read(clips / "lead.wav"), read(clips / "en.wav"), read(clips / "lead.wav")])
    talk.hear(RATE, feed_all)
    stop = talk.begin_answer()
    talk.close()
    assert stop.is_set() and talk.next_turn() is None
    assert talk.begin_answer().is_set()  # an answer begun after close ends at once


def test_history_keeps_the_last_turns(clips):
    talk = Conversation(max_seconds=30, max_turns=2)
    from pipelines.listening import Turn

    for i in range(5):
        talk.done(Turn(np.zeros(1600, np.float32)), f"answer {i}")
    assert [s.answer for s in talk.history] == ["answer 3", "answer 4"]


def test_a_second_tab_of_the_same_person_takes_over_listening():
    from pipelines.listening import Conversations

    held = Conversations(capacity=3)
    first = held.open("tab1", "me", 30, 4)
    stop = first.begin_answer()
    second = held.open("tab2", "me", 30, 4)
    assert first.closed.is_set() and first.taken and stop.is_set()  # its answer ends, its slot frees
    assert held.get("tab1") is None and held.was_taken("tab1") and held.get("tab2") is second
    other = held.open("tab3", "someone else", 30, 4)
    assert not second.closed.is_set() and held.get("tab3") is other
    assert held.open("tab1", "me", 30, 4) is not first and second.closed.is_set()  # started again: back
    for i in range(5):
        held.open(f"more{i}", f"person{i}", 30, 4)
    assert len(held) == 3  # bounded: the oldest closed
    held.close("more4")
    assert held.get("more4") is None
