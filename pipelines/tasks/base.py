"""What every task pipeline shares: its checkpoint, fetched lazily from the shared registry, its
limits, and the streamed text generation the text tasks run on the GPU."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from ..errors import InputError, UserFacingError
from ..generation import stream_text
from ..registry import LoadedModel, ModelRegistry
from ..settings import Settings
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
        self._say = gpu(lambda *a, **k: speech_seconds(settings.max_speech_seconds))(self._say)

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
        return self._say(messages, str(answer), tokens, voice, stop)

    def _say(self, messages: list[dict], answer: str, tokens: list[int] | None, voice: str,
             stop: threading.Event | None = None) -> Iterator:
        """The GPU part of `say`. The talker, token2wav and voices load on first use (the registry adds
        them to the loaded model)."""
        from .. import speech

        spoken = self.registry.speech(self.model_id)
        yield from speech.pieces(spoken, self.model, messages, answer, voice, self.settings.max_speech_seconds,
                                 stop, tokens)

    @property
    def speaks(self) -> bool:
        """Can this task's checkpoint answer aloud here (an Omni checkpoint in this process)?"""
        return not self.remote and self.registry.family_of(self.model_id).speaks

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
