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


@dataclass
class Settings:
    """Model choice and limits. `env` names the environment variable of each field."""

    caption_model: str = field(default=DEFAULT_UNDERSTANDING_MODEL, metadata={"env": "MMDEMO_CAPTION_MODEL"})
    vqa_model: str = field(default=DEFAULT_UNDERSTANDING_MODEL, metadata={"env": "MMDEMO_VQA_MODEL"})
    audio_model: str = field(default=DEFAULT_UNDERSTANDING_MODEL, metadata={"env": "MMDEMO_AUDIO_MODEL"})
    image_model: str = field(default=DEFAULT_IMAGE_MODEL, metadata={"env": "MMDEMO_IMAGE_MODEL"})
    device: str = field(default="auto", metadata={"env": "MMDEMO_DEVICE"})  # auto | cpu | cuda
    max_new_tokens: int = field(default=512, metadata={"env": "MMDEMO_MAX_NEW_TOKENS"})
    max_image_side: int = field(default=1024, metadata={"env": "MMDEMO_MAX_IMAGE_SIDE"})
    max_image_pixels: int = field(default=20_000 * 20_000 // 4, metadata={"env": "MMDEMO_MAX_IMAGE_PIXELS"})
    max_audio_seconds: float = field(default=30.0, metadata={"env": "MMDEMO_MAX_AUDIO_SECONDS"})
    max_prompt_chars: int = field(default=2000, metadata={"env": "MMDEMO_MAX_PROMPT_CHARS"})
    max_file_mb: int = field(default=20, metadata={"env": "MMDEMO_MAX_FILE_MB"})
    max_history_turns: int = field(default=4, metadata={"env": "MMDEMO_MAX_HISTORY_TURNS"})
    max_images: int = field(default=4, metadata={"env": "MMDEMO_MAX_IMAGES"})
    queue_size: int = field(default=32, metadata={"env": "MMDEMO_QUEUE_SIZE"})
    # Batching: concurrent text requests for one model share one generate() (see generation.Batcher).
    # 1 = off. On a GPU, 8 lets 8 users decode for about the price of one. The wait applies only
    # while the model is busy: a lone user never waits.
    max_batch_size: int = field(default=1, metadata={"env": "MMDEMO_MAX_BATCH_SIZE"})
    max_batch_wait_ms: float = field(default=25.0, metadata={"env": "MMDEMO_MAX_BATCH_WAIT_MS"})

    @classmethod
    def from_env(cls, environ=os.environ, **overrides) -> "Settings":
        """Defaults, then environment variables, then explicit (non-None) overrides."""
        values = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw not in (None, ""):
                values[f.name] = type(f.default)(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def use_single_checkpoint(self, model_id: str) -> None:
        """Serve every tab from one checkpoint (e.g. Janus-Pro for image-only use)."""
        self.caption_model = self.vqa_model = self.audio_model = self.image_model = model_id
