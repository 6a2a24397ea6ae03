"""Audio Q&A: clip + question -> streamed answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from ..inputs import Audio, check_text, load_audio
from .base import Pipeline


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
