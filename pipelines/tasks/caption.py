"""Caption: image -> streamed description, in English or Chinese."""

from __future__ import annotations

from PIL import Image

from ..inputs import load_image
from ..sampling import Steering
from .base import Pipeline, Request


CAPTION_PROMPTS = {
    "en": "Describe this image in detail.",
    "zh": "请用中文详细描述这张图片。",
}


class CaptionPipeline(Pipeline):
    """Image -> streamed description, in English or Chinese."""

    task = "caption"

    def prepare(self, image, language: str = "en", steering: Steering | None = None) -> Request:
        """The checked request: the image loaded within the limits, the prompt in `language`, the processor's output."""
        img = load_image(image, self.settings.max_image_side, self.settings.max_image_pixels)
        return self.request_of(self.messages(img, language), steering, media=img)

    def messages(self, img: Image.Image, language: str = "en") -> list[dict]:
        """The chat the model gets (tests render it through the processor, as generation does)."""
        prompt = CAPTION_PROMPTS.get(language, CAPTION_PROMPTS["en"])
        return self._messages([{"type": "image", "image": img}, {"type": "text", "text": prompt}])
