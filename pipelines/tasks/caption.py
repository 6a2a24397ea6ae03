"""Caption: image -> streamed description, in English or Chinese."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from PIL import Image

from ..inputs import load_image
from .base import Pipeline


CAPTION_PROMPTS = {
    "en": "Describe this image in detail.",
    "zh": "请用中文详细描述这张图片。",
}



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
