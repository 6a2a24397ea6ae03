"""The task pipelines, one module each, over one shared registry. `Pipelines` is the app's single
entry point to models; each pipeline holds the shared model of its checkpoint, fetched lazily.

Every task takes a request in one shape (base.py): `prepare(raw inputs) -> Request`, then `answer(request)`
streams events: the text tasks the growing answer, text-to-image a Progress per image token, Previews, then
Drawn."""

from __future__ import annotations

import functools
import logging

from ..errors import ModelError, Text
from ..inputs import warm_up_audio
from ..registry import ModelRegistry, check_source, hub_reachable, pick_device
from ..remote import remote_models
from ..settings import Settings
from .audio import AudioQAPipeline
from .base import Pipeline, Request
from .caption import CAPTION_PROMPTS, CaptionPipeline
from .chat import ChatPipeline
from .search import Matrix, Ranked, SearchPipeline
from .talk import TalkPipeline
from .image import DrawRequest, Drawn, Preview, Progress, TextToImagePipeline
from .video import VideoQAPipeline
from .vqa import VQAPipeline

log = logging.getLogger(__name__)

__all__ = ["CAPTION_PROMPTS", "AudioQAPipeline", "CaptionPipeline", "ChatPipeline", "DrawRequest", "Drawn", "Pipeline",
           "Pipelines", "Preview", "Progress", "Request", "Matrix", "Ranked", "SearchPipeline", "TalkPipeline",
           "TextToImagePipeline", "VQAPipeline", "VideoQAPipeline"]


class Pipelines:
    """The task pipelines over one registry: the app's single entry point to models."""

    def __init__(self, settings: Settings, registry: ModelRegistry | None = None):
        self.settings = settings
        self.registry = registry or ModelRegistry(settings.device, remote=remote_models(settings),
                                                  max_batch_size=settings.max_batch_size,
                                                  batch_wait=settings.max_batch_wait_ms / 1000,
                                                  quantize=settings.quantize)
        self.caption = CaptionPipeline(self.registry, settings.caption_model, settings)
        self.vqa = VQAPipeline(self.registry, settings.vqa_model, settings)
        self.audio = AudioQAPipeline(self.registry, settings.audio_model, settings)
        self.image = TextToImagePipeline(self.registry, settings.image_model, settings)
        self.video = VideoQAPipeline(self.registry, settings.video_model, settings)
        self.search = SearchPipeline(self.registry, settings.search_model, settings)
        # The Talk tab (issue 28) hears on the audio tab's checkpoint; not in all(): it adds no checkpoint or flag.
        self.talk = TalkPipeline(self.registry, settings.audio_model, settings)
        self.device_warnings: list = []  # device.DeviceWarning: set at start-up (app.py), shown on the page
        self.memory_plan = None  # device.MemoryPlan: the start-up memory estimate, shown in Status

    def all(self) -> list[Pipeline]:
        return [self.caption, self.vqa, self.audio, self.image, self.video]

    def shown(self) -> list[Pipeline]:
        """Every task the page lists (header, Status): all(), and the search tab's encoder. Search stays out of
        all(), which the start-up check and memory plan walk: its small encoder loads on the first search, and a
        missing one fails that tab alone (its message names --search-model), not the app's start."""
        return [*self.all(), self.search]

    def model_ids(self) -> list[str]:
        """Every checkpoint to check, plan memory for and (with --preload) load: the tabs' and --compare-model."""
        return list(dict.fromkeys([*(p.model_id for p in self.all()), *filter(None, [self.settings.compare_model])]))

    def compared(self, task: str = "vqa") -> Pipeline | None:
        """The task's pipeline on --compare-model (the same class, its own checkpoint, loaded once through the
        registry), or None: no second model, or one that cannot take the task's input."""
        from ..compare import compare_pipeline

        return compare_pipeline(self, task)

    def check(self, load: bool = False) -> None:
        """Fail fast (ModelError) on a wrong id, no network or no cache; optionally load weights now
        (and the audio decoders, whose first use otherwise costs the first audio request seconds).

        The message names the flag(s) that choose the failing checkpoint.
        """
        pick_device(self.settings.device)  # --device cuda without a GPU
        reachable = functools.cache(hub_reachable)  # asked once, and only for a checkpoint not on disk
        for model_id in self.model_ids():
            flags = " / ".join([*(p.flag for p in self.all() if p.model_id == model_id),
                                *(["--compare-model"] if model_id == self.settings.compare_model else [])])
            try:
                if model_id not in self.registry.remote:
                    check_source(model_id, flags, reachable)  # no folder, no network: in seconds, with the fix
                self.registry.family_of(model_id)
                if model_id not in self.registry.remote:  # --quantize (or the checkpoint's own): refused now
                    self.registry.quantization_of(model_id)  # where this machine cannot run it
                if load and model_id not in self.registry.off:  # left out where it would not fit (device.py)
                    self.registry.get(model_id)
            except ModelError as exc:
                if exc.key != "load_failed":
                    raise
                raise ModelError("load_failed", model=model_id, reason=Text(
                    "reason_choose_another", dict(reason=exc.params["reason"], flags=flags))) from exc
        if load and self.search.model_id not in self.model_ids():
            self._load_search(reachable)
        if load and self.audio_available():
            warm_up_audio()

    def _load_search(self, reachable) -> None:
        """With the weights asked for now (--preload, a Space), the Search tab's encoder loads too: on ZeroGPU at
        start-up like the others, outside any GPU function. A missing one is logged and fails that tab alone."""
        model_id = self.search.model_id
        try:
            if model_id not in self.registry.remote:
                check_source(model_id, self.search.flag, reachable)
            self.registry.get(model_id)
        except ModelError as exc:
            log.warning("the Search tab's model %s did not load: %s", model_id, exc)

    def load_speech(self, required: bool = True) -> None:
        """Load the talker and token2wav now (--voice; on ZeroGPU always, outside the GPU worker) for every task
        that can speak. `required=False`: a checkpoint whose speech fails to load still answers in text."""
        if self.registry.speech_off:  # they would not fit: device.py said so at start-up
            return
        for model_id in dict.fromkeys(p.model_id for p in (self.vqa, self.audio, self.video)
                                      if p.model_id not in self.registry.off and p.speaks):
            try:
                self.registry.speech(model_id)
            except ModelError as exc:
                if required:
                    raise
                log.warning("spoken answers of %s are off: %s", model_id, exc)

    def audio_available(self) -> bool:
        """False in image-only mode (e.g. Janus for every tab): the audio tab is then left out."""
        return self.audio.hears

    def video_available(self) -> bool:
        """False where the video model does not take video (e.g. Janus for every tab): the video tab is then left out."""
        return "video" in self.registry.family_of(self.video.model_id).modalities
