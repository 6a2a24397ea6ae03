"""Image chat (VQA): image(s) + question + earlier turns -> streamed answer."""

from __future__ import annotations

from PIL import Image

from ..errors import InputError
from ..inputs import load_image
from ..sampling import Steering
from .base import Request
from .chat import ChatPipeline


class VQAPipeline(ChatPipeline):
    """Image(s) + question (+ earlier turns about the same images) -> streamed answer.

    `image` is one image or a list of them (compare two photos, read across pages), at most
    settings.max_question_images."""

    task = "vqa"

    def prepare(self, image, question: str, history: list[tuple[str, str]] | None = None,
                steering: Steering | None = None, spoken=None) -> Request:
        """The checked request (inputs refused here, before any model work): images loaded, the kept turns, the
        processor's output. `spoken`: the question as a recording (issue 28; the typed question may then be empty)."""
        turns = self.kept_turns(history)
        images = [i for i in image if i] if isinstance(image, (list, tuple)) else [image]
        if len(images) > self.settings.max_question_images:
            raise InputError("too_many_images", count=len(images), limit=self.settings.max_question_images)
        imgs = [load_image(i, self.settings.max_image_side, self.settings.max_image_pixels)
                for i in images or [None]]  # none at all: load_image says "add an image"
        question, heard, notices = self.spoken_question(question, spoken)
        return self.request_of(self.messages(imgs, question, turns, heard), steering, media=imgs, question=question,
                               notices=notices)

    def messages(self, imgs: Image.Image | list[Image.Image], question: str,
                 history: list[tuple[str, str]] | None = None, heard=None) -> list[dict]:
        """The chat the model gets: the kept turns, the images in the first of them, then the question (and its
        spoken clip, `heard`)."""
        imgs = imgs if isinstance(imgs, list) else [imgs]
        return self._chat([{"type": "image", "image": img} for img in imgs], question, history, heard)
