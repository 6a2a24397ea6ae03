"""Listening (issue 28): when has the person finished speaking, and did they start speaking over an answer?

A conversation (the Talk tab) hears the microphone as a stream of short chunks. Each chunk goes through a voice
activity detector, Silero VAD (`silero-vad` on PyPI, MIT; its TorchScript model ships in the wheel, 2 MB, and
runs on plain torch, a few ms per 32 ms window on one CPU core), and a small state machine (`Listener`) turns the
speech probabilities into events: speech began (an answer being spoken is then cut: barge-in), and a turn ended
(the clip of what was said, to be answered). `Conversation` holds one person's conversation between chunks: the
listener, the turns waiting to be answered, the earlier turns and the latest camera frame, and the `stop` Event
of the answer in progress (the same Event the project's Stop sets through generation and speech).

No gradio here: the Talk tab (components/talk.py) feeds chunks in and shows what comes out.

The silero_vad package itself is never imported: its module sets torch.set_num_threads(1) for the whole
process on import, which would slow every model on a CPU. Its TorchScript file is loaded directly.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .inputs import SAMPLE_RATE

WINDOW = 512  # samples at 16 kHz (32 ms): the only window Silero VAD v5+ takes at this rate
SPEECH = 0.5  # a window at or above this probability is speech (Silero's default threshold)
QUIET = 0.35  # ...and speech goes on until it falls below this (Silero's default: threshold - 0.15)
MIN_SPEECH_SECONDS = 0.25  # shorter bursts (a cough, a click, a door) are not a turn and do not cut an answer
END_SILENCE_SECONDS = 0.5  # this much quiet after speech ends the turn (espeak-ng pauses 0.4 s at a "?"; OpenAI's server VAD 0.5 s)
PAD_SECONDS = 0.2  # kept before the first speech window: the first syllable's onset is often under the threshold
IDLE_NOTICE_SECONDS = 30.0  # listening this long without hearing speech says so (a muted microphone, say)


def model_path() -> str:
    """The TorchScript model inside the installed silero-vad wheel (found without importing the package)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("silero-vad is not installed (pip install -r requirements.txt)")
    return os.path.join(list(spec.submodule_search_locations)[0], "data", "silero_vad.jit")


_MODEL_BYTES: bytes | None = None
_MODEL_LOCK = threading.Lock()


def load_detector():
    """A fresh Silero VAD model: it carries its recurrent state between windows, so each conversation has its
    own. The 2 MB file is read once; each load from memory takes milliseconds."""
    global _MODEL_BYTES
    import io

    import torch

    with _MODEL_LOCK:
        if _MODEL_BYTES is None:
            with open(model_path(), "rb") as f:
                _MODEL_BYTES = f.read()
    model = torch.jit.load(io.BytesIO(_MODEL_BYTES), map_location="cpu")
    model.eval()
    return model


class VoiceDetector:
    """Speech probability of each 32 ms window of a 16 kHz stream, fed in chunks of any length."""

    def __init__(self):
        self.model = load_detector()
        self.rest = np.zeros(0, np.float32)

    def probabilities(self, samples: np.ndarray) -> list[float]:
        import torch

        samples = np.concatenate([self.rest, np.asarray(samples, np.float32)])
        n = len(samples) // WINDOW * WINDOW
        self.rest = samples[n:]
        if not n:
            return []
        out = []
        with torch.inference_mode():
            for start in range(0, n, WINDOW):
                out.append(float(self.model(torch.from_numpy(samples[start:start + WINDOW].copy()), SAMPLE_RATE)))
        return out


def to_16k(rate: int, data: np.ndarray) -> np.ndarray:
    """A chunk as the browser sends it (any rate, int16 or float, mono or channels last) -> 16 kHz mono float32."""
    data = np.asarray(data)
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / max(1, np.iinfo(data.dtype).max)
    if data.ndim == 2:
        data = data.mean(axis=1) if data.shape[1] <= 8 else data.mean(axis=0)
    data = np.nan_to_num(data.astype(np.float32, copy=False))
    if rate != SAMPLE_RATE and len(data):
        from scipy.signal import resample_poly

        g = np.gcd(int(rate), SAMPLE_RATE)
        data = resample_poly(data, SAMPLE_RATE // g, int(rate) // g).astype(np.float32)
    return data


@dataclass
class Turn:
    """What the person said, from just before their first word to the end of their last (16 kHz mono)."""

    samples: np.ndarray = field(repr=False)
    cut: bool = False  # it went on past max_seconds: ended there
    ended_at: float = 0.0  # time.monotonic() when the listener decided it had ended

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


@dataclass
class Heard:
    """What one chunk changed: speech began in it (`began`), turns that ended in it, and whether the listener
    has heard nothing for long (`idle`, said once per quiet stretch)."""

    began: bool = False
    turns: list[Turn] = field(default_factory=list)
    idle: bool = False


class Listener:
    """Turn-taking on one stream: speech probabilities -> "speech began" and "turn ended" events.

    A turn begins after MIN_SPEECH_SECONDS of speech and ends after END_SILENCE_SECONDS below QUIET, or at
    `max_seconds` (a monologue: it is answered up to there and listening goes on). Endless silence and
    steady noise (which the detector does not take for speech) never make a turn; memory holds at most the
    current turn and PAD_SECONDS before it."""

    def __init__(self, max_seconds: float = 30.0, detector: VoiceDetector | None = None,
                 end_silence: float = END_SILENCE_SECONDS):
        self.detector = detector or VoiceDetector()
        self.max_windows = max(1, int(max_seconds * SAMPLE_RATE / WINDOW))
        self.end_windows = max(1, round(end_silence * SAMPLE_RATE / WINDOW))
        self.min_windows = max(1, round(MIN_SPEECH_SECONDS * SAMPLE_RATE / WINDOW))
        self.idle_windows = round(IDLE_NOTICE_SECONDS * SAMPLE_RATE / WINDOW)
        self.pad = deque(maxlen=max(1, round(PAD_SECONDS * SAMPLE_RATE / WINDOW)))  # windows before speech
        self.windows: list[np.ndarray] = []  # the turn so far (speech, and pauses inside it)
        self.voiced = 0  # speech windows in the current candidate turn
        self.quiet = 0  # windows below QUIET since the last speech
        self.speaking = False  # inside a candidate turn
        self.began = False  # the candidate has lasted MIN_SPEECH_SECONDS: it is a turn
        self.idle = 0  # windows since the last speech (for the idle notice)
        self.pending = np.zeros(0, np.float32)  # samples of a window not yet complete

    def hear(self, rate: int, data: np.ndarray) -> Heard:
        """Feed one chunk (any rate); what it changed."""
        samples = np.concatenate([self.pending, to_16k(rate, data)])
        n = len(samples) // WINDOW * WINDOW
        self.pending = samples[n:]
        heard = Heard()
        probs = self.detector.probabilities(samples[:n])
        for i, p in enumerate(probs):
            self._window(samples[i * WINDOW:(i + 1) * WINDOW], p, heard)
        return heard

    def _window(self, window: np.ndarray, p: float, heard: Heard) -> None:
        if not self.speaking:
            if p >= SPEECH:
                self.speaking, self.voiced, self.quiet = True, 1, 0
                self.windows = [*self.pad, window]
                self.pad.clear()
            else:
                self.pad.append(window)
                self.idle += 1
                if self.idle == self.idle_windows:
                    heard.idle = True
            return
        self.windows.append(window)
        if p >= QUIET:
            self.quiet = 0
            if p >= SPEECH:
                self.voiced += 1
        else:
            self.quiet += 1
        if not self.began and self.voiced >= self.min_windows:
            self.began = heard.began = True
        if self.quiet >= self.end_windows:
            if self.began:  # the trailing quiet is kept short: a tail of END_SILENCE is enough
                heard.turns.append(self._turn(cut=False))
            self._reset()
        elif len(self.windows) >= self.max_windows:
            if self.began:
                heard.turns.append(self._turn(cut=True))
            self._reset()

    def _turn(self, cut: bool) -> Turn:
        return Turn(np.concatenate(self.windows), cut=cut, ended_at=time.monotonic())

    def _reset(self) -> None:
        self.speaking = self.began = False
        self.windows, self.voiced, self.quiet, self.idle = [], 0, 0, 0


@dataclass
class Said:
    """An earlier turn of a conversation: the clip the person spoke (16 kHz), and the answer's text."""

    clip: np.ndarray = field(repr=False)
    answer: str


class Conversation:
    """One person's spoken conversation, between the microphone's chunks and the answers.

    The microphone's handler calls `hear`: a turn that ends waits in `waiting` to be answered; speech that
    begins while an answer is in progress sets that answer's `stop` (barge-in: generation and speech end
    within one step) and the person's new turn is answered next. The answering handler takes the turns with
    `next_turn`, answers them with `begin_answer`'s Event, and records each with `done`. `closed` ends
    both (the page went away, Stop of the conversation, another tab took over)."""

    MAX_WAITING = 2  # turns heard while one is answered: more are dropped (the oldest first)

    def __init__(self, max_seconds: float, max_turns: int):
        self.listener: Listener | None = None
        self.max_seconds, self.max_turns = max_seconds, max_turns
        self.waiting: deque[Turn] = deque(maxlen=self.MAX_WAITING)
        self.history: list[Said] = []
        self.frame = None  # the latest camera frame (a path or an image), or None with the camera off
        self.stop: threading.Event | None = None  # the answer in progress, if any
        self.answering = False
        self.barged = 0  # answers cut by the person speaking
        self.events: deque[tuple[str, float]] = deque(maxlen=64)  # ("turn"|"cut"|"answer", time.monotonic())
        self.shown: list = []  # the conversation as the page shows it (the component's messages)
        self.taken = False  # closed because another tab of the same person started listening
        self.closed = threading.Event()
        self.lock = threading.Lock()

    def hear(self, rate: int, data: np.ndarray) -> Heard:
        """One chunk of the microphone's stream."""
        if self.listener is None:
            self.listener = Listener(self.max_seconds)
        heard = self.listener.hear(rate, data)
        with self.lock:
            if heard.began and self.answering and self.stop is not None and not self.stop.is_set():
                self.stop.set()
                self.barged += 1
                self.events.append(("cut", time.monotonic()))
            self.waiting.extend(heard.turns)
            self.events.extend(("turn", turn.ended_at) for turn in heard.turns)
        return heard

    def next_turn(self) -> Turn | None:
        with self.lock:
            return self.waiting.popleft() if self.waiting else None

    def begin_answer(self) -> threading.Event:
        """The Event that ends the answer about to start (set by barge-in, Stop or close)."""
        with self.lock:
            self.stop = threading.Event()
            if self.closed.is_set():
                self.stop.set()
            self.answering = True
            self.events.append(("answer", time.monotonic()))
            return self.stop

    def end_answer(self) -> None:
        with self.lock:
            self.answering = False

    def done(self, turn: Turn, answer: str) -> None:
        """Keep the turn (its clip: the model hears earlier questions again; no transcript exists) and its answer,
        the last max_turns of them."""
        with self.lock:
            self.history = [*self.history, Said(turn.samples, answer)][-self.max_turns:] if self.max_turns > 0 else []

    def close(self) -> None:
        """End listening and the answer in progress; the turns not answered are dropped."""
        with self.lock:
            self.closed.set()
            if self.stop is not None:
                self.stop.set()
            self.waiting.clear()
            self.listener = None

    def restart(self) -> None:
        """A new conversation (the page's New conversation): the history goes, listening goes on afresh."""
        with self.lock:
            if self.stop is not None:
                self.stop.set()
            self.waiting.clear()
            self.history, self.shown = [], []
            self.closed.clear()
            self.listener = None


class Conversations:
    """The conversations being held, by page session: at most `capacity` (the oldest closed first), and one
    listening per person (`person`: who the page says it is, e.g. address and browser): a second tab of the same
    person that starts listening takes over, and the first is closed (both would hear the same voice and answer it
    twice); it stays closed (`taken`) until its own microphone is started again. A page that goes away closes its
    own (`close`), which stops its answer and frees its model slot."""

    def __init__(self, capacity: int = 64):
        self.capacity = capacity
        self.held: dict[str, tuple[str, Conversation]] = {}
        self.taken: dict[str, None] = {}  # sessions another tab took over (bounded like `held`)
        self.lock = threading.Lock()

    def open(self, session: str, person: str, max_seconds: float, max_turns: int) -> Conversation:
        """The session's conversation (made on first use), listening now: any other conversation of `person`
        is closed and marked taken."""
        with self.lock:
            self.taken.pop(session, None)
            held = self.held.pop(session, None)
            talk = held[1] if held is not None and not held[1].closed.is_set() else None
            if talk is None:
                talk = Conversation(max_seconds, max_turns)
                if held is not None:  # a closed one (Stop): its conversation goes on
                    talk.history, talk.shown = held[1].history, held[1].shown
            for other, (who, conversation) in list(self.held.items()):
                if who == person:
                    conversation.taken = True
                    conversation.close()
                    del self.held[other]
                    self.taken[other] = None
            self.held[session] = (person, talk)  # last in: the most recently opened
            while len(self.held) > self.capacity:
                self.held.pop(next(iter(self.held)))[1].close()
            while len(self.taken) > self.capacity:
                self.taken.pop(next(iter(self.taken)))
            return talk

    def get(self, session: str) -> Conversation | None:
        with self.lock:
            held = self.held.get(session)
            return held[1] if held else None

    def was_taken(self, session: str) -> bool:
        with self.lock:
            return session in self.taken

    def close(self, session: str) -> None:
        """The page went away: its answer stops, its turns go."""
        with self.lock:
            held = self.held.pop(session, None)
            self.taken.pop(session, None)
        if held is not None:
            held[1].close()

    def __len__(self) -> int:
        return len(self.held)
