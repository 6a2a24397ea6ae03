"""The four task pipelines. Each holds the shared model of its checkpoint, fetched lazily
from the registry, and turns one user request into model calls.

Text pipelines yield the growing answer (streaming); text-to-image returns images and
reports progress per generated image token.
"""

from __future__ import annotations

import contextlib
import functools
import random
import threading
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
from PIL import Image
from transformers import LogitsProcessor, LogitsProcessorList

from .errors import Cancelled, InputError, ModelError, UserFacingError
from .generation import as_model_error, in_background, stream_text
from .inputs import Audio, check_text, load_audio, load_image, warm_up_audio
from .registry import LoadedModel, ModelRegistry, check_source, hub_reachable, pick_device
from .remote import remote_models
from .settings import Settings
from .zerogpu import gpu, image_seconds, text_seconds

CAPTION_PROMPTS = {
    "en": "Describe this image in detail.",
    "zh": "请用中文详细描述这张图片。",
}


class Pipeline:
    """Common part: which checkpoint, which registry, which limits."""

    task = "base"
    needs = "image"  # modality the checkpoint must support

    def __init__(self, registry: ModelRegistry, model_id: str, settings: Settings):
        self.registry, self.model_id, self.settings = registry, model_id, settings
        # On ZeroGPU the model call runs in spaces.GPU, in a forked worker. Wrapping the bound
        # method keeps `self` (registry, weights) out of what is pickled: only plain request data crosses.
        self.generate = gpu(self.gpu_seconds)(self.generate)

    def generate(self, messages: list[dict], max_new_tokens: int,
                 stop: threading.Event | None = None) -> Iterator[str]:
        """The GPU part: stream the answer. (On ZeroGPU, stop by closing the stream; `stop` cannot cross.)"""
        yield from stream_text(self.model, messages, max_new_tokens=max_new_tokens, stop=stop,
                               batcher=self.registry.batcher(self.model_id))

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


class CaptionPipeline(Pipeline):
    """Image -> streamed description, in English or Chinese."""

    task = "caption"

    def __call__(self, image, language: str = "en", max_new_tokens: int | None = None,
                 stop: threading.Event | None = None) -> Iterator[str]:
        img = load_image(image, self.settings.max_image_side, self.settings.max_image_pixels)
        return self.generate(self.messages(img, language), self._tokens(max_new_tokens), stop)

    def messages(self, img: Image.Image, language: str = "en") -> list[dict]:
        """The chat the model gets (tests render it through the processor, as generation does)."""
        prompt = CAPTION_PROMPTS.get(language, CAPTION_PROMPTS["en"])
        return self._messages([{"type": "image", "image": img}, {"type": "text", "text": prompt}])


class VQAPipeline(Pipeline):
    """Image(s) + question (+ earlier turns about the same images) -> streamed answer.

    `image` is one image or a list of them (compare two photos, read across pages), at most
    settings.max_question_images."""

    task = "vqa"

    def kept_turns(self, history: list[tuple[str, str]] | None) -> list[tuple[str, str]]:
        """The earlier turns the model sees, and the only ones a caller gets back: the last
        --max-history-turns, each question cut to --max-prompt-chars and each answer to 4 times that.

        History comes from the client and is echoed on every streamed update, so it is bounded here,
        before any work: an unbounded one cost 920 MB out for a 10 MB history, and held the model slot.
        Trimmed rather than refused: a conversation in the page grows past the window in normal use.
        """
        kept, limit = self.settings.max_history_turns, self.settings.max_prompt_chars
        turns = list(history or [])[-kept:] if kept > 0 else []
        return [(str(q)[:limit], str(a)[:4 * limit]) for q, a in turns]

    def __call__(self, image, question: str, history: list[tuple[str, str]] | None = None,
                 max_new_tokens: int | None = None, stop: threading.Event | None = None) -> Iterator[str]:
        turns = self.kept_turns(history)
        images = [i for i in image if i] if isinstance(image, (list, tuple)) else [image]
        if len(images) > self.settings.max_question_images:
            raise InputError("too_many_images", count=len(images), limit=self.settings.max_question_images)
        imgs = [load_image(i, self.settings.max_image_side, self.settings.max_image_pixels)
                for i in images or [None]]  # none at all: load_image says "add an image"
        question = check_text(question, "question", self.settings.max_prompt_chars)
        return self.generate(self.messages(imgs, question, turns), self._tokens(max_new_tokens), stop)

    def messages(self, imgs: Image.Image | list[Image.Image], question: str,
                 history: list[tuple[str, str]] | None = None) -> list[dict]:
        """The chat the model gets: the kept turns, the images in the first of them, then the question."""
        imgs = imgs if isinstance(imgs, list) else [imgs]
        turns = self.kept_turns(history)
        # The image rides in the first user turn of the kept window, as the model was trained.
        previous: list[dict] = []
        for q, a in turns:
            previous.append({"role": "user", "content": [{"type": "text", "text": q}]})
            previous.append({"role": "assistant", "content": [{"type": "text", "text": a}]})
        image_parts = [{"type": "image", "image": img} for img in imgs]
        if previous:
            previous[0]["content"][:0] = image_parts
            content = [{"type": "text", "text": question}]
        else:
            content = [*image_parts, {"type": "text", "text": question}]
        return self._messages(content, previous)


class AudioQAPipeline(Pipeline):
    """Audio clip + question -> streamed answer."""

    task = "audio"
    needs = "audio"

    def __call__(self, audio, question: str, max_new_tokens: int | None = None,
                 stop: threading.Event | None = None) -> Iterator[str]:
        clip = audio if isinstance(audio, Audio) else load_audio(audio, self.settings.max_audio_seconds)
        question = check_text(question, "question", self.settings.max_prompt_chars)
        return self.generate(self.messages(clip, question), self._tokens(max_new_tokens), stop)

    def messages(self, clip: Audio, question: str) -> list[dict]:
        return self._messages([{"type": "audio", "audio": clip.samples}, {"type": "text", "text": question}])


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


class Drawn(NamedTuple):
    """The end of a drawing: the images and the seed that made them."""

    images: list[Image.Image]
    seed: int


class TextToImagePipeline(Pipeline):
    """Prompt -> images (Janus-Pro draws at its native size; other sizes are resampled)."""

    task = "image"
    needs = "draw"
    sizes = (256, 384, 512, 768, 1024)
    guidance_range = (1.0, 10.0)

    def __call__(self, prompt: str, seed: int = -1, num_images: int = 1, size: int = 384,
                 guidance: float = 5.0, on_step: Callable[[int, int], None] | None = None,
                 stop: threading.Event | None = None) -> tuple[list[Image.Image], int]:
        """Draw and return (images, seed used); `on_step(step, total)` per image token."""
        with contextlib.closing(self.stream(prompt, seed, num_images, size, guidance)) as items:
            for item in items:
                if isinstance(item, Drawn):
                    return item.images, item.seed
                if stop is not None and stop.is_set():
                    raise Cancelled()
                if on_step:
                    on_step(*item)
        raise Cancelled()  # the drawing ended without images: it was stopped

    def stream(self, prompt: str, seed: int = -1, num_images: int = 1, size: int = 384,
               guidance: float = 5.0) -> Iterator[tuple[int, int] | Drawn]:
        """Yield (step, total) once per image token, then Drawn(images, seed).

        Closing the iterator (Stop, a client gone) ends the drawing at the next image token.
        """
        prompt = check_text(prompt, "prompt", self.settings.max_prompt_chars)
        seed, num_images, size, guidance = self.check_options(seed, num_images, size, guidance)
        self.model  # noqa: B018 - load it, and refuse a checkpoint that cannot draw, before any GPU time
        with contextlib.closing(self.generate(prompt, seed, num_images, guidance)) as steps:
            for item in steps:
                if not isinstance(item, list):
                    yield item
                    continue
                if item and item[0].size != (size, size):
                    item = [im.resize((size, size), Image.Resampling.LANCZOS) for im in item]
                yield Drawn(item, seed)

    def generate(self, prompt: str, seed: int, num_images: int,
                 guidance: float) -> Iterator[tuple[int, int] | list[Image.Image]]:
        """The GPU part: yields (step, total) once per image token, then the images."""
        loaded = self.model
        processor, model = loaded.processor, loaded.model

        def draw(emit, stop: threading.Event) -> list[Image.Image]:
            try:
                inputs = processor(text=self.prompt_text(prompt), generation_mode="image",
                                   return_tensors="pt").to(loaded.device)
                total = model.model.vision_model.config.num_image_tokens
                processors = [_ProgressAndStop(total, lambda i, n: emit((i, n)), stop)]
                if guidance <= 1:
                    processors.insert(0, _ConditionalOnly())
                torch.manual_seed(seed)
                with torch.inference_mode():
                    tokens = model.generate(
                        **inputs, generation_mode="image", do_sample=True, guidance_scale=guidance,
                        num_return_sequences=num_images,
                        logits_processor=LogitsProcessorList(processors))
                    if stop.is_set():  # stopped after the last token: skip decoding too
                        raise Cancelled()
                    pixels = model.decode_image_tokens(tokens)
                pixels = processor.postprocess(list(pixels.float()), return_tensors="pt")["pixel_values"]
            except Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001
                raise as_model_error(exc) from exc
            return [Image.fromarray(p.permute(1, 2, 0).cpu().numpy()) for p in pixels]

        yield from in_background(draw, name="text-to-image")

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


class Pipelines:
    """The four task pipelines over one registry: the app's single entry point to models."""

    def __init__(self, settings: Settings, registry: ModelRegistry | None = None):
        self.settings = settings
        self.registry = registry or ModelRegistry(settings.device, remote=remote_models(settings),
                                                  max_batch_size=settings.max_batch_size,
                                                  batch_wait=settings.max_batch_wait_ms / 1000)
        self.caption = CaptionPipeline(self.registry, settings.caption_model, settings)
        self.vqa = VQAPipeline(self.registry, settings.vqa_model, settings)
        self.audio = AudioQAPipeline(self.registry, settings.audio_model, settings)
        self.image = TextToImagePipeline(self.registry, settings.image_model, settings)
        self.device_warnings: list = []  # device.DeviceWarning: set at start-up (app.py), shown on the page

    def all(self) -> list[Pipeline]:
        return [self.caption, self.vqa, self.audio, self.image]

    def model_ids(self) -> list[str]:
        return list(dict.fromkeys(p.model_id for p in self.all()))

    def check(self, load: bool = False) -> None:
        """Fail fast (ModelError) on a wrong id, no network or no cache; optionally load weights now
        (and the audio decoders, whose first use otherwise costs the first audio request seconds).

        The message names the flag(s) that choose the failing checkpoint.
        """
        pick_device(self.settings.device)  # --device cuda without a GPU
        reachable = functools.cache(hub_reachable)  # asked once, and only for a checkpoint not on disk
        for model_id in self.model_ids():
            flags = " / ".join(p.flag for p in self.all() if p.model_id == model_id)
            try:
                if model_id not in self.registry.remote:
                    check_source(model_id, flags, reachable)  # no folder, no network: in seconds, with the fix
                self.registry.family_of(model_id)
                if load:
                    self.registry.get(model_id)
            except ModelError as exc:
                if exc.key != "load_failed":
                    raise
                raise ModelError("load_failed", model=model_id, reason=(
                    f"{exc.params['reason']} Choose another with {flags}, "
                    "or run `python app.py --tiny` for offline test models.")) from exc
        if load and self.audio_available():
            warm_up_audio()

    def audio_available(self) -> bool:
        """False in image-only mode (e.g. Janus for every tab): the audio tab is then left out."""
        return "audio" in self.registry.family_of(self.audio.model_id).modalities
