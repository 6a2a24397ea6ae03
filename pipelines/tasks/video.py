"""Video chat: a video (its frames and, unless switched off, its soundtrack) + question + earlier turns ->
streamed answer, on the same shared checkpoint as the image and audio tabs."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from ..inputs import check_text
from ..video_input import Video, load_video
from ..zerogpu import video_seconds
from .vqa import VQAPipeline


class VideoQAPipeline(VQAPipeline):
    """Video + question (+ earlier turns about the same video) -> streamed answer.

    Follow-ups keep context as the image chat does (VQAPipeline.kept_turns): the video rides in the
    first kept turn. `sound=False` leaves the soundtrack out (the model then sees the frames only).
    """

    task = "video"
    needs = "video"

    def load(self, video, sound: bool = True) -> Video:
        """The file -> Video within the --max-video-* limits (trimmed, never refused, when too long)."""
        s = self.settings
        return load_video(video, max_seconds=s.max_video_seconds, max_frames=s.max_video_frames,
                          max_pixels=s.max_video_pixels, max_mb=s.max_video_mb, with_audio=sound)

    def __call__(self, video, question: str, history: list[tuple[str, str]] | None = None,
                 sound: bool = True, max_new_tokens: int | None = None,
                 stop: threading.Event | None = None) -> Iterator[str]:
        question = check_text(question, "question", self.settings.max_prompt_chars)
        clip = video if isinstance(video, Video) else self.load(video, sound)
        return self.generate(self.messages(clip, question, history), self._tokens(max_new_tokens), stop)

    def messages(self, clip: Video, question: str, history: list[tuple[str, str]] | None = None) -> list[dict]:
        return self._chat([{"type": "video", "video": clip}], question, history)

    def gpu_seconds(self, messages, max_new_tokens: int, stop=None) -> int:
        clip = next(p["video"] for m in messages if not isinstance(m["content"], str)
                    for p in m["content"] if p.get("type") == "video")
        audio = 0.0 if clip.audio is None else len(clip.audio) / 16_000
        return video_seconds(len(clip.frames), audio, max_new_tokens)
