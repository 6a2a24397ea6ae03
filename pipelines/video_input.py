"""A video file -> the frames and soundtrack Qwen2.5-Omni takes, within the limits, or a clear InputError.

Decoding is PyAV's (FFmpeg inside its wheels; transformers' video_utils reads videos with it too).
Frames are picked by their timestamps at the rate the model was trained on (qwen-omni-utils: 2 per
second, at least 4), so a variable-frame-rate phone recording is sampled evenly in time. Each frame is
scaled down by FFmpeg as it is decoded, so memory holds only the small frames that are kept. The
soundtrack is decoded to 16 kHz mono, like any audio clip. Nothing is written to disk: PyAV reads the
upload where it lies, and every container is closed on every path.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from . import compat
from .errors import InputError
from .inputs import SAMPLE_RATE, check_rate_and_channels

# qwen-omni-utils (the Qwen team's reference preprocessing): FPS = 2, FPS_MIN_FRAMES = 4. The processor's
# temporal patch is 2 frames, so frames travel in pairs.
SAMPLE_FPS = 2.0
MIN_FRAMES = 4
# A frame past this is refused from the header, before anything is decoded (8K UHD is 33 M pixels).
MAX_FRAME_PIXELS = 8192 * 4320
# Decoding stops after this many frames per second of the limit, whatever the timestamps say
# (a file can claim 1000 fps, or repeat one timestamp forever).
MAX_DECODED_PER_SECOND = 240
# Containers FFmpeg also opens that hold a still picture, not a video (an image renamed .mp4).
IMAGE_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif_pipe", "mjpeg")


@dataclass
class Video:
    """Sampled frames (T, H, W, 3 uint8) at `fps`, the soundtrack of the same span (16 kHz mono float32,
    None when the file has none or it was not asked for), and what was cut to fit the limits."""

    frames: np.ndarray
    fps: float
    audio: np.ndarray | None
    seconds: float            # the span the frames cover
    original_seconds: float   # the file's own length (as far as its header or decoding tells)
    has_soundtrack: bool      # the file has an audio stream (whether or not it was used)
    frame_cut: bool = False   # --max-video-frames ended the sampling before --max-video-seconds
    max_pixels: int = 640 * 360  # the bound each frame was scaled to (the processor keeps it)

    @property
    def trimmed(self) -> bool:
        return self.frame_cut or self.original_seconds > self.seconds + 0.5


def load_video(video, *, max_seconds: float = 30.0, max_frames: int = 64, max_pixels: int = 640 * 360,
               max_mb: float = 20, with_audio: bool = True) -> Video:
    """A video file path -> Video: frames at SAMPLE_FPS, each at most `max_pixels`, over the first
    `max_seconds` (at most `max_frames` frames), and the soundtrack of that span if `with_audio`."""
    import av

    if video is None or (isinstance(video, str) and not video.strip()):
        raise InputError("no_video")
    path = os.fspath(video)
    if not os.path.exists(path):
        raise InputError("file_missing")
    size = os.path.getsize(path)
    if size == 0:
        raise InputError("empty_file")
    if size > max_mb * 2**20:
        raise InputError("file_too_big", size=size / 2**20, limit=max_mb)
    try:
        container = av.open(path, metadata_errors="ignore")
    except Exception:  # noqa: BLE001 - FFmpeg's errors for files it cannot read are many
        raise InputError("not_video") from None
    with container:
        if container.format.name.split(",")[0] in IMAGE_FORMATS or not container.streams.video:
            raise InputError("video_no_picture" if container.streams.audio else "not_video")
        stream = container.streams.video[0]
        if stream.codec_context is None:  # a codec FFmpeg does not know
            raise InputError("video_broken")
        width, height = stream.codec_context.width, stream.codec_context.height
        if width < 1 or height < 1:
            raise InputError("not_video")
        if width * height > MAX_FRAME_PIXELS:
            raise InputError("video_frame_too_big", w=width, h=height, limit=MAX_FRAME_PIXELS)
        declared = _declared_seconds(container, stream)
        has_soundtrack = bool(container.streams.audio)
        if has_soundtrack and with_audio and container.streams.audio[0].codec_context is not None:
            sound = container.streams.audio[0].codec_context  # the caps of the audio tab, before any decoding
            check_rate_and_channels(sound.sample_rate or 0, sound.channels or 0)
        # Short clips: enough frames for the model's minimum (qwen-omni-utils samples them likewise).
        fps = max(SAMPLE_FPS, MIN_FRAMES / declared) if declared and declared < MIN_FRAMES / SAMPLE_FPS else SAMPLE_FPS
        frames, last_time, frame_cut = _sample_frames(container, stream, fps, max_seconds, max_frames,
                                                      _scaled(width, height, max_pixels))
    if not frames:
        raise InputError("video_broken")
    while len(frames) < 2:  # the vision encoder takes frames in pairs
        frames.append(frames[-1])
    seconds = min(max_seconds, len(frames) / fps if frame_cut else max(last_time, declared or 0.0))
    audio = _soundtrack(path, seconds) if with_audio and has_soundtrack else None
    original = max(declared or 0.0, last_time)
    return Video(np.stack(frames), fps, audio, seconds, original, has_soundtrack, frame_cut, max_pixels)


def _declared_seconds(container, stream) -> float | None:
    """The length the header claims (stream first, then container), or None."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000  # av.time_base: microseconds
    return None


def _scaled(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """Width and height (even, aspect kept) within max_pixels: the processor resizes further to its grid."""
    scale = min(1.0, math.sqrt(max_pixels / (width * height)))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def _sample_frames(container, stream, fps: float, max_seconds: float, max_frames: int,
                   size: tuple[int, int]) -> tuple[list[np.ndarray], float, bool]:
    """Frames at `fps` by timestamp over [0, max_seconds), at most max_frames; the last timestamp seen;
    whether max_frames ended the sampling.

    Each sampling time takes the latest frame shown at that time, so a frame held for a second (a
    variable-frame-rate gap) is repeated, and the model's 2-a-second clock stays true to the soundtrack.
    """
    import av

    stream.thread_type = "AUTO"
    frames: list[np.ndarray] = []
    step, next_time, last_time, start = 1.0 / fps, 0.0, 0.0, None
    shown, shown_array = None, None  # the frame on screen, and its pixels once converted
    budget = int(max_seconds * MAX_DECODED_PER_SECOND) + 10

    def take() -> bool:
        """Sample the frame on screen at next_time; False once max_frames are taken."""
        nonlocal next_time, shown_array
        if len(frames) >= max_frames:
            return False
        if shown_array is None:
            shown_array = shown.to_ndarray(format="rgb24", width=size[0], height=size[1])
        frames.append(shown_array)
        next_time += step
        return True

    try:
        for decoded, frame in enumerate(container.decode(stream)):
            if frame.time is None:  # no timestamps at all: count frames at the declared rate
                time = decoded / float(stream.average_rate or stream.guessed_rate or 25)
            else:
                start = frame.time if start is None else start
                time = frame.time - start
            if time >= max_seconds or decoded >= budget:
                break
            while shown is not None and next_time < time - 1e-6:
                if not take():
                    return frames, last_time, True
            shown, shown_array, last_time = frame, None, max(last_time, time)
        while shown is not None and next_time <= last_time + 1e-6 and next_time < max_seconds:
            if not take():
                return frames, last_time, True
    except (av.error.FFmpegError, ValueError, MemoryError):
        # Damaged data (a truncated or corrupt file, a codec FFmpeg lacks): nothing sound to answer on.
        raise InputError("video_broken") from None
    return frames, last_time, False


def _soundtrack(path: str, seconds: float) -> np.ndarray | None:
    """The first audio stream over [0, seconds] as 16 kHz mono float32; None if it holds no sound."""
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    parts, wanted = [], int(seconds * SAMPLE_RATE)
    try:
        with av.open(path, metadata_errors="ignore") as container:
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
                if sum(len(p) for p in parts) >= wanted:
                    break
    except (av.error.FFmpegError, ValueError, MemoryError):
        raise InputError("video_broken") from None
    samples = np.concatenate(parts)[:wanted] if parts else np.zeros(0, np.float32)
    if samples.size < SAMPLE_RATE // 10 or not np.isfinite(samples).all():
        return None
    return np.ascontiguousarray(samples, dtype=np.float32)


def model_inputs(processor, messages: list[dict], clip: Video):
    """The chat with one Video -> the processor's tensors, the soundtrack interleaved with the frames.

    transformers 5.23's apply_chat_template decodes a video's sound itself only through torchcodec;
    the soundtrack decoded here is handed over instead (`audio_from_video_indices`, the path the
    processor keeps for callers that decoded it already), with the model's own frame rate, so the
    processor places 2 s of audio tokens after each 2 s of frames as the model was trained.
    """
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    size = frame_bounds(processor, clip)
    kwargs = dict(text=prompt, videos=[clip.frames], return_tensors="pt",
                  videos_kwargs=dict(fps=clip.fps, do_sample_frames=False, size=size,
                                     cap_pixels_per_frame=True))  # qwen-omni-utils' total bound
    # A question spoken beside the video (issue 28): standalone clips, in the order of their placeholders.
    spoken = [p["audio"] for m in messages if not isinstance(m["content"], str)
              for p in m["content"] if p.get("type") == "audio"]
    if clip.audio is not None:
        kwargs.update(audio=[clip.audio, *spoken], audio_from_video_indices=[0, *[None] * len(spoken)],
                      load_audio_from_video=True)
    elif spoken:
        kwargs.update(audio=spoken)
    inputs = processor(**kwargs)
    return inputs, clip.audio is not None


def frame_bounds(processor, clip: Video) -> dict:
    """The processor's own video bounds (Qwen2_5OmniProcessor.videos_kwargs: 128 to 768 x 28² pixels a
    frame) kept within --max-video-pixels, as a `size` for its call.

    Lowering the upper bound alone is not enough: the processor scales a frame below the lower bound up
    (rounding each side up to its grid) and, with `cap_pixels_per_frame`, lifts the upper bound to 1.05x
    the lower one; either can take a frame past the limit. So the lower bound stays under limit / 1.05,
    and is dropped to one grid cell for a frame its upscaling would take past the limit.
    """
    bounds, limit = processor.videos_kwargs["size"], clip.max_pixels
    vp = processor.video_processor
    factor = vp.patch_size * vp.merge_size
    low = min(bounds["shortest_edge"], int(limit / 1.05))
    height, width = clip.frames.shape[1:3]
    h, w = compat.smart_resize(height, width, factor=factor, min_pixels=low, max_pixels=limit)
    if h * w > limit:
        low = factor * factor
    return {"shortest_edge": low, "longest_edge": min(bounds["longest_edge"], limit)}


def to_mp4(clip: Video) -> bytes:
    """The sampled frames (at their 2 a second) and the soundtrack as a small H.264/AAC MP4, for an engine
    that takes video by URL (pipelines/remote.py): the engine sees what the local model would."""
    import io

    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=int(round(clip.fps)))
        video.height, video.width = clip.frames.shape[1] // 2 * 2, clip.frames.shape[2] // 2 * 2
        video.pix_fmt = "yuv420p"
        sound = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono") if clip.audio is not None else None
        for frame in clip.frames:
            img = np.ascontiguousarray(frame[:video.height, :video.width])
            out.mux(video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(video.encode())
        if sound is not None:
            block = sound.codec_context.frame_size or 1024
            for i in range(0, len(clip.audio), block):
                piece = av.AudioFrame.from_ndarray(clip.audio[None, i:i + block], format="fltp", layout="mono")
                piece.sample_rate, piece.pts = SAMPLE_RATE, i
                out.mux(sound.encode(piece))
            out.mux(sound.encode())
    return buf.getvalue()
