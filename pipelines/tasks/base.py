"""What every task pipeline shares: its checkpoint, fetched lazily from the shared registry, its
limits, and the streamed text generation the text tasks run on the GPU."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from ..errors import InputError, UserFacingError
from ..generation import stream_text
from ..loaded import LoadedModel
from ..registry import ModelRegistry
from ..settings import Settings
from .. import zerogpu
from ..zerogpu import gpu, speech_seconds, text_seconds


class Pipeline:
    """Common part: which checkpoint, which registry, which limits."""

    task = "base"
    needs = "image"  # modality the checkpoint must support

    def __init__(self, registry: ModelRegistry, model_id: str, settings: Settings):
        self.registry, self.model_id, self.settings = registry, model_id, settings
        # On ZeroGPU the model call runs in spaces.GPU, in a forked worker. Wrapping the bound
        # method keeps `self` (registry, weights) out of what is pickled: only plain request data crosses.
        self.generate = gpu(self.gpu_seconds)(self.generate)
        self._say = gpu(self.say_seconds)(self._say)

    def generate(self, messages: list[dict], max_new_tokens: int,
                 stop: threading.Event | None = None) -> Iterator[str]:
        """The GPU part: stream the answer. (On ZeroGPU, stop by closing the stream; `stop` cannot cross.)"""
        yield from stream_text(self.model, messages, max_new_tokens=max_new_tokens, stop=stop,
                               batcher=self.registry.batcher(self.model_id))

    def answer(self, messages: list[dict], max_new_tokens: int | None = None,
               stop: threading.Event | None = None) -> Iterator[str]:
        """Stream the answer to ready-made `messages` (the tabs that also speak it keep the messages)."""
        return self.generate(messages, self._tokens(max_new_tokens), stop)

    def say(self, messages: list[dict], answer: str, voice: str,
            stop: threading.Event | None = None) -> Iterator:
        """A spoken answer: float32 pieces of speech for `answer`, then a speech.Said. The talker reads
        the thinker's own tokens where `answer` carries them (an Answer); they cross to ZeroGPU's worker
        as a plain list, where the Answer itself arrives as a plain str."""
        usage = getattr(answer, "usage", None)
        tokens = list(usage.tokens) if usage is not None and usage.tokens else None
        if not zerogpu.ON_ZEROGPU:
            return self._say(messages, str(answer), tokens, voice, stop)
        return self._say_in_parts(messages, str(answer), tokens, voice, stop)

    def _say_in_parts(self, messages: list[dict], answer: str, tokens: list[int] | None, voice: str,
                      stop: threading.Event | None) -> Iterator:
        """On ZeroGPU: the answer spoken in parts, one GPU call each, every call within the per-call limit
        (zerogpu.speech_parts), so that a long answer is spoken whole rather than killed at its duration."""
        from .. import speech

        tokenizer = self.model.tokenizer
        if tokens is None:
            tokens = tokenizer(answer, add_special_tokens=False)["input_ids"]
        left, total, cut, start = self.settings.max_speech_seconds, 0.0, False, 0
        for end in zerogpu.speech_parts([tokenizer.decode([t]) for t in tokens]):
            if left <= 0 or (stop is not None and stop.is_set()):
                cut = cut or left <= 0
                break
            for item in self._say(messages, answer, tokens[:end], voice, None, start,
                                  min(left, zerogpu.speech_call_seconds())):
                if isinstance(item, speech.Said):
                    total, left, cut = total + item.seconds, left - item.seconds, cut or item.cut
                else:
                    yield item
            start = end
        yield speech.Said(seconds=total, cut=cut)

    def _say(self, messages: list[dict], answer: str, tokens: list[int] | None, voice: str,
             stop: threading.Event | None = None, start: int = 0, max_seconds: float | None = None) -> Iterator:
        """The GPU part of `say`: the answer from token `start` on, at most `max_seconds` of it (default
        --max-speech-seconds). The talker, token2wav and voices load on first use (the registry adds them to
        the loaded model; on ZeroGPU at start-up, app.py)."""
        from .. import speech

        spoken = self.registry.speech(self.model_id)
        yield from speech.pieces(spoken, self.model, messages, answer, voice,
                                 max_seconds or self.settings.max_speech_seconds, stop, tokens, start)

    def say_seconds(self, messages, answer, tokens, voice, stop=None, start: int = 0,
                    max_seconds: float | None = None) -> int:
        """GPU seconds asked for one `_say` call."""
        return speech_seconds(max_seconds or self.settings.max_speech_seconds)

    @property
    def speaks(self) -> bool:
        """Can this task's checkpoint answer aloud here (an Omni checkpoint in this process)?"""
        return not self.remote and not self.registry.speech_off and self.registry.family_of(self.model_id).speaks

    def gpu_seconds(self, messages, max_new_tokens: int, stop=None) -> int:
        return text_seconds(max_new_tokens)

    @property
    def model(self) -> LoadedModel:
        """The shared instance: the registry loads it on first use and hands out the same object."""
        loaded = self.registry.get(self.model_id)
        if not loaded.can(self.needs):
            raise UserFacingError("cannot_do", model=self.model_id, flag=self.flag)
        return loaded

    @property
    def flag(self) -> str:
        """The command-line flag that picks this task's checkpoint."""
        return f"--{self.task}-model"

    @property
    def remote(self) -> bool:
        """Served by an OpenAI-compatible engine (--backend openai), not by a model in this process."""
        return self.model_id in self.registry.remote

    def _messages(self, content: list[dict], history: list[dict] | None = None) -> list[dict]:
        loaded = self.model
        turns = list(history or []) + [{"role": "user", "content": content}]
        for turn in turns:
            for part in turn["content"]:
                if part["type"] == "text":
                    part["text"] = loaded.plain_text(part["text"])
        if loaded.family.system_prompt:
            turns.insert(0, {"role": "system", "content": [{"type": "text", "text": loaded.family.system_prompt}]})
        return turns

    def _tokens(self, max_new_tokens: int | None) -> int:
        n = self.settings.max_new_tokens if max_new_tokens is None else int(max_new_tokens)
        if not 1 <= n <= self.settings.max_new_tokens:
            raise InputError("bad_max_tokens", limit=self.settings.max_new_tokens)
        return n
