"""Video: decode + preprocessing time and the tokens the model reads, for a 10 s and a 60 s clip at the
default limits (--max-video-seconds 30, --max-video-frames 64, --max-video-pixels 640x360, sound on).

    python -m bench.video [--repeats 5] [--side 1280x720] [--fps 30]

The clips are made here (moving noise and a tone, H.264 + AAC, as a phone records). Decoding is
pipelines/video_input.load_video; preprocessing is the real Qwen2.5-Omni processor path
(video_input.model_inputs) with the miniature's processor, whose settings are the real checkpoint's, so
the token counts are what Qwen/Qwen2.5-Omni-3B reads. The model itself does not run here.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import ROOT  # noqa: F401 - puts the project on sys.path


def make_clip(path: Path, seconds: int, width: int, height: int, fps: int) -> None:
    from assets.make_assets import write_video

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    frames = (np.roll(base, 4 * i, axis=1) for i in range(seconds * fps))  # panning: every frame differs
    rate = 16_000
    tone = (0.2 * np.sin(2 * np.pi * 220 * np.arange(seconds * rate) / rate)).astype(np.float32)
    write_video(path, frames, fps, tone, rate, options={"preset": "ultrafast"})


def measure(path: Path, processor, settings, repeats: int) -> dict:
    from pipelines.video_input import load_video, model_inputs

    decode, prep = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        clip = load_video(str(path), max_seconds=settings.max_video_seconds, max_frames=settings.max_video_frames,
                          max_pixels=settings.max_video_pixels, max_mb=10_000, with_audio=True)
        decode.append(time.perf_counter() - start)
        messages = [{"role": "user", "content": [{"type": "video", "video": clip},
                                                 {"type": "text", "text": "What happens?"}]}]
        start = time.perf_counter()
        inputs, _ = model_inputs(processor, messages, clip)
        prep.append(time.perf_counter() - start)
    ids = inputs["input_ids"][0].tolist()
    tok = processor.tokenizer
    t, h, w = inputs["video_grid_thw"][0].tolist()
    return dict(frames=len(clip.frames), used=clip.seconds, grid=f"{t}x{h * 14}x{w * 14}",
                visual=ids.count(tok.convert_tokens_to_ids("<|VIDEO|>")),
                audio=ids.count(tok.convert_tokens_to_ids("<|AUDIO|>")), prompt=len(ids),
                decode=float(np.median(decode)), prep=float(np.median(prep)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--side", default="1280x720")
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args(argv)
    width, height = map(int, args.side.split("x"))

    from transformers import AutoProcessor

    from pipelines import tiny
    from pipelines.settings import Settings

    settings = Settings()
    processor = AutoProcessor.from_pretrained(tiny.build()[tiny.OMNI_DIR])
    print(f"### Video: decode + preprocessing at the default limits ({settings.max_video_seconds:g} s, "
          f"{settings.max_video_frames} frames, {settings.max_video_pixels:,} pixels a frame, sound on); "
          f"{width}x{height} {args.fps} fps H.264 + AAC clips, medians of {args.repeats}\n")
    print("| clip | MB | frames read | seconds used | grid (t x h x w px) | visual tokens | audio tokens "
          "| prompt tokens | decode s | preprocess s |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in (10, 60):
            path = Path(tmp) / f"clip{seconds}.mp4"
            make_clip(path, seconds, width, height, args.fps)
            r = measure(path, processor, settings, args.repeats)
            print(f"| {seconds} s | {path.stat().st_size / 2**20:.1f} | {r['frames']} | {r['used']:g} | {r['grid']} "
                  f"| {r['visual']:,} | {r['audio']:,} | {r['prompt']:,} | {r['decode']:.2f} | {r['prep']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
