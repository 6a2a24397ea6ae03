"""Spoken conversation (the Talk tab, issue 28): each turn is what the person said (a clip the model hears: no
transcript is made) and, with the camera on, the latest frame; earlier turns are kept as their clips and answers."""

from __future__ import annotations

import numpy as np

from ..inputs import SAMPLE_RATE, load_image
from ..listening import Said
from .base import Request
from .chat import ChatPipeline


class TalkPipeline(ChatPipeline):
    """A spoken turn (+ the camera's latest frame) + the earlier spoken turns -> streamed answer, then spoken.

    Runs on the audio tab's checkpoint (--audio-model): it must hear. The earlier turns are at most
    --max-history-turns, each clip within --max-audio-seconds (pipelines/listening.py bounds them as they are
    heard), so a conversation's prompt stays bounded however long it runs."""

    task = "talk"
    needs = "audio"

    @property
    def flag(self) -> str:
        return "--audio-model"

    def prepare(self, heard: np.ndarray, frame=None, history: list[Said] | None = None) -> Request:
        """The checked request: the clip (16 kHz mono float32, cut to --max-audio-seconds), the frame (a path,
        PIL image or an RGB array; None: camera off) within --max-image-side, the kept turns."""
        samples = np.ascontiguousarray(heard, dtype=np.float32)[: int(self.settings.max_audio_seconds * SAMPLE_RATE)]
        content = []
        if frame is not None:
            if isinstance(frame, np.ndarray):
                from PIL import Image

                frame = Image.fromarray(np.ascontiguousarray(frame[..., :3]).astype(np.uint8))
            content.append({"type": "image", "image": load_image(frame, self.settings.max_image_side,
                                                                  self.settings.max_image_pixels)})
        content.append({"type": "audio", "audio": samples})
        kept = self.settings.max_history_turns
        earlier: list[dict] = []
        for said in (list(history or [])[-kept:] if kept > 0 else []):
            earlier.append({"role": "user", "content": [{"type": "audio", "audio": said.clip}]})
            earlier.append({"role": "assistant", "content": [{"type": "text", "text": said.answer[:4 * self.settings.max_prompt_chars]}]})
        return self.request_of(self._messages(content, earlier), media=samples)
