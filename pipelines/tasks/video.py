"""Video chat: a video (its frames and, unless switched off, its soundtrack) + question + earlier turns ->
streamed answer, on the same shared checkpoint as the image and audio tabs."""

from __future__ import annotations

from ..video_input import Video, load_video
from ..zerogpu import video_seconds
from ..sampling import Steering
from .base import Request
from .chat import ChatPipeline


class VideoQAPipeline(ChatPipeline):
    """Video + question (+ earlier turns about the same video) -> streamed answer.

    Follow-ups keep context as the image chat does (ChatPipeline.kept_turns): the video rides in the
    first kept turn. `sound=False` leaves the soundtrack out (the model then sees the frames only).
    """

    task = "video"
    needs = "video"

    def load(self, video, sound: bool = True) -> Video:
        """The file -> Video within the --max-video-* limits (trimmed, never refused, when too long)."""
        s = self.settings
        return load_video(video, max_seconds=s.max_video_seconds, max_frames=s.max_video_frames,
                          max_pixels=s.max_video_pixels, max_mb=s.max_video_mb, with_audio=sound)

    def prepare(self, video, question: str, history: list[tuple[str, str]] | None = None,
                sound: bool = True, steering: Steering | None = None, spoken=None) -> Request:
        """The checked request: the question first (a missing one is said before seconds of decoding), then the
        video decoded within the limits (or a Video already decoded, for a follow-up: `request.media`), with a
        notice when it was trimmed or has no sound to hear. `spoken`: the question as a recording (issue 28; the
        typed question may then be empty)."""
        question, heard, notices = self.spoken_question(question, spoken)
        if isinstance(video, Video):
            clip = video
        else:
            clip = self.load(video, bool(sound))
            if clip.trimmed:
                notices.append(("video_trimmed", dict(seconds=clip.original_seconds, used=clip.seconds,
                                                      frames=len(clip.frames))))
            if sound and not clip.has_soundtrack:
                notices.append(("video_no_sound", {}))
        return self.request_of(self.messages(clip, question, history, heard), steering, media=clip, notices=notices,
                               question=question)

    def messages(self, clip: Video, question: str, history: list[tuple[str, str]] | None = None,
                 heard=None) -> list[dict]:
        return self._chat([{"type": "video", "video": clip}], question, history, heard)

    def gpu_seconds(self, messages, max_new_tokens: int, stop=None, inputs=None, steering=None) -> int:
        clip = next(p["video"] for m in messages if not isinstance(m["content"], str)
                    for p in m["content"] if p.get("type") == "video")
        audio = 0.0 if clip.audio is None else len(clip.audio) / 16_000
        return video_seconds(len(clip.frames), audio, max_new_tokens)
