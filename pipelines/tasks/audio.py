"""Audio Q&A: clip + question -> streamed answer."""

from __future__ import annotations

from ..inputs import Audio, check_text, load_audio
from ..sampling import Steering
from .base import Pipeline, Request


class AudioQAPipeline(Pipeline):
    """Audio clip + question -> streamed answer."""

    task = "audio"
    needs = "audio"

    def prepare(self, audio, question: str, steering: Steering | None = None) -> Request:
        """The checked request: the question first (a missing one is said at once, not after seconds of decoding
        audio), then the clip within --max-audio-seconds, with a notice when it was trimmed."""
        question = check_text(question, "question", self.settings.max_prompt_chars)
        clip = audio if isinstance(audio, Audio) else load_audio(audio, self.settings.max_audio_seconds)
        notices = [("audio_trimmed", dict(seconds=clip.original_seconds, limit=self.settings.max_audio_seconds))
                   ] if clip.trimmed else []
        return self.request_of(self.messages(clip, question), steering, media=clip, notices=notices,
                               question=question)

    def messages(self, clip: Audio, question: str) -> list[dict]:
        return self._messages([{"type": "audio", "audio": clip.samples}, {"type": "text", "text": question}])
