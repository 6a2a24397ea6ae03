"""Image chat (VQA): image(s) + question + earlier turns -> streamed answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from PIL import Image

from ..errors import InputError
from ..inputs import check_text, load_image
from .base import Pipeline


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
        return self.answer(self.request(image, question, history), max_new_tokens, stop)

    def request(self, image, question: str, history: list[tuple[str, str]] | None = None) -> list[dict]:
        """The checked request as the model's messages (inputs refused here, before any model work)."""
        turns = self.kept_turns(history)
        images = [i for i in image if i] if isinstance(image, (list, tuple)) else [image]
        if len(images) > self.settings.max_question_images:
            raise InputError("too_many_images", count=len(images), limit=self.settings.max_question_images)
        imgs = [load_image(i, self.settings.max_image_side, self.settings.max_image_pixels)
                for i in images or [None]]  # none at all: load_image says "add an image"
        question = check_text(question, "question", self.settings.max_prompt_chars)
        return self.messages(imgs, question, turns)

    def messages(self, imgs: Image.Image | list[Image.Image], question: str,
                 history: list[tuple[str, str]] | None = None) -> list[dict]:
        """The chat the model gets: the kept turns, the images in the first of them, then the question."""
        imgs = imgs if isinstance(imgs, list) else [imgs]
        return self._chat([{"type": "image", "image": img} for img in imgs], question, history)

    def _chat(self, media: list[dict], question: str, history: list[tuple[str, str]] | None) -> list[dict]:
        """The kept turns with `media` (content parts) in the first of them, as the model was trained, then the question."""
        turns = self.kept_turns(history)
        previous: list[dict] = []
        for q, a in turns:
            previous.append({"role": "user", "content": [{"type": "text", "text": q}]})
            previous.append({"role": "assistant", "content": [{"type": "text", "text": a}]})
        if previous:
            previous[0]["content"][:0] = media
            content = [{"type": "text", "text": question}]
        else:
            content = [*media, {"type": "text", "text": question}]
        return self._messages(content, previous)
