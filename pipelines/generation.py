"""Run `generate()` in a worker thread, stream its text, and stop it for real.

Stopping: a StoppingCriteria reads a per-request threading.Event, so setting the event
(Stop button, cancelled API job, closed generator) ends `generate()` within one
decoding step, not just the stream. Faults (out of memory, any exception inside
generation) free what they can and come back as a clear ModelError.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import traceback
from collections.abc import Callable, Iterator

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from .errors import Cancelled, ModelError, UserFacingError
from .registry import LoadedModel

log = logging.getLogger(__name__)


class StopOnEvent(StoppingCriteria):
    """Ends generation at the next step once `event` is set."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class TokenStreamer(BaseStreamer):
    """Hands each new piece of text over as soon as its token is decoded.

    transformers' TextIteratorStreamer waits for a word boundary; a demo should show every
    token, and each hand-over is a point where a cancelled request can be closed.
    """

    _END = object()

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.tokens: list[int] = []
        self.sent = 0
        self.prompt_seen = False

    def put(self, value):
        if not self.prompt_seen:  # generate() first sends the prompt
            self.prompt_seen = True
            return
        self.tokens.extend(value.reshape(-1).tolist())
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
            return
        if len(text) > self.sent:
            self.queue.put(text[self.sent:])
            self.sent = len(text)

    def end(self):
        self.queue.put(self._END)

    def __iter__(self):
        while (piece := self.queue.get()) is not self._END:
            yield piece


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def in_background(work: Callable[[Callable[[object], None], threading.Event], object],
                  name: str = "generate") -> Iterator:
    """Run `work(emit, stop)` in a thread; yield what it emits, then what it returns.

    Closing the iterator (Stop, a client gone) sets `stop` and waits for the thread, so work
    that checks `stop` at each step ends within one step.
    """
    items: queue.SimpleQueue = queue.SimpleQueue()
    stop, done, out = threading.Event(), object(), {}

    def run():
        try:
            out["value"] = work(items.put, stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            out["error"] = exc
        finally:
            items.put(done)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not done:
            yield item
        if "error" in out:
            raise out["error"]
        yield out["value"]
    finally:
        stop.set()
        thread.join()


def as_model_error(exc: BaseException) -> UserFacingError:
    """Map an exception from inside generation to a message a person can act on."""
    if isinstance(exc, UserFacingError):
        return exc
    oom = isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError))
    if oom:
        log.warning("out of memory during generation: %s", (str(exc).splitlines() or [""])[0])
    else:
        log.exception("generation failed", exc_info=exc)
    traceback.clear_frames(exc.__traceback__)  # the failed frames' tensors go before the cache is emptied
    free_memory()
    return ModelError("oom") if oom else ModelError("model_failed", kind=type(exc).__name__)


def model_inputs(loaded: LoadedModel, messages: list[dict]):
    """Chat messages -> tensors on the model's device, floats in the model's dtype."""
    inputs = loaded.processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
    return inputs.to(loaded.device).to(loaded.dtype)


def stream_text(loaded, messages: list[dict], *, max_new_tokens: int,
                stop: threading.Event | None = None) -> Iterator[str]:
    """Yield the growing answer from a LoadedModel (here) or a RemoteModel (an OpenAI-compatible engine)."""
    if isinstance(loaded, LoadedModel):
        return _generate(loaded, messages, max_new_tokens=max_new_tokens, stop=stop)
    return loaded.stream(messages, max_new_tokens=max_new_tokens, stop=stop)


def _generate(loaded: LoadedModel, messages: list[dict], *, max_new_tokens: int,
              stop: threading.Event | None = None) -> Iterator[str]:
    """Greedy decoding in a worker thread, so a demo answer is reproducible."""
    stop = stop or threading.Event()
    try:
        inputs = model_inputs(loaded, messages)
    except UserFacingError:
        raise
    except Exception as exc:  # noqa: BLE001 - processor rejected the input
        raise as_model_error(exc) from exc
    streamer = TokenStreamer(loaded.tokenizer)
    errors: list[BaseException] = []
    tok = loaded.tokenizer
    # Stop at the chat turn's end even where a sub-model's generation config does not name it.
    eos = loaded.generator.generation_config.eos_token_id
    eos = sorted({*(eos if isinstance(eos, list) else [eos]), tok.eos_token_id} - {None})

    def work():
        try:
            with torch.inference_mode():
                loaded.generator.generate(
                    **inputs, **loaded.family.text_generate_kwargs, max_new_tokens=max_new_tokens,
                    do_sample=False, streamer=streamer, eos_token_id=eos,
                    pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else eos[0],
                    stopping_criteria=StoppingCriteriaList([StopOnEvent(stop)]))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            errors.append(exc)
            streamer.end()

    thread = threading.Thread(target=work, name="generate", daemon=True)
    thread.start()
    text = ""
    try:
        for piece in streamer:
            if piece:
                text += piece
                yield text
        thread.join()
        if errors:
            raise as_model_error(errors[0]) from errors[0]
        if stop.is_set():
            raise Cancelled()
    finally:
        stop.set()  # reached on Stop, on error and when the consumer goes away (GeneratorExit)
        thread.join()
