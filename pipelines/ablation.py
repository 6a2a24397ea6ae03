"""What each input contributed (消融对比): the same question again with one input left out, and the original
answer's likelihood with and without it.

Built on the kept request of the last answer (components/explain.py keeps its chat, its processor output and
the answer's token ids): `without` takes one input out of that chat (the images, a clip, a video's sound or its
frames, the earlier turns), the task's own `request_of` runs the processor once over what is left, the task's
own `answer` answers it (greedy, as the tab does), and `answer_score` scores the ORIGINAL answer's tokens
under both prompts, one forward pass each (teacher forcing: the answer's own ids after the prompt, the
log-probability the model gives each of them). The pass holds its model alone (registry.ModelLock), as the
attention view's does: the Omni thinker keeps position offsets on the model between steps.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from .errors import InputError
from .generation import Answer, as_model_error, replay_positions
from .loaded import LoadedModel
from .video_input import Video

# What can be left out, in the order the view offers them.
INPUTS = ("image", "audio", "video", "video_sound", "video_frames", "history")


def _parts(messages: list[dict]):
    """(turn index, part index, part) of every content part, system prompt included."""
    for i, turn in enumerate(messages):
        if isinstance(turn["content"], list):
            for j, part in enumerate(turn["content"]):
                yield i, j, part


def _videos(messages: list[dict]) -> list[Video]:
    return [p["video"] for _, _, p in _parts(messages) if p.get("type") == "video"]


def choices(messages: list[dict]) -> list[str]:
    """What this conversation holds that can be left out: `INPUTS` that apply, in their order. A video with its
    sound offers its sound and its frames apart; one without sound, the video whole."""
    kinds = {p.get("type") for _, _, p in _parts(messages)}
    videos = _videos(messages)
    heard = any(v.audio is not None for v in videos)
    found = {"image": "image" in kinds, "audio": "audio" in kinds, "video": bool(videos) and not heard,
             "video_sound": heard, "video_frames": heard,
             "history": any(turn["role"] == "assistant" for turn in messages)}
    return [k for k in INPUTS if found[k]]


def without(messages: list[dict], what: str) -> list[dict]:
    """A copy of the chat with `what` left out (the media themselves are shared, not copied). Refused
    (InputError) when the chat does not hold it."""
    if what not in choices(messages):
        raise InputError("ablation_absent", choices=", ".join(choices(messages)) or "-")
    turns = [dict(turn, content=list(turn["content"]) if isinstance(turn["content"], list) else turn["content"])
             for turn in messages]
    if what == "history":
        # The media rode in the first kept turn (tasks/chat.py): they go with the question, as in a first turn.
        system = [t for t in turns if t["role"] == "system"]
        users = [t for t in turns if t["role"] == "user"]
        media = [p for t in users[:-1] if isinstance(t["content"], list) for p in t["content"] if p.get("type") != "text"]
        last = dict(users[-1], content=media + list(users[-1]["content"]))
        return [*system, last]
    for turn in turns:
        if not isinstance(turn["content"], list):
            continue
        kept = []
        for part in turn["content"]:
            kind = part.get("type")
            if kind == what:
                continue
            if kind == "video" and what == "video_sound":
                part = dict(part, video=dataclasses.replace(part["video"], audio=None))
            elif kind == "video" and what == "video_frames":
                if part["video"].audio is None:
                    continue
                part = {"type": "audio", "audio": part["video"].audio}  # the sound alone, as a clip
            kept.append(part)
        turn["content"] = kept
    return turns


@dataclass
class Score:
    """The original answer's log-likelihood under one prompt: summed over its tokens, and how many."""

    total: float
    tokens: int

    @property
    def mean(self) -> float | None:
        """Mean log-probability per token (nats); None for an empty answer."""
        return self.total / self.tokens if self.tokens else None

    def as_dict(self) -> dict:
        mean = self.mean
        return {"total_logprob": round(self.total, 4), "tokens": self.tokens,
                "mean_logprob": None if mean is None else round(mean, 4),
                "perplexity": None if mean is None else round(math.exp(-mean), 4)}


def answer_score(loaded: LoadedModel, messages: list[dict], answer_ids: list[int], inputs=None) -> Score:
    """log p(answer | prompt) by teacher forcing: one forward pass over the prompt (`inputs`, the request's
    processor output, or `messages` processed again) followed by the answer's own ids, the logits kept for the
    answer's positions only (`logits_to_keep`: not the whole vocabulary for every prompt token)."""
    from .explain import conversation, placeholder_ids

    if not answer_ids:
        return Score(0.0, 0)
    if placeholder_ids(loaded) & set(answer_ids):
        raise InputError("explain_placeholder")
    full, prompt_inputs = conversation(loaded, messages, answer_ids, inputs)
    positions = replay_positions(loaded.generator, prompt_inputs, full["input_ids"], full.get("attention_mask"))
    if positions is not None:
        full["position_ids"] = positions
    n = len(answer_ids)
    with loaded.lock.alone():
        try:
            with torch.inference_mode():
                out = loaded.generator(**full, use_cache=False, logits_to_keep=n + 1)
        except (torch.cuda.OutOfMemoryError, MemoryError) as exc:
            raise as_model_error(exc) from exc
    logits = out.logits[0, -(n + 1):-1].float()  # position i predicts token i + 1
    target = torch.tensor(answer_ids, device=logits.device)
    picked = torch.log_softmax(logits, dim=-1).gather(1, target[:, None])[:, 0]
    return Score(float(picked.sum()), n)


# -- the two answers' words ----------------------------------------------------------------------------------

# A unit of the diff: one CJK character (Chinese has no spaces; a character is its smallest word), a run of
# letters or digits, a run of spaces, or one other sign.
_UNIT = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0002fa1f]"
                   r"|[^\W\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]+|\s+|.", re.S)


def units(text: str) -> list[str]:
    return _UNIT.findall(text)


def diff_words(before: str, after: str) -> list[tuple[str, str | None]]:
    """(text, mark) pieces that read as `after` with `before`'s words struck through: None unchanged,
    "-" only in `before`, "+" only in `after`; by word in English, by character in Chinese."""
    a, b = units(before), units(after)
    out: list[tuple[str, str | None]] = []

    def add(text: str, mark):
        if not text:
            return
        if out and out[-1][1] == mark:
            out[-1] = (out[-1][0] + text, mark)
        else:
            out.append((text, mark))

    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            add("".join(a[i1:i2]), None)
        else:
            add("".join(a[i1:i2]), "-")
            add("".join(b[j1:j2]), "+")
    return out


def similarity(before: str, after: str) -> float:
    """Share of the two answers' units in common (difflib's ratio): 1.0 the same answer."""
    return difflib.SequenceMatcher(None, units(before), units(after), autojunk=False).ratio()


@dataclass
class Ablation:
    """One input left out: both answers, their words compared, the original answer's score with and without."""

    left_out: str
    original: str
    answer: str
    with_input: Score
    without_input: Score
    diff: list = field(default_factory=list)
    prompt_tokens: tuple[int, int] = (0, 0)  # the prompt's length with and without the input

    @property
    def change(self) -> float | None:
        """Mean log-probability per token without the input minus with it: below 0, the input made the
        original answer likelier."""
        if self.with_input.mean is None or self.without_input.mean is None:
            return None
        return self.without_input.mean - self.with_input.mean

    def as_dict(self) -> dict:
        change = self.change
        return {"left_out": self.left_out, "original": self.original, "answer": self.answer,
                "similarity": round(similarity(self.original, self.answer), 4),
                "with_input": self.with_input.as_dict(), "without_input": self.without_input.as_dict(),
                "mean_logprob_change": None if change is None else round(change, 4),
                "total_logprob_change": round(self.without_input.total - self.with_input.total, 4),
                "prompt_tokens": {"with_input": self.prompt_tokens[0], "without_input": self.prompt_tokens[1]},
                "diff": [[text, mark] for text, mark in self.diff]}


def run(pipeline, messages: list[dict], answer_ids: list[int], inputs, what: str,
        stop: threading.Event | None = None) -> Iterator:
    """Answer the kept chat again without `what`, streaming the new Answer, then yield the Ablation.

    `messages`, `inputs`, `answer_ids`: the kept request of the original answer (its chat, its processor
    output on the CPU, its token ids). The new request goes through the task's own `request_of` (its
    processor output, computed once) and `answer`; both scores come after the new answer, each one pass."""
    if pipeline.remote:
        raise InputError("explain_none")
    ablated = without(copy.copy(messages), what)
    request = pipeline.request_of(ablated)
    answer = Answer("")
    for answer in pipeline.answer(request, stop=stop):
        yield answer
    if stop is not None and stop.is_set():
        return
    loaded = pipeline.model
    original = loaded.tokenizer.decode(answer_ids, skip_special_tokens=True)
    with_input = answer_score(loaded, messages, answer_ids, inputs)
    without_input = answer_score(loaded, ablated, answer_ids, request.inputs)
    lengths = (int(inputs["input_ids"].shape[-1]) if inputs is not None else 0,
               int(request.inputs["input_ids"].shape[-1]))
    yield Ablation(what, original, str(answer), with_input, without_input, diff_words(original, str(answer)),
                   lengths)
