"""What every task pipeline shares: its checkpoint, fetched lazily from the shared registry, its
limits, and the one shape of a request.

A request goes through two calls, whoever makes it (a tab, an API endpoint, a test, a bench):
`prepare(raw inputs) -> Request` checks and loads the media, builds the conversation and runs the
processor, once; `answer(request)` streams the answer as events (for the text tasks, the growing Answer,
which carries its Usage). `say(request, answer)` speaks it and pipelines/explain.py's `view` explains it
from the same Request, so the processor never runs twice on one question. `pipeline(...)` is shorthand
for `answer(prepare(...))`. (transformers' pipelines split preprocess / _forward / postprocess the same way.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import InputError, UserFacingError
from ..generation import checked, stream_text
from ..loaded import LoadedModel
from ..registry import ModelRegistry
from ..sampling import GREEDY, Steering, steering
from ..settings import Settings
from .. import zerogpu
from ..zerogpu import gpu, speech_seconds, text_seconds


@dataclass
class Request:
    """One question, checked and ready for the model: the conversation it gets, the processor's output for it
    (on the CPU; None where an engine elsewhere answers), the media as loaded (a follow-up reuses a decoded
    video), and the notices the asker should see (e.g. a clip trimmed to the limit: message key and parameters)."""

    messages: list[dict]
    inputs: dict | None = None
    media: object = None
    notices: list[tuple[str, dict]] = field(default_factory=list)
    question: str = ""  # as checked (stripped): what a chat shows back
    steering: Steering = GREEDY  # system prompt and sampling (pipelines/sampling.py): greedy, the model's prompt


class Pipeline:
    """Common part: which checkpoint, which registry, which limits, and the request's shape."""

    task = "base"
    needs = "image"  # modality the checkpoint must support

    def __init__(self, registry: ModelRegistry, model_id: str, settings: Settings):
        self.registry, self.model_id, self.settings = registry, model_id, settings
        # On ZeroGPU the model call runs in spaces.GPU, in a forked worker. Wrapping the bound
        # method keeps `self` (registry, weights) out of what is pickled: only plain request data crosses.
        self.generate = gpu(self.gpu_seconds)(self.generate)
        self._say = gpu(self.say_seconds)(self._say)

    def prepare(self, *args, **kwargs) -> Request:
        """Raw inputs -> a checked Request (each task says which inputs); refused here, before any model work."""
        raise NotImplementedError

    def __call__(self, *args, max_new_tokens: int | None = None, stop: threading.Event | None = None,
                 **kwargs) -> Iterator[str]:
        """Shorthand for answer(prepare(...)): inputs are checked now, the answer streams as it is read."""
        return self.answer(self.prepare(*args, **kwargs), max_new_tokens, stop)

    def request_of(self, messages: list[dict], steering: Steering | None = None, **extra) -> Request:
        """A Request for a built conversation: its system prompt the steering's where it has one, its processor
        output computed here, once (none for an engine elsewhere, which takes the conversation itself)."""
        steering = steering or GREEDY
        messages = self._with_system_prompt(messages, steering.system_prompt)
        return Request(messages, None if self.remote else checked(self.model, messages), steering=steering, **extra)

    def steer(self, speak: bool = False, **fields) -> Steering:
        """Raw Advanced fields (system_prompt, temperature, top_p, top_k, repetition_penalty, max_new_tokens,
        seed: from the page or an API call, anything) -> a checked Steering, or a clear InputError. `speak`: the
        answer will be spoken, so the system prompt must stay the family's (sampling.steering says why)."""
        return steering(**fields, max_tokens_limit=self.settings.max_new_tokens,
                        prompt_limit=self.settings.max_prompt_chars, default_prompt=self.default_system_prompt,
                        speak=speak)

    @property
    def default_system_prompt(self) -> str | None:
        """The system prompt the family's model gets unless a request brings its own (read without loading it)."""
        return self.registry.family_of(self.model_id).system_prompt

    def _with_system_prompt(self, messages: list[dict], prompt: str | None) -> list[dict]:
        """`messages` with `prompt` (as plain text: no control tokens) as their system turn, in place of the
        family's; unchanged for None."""
        if prompt is None:
            return messages
        rest = messages[1:] if messages and messages[0].get("role") == "system" else messages
        return [{"role": "system", "content": [{"type": "text", "text": self.model.plain_text(prompt)}]}, *rest]

    def _request(self, request: Request | list[dict]) -> Request:
        return request if isinstance(request, Request) else self.request_of(request)

    def generate(self, messages: list[dict], max_new_tokens: int, stop: threading.Event | None = None,
                 inputs=None, steering: Steering | None = None) -> Iterator[str]:
        """The GPU part: stream the answer to `messages`, from their processor output `inputs`, sampled as
        `steering` says (greedy without). Plain request data only (what crosses to ZeroGPU's worker); on ZeroGPU,
        stop by closing the stream: `stop` cannot cross."""
        yield from stream_text(self.model, messages, max_new_tokens=max_new_tokens, stop=stop,
                               batcher=self.registry.batcher(self.model_id), inputs=inputs, steering=steering)

    def answer(self, request: Request | list[dict], max_new_tokens: int | None = None,
               stop: threading.Event | None = None) -> Iterator[str]:
        """Stream the answer to a prepared Request (or a built conversation): the growing Answer. Its token limit:
        `max_new_tokens`, else the request's steering's, else --max-new-tokens."""
        if max_new_tokens is None and isinstance(request, Request):
            max_new_tokens = request.steering.max_new_tokens
        tokens = self._tokens(max_new_tokens)  # a bad limit is refused before the processor runs
        request = self._request(request)
        return self.generate(request.messages, tokens, stop, request.inputs, request.steering)

    def say(self, request: Request | list[dict], answer: str, voice: str,
            stop: threading.Event | None = None) -> Iterator:
        """A spoken answer: float32 pieces of speech for `answer`, then a speech.Said, from the request's own
        processor output. The talker reads the thinker's own tokens where `answer` carries them (an Answer);
        they cross to ZeroGPU's worker as a plain list, where the Answer itself arrives as a plain str."""
        request = self._request(request)
        if request.steering.system_prompt is not None:  # the talker breaks under another system prompt
            raise InputError("system_prompt_locked")
        usage = getattr(answer, "usage", None)
        tokens = list(usage.tokens) if usage is not None and usage.tokens else None
        if not zerogpu.ON_ZEROGPU:
            return self._say(request.messages, str(answer), tokens, voice, stop, inputs=request.inputs)
        return self._say_in_parts(request, str(answer), tokens, voice, stop)

    def _say_in_parts(self, request: Request, answer: str, tokens: list[int] | None, voice: str,
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
            for item in self._say(request.messages, answer, tokens[:end], voice, None, start,
                                  min(left, zerogpu.speech_call_seconds()), inputs=request.inputs):
                if isinstance(item, speech.Said):
                    total, left, cut = total + item.seconds, left - item.seconds, cut or item.cut
                else:
                    yield item
            start = end
        yield speech.Said(seconds=total, cut=cut)

    def _say(self, messages: list[dict], answer: str, tokens: list[int] | None, voice: str,
             stop: threading.Event | None = None, start: int = 0, max_seconds: float | None = None,
             inputs=None) -> Iterator:
        """The GPU part of `say`: the answer from token `start` on, at most `max_seconds` of it (default
        --max-speech-seconds). The talker, token2wav and voices load on first use (the registry adds them to
        the loaded model; on ZeroGPU at start-up, app.py)."""
        from .. import speech

        spoken = self.registry.speech(self.model_id)
        yield from speech.pieces(spoken, self.model, messages, answer, voice,
                                 max_seconds or self.settings.max_speech_seconds, stop, tokens, start, inputs)

    def say_seconds(self, messages, answer, tokens, voice, stop=None, start: int = 0,
                    max_seconds: float | None = None, inputs=None) -> int:
        """GPU seconds asked for one `_say` call."""
        return speech_seconds(max_seconds or self.settings.max_speech_seconds)

    @property
    def hears(self) -> bool:
        """Can this task's checkpoint hear (a spoken question, a clip)? Read from its family, without loading it."""
        return "audio" in self.registry.family_of(self.model_id).modalities

    @property
    def speaks(self) -> bool:
        """Can this task's checkpoint answer aloud here (an Omni checkpoint in this process)?"""
        return not self.remote and not self.registry.speech_off and self.registry.family_of(self.model_id).speaks

    def gpu_seconds(self, messages, max_new_tokens: int, stop=None, inputs=None, steering=None) -> int:
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
