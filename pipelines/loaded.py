"""A checkpoint in memory and who may use it at once: the leaf every other model module imports
(registry loads it, generation and speech run it, explain reads it), so none of them imports another."""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Family:
    """What differs between architectures; everything else is shared code."""

    model_class: str            # transformers class that loads the hub checkpoint
    modalities: frozenset       # inputs it understands ("image", "audio", "video") and "draw" if it makes images
    load_kwargs: dict = field(default_factory=dict)
    text_generate_kwargs: dict = field(default_factory=dict)
    system_prompt: str | None = None
    text_module: str | None = None  # attribute holding the text generator, if not the model itself
    speaks: bool = False  # the checkpoint also holds a talker and token2wav (pipelines/speech.py)
    # Modules --quantize leaves at full precision (names in transformers 5.23's model classes): all but the
    # language model's decoder linears, which are where the weights are and what quantizes well.
    keep_full: tuple = ()


class ModelLock:
    """One per loaded model: answers (a batch, a lone generate(), the thinker pass of a spoken answer) hold it
    together; a pass that changes the model's settings for a while (the attention view's) holds it alone.

    Waiting to hold it alone stops new holders from joining, so a steady stream of answers cannot starve it.
    Not tied to a thread: what one thread takes, another may release.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._shared = 0
        self._alone = False
        self._waiting_alone = 0

    @contextlib.contextmanager
    def shared(self):
        with self._cond:
            self._cond.wait_for(lambda: not self._alone and not self._waiting_alone)
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def alone(self):
        with self._cond:
            self._waiting_alone += 1
            try:
                self._cond.wait_for(lambda: not self._alone and not self._shared)
            finally:
                self._waiting_alone -= 1
            self._alone = True
        try:
            yield
        finally:
            with self._cond:
                self._alone = False
                self._cond.notify_all()


@dataclass
class LoadedModel:
    """One checkpoint in memory: the model, its processor and where it lives."""

    model_id: str
    family: Family
    model: Any
    processor: Any
    device: Any
    dtype: Any
    load_seconds: float
    quantization: str = "none"  # quantize.describe(): "none", "int8 (bitsandbytes)", "gptq 4-bit (the checkpoint's own)"
    lock: ModelLock = field(default_factory=ModelLock)  # see ModelLock: who may use the model at once

    @property
    def generator(self):
        """The module whose `generate()` writes text."""
        return getattr(self.model, self.family.text_module) if self.family.text_module else self.model

    @property
    def tokenizer(self):
        return self.processor.tokenizer

    @functools.cached_property
    def _control_tokens(self) -> re.Pattern | None:
        added = self.tokenizer.added_tokens_decoder.values()
        tokens = sorted({t.content for t in added if t.special}, key=len, reverse=True)
        return re.compile("|".join(map(re.escape, tokens))) if tokens else None

    def plain_text(self, text: str) -> str:
        """User text as plain text: control tokens typed in (chat roles, image/audio placeholders) are
        taken out, so a user cannot forge turns or break the processor; lone surrogates become '?'."""
        text = text.encode("utf-8", "replace").decode("utf-8")
        return without(self._control_tokens, text) if self._control_tokens else text

    def can(self, modality: str) -> bool:
        return modality in self.family.modalities


def without(pattern: re.Pattern, text: str) -> str:
    """`text` with every match of `pattern` taken out, again until none is left: one pass would turn
    `<|im_<|im_end|>start|>` into a real `<|im_start|>`. Each pass shortens the text, so this ends."""
    while True:
        shorter = pattern.sub("", text)
        if shorter == text:
            return text
        text = shorter
