"""Run `generate()` in a worker thread, stream its text, and stop it for real.

Stopping: a StoppingCriteria reads a per-request threading.Event, so setting the event
(Stop button, cancelled API job, closed generator) ends `generate()` within one
decoding step, not just the stream. Faults (out of memory, any exception inside
generation) free what they can and come back as a clear ModelError.

Batching (optional, --max-batch-size): concurrent requests for one model run as rows of
one padded generate(); each row keeps its own stream, token limit and Stop.

Sampling (pipelines/sampling.py): generate() takes one set of sampling arguments, so only rows whose
settings are equal (Steering.batch_key) share a batch; a row that differs waits for the next one. Each
sampled row draws its tokens with its own torch.Generator (RowDraws), so a seeded answer is the same
alone, in a batch, or while another model samples on the same device.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import gc
import logging
import queue
import secrets
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from transformers import (BatchFeature, LogitsProcessor, LogitsProcessorList, StoppingCriteria,
                          StoppingCriteriaList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)
from transformers.generation.streamers import BaseStreamer

from .errors import Cancelled, InputError, ModelError, UserFacingError
from .loaded import LoadedModel
from .sampling import GREEDY, Steering

log = logging.getLogger(__name__)

# The UI gets at most 20 updates a second: each update costs the server a diff and a message
# per user, and more are not seen. Tokens are never held back longer than this.
STREAM_INTERVAL = 0.05


class StopRows(StoppingCriteria):
    """Ends each row at the next step once its request is stopped (Stop) or done (answer, limit).

    Stop is read here directly, not only through the streamer: generate() may check its
    criteria before it hands the step's tokens to the streamer.
    """

    def __init__(self, rows: list["Row"]):
        self.rows = rows

    def __call__(self, input_ids, scores, **kwargs):
        done = [r.stop.is_set() or r.ended.is_set() for r in self.rows]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class TokenStreamer:
    """One request's text, handed to its consumer as it is decoded, at most once per interval.

    transformers' TextIteratorStreamer waits for a word boundary; a demo should show every
    token. RowStreamer feeds it the row's tokens. The generating thread only appends token ids:
    decoding happens in the consumer's thread when it hands text out, and the consumer sleeps
    between updates instead of waking at every token, so neither a long answer nor a batch of
    rows slows the decoding steps. Decoding is incremental (a short window of recent tokens, not
    the whole answer each time).
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.tokens: list[int] = []
        self.prefix = self.read = 0  # tokens[prefix:read] were decoded to `head` and handed out
        self.head = ""
        self._new = threading.Event()  # tokens, or the end, came since the consumer last looked
        self._done = threading.Event()

    def add(self, token_ids: list[int]) -> None:
        self.tokens.extend(token_ids)
        self._new.set()

    def end(self) -> None:
        self._done.set()
        self._new.set()

    def _decoded(self, final: bool) -> str:
        """The text the tokens add since the last call. Half of a multi-byte character waits for the
        rest, unless this is the end (then what was held back is flushed)."""
        tokens = self.tokens[:]  # the generating thread may be appending
        text = self.tokenizer.decode(tokens[self.prefix:], skip_special_tokens=True)
        if text.endswith("\ufffd") and not final:
            return ""
        added = text[len(self.head):]
        self.prefix, self.read = self.read, len(tokens)
        self.head = self.tokenizer.decode(tokens[self.prefix:], skip_special_tokens=True)
        return added

    def chunks(self, interval: float) -> Iterator[str]:
        """The text in pieces, at most one per `interval` seconds.

        The first piece comes out as soon as it is decoded (time to first token) and the last as
        soon as generation ends; in between, tokens that arrive within `interval` travel together,
        so a fast model does not flood the UI with one update per token.
        """
        last = float("-inf")
        while True:
            wait = last + interval - time.monotonic()
            if wait > 0:
                self._done.wait(wait)  # new tokens do not wake this; the end does
            self._new.wait()  # nothing new yet: sleep until something comes
            self._new.clear()
            ended = self._done.is_set()  # before _decoded() reads the tokens: then it sees them all
            piece = self._decoded(final=ended)
            if piece:
                yield piece
                last = time.monotonic()
            if ended:
                return


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


def processed(loaded: LoadedModel, messages: list[dict]):
    """Chat messages -> the processor's output, on the CPU: the one processor call of a request (a task's
    `prepare`); generation, speech and the attention view all read this same output.

    A video (pipelines/video_input.py) goes through its own path, with its soundtrack; the thinker is
    then told the sound is interleaved with the frames (`use_audio_in_video`, for its positions)."""
    videos = [p["video"] for m in messages if not isinstance(m["content"], str)
              for p in m["content"] if p.get("type") == "video"]
    if videos:
        from .video_input import model_inputs as video_inputs

        inputs, with_sound = video_inputs(loaded.processor, messages, videos[0])
        inputs["use_audio_in_video"] = with_sound
        return inputs
    return loaded.processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")


def on_device(loaded: LoadedModel, inputs):
    """A copy of processor output on the model's device, floats in the model's dtype (the request's own stays
    on the CPU: what a request keeps for its speech and attention view holds no GPU memory)."""
    return BatchFeature(dict(inputs)).to(loaded.device).to(loaded.dtype)


def model_inputs(loaded: LoadedModel, messages: list[dict]):
    """Chat messages -> tensors on the model's device, floats in the model's dtype."""
    return on_device(loaded, processed(loaded, messages))


def replay_positions(model, inputs, ids: torch.Tensor, mask: torch.Tensor):
    """Positions of a finished conversation (the prompt `inputs`, then an answer: `ids` and `mask` whole) as
    generate() gave them, for a model whose positions come from its inputs' layout (get_rope_index, the
    Qwen-VL/Omni family); None for any other model (it numbers tokens itself). The model's layout pass reads
    every id it is given: a control token in the answer (a vision or audio start the model wrote itself) was
    taken for media that is not there (an index out of range, or no audio lengths). Generation numbered the
    answer's tokens one after another past the prompt, whatever they are; so does this: the answer's ids are
    read as plain text."""
    rope = getattr(getattr(model, "model", model), "get_rope_index", None)
    if rope is None:
        return None
    config = getattr(model, "config", None)
    named = {v for k, v in vars(config).items() if isinstance(v, int) and k.endswith(("_token_id", "_token_index"))}
    plain = next(i for i in range(len(named) + 1) if i not in named)  # an id no layout reads
    prompt = inputs["input_ids"].shape[-1]
    layout_ids = ids.clone()
    layout_ids[:, prompt:] = plain
    feature_mask = inputs.get("feature_attention_mask")
    audio_lengths = feature_mask.sum(1) if feature_mask is not None else None
    positions, _ = rope(layout_ids, inputs.get("image_grid_thw"), inputs.get("video_grid_thw"), mask,
                        bool(inputs.get("use_audio_in_video")), audio_lengths, inputs.get("video_second_per_grid"))
    return positions


def checked(loaded: LoadedModel, messages: list[dict]):
    """`processed`, with a refusal said as one: inputs the processor refuses fail this request alone, before it
    joins a batch. A refusal is about the request (text shaped like the model's markup, media it cannot
    take): a clear message, and one log line instead of a traceback; retrying will not help."""
    try:
        return processed(loaded, messages)
    except UserFacingError:
        raise
    except (torch.cuda.OutOfMemoryError, MemoryError) as exc:
        raise as_model_error(exc) from exc
    except Exception as exc:  # noqa: BLE001 - the processor rejected the input
        log.warning("the processor refused a request: %s: %s", type(exc).__name__, str(exc)[:200])
        raise InputError("prompt_rejected") from None


def prepared(loaded: LoadedModel, messages: list[dict], inputs=None):
    """The request's processor output (`inputs`, from its `prepare`) on the model's device; without it,
    `checked` runs the processor here (a chat that came without a request)."""
    return on_device(loaded, inputs if inputs is not None else checked(loaded, messages))


@dataclass
class Row:
    """One request inside a generate() call: its inputs, its limit, its Stop and its stream."""

    inputs: dict
    max_new_tokens: int
    stop: threading.Event
    streamer: TokenStreamer
    error: BaseException | None = None  # what ended generation, if it failed
    ended: threading.Event = field(default_factory=threading.Event)
    steering: Steering = GREEDY  # its sampling settings (and seed); rows of one batch have equal batch_key

    @property
    def solo(self) -> bool:
        """Runs in a batch of its own: a video's inputs (its frame and sound positions, `use_audio_in_video`)
        are not padded into other rows. It still waits its turn in the batcher, so it never runs beside a
        batch on the same model (the thinker keeps its position offsets on the model between steps)."""
        return "use_audio_in_video" in self.inputs

    def finish(self, error: BaseException | None = None) -> None:
        if not self.ended.is_set():
            self.error = error
            self.ended.set()
            self.streamer.end()


def collate(rows: list[Row], pad_id: int, token_keys) -> dict:
    """Several processor outputs -> one batch: token ids and masks left-padded (generation
    appends on the right), media tensors (pixels, audio features) stacked in row order."""
    if len(rows) == 1:
        return dict(rows[0].inputs)
    batch = {}
    for key in dict.fromkeys(k for r in rows for k in r.inputs):
        parts = [r.inputs[key] for r in rows if r.inputs.get(key) is not None]
        if key in token_keys:
            width = max(p.shape[-1] for p in parts)
            fill = pad_id if key == "input_ids" else 0
            parts = [torch.nn.functional.pad(p, (width - p.shape[-1], 0), value=fill) for p in parts]
        elif parts and parts[0].dim() > 1:  # e.g. audio features of different lengths
            shape = [max(p.shape[d] for p in parts) for d in range(1, parts[0].dim())]
            parts = [torch.nn.functional.pad(p, [x for d in reversed(range(1, p.dim()))
                                                 for x in (0, shape[d - 1] - p.shape[d])]) for p in parts]
        batch[key] = torch.cat(parts)
    return batch


class RowStreamer(BaseStreamer):
    """Splits generate()'s per-step tokens (one per row) into each row's own stream, and ends
    a row's stream as soon as that row is done (end of answer, its own limit, or Stop)."""

    def __init__(self, rows: list[Row], eos_ids: set[int]):
        self.rows, self.eos_ids, self.prompt_seen = rows, eos_ids, False

    def put(self, value):
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for row, token in zip(self.rows, value.reshape(-1).tolist()):
            if row.ended.is_set():
                continue
            if row.stop.is_set() or token in self.eos_ids:
                row.finish()
                continue
            row.streamer.add([token])
            if len(row.streamer.tokens) >= row.max_new_tokens:
                row.finish()

    def end(self):
        for row in self.rows:
            row.finish()


class RowDraws(LogitsProcessor):
    """Each sampled row's next token, drawn with the row's own torch.Generator (seeded with its seed, or a fresh
    one), after transformers' own warpers for its temperature, top-k and top-p; its scores then leave only that
    token, so generate()'s own draw (on the global generator, shared with every other thread) can pick nothing
    else. The seed alone decides a sampled answer: not the batch it ran in, nor what else sampled meanwhile.
    Given to generate() among the custom processors, after the repetition penalty."""

    def __init__(self, rows: list[Row]):
        self.rows = rows
        self.generators: list[torch.Generator | None] = [None] * len(rows)
        self.warpers = [warpers_of(r.steering) for r in rows]

    def __call__(self, input_ids, scores):
        out = scores.clone()
        for i, row in enumerate(self.rows):
            if not row.steering.sampled:
                continue
            if self.generators[i] is None:
                seed = row.steering.seed if row.steering.seed is not None else secrets.randbits(63)
                self.generators[i] = torch.Generator(device=scores.device).manual_seed(seed)
            warped = scores[i:i + 1]
            for warp in self.warpers[i]:
                warped = warp(input_ids[i:i + 1], warped)
            token = torch.multinomial(torch.softmax(warped.float(), -1), 1, generator=self.generators[i])
            out[i] = float("-inf")
            out[i, token] = 0.0
        return out


def warpers_of(steering: Steering) -> list:
    """transformers' warpers for a sampled row, in generate()'s order (temperature, top-k, top-p)."""
    if not steering.sampled:
        return []
    warpers = [TemperatureLogitsWarper(steering.temperature)]
    if steering.top_k:
        warpers.append(TopKLogitsWarper(steering.top_k))
    if steering.top_p < 1.0:
        warpers.append(TopPLogitsWarper(steering.top_p))
    return warpers


def generate_rows(loaded: LoadedModel, rows: list[Row]) -> None:
    """One generate() for all rows (equal sampling settings: greedy, or sampled with RowDraws); each row's text
    goes to its own streamer."""
    tok = loaded.tokenizer
    # Stop at the chat turn's end even where a sub-model's generation config does not name it.
    eos = loaded.generator.generation_config.eos_token_id
    eos = sorted({*(eos if isinstance(eos, (list, tuple)) else [eos]), tok.eos_token_id} - {None})
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else eos[0]
    try:
        inputs = collate(rows, pad_id, set(tok.model_input_names))
        steering = rows[0].steering
        draws = LogitsProcessorList([RowDraws(rows)] if steering.sampled else [])
        with torch.inference_mode():
            loaded.generator.generate(
                **inputs, **loaded.family.text_generate_kwargs, max_new_tokens=max(r.max_new_tokens for r in rows),
                **steering.generate_kwargs(), logits_processor=draws, streamer=RowStreamer(rows, set(eos)),
                eos_token_id=eos, pad_token_id=pad_id, stopping_criteria=StoppingCriteriaList([StopRows(rows)]))
    except Exception as exc:  # noqa: BLE001 - handed to each row's consumer
        if len(rows) > 1 and not any(r.streamer.tokens for r in rows):
            # One row's inputs can fail the whole batch (the model checks them only inside generate()):
            # before any token went out, run each row alone, so only the bad one fails.
            log.warning("a batch of %d failed (%s); running its rows one at a time", len(rows), type(exc).__name__)
            traceback.clear_frames(exc.__traceback__)
            for row in rows:
                if row.stop.is_set():
                    row.finish()
                else:
                    generate_rows(loaded, [row])
            return
        for row in rows:
            row.finish(exc)
    except BaseException as exc:  # noqa: BLE001 - handed to each row's consumer
        for row in rows:
            row.finish(exc)
    for row in rows:
        row.finish()


def run_rows(loaded: LoadedModel, rows: list[Row]) -> None:
    """generate_rows, holding the model's lock beside other answers (registry.ModelLock)."""
    with loaded.lock.shared():
        generate_rows(loaded, rows)


class Batcher:
    """Runs the concurrent text requests of one model as batches: one padded generate() for up
    to `max_size` requests, each still streamed on its own.

    Requests that arrive while a batch runs form the next batch. When the model is busy (a
    request was left waiting, or the last batch had several), a new batch also waits for
    companions as long as they keep coming, `wait` seconds after the last at most (4 x `wait`
    in all), so clients that resubmit together after a batch land in the same next one. A lone
    user on an idle model never waits. On a GPU a decoding step costs about the same for 1 or
    8 rows, so 8 users get several times the answers per second of one.

    A batch holds rows of equal sampling settings only (Steering.batch_key: one generate() takes one
    temperature, top-p...); a row that differs is held, in arrival order, and opens a later batch.
    """

    def __init__(self, loaded: LoadedModel, max_size: int, wait: float = 0.025):
        self.loaded, self.max_size, self.wait = loaded, max_size, wait
        self.pending: queue.SimpleQueue = queue.SimpleQueue()
        self.sizes: list[int] = []  # batch sizes run so far
        self._closing, self._closed = threading.Lock(), False
        self._running: list[Row] = []  # the batch in hand
        # Rows met while a batch was gathered that could not join it (a solo row, other sampling settings):
        # they open the next batches, in arrival order.
        self._held: collections.deque[Row] = collections.deque()
        self._thread = threading.Thread(target=self._work, name=f"batcher {loaded.model_id}", daemon=True)
        self._thread.start()
        # A thread still parked at interpreter exit made it abort now and then ("terminate called
        # without an active exception", exit code 134): end it first.
        atexit.register(self.close)

    def submit(self, row: Row) -> None:
        with self._closing:
            if self._closed:  # the server is stopping
                row.finish(RuntimeError("the batching thread has ended"))
            else:
                self.pending.put(row)

    def close(self) -> None:
        """The server is stopping: refuse new requests, stop the batch in hand (within a step),
        drop the waiting ones, end the thread."""
        with self._closing:
            if not self._closed:
                self._closed = True
                self.pending.put(None)  # after every submitted row
        for row in self._running:
            row.stop.set()
        self._thread.join(timeout=10)

    def _work(self) -> None:
        busy = False
        while (first := self._next()) is not None:
            rows, closing = [first], False
            start = time.monotonic()
            deadline = start + (self.wait if busy else 0.0)
            fits = lambda r: not r.solo and r.steering.batch_key == first.steering.batch_key  # noqa: E731
            if not first.solo:  # held rows that fit join first: they came before the pending ones
                for row in [r for r in self._held if fits(r)][:self.max_size - 1]:
                    self._held.remove(row)
                    rows.append(row)
            while len(rows) < self.max_size and not first.solo:
                try:
                    row = self.pending.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if row is None:
                    closing = True
                    break
                if row.solo:
                    self._held.append(row)
                    break
                if not fits(row):
                    self._held.append(row)
                    continue
                rows.append(row)
                if busy:
                    deadline = min(time.monotonic() + self.wait, start + 4 * self.wait)
            for row in rows:
                if row.stop.is_set() or self._closed:  # cancelled while waiting, or the server is stopping
                    row.finish()
            self._running = rows = [r for r in rows if not r.ended.is_set()]
            if rows:
                self.sizes.append(len(rows))
                run_rows(self.loaded, rows)
            if closing:
                while self._held:
                    self._held.popleft().finish()
                return
            busy = len(rows) > 1 or bool(self._held) or not self.pending.empty()

    def _next(self) -> Row | None:
        return self._held.popleft() if self._held else self.pending.get()


def stream_text(loaded, messages: list[dict], *, max_new_tokens: int,
                stop: threading.Event | None = None, batcher: Batcher | None = None, inputs=None,
                steering: Steering | None = None) -> Iterator[str]:
    """Yield the growing answer from a LoadedModel (here) or a RemoteModel (an OpenAI-compatible engine).
    `inputs`: the processor's output for `messages` where the request has it (else it is computed here);
    `steering`: its sampling settings (greedy without)."""
    steering = steering or GREEDY
    if isinstance(loaded, LoadedModel):
        return _generate(loaded, messages, max_new_tokens=max_new_tokens, stop=stop, batcher=batcher, inputs=inputs,
                         steering=steering)
    return paced(loaded.stream(messages, max_new_tokens=max_new_tokens, stop=stop, steering=steering),
                 STREAM_INTERVAL)


def paced(texts: Iterator[str], interval: float) -> Iterator[str]:
    """A growing text at most once per `interval`: the first at once, the last as soon as it comes.

    For a stream that arrives piece by piece from elsewhere (an engine's server-sent events, one
    per token): a text that comes within `interval` of the last update is held until the next
    piece, or the end. Closing this closes `texts` (Stop reaches the engine).
    """
    last, held = float("-inf"), None
    with contextlib.closing(texts):
        for text in texts:
            if time.monotonic() - last >= interval:
                yield text
                last, held = time.monotonic(), None
            else:
                held = text
    if held is not None:
        yield held


@dataclass
class Usage:
    """What one answer was made of and what it cost: read by pipelines/explain.py (token budget,
    attention on request) after the answer ends. Plain references: nothing is copied or computed
    while the answer streams."""

    messages: list[dict]
    inputs: dict | None  # the processor's output the answer used, on the CPU (the request's own)
    tokens: list[int]  # the answer's token ids, as generated
    started: float
    first_token: float | None = None
    ended: float | None = None


class Answer(str):
    """The growing answer text, carrying its Usage. A plain str everywhere else; pickled (ZeroGPU's
    worker process) it is a plain str, without the tensors."""

    usage: Usage | None = None

    def __reduce__(self):
        return str, (str(self),)


def _generate(loaded: LoadedModel, messages: list[dict], *, max_new_tokens: int,
              stop: threading.Event | None = None, batcher: Batcher | None = None, inputs=None,
              steering: Steering = GREEDY) -> Iterator[str]:
    """Greedy decoding unless `steering` samples (then reproducible for its seed). Alone, generate() runs in a
    thread of its own; with a batcher, it runs with whatever other requests for the same model are waiting
    (with the same sampling settings)."""
    stop = stop or threading.Event()
    started = time.monotonic()
    kept = inputs if inputs is not None else checked(loaded, messages)
    row = Row(on_device(loaded, kept), max_new_tokens, stop, TokenStreamer(loaded.tokenizer), steering=steering)
    usage = Usage(messages, kept, row.streamer.tokens, started)
    thread = None
    if batcher is not None:
        batcher.submit(row)
    else:
        thread = threading.Thread(target=run_rows, args=(loaded, [row]), name="generate", daemon=True)
        thread.start()
    text = ""
    try:
        for piece in row.streamer.chunks(STREAM_INTERVAL):
            usage.first_token = usage.first_token or time.monotonic()
            text += piece
            answer = Answer(text)
            answer.usage = usage
            yield answer
        usage.ended = time.monotonic()
        if row.error is not None:
            raise as_model_error(row.error) from row.error
        if stop.is_set():
            raise Cancelled()
    finally:
        stop.set()  # reached on Stop, on error and when the consumer goes away (GeneratorExit)
        if thread is not None:  # a batch goes on with its other rows; this one ends at the next step
            thread.join()
