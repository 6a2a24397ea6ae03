"""Text-to-image: prompt -> images, with progress per image token and Stop between tokens."""

from __future__ import annotations

import contextlib
import math
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import torch
from PIL import Image
from transformers import LogitsProcessor, LogitsProcessorList

from ..errors import Cancelled, InputError
from ..generation import as_model_error, in_background
from ..inputs import check_text
from ..zerogpu import image_seconds
from .base import Pipeline


class _ProgressAndStop(LogitsProcessor):
    """Called once per image token: report progress, honour Stop between steps."""

    def __init__(self, total: int, on_step: Callable[[int, int], None] | None, stop: threading.Event):
        self.total, self.on_step, self.stop, self.step = total, on_step, stop, 0

    def __call__(self, input_ids, scores):
        if self.stop.is_set():
            raise Cancelled()
        self.step += 1
        if self.on_step:
            self.on_step(self.step, self.total)
        return scores


class _ConditionalOnly(LogitsProcessor):
    """Guidance 1 means no guidance: keep the conditional half of Janus's doubled batch.

    transformers 5.23 adds its guidance processor (which halves the batch) only above 1 but
    always doubles the batch for it, so at exactly 1.0 generate() fails on the size mismatch.
    cond + 1 * (cond - uncond) is the conditional logits, which this returns directly.
    """

    def __call__(self, input_ids, scores):
        return scores[: input_ids.shape[0]] if scores.shape[0] == 2 * input_ids.shape[0] else scores


class Progress(NamedTuple):
    """One more image token drawn: `step` of `total` (a plain (step, total) pair to whoever unpacks it)."""

    step: int
    total: int


class Preview(NamedTuple):
    """A drawing so far: the rows of image tokens drawn yet, decoded (the rest cropped off)."""

    images: list[Image.Image]
    rows: int
    total_rows: int


class Drawn(NamedTuple):
    """The end of a drawing: the images and the seed that made them."""

    images: list[Image.Image]
    seed: int


@dataclass
class DrawRequest:
    """A checked drawing request: the prompt and the options, the seed chosen (-1 asked for a random one)."""

    prompt: str
    seed: int
    num_images: int
    size: int
    guidance: float


class TextToImagePipeline(Pipeline):
    """Prompt -> images (Janus-Pro draws at its native size; other sizes are resampled)."""

    task = "image"
    needs = "draw"
    sizes = (256, 384, 512, 768, 1024)
    previews = 6  # pictures while drawing (every few rows of tokens), before the final one
    guidance_range = (1.0, 10.0)

    def __call__(self, prompt: str, seed: int = -1, num_images: int = 1, size: int = 384,
                 guidance: float = 5.0, on_step: Callable[[int, int], None] | None = None,
                 stop: threading.Event | None = None) -> tuple[list[Image.Image], int]:
        """Draw and return (images, seed used); `on_step(step, total)` per image token."""
        with contextlib.closing(self.stream(prompt, seed, num_images, size, guidance)) as items:
            for item in items:
                if isinstance(item, Drawn):
                    return item.images, item.seed
                if isinstance(item, Preview):
                    continue
                if stop is not None and stop.is_set():
                    raise Cancelled()
                if on_step:
                    on_step(*item)
        raise Cancelled()  # the drawing ended without images: it was stopped

    def stream(self, prompt: str, seed: int = -1, num_images: int = 1, size: int = 384,
               guidance: float = 5.0) -> Iterator[Progress | Preview | Drawn]:
        """answer(prepare(...)), checked when first read."""
        yield from self.answer(self.prepare(prompt, seed, num_images, size, guidance))

    def prepare(self, prompt: str, seed: int = -1, num_images: int = 1, size: int = 384,
                guidance: float = 5.0) -> DrawRequest:
        """The checked request (refused here, before any GPU time); the model loaded, and refused if it cannot draw."""
        prompt = check_text(prompt, "prompt", self.settings.max_prompt_chars)
        seed, num_images, size, guidance = self.check_options(seed, num_images, size, guidance)
        self.model  # noqa: B018 - load it, and refuse a checkpoint that cannot draw, before any GPU time
        return DrawRequest(prompt, seed, num_images, size, guidance)

    def answer(self, request: DrawRequest) -> Iterator[Progress | Preview | Drawn]:
        """Yield a Progress once per image token, a Preview every few rows, then Drawn(images, seed).

        Closing the iterator (Stop, a client gone) ends the drawing at the next image token.
        """
        prompt, seed, num_images, size, guidance = (request.prompt, request.seed, request.num_images, request.size,
                                                    request.guidance)
        with contextlib.closing(self.generate(prompt, seed, num_images, guidance)) as steps:
            for item in steps:
                if isinstance(item, Preview):
                    height = max(1, round(size * item.rows / item.total_rows))
                    yield item._replace(images=[im.resize((size, size), Image.Resampling.LANCZOS).crop(
                        (0, 0, size, height)) for im in item.images])
                    continue
                if not isinstance(item, list):
                    yield item
                    continue
                if item and item[0].size != (size, size):
                    item = [im.resize((size, size), Image.Resampling.LANCZOS) for im in item]
                yield Drawn(item, seed)

    def generate(self, prompt: str, seed: int, num_images: int,
                 guidance: float) -> Iterator[Progress | Preview | list[Image.Image]]:
        """The GPU part: yields a Progress once per image token, a Preview every few rows, then the images."""
        loaded = self.model
        processor, model = loaded.processor, loaded.model

        def pictures(tokens) -> list[Image.Image]:
            pixels = model.decode_image_tokens(tokens)
            pixels = processor.postprocess(list(pixels.float()), return_tensors="pt")["pixel_values"]
            return [Image.fromarray(p.permute(1, 2, 0).cpu().numpy()) for p in pixels]

        def draw(emit, stop: threading.Event) -> list[Image.Image]:
            hook = model.model.generation_embeddings.register_forward_pre_hook(
                self._watch(pictures, num_images, emit, threading.current_thread()))
            try:
                inputs = processor(text=self.prompt_text(prompt), generation_mode="image",
                                   return_tensors="pt").to(loaded.device)
                total = model.model.vision_model.config.num_image_tokens
                processors = [_ProgressAndStop(total, lambda i, n: emit(Progress(i, n)), stop)]
                if guidance <= 1:
                    processors.insert(0, _ConditionalOnly())
                torch.manual_seed(seed)
                with loaded.lock.shared(), torch.inference_mode():  # beside other answers (registry.ModelLock)
                    # top_k=0: DeepSeek's reference samples each image token from the whole softmax
                    # (Janus generation_inference.py); transformers would apply its global top_k=50.
                    tokens = model.generate(
                        **inputs, generation_mode="image", do_sample=True, top_k=0, guidance_scale=guidance,
                        num_return_sequences=num_images,
                        logits_processor=LogitsProcessorList(processors))
                    if stop.is_set():  # stopped after the last token: skip decoding too
                        raise Cancelled()
                    return pictures(tokens)
            except Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001
                raise as_model_error(exc) from exc
            finally:
                hook.remove()

        yield from in_background(draw, name="text-to-image")

    def _watch(self, pictures, num_images: int, emit, thread: threading.Thread):
        """A hook on Janus's image-token embedding, which each drawn token passes through on its way
        to the next step (in raster order): every few finished rows, the tokens so far are decoded,
        the rows not drawn yet padded, and the drawn rows emitted as a Preview. Only this drawing's
        thread is watched (the model is shared)."""
        total = self.model.model.model.vision_model.config.num_image_tokens
        side = math.isqrt(total)
        every = max(1, math.ceil(side / self.previews))
        drawn: list[torch.Tensor] = []

        def seen(module, args):
            if threading.current_thread() is not thread:
                return
            drawn.append(args[0].reshape(-1)[:num_images])  # the batch is doubled for guidance
            rows = len(drawn) // side
            if len(drawn) % side == 0 and rows % every == 0 and rows < side:
                tokens = torch.stack(drawn, dim=1)
                tokens = torch.nn.functional.pad(tokens, (0, total - tokens.shape[1]))
                emit(Preview(pictures(tokens), rows, side))

        return seen

    def prompt_text(self, prompt: str) -> str:
        """The prompt rendered by the checkpoint's chat template (the processor then adds BOS and
        begin-of-image; no system prompt in image mode)."""
        loaded = self.model
        return loaded.processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "text", "text": loaded.plain_text(prompt)}]}],
            add_generation_prompt=True)

    def gpu_seconds(self, prompt, seed, num_images: int, guidance) -> int:
        return image_seconds(num_images)

    def check_options(self, seed, num_images, size, guidance) -> tuple[int, int, int, float]:
        try:
            seed, num_images, size, guidance = int(seed), int(num_images), int(size), float(guidance)
        except (TypeError, ValueError, OverflowError):
            raise InputError("bad_numbers") from None
        if seed == -1:
            seed = random.randrange(2**31)
        if not 0 <= seed < 2**32:
            raise InputError("bad_seed")
        if not 1 <= num_images <= self.settings.max_images:
            raise InputError("bad_num_images", limit=self.settings.max_images)
        if size not in self.sizes:
            raise InputError("bad_size", sizes=", ".join(map(str, self.sizes)))
        low, high = self.guidance_range
        if not low <= guidance <= high:  # also refuses NaN
            raise InputError("bad_guidance", low=low, high=high)
        return seed, num_images, size, guidance
