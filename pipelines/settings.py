"""Every knob of the app in one place: model ids and limits, from CLI flags or environment.

A flag wins over its environment variable, which wins over the default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

# The default line-up: as few checkpoints as possible, all transformers-native.
# Qwen2.5-Omni's thinker hears audio and sees images (caption, VQA, audio Q&A);
# Janus-Pro draws (no transformers model both hears and draws). See README "Models".
DEFAULT_UNDERSTANDING_MODEL = "Qwen/Qwen2.5-Omni-3B"
DEFAULT_IMAGE_MODEL = "deepseek-community/Janus-Pro-1B"
# Search by meaning: a contrastive image-text model that reads Chinese and English (README "Search by meaning").
DEFAULT_SEARCH_MODEL = "google/siglip2-base-patch16-224"


@dataclass
class Settings:
    """Model choice and limits. `env` names the environment variable of each field."""

    caption_model: str = field(default=DEFAULT_UNDERSTANDING_MODEL, metadata={"env": "MMDEMO_CAPTION_MODEL"})
    vqa_model: str = field(default=DEFAULT_UNDERSTANDING_MODEL, metadata={"env": "MMDEMO_VQA_MODEL"})
    audio_model: str = field(default=DEFAULT_UNDERSTANDING_MODEL, metadata={"env": "MMDEMO_AUDIO_MODEL"})
    image_model: str = field(default=DEFAULT_IMAGE_MODEL, metadata={"env": "MMDEMO_IMAGE_MODEL"})
    video_model: str = field(default=DEFAULT_UNDERSTANDING_MODEL, metadata={"env": "MMDEMO_VIDEO_MODEL"})
    search_model: str = field(default=DEFAULT_SEARCH_MODEL, metadata={"env": "MMDEMO_SEARCH_MODEL"})
    # A second checkpoint that answers the same image question beside --vqa-model (the Compare models tab, issue 30).
    compare_model: str = field(default="", metadata={"env": "MMDEMO_COMPARE_MODEL"})
    device: str = field(default="auto", metadata={"env": "MMDEMO_DEVICE"})  # auto | cpu | cuda
    # 8-bit or 4-bit weights for the language models' decoder layers (pipelines/quantize.py, README "Quantized weights")
    quantize: str = field(default="none", metadata={"env": "MMDEMO_QUANTIZE", "choices": ("none", "int8", "nf4")})
    max_new_tokens: int = field(default=512, metadata={"env": "MMDEMO_MAX_NEW_TOKENS"})
    max_image_side: int = field(default=1024, metadata={"env": "MMDEMO_MAX_IMAGE_SIDE"})
    max_image_pixels: int = field(default=20_000 * 20_000 // 4, metadata={"env": "MMDEMO_MAX_IMAGE_PIXELS"})
    max_audio_seconds: float = field(default=30.0, metadata={"env": "MMDEMO_MAX_AUDIO_SECONDS"})
    # Video (the "Ask about a video" tab): what bounds its cost. Frames are sampled at 2 a second, as
    # Qwen2.5-Omni was trained; the defaults (30 s, 64 frames of at most 640x360) come to about 9,400
    # visual and 750 audio tokens, which fit a 24 GB GPU beside the 3B thinker (bench/RESULTS.md).
    max_video_seconds: float = field(default=30.0, metadata={"env": "MMDEMO_MAX_VIDEO_SECONDS"})
    max_video_frames: int = field(default=64, metadata={"env": "MMDEMO_MAX_VIDEO_FRAMES", "min": 2})
    max_video_pixels: int = field(default=640 * 360, metadata={"env": "MMDEMO_MAX_VIDEO_PIXELS"})
    # A video file is bounded by this and, like every upload, by --max-file-mb (raise both for longer clips).
    max_video_mb: int = field(default=20, metadata={"env": "MMDEMO_MAX_VIDEO_MB"})
    max_prompt_chars: int = field(default=2000, metadata={"env": "MMDEMO_MAX_PROMPT_CHARS"})
    max_file_mb: int = field(default=20, metadata={"env": "MMDEMO_MAX_FILE_MB"})
    # Everything the app writes (uploads, `data:` images, drawn images), oldest out first.
    max_cache_mb: int = field(default=1024, metadata={"env": "MMDEMO_MAX_CACHE_MB"})
    max_history_turns: int = field(default=4, metadata={"env": "MMDEMO_MAX_HISTORY_TURNS", "min": 0})
    max_images: int = field(default=4, metadata={"env": "MMDEMO_MAX_IMAGES"})
    max_question_images: int = field(default=4, metadata={"env": "MMDEMO_MAX_QUESTION_IMAGES"})
    queue_size: int = field(default=32, metadata={"env": "MMDEMO_QUEUE_SIZE"})
    # Cheap routes (the page's unqueued events, /status, /info, /config, starting an API call) per client
    # address: a burst of 15 s worth, then this rate. Raise it when many people share one address (NAT).
    max_requests_per_second: float = field(default=20.0, metadata={"env": "MMDEMO_MAX_REQUESTS_PER_SECOND"})
    # Where caption, VQA and audio Q&A run: in this process ("local") or on an OpenAI-compatible
    # engine ("openai": vLLM, SGLang, `transformers serve`). Text-to-image always runs here.
    backend: str = field(default="local", metadata={"env": "MMDEMO_BACKEND"})
    endpoint: str = field(default="", metadata={"env": "MMDEMO_ENDPOINT"})
    api_key: str = field(default="", metadata={"env": "MMDEMO_API_KEY"}, repr=False)
    served_model: str = field(default="", metadata={"env": "MMDEMO_SERVED_MODEL"})  # default: the task's model id
    remote_timeout: float = field(default=60.0, metadata={"env": "MMDEMO_REMOTE_TIMEOUT"})
    remote_concurrency: int = field(default=16, metadata={"env": "MMDEMO_REMOTE_CONCURRENCY"})
    # Batching: concurrent text requests for one model share one generate() (see generation.Batcher).
    # 1 = off. On a GPU, 8 lets 8 users decode for about the price of one. The wait applies only
    # while the model is busy: a lone user never waits.
    max_batch_size: int = field(default=1, metadata={"env": "MMDEMO_MAX_BATCH_SIZE"})
    max_batch_wait_ms: float = field(default=25.0, metadata={"env": "MMDEMO_MAX_BATCH_WAIT_MS"})
    # Search by meaning (pipelines/search_index.py): a server folder searched beside the bundled assets, where
    # the embeddings are cached (default ~/.cache/mmdemo/search), and what bounds one search's cost.
    gallery: str = field(default="", metadata={"env": "MMDEMO_GALLERY"})
    search_cache: str = field(default="", metadata={"env": "MMDEMO_SEARCH_CACHE"})
    max_gallery_items: int = field(default=10_000, metadata={"env": "MMDEMO_MAX_GALLERY_ITEMS"})
    max_query_chars: int = field(default=200, metadata={"env": "MMDEMO_MAX_QUERY_CHARS"})
    max_labels: int = field(default=16, metadata={"env": "MMDEMO_MAX_LABELS"})
    max_matrix_images: int = field(default=8, metadata={"env": "MMDEMO_MAX_MATRIX_IMAGES"})
    # Spoken answers (pipelines/speech.py): the longest one, in seconds; the text answer is never cut.
    max_speech_seconds: float = field(default=60.0, metadata={"env": "MMDEMO_MAX_SPEECH_SECONDS"})

    @classmethod
    def from_env(cls, environ=os.environ, **overrides) -> "Settings":
        """Defaults, then environment variables, then explicit (non-None) overrides."""
        values = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw not in (None, ""):
                try:
                    values[f.name] = type(f.default)(raw)
                except ValueError:
                    raise ValueError(f"{f.metadata['env']}={raw!r} is not a {type(f.default).__name__}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def __post_init__(self):
        """A limit of 0 or less would refuse every request (or, for the queue, hang them): refuse it now."""
        for f in fields(self):
            if f.name.startswith(("max_", "queue_")):
                value, least = getattr(self, f.name), f.metadata.get("min", 1)
                if not value >= least:  # also catches NaN
                    raise ValueError(f"--{f.name.replace('_', '-')} ({f.metadata['env']}) must be at least "
                                     f"{least}, not {value}")
                if value == float("inf"):  # "no limit" is not one: e.g. the spoken length's codes overflow
                    raise ValueError(f"--{f.name.replace('_', '-')} ({f.metadata['env']}) must be a finite number, "
                                     f"not {value}")
        for f in fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise ValueError(f"--{f.name.replace('_', '-')} ({f.metadata['env']}) must be one of "
                                 f"{', '.join(choices)}, not {getattr(self, f.name)!r}")
        if self.max_cache_mb < self.max_file_mb:
            raise ValueError(f"--max-cache-mb ({self.max_cache_mb}) must be at least --max-file-mb ({self.max_file_mb})")

    def use_single_checkpoint(self, model_id: str) -> None:
        """Serve every tab from one checkpoint (e.g. Janus-Pro for image-only use)."""
        self.caption_model = self.vqa_model = self.audio_model = self.image_model = self.video_model = model_id
