"""Turn whatever a user uploads into what a model takes, or a clear InputError.

Images: opened with a decompression-bomb guard, first frame only, any mode -> RGB,
downscaled to the model's working size before anything else touches them.
Audio: any format the decoders read -> 16 kHz mono float32, trimmed to the limit.
Text: stripped, non-empty, within the length limit.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from .errors import InputError

SAMPLE_RATE = 16_000  # what the audio encoders (Whisper features) expect

# librosa tries soundfile first and falls back to audioread (ffmpeg) for what soundfile cannot
# read (m4a, webm from some browsers' microphones, broken files): expected here, so not a
# warning in the server log at every such request.
warnings.filterwarnings("ignore", message="PySoundFile failed", category=UserWarning)
warnings.filterwarnings("ignore", message=r".*audioread", category=FutureWarning)


# Image.MAX_IMAGE_PIXELS is global: set it per call, one call at a time (opening is quick;
# the model queue runs one request at a time anyway).
_PIL_LIMIT = threading.Lock()
MAX_ASPECT = 100  # wider/taller than this is a sliver the vision encoders cannot tile


def load_image(image, max_side: int = 1024, max_pixels: int = 100_000_000) -> Image.Image:
    """A file path or PIL image -> RGB PIL image no larger than max_side."""
    if image is None or (isinstance(image, str) and not image.strip()):
        raise InputError("no_image")
    img = image if isinstance(image, Image.Image) else _open_image(os.fspath(image), max_side, max_pixels)
    _check_size(img, max_pixels)
    if max(img.size) > max_side:  # first, so nothing below works on the full size
        img = ImageOps.contain(img, (max_side, max_side), Image.Resampling.LANCZOS)
    return to_rgb(ImageOps.exif_transpose(img))


def _open_image(path: str, max_side: int, max_pixels: int) -> Image.Image:
    """Read the header, refuse what is too big by its declared size, then decode (first frame only)."""
    if not os.path.exists(path):
        raise InputError("file_missing")
    if os.path.getsize(path) == 0:
        raise InputError("empty_file")
    with _PIL_LIMIT:
        old_limit = Image.MAX_IMAGE_PIXELS
        try:
            Image.MAX_IMAGE_PIXELS = None  # the header alone: we name the size ourselves, below
            try:
                img = Image.open(path)
            except Exception:  # noqa: BLE001 - PIL raises many types for files it does not know
                raise InputError("not_image") from None
            _check_size(img, max_pixels)
            Image.MAX_IMAGE_PIXELS = max_pixels  # frames and layers met while decoding
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img.draft("RGB", (max_side, max_side))  # JPEG: decode at reduced size, cheaply
                img.seek(0)  # animated GIF/WebP: first frame
                img.load()
        except InputError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InputError("image_bomb", limit=max_pixels) from None
        except Exception:  # noqa: BLE001 - truncated or corrupt data
            raise InputError("image_broken") from None
        finally:
            Image.MAX_IMAGE_PIXELS = old_limit
    return img


def _check_size(img: Image.Image, max_pixels: int) -> None:
    w, h = img.size
    if w < 1 or h < 1:
        raise InputError("no_pixels")
    if w * h > max_pixels:
        raise InputError("image_too_big", w=w, h=h, limit=max_pixels)
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise InputError("image_aspect", w=w, h=h, limit=MAX_ASPECT)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode (CMYK, 16-bit, palette, RGBA, LA...) -> RGB; transparency over white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float32)
        top = max(float(arr.max()), 1.0)
        img = Image.fromarray(np.clip(arr / top * 255, 0, 255).astype(np.uint8))
    if img.mode == "P" or img.mode in ("RGBA", "LA", "PA"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, img).convert("RGB")
    return img.convert("RGB")


@dataclass
class Audio:
    """Decoded audio: 16 kHz mono float32, and how much was cut to fit the limit."""

    samples: np.ndarray
    original_seconds: float

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def trimmed(self) -> bool:
        return self.original_seconds > self.seconds + 0.01


def load_audio(audio, max_seconds: float = 30.0) -> Audio:
    """A path, (rate, array) tuple or array -> Audio at 16 kHz mono, trimmed to max_seconds."""
    if audio is None or (isinstance(audio, str) and not audio.strip()):
        raise InputError("no_audio")
    import librosa

    if isinstance(audio, tuple):  # gradio numpy format: (rate, int16/float array [, channels])
        rate, data = audio
        samples = _as_float_mono(np.asarray(data))
        original = len(samples) / rate
        samples = samples[: int(max_seconds * rate)]
        if rate != SAMPLE_RATE:
            samples = librosa.resample(samples, orig_sr=rate, target_sr=SAMPLE_RATE)
    elif isinstance(audio, np.ndarray):
        samples = _as_float_mono(audio)
        original = len(samples) / SAMPLE_RATE
        samples = samples[: int(max_seconds * SAMPLE_RATE)]
    else:
        path = os.fspath(audio)
        if not os.path.exists(path):
            raise InputError("file_missing")
        if os.path.getsize(path) == 0:
            raise InputError("empty_file")
        known = check_audio_streams(path)  # every container FFmpeg reads: rate and channels before decoding
        decoded = _read_mono(path, max_seconds)  # formats soundfile reads: header checked first
        if decoded is not None:
            samples, rate, original = decoded
        elif not known:  # neither libsndfile nor FFmpeg reads it: librosa's fallback (FFmpeg too) would not
            raise InputError("audio_no_rate" if _wav_rate_zero(path) else "not_audio")
        else:  # m4a, webm and others: librosa's ffmpeg fallback (native rate, at most max_seconds)
            try:
                original = float(librosa.get_duration(path=path))
            except Exception:  # noqa: BLE001 - unknown length: decode and see
                original = float("nan")
            try:
                samples, rate = librosa.load(path, sr=None, mono=False, duration=max_seconds)
            except Exception:  # noqa: BLE001 - decoders raise many types
                raise InputError("not_audio") from None
            samples = librosa.to_mono(samples) if np.isfinite(samples).all() else samples
        if not np.isfinite(samples).all():  # librosa's own check would read as "not audio"
            raise InputError("audio_invalid")
        samples = librosa.resample(samples, orig_sr=rate, target_sr=SAMPLE_RATE)
        if original != original:  # nan
            original = len(samples) / SAMPLE_RATE
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if samples.size < SAMPLE_RATE // 10:
        raise InputError("audio_too_short")
    if not np.isfinite(samples).all():
        raise InputError("audio_invalid")
    return Audio(samples, max(original, len(samples) / SAMPLE_RATE))


# Decoding cost grows with rate x channels x seconds before anything is resampled, and a small file can
# declare huge ones. Headers past these are refused before decoding.
MAX_SAMPLE_RATE = 192_000
MAX_CHANNELS = 8
_BLOCK_FRAMES = 65_536  # read a block at a time and mix it down: memory holds one mono clip, not N channels


def check_rate_and_channels(rate: int, channels: int) -> None:
    """The caps above, for a stream's declared rate and channels."""
    if rate > MAX_SAMPLE_RATE or channels > MAX_CHANNELS:
        raise InputError("audio_format_limits", rate=rate, channels=channels, max_rate=MAX_SAMPLE_RATE,
                         max_channels=MAX_CHANNELS)


def check_audio_streams(path: str) -> bool:
    """Refuse a file whose audio streams exceed the caps, whatever the container, from FFmpeg's stream info
    (headers only, nothing decoded): libsndfile's header is not the only one, and librosa's fallback decodes
    any container at its declared rate and channels. True if FFmpeg read the container and found audio in it."""
    import av

    try:
        with av.open(path, metadata_errors="ignore") as container:
            streams = [(s.codec_context.sample_rate or s.rate or 0, s.codec_context.channels or 0)
                       for s in container.streams.audio if s.codec_context is not None]
    except Exception:  # noqa: BLE001 - FFmpeg's errors for files it cannot read are many
        return False
    for rate, channels in streams:
        check_rate_and_channels(rate, channels)
    return bool(streams)


def _wav_rate_zero(path: str) -> bool:
    """A RIFF/WAVE file whose format chunk gives 0 samples a second (no decoder opens it; librosa's
    fallback divided by it). Read from the first chunks of the header only."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return False
    at = 12
    while at + 8 <= len(head):
        chunk, size = head[at:at + 4], int.from_bytes(head[at + 4:at + 8], "little")
        if chunk == b"fmt ":
            return len(head) >= at + 16 and int.from_bytes(head[at + 12:at + 16], "little") == 0
        at += 8 + size + (size & 1)
    return False


def _read_mono(path: str, max_seconds: float) -> tuple[np.ndarray, int, float] | None:
    """(mono float32 samples of at most max_seconds, rate, full length in seconds) for a file soundfile
    reads, after its header passed the rate and channel caps; None for a format soundfile does not read."""
    import soundfile

    try:
        info = soundfile.info(path)
    except Exception:  # noqa: BLE001 - not a format libsndfile knows: the caller's fallback decides
        return None
    check_rate_and_channels(info.samplerate, info.channels)
    if info.samplerate < 1 or info.channels < 1:
        raise InputError("not_audio")
    wanted = int(max_seconds * info.samplerate)
    parts = []
    try:
        for block in soundfile.blocks(path, blocksize=_BLOCK_FRAMES, frames=wanted, dtype="float32",
                                      always_2d=True):
            parts.append(block.mean(axis=1))
    except Exception:  # noqa: BLE001 - a damaged file behind a readable header
        raise InputError("not_audio") from None
    samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return samples, info.samplerate, max(float(info.duration), len(samples) / info.samplerate)


def warm_up_audio() -> None:
    """Decode and resample a short clip once: librosa imports its decoders and compiles its
    kernels on first use (seconds, and most of the memory the audio tab ever adds)."""
    import tempfile

    import soundfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "warm-up.wav")
        soundfile.write(path, np.zeros(SAMPLE_RATE // 4, dtype=np.float32), SAMPLE_RATE // 2)
        load_audio(path)


def _as_float_mono(data: np.ndarray) -> np.ndarray:
    if data.ndim == 2:  # (samples, channels) as gradio gives it
        data = data.mean(axis=1) if data.shape[1] <= 8 else data.mean(axis=0)
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max)
    return data.astype(np.float32)


def check_text(text, what: str = "question", max_chars: int = 2000, required: bool = True) -> str:
    """Strip and bound a question or prompt."""
    text = (text or "").strip() if isinstance(text, str) or text is None else str(text).strip()
    if required and not text:
        raise InputError("no_prompt" if what == "prompt" else "no_question")
    if len(text) > max_chars:
        raise InputError("text_too_long", length=len(text), limit=max_chars)
    return text
