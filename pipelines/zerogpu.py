"""ZeroGPU support: run the model calls inside `spaces.GPU` when the `spaces` package is there.

A Hugging Face Space on ZeroGPU hardware holds a GPU only while a `spaces.GPU` function runs,
for at most the duration asked for; shorter requests get ahead in its queue. `spaces` comes
preinstalled on Gradio Spaces; its decorator does nothing off ZeroGPU, and where it is not
installed (a laptop, Docker) `gpu()` leaves the function as it is, so the same code runs everywhere.

ZeroGPU runs the decorated function in a forked worker process: its arguments and what it
returns or yields are pickled, so decorate bound methods (`self` stays behind) and pass plain
data (paths, text, numbers, PIL images, numpy arrays), never locks, events or callbacks.
`spaces` must also be imported before CUDA is first touched: importing this module does it.

What the app asks for: the default size, a slice of an NVIDIA RTX Pro 6000 Blackwell with 48 GB (`size="xlarge"`
would give 96 GB for twice the quota; hub-docs docs/hub/spaces-zerogpu.md): everything the app loads and its
largest request come to about 21 GB (pipelines/device.py). Models load at start-up, outside the GPU function,
as those docs advise: the speech parts too (app.py), or each spoken answer could load them again.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

from .errors import UserFacingError

try:
    import spaces
except ImportError:  # not on a Space: run locally, unchanged
    spaces = None

# On a ZeroGPU Space (the `spaces` decorator only does something there).
ON_ZEROGPU = spaces is not None and bool(spaces.config.Config.zero_gpu)

if ON_ZEROGPU:
    # ZeroGPU emulates CUDA in the server process per thread; transformers loads weights in worker
    # threads, which would reach real CUDA there. Load them in the calling thread instead.
    os.environ.setdefault("HF_DEACTIVATE_ASYNC_LOAD", "1")

# What ZeroGPU builds a Space with (hub-docs docs/hub/spaces-zerogpu.md, "Supported versions", as of 2026-08):
# a Space pinning another torch fails to build ("No candidate PyTorch version found for ZeroGPU").
# tests/test_space.py checks requirements.txt and the README front matter against these.
ZEROGPU_TORCH = ("2.8.0", "2.9.1", "2.10.0", "2.11.0")
ZEROGPU_PYTHON = ("3.12.12", "3.10.13")
TORCHVISION_FOR = {"2.8.0": "0.23.0", "2.9.1": "0.24.1", "2.10.0": "0.25.0", "2.11.0": "0.26.0"}  # PyTorch release pairs

# The GPU memory of one call at the default size (half an RTX Pro 6000, hub docs above): what the start-up
# memory estimate (device.py) is held against, the server process itself having no GPU.
GPU_BYTES = 48 * 10**9

# GPU seconds to ask for, by request size; estimates for Qwen2.5-Omni-3B and Janus-Pro-1B in
# bf16 with head-room (a request that overruns its duration is killed).
TEXT_BASE_S = 10  # image/audio encoding, prompt, first token
TEXT_PER_TOKEN_S = 0.06
IMAGE_BASE_S = 10
IMAGE_PER_IMAGE_S = 20  # 576 image tokens with classifier-free guidance, then decoding
VIDEO_PER_FRAME_S = 0.3  # vision encoding of one frame at the default --max-video-pixels, and its share of the prompt
VIDEO_PER_AUDIO_S = 0.05  # a second of soundtrack: Whisper encoding and 25 audio tokens
MAX_S = 180


def text_seconds(max_new_tokens: int) -> int:
    return min(MAX_S, round(TEXT_BASE_S + TEXT_PER_TOKEN_S * max_new_tokens))


# Spoken answers: a thinker pass over the answer, then the talker (50 codes per second of speech) and
# token2wav. The miniature speaks faster than real time, but the real 3B in transformers is far slower:
# Qwen's issue tracker reports a spoken reply to a 5 s input taking 20 s or more on an A800 with
# FlashAttention 2 (github.com/QwenLM/Qwen2.5-Omni/issues/357, also #279). So the GPU time asked is
# SPEECH_RTF GPU seconds per second of speech, and a long answer is spoken in several GPU calls
# (Pipeline.say), each sized to fit MAX_S: a call that overran its duration would be killed mid-answer.
SPEECH_BASE_S = 10  # the thinker pass over prompt + answer, the first talker steps
SPEECH_RTF = 4.0
# Speech per answer token, to cut an answer into parts before it is spoken: read aloud, English is about
# 0.3 s a token (150 words a minute), Chinese about as much; 0.5 leaves room for slow voices and pauses.
SPEECH_SECONDS_PER_TOKEN = 0.5


def speech_seconds(max_seconds: float) -> int:
    """GPU seconds for a spoken part of at most `max_seconds` of speech."""
    return min(MAX_S, round(SPEECH_BASE_S + SPEECH_RTF * max_seconds))


def speech_call_seconds() -> float:
    """The most speech one GPU call can make within MAX_S."""
    return (MAX_S - SPEECH_BASE_S) / SPEECH_RTF


def speech_parts(token_texts: list[str]) -> list[int]:
    """Where to cut an answer (its tokens' texts) so that each part is spoken within one GPU call: the
    ends of the parts, as token counts. A part ends after a sentence where one ends in its second half."""
    most = max(1, int(speech_call_seconds() / SPEECH_SECONDS_PER_TOKEN))
    ends, start = [], 0
    while start < len(token_texts):
        end = min(len(token_texts), start + most)
        if end < len(token_texts):
            for i in range(end, start + most // 2, -1):
                text = token_texts[i - 1]
                if "\n" in text or text.rstrip().endswith((".", "!", "?", "。", "！", "？")):
                    end = i
                    break
        ends.append(end)
        start = end
    return ends


def video_seconds(frames: int, audio_seconds: float, max_new_tokens: int) -> int:
    """Sized by the frames and the sound the model reads first, then the answer."""
    return min(MAX_S, round(text_seconds(max_new_tokens) + VIDEO_PER_FRAME_S * frames
                            + VIDEO_PER_AUDIO_S * audio_seconds))


def image_seconds(num_images: int) -> int:
    return min(MAX_S, IMAGE_BASE_S + IMAGE_PER_IMAGE_S * num_images)


def gpu(duration: Callable[..., int]):
    """Decorator for a generator function: `spaces.GPU(duration=duration)` where `spaces` imports,
    else the function unchanged. `duration` is called with the function's arguments; returns seconds.
    """
    def wrap(fn):
        return fn if spaces is None else restore_errors(spaces.GPU(duration=duration)(carry_errors(fn)))
    return wrap


# What a UserFacingError travels back from the ZeroGPU worker as: the worker passes back only a gr.Error, and
# pipelines import no gradio, so the UI layer names the class (components/zerogpu.py, set by app.build_demo).
# It is built from (error_class, key, params) and keeps them as attributes. Unset: errors pass unchanged.
carrier: type[Exception] | None = None


def carry_errors(fn):
    """Worker side: raise a UserFacingError as the carrier."""
    return _convert_errors(fn, lambda: UserFacingError if carrier else None,
                           lambda exc: carrier(type(exc), exc.key, exc.params))


def restore_errors(fn):
    """Server side: the UserFacingError again, so that the UI words it in the request's language."""
    return _convert_errors(fn, lambda: carrier, lambda exc: exc.error_class(exc.key, **exc.params))


def _convert_errors(fn, catch: Callable[[], type[Exception] | None], convert: Callable[[Exception], Exception]):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            yield from fn(*args, **kwargs)
        except Exception as exc:
            caught = catch()  # read when it is raised: the carrier is set after this module decorates
            if caught is not None and isinstance(exc, caught):
                raise convert(exc) from None
            raise
    return run
