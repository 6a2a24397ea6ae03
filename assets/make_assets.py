"""Regenerate the example inputs. Everything here is drawn or spoken by this script
(Pillow and espeak-ng, encoded with PyAV), so it is ours and licensed with the project.

    python assets/make_assets.py        # needs espeak-ng and sox for the speech clips
"""

import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent


def street(path: Path) -> None:
    img = Image.new("RGB", (480, 320), (135, 200, 250))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 230, 480, 320], fill=(90, 90, 90))                      # road
    d.rectangle([0, 220, 480, 232], fill=(170, 170, 170))                   # pavement
    d.rectangle([60, 110, 220, 222], fill=(200, 40, 40))                    # red house
    d.polygon([(50, 112), (140, 50), (230, 112)], fill=(110, 50, 30))       # roof
    d.rectangle([120, 160, 160, 222], fill=(90, 60, 30))                    # door
    d.rectangle([75, 130, 105, 155], fill=(230, 240, 255))                  # windows
    d.rectangle([175, 130, 205, 155], fill=(230, 240, 255))
    d.rectangle([330, 140, 345, 222], fill=(100, 70, 40))                   # tree
    d.ellipse([290, 70, 385, 165], fill=(40, 150, 60))
    d.ellipse([400, 20, 460, 80], fill=(255, 220, 60))                      # sun
    for x in range(20, 480, 80):
        d.rectangle([x, 272, x + 40, 278], fill=(240, 240, 240))            # lane marks
    img.save(path, optimize=True)


def chart(path: Path) -> None:
    img = Image.new("RGB", (400, 300), "white")
    d = ImageDraw.Draw(img)
    d.line([(40, 260), (380, 260)], fill="black", width=2)
    d.line([(40, 20), (40, 260)], fill="black", width=2)
    for i, (h, c) in enumerate([(120, (66, 133, 244)), (200, (219, 68, 55)), (80, (244, 180, 0)),
                                (160, (15, 157, 88))]):
        x = 70 + i * 80
        d.rectangle([x, 260 - h, x + 50, 258], fill=c)
        d.text((x + 18, 265), "ABCD"[i], fill="black")
    d.text((150, 5), "Sales by region", fill="black")
    img.save(path, optimize=True)


def speech(path: Path, text: str, voice: str) -> None:
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(path)], check=True)
    raw.unlink()


def write_video(path: Path, frames, fps: int = 10, audio=None, rate: int = 16000, codec: str = "libx264",
                audio_codec: str = "aac", options: dict | None = None) -> None:
    """RGB frames (PIL images or HxWx3 uint8 arrays) and optional mono float32 samples -> a video file
    (H.264 + AAC in MP4 by default: what every browser plays). Tests build their bad-video corpus with it."""
    import av

    frames = [np.asarray(f, dtype=np.uint8) for f in frames]
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=fps)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        video.options = dict(options or {})
        sound = out.add_stream(audio_codec, rate=rate, layout="mono") if audio is not None else None
        for frame in frames:
            out.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(video.encode())
        if sound is not None:
            block = sound.codec_context.frame_size or 1024
            samples = np.asarray(audio, dtype=np.float32)
            for i in range(0, len(samples), block):
                piece = av.AudioFrame.from_ndarray(samples[None, i:i + block], format="fltp", layout="mono")
                piece.sample_rate, piece.pts = rate, i
                out.mux(sound.encode(piece))
            out.mux(sound.encode())


def street_video(path: Path, text: str, voice: str = "en-us", fps: int = 10) -> None:
    """A few seconds of the street drawing with a ball bouncing past the house, and a spoken line."""
    import soundfile

    wav = path.with_suffix(".wav")
    speech(wav, text, voice)
    samples, rate = soundfile.read(wav, dtype="float32")
    wav.unlink()
    street(path.with_suffix(".png"))
    scene = Image.open(path.with_suffix(".png")).convert("RGB").resize((320, 214))
    path.with_suffix(".png").unlink()
    frames = []
    count = int(np.ceil(len(samples) / rate * fps)) + fps // 2
    for i in range(count):
        img = scene.copy()
        x = 10 + (300 * i) // count
        y = 150 - int(40 * abs(np.sin(i / 3)))
        ImageDraw.Draw(img).ellipse([x, y, x + 18, y + 18], fill=(30, 90, 230))  # a blue ball
        frames.append(img)
    write_video(path, [np.asarray(f)[:214 // 2 * 2] for f in frames], fps, samples, rate)


if __name__ == "__main__":
    street(HERE / "street.png")
    chart(HERE / "chart.png")
    speech(HERE / "speech_en.wav", "Hello! The weather is sunny today, and we are going to the park.", "en-us")
    speech(HERE / "speech_zh.wav", "你好，今天天气很好，我们去公园散步吧。", "cmn")
    street_video(HERE / "street_en.mp4", "Look, a blue ball is bouncing past the red house.")
    street_video(HERE / "street_zh.mp4", "看，一个蓝色的球从红房子前面弹过去了。", "cmn")
    for p in sorted(HERE.iterdir()):
        print(p.name, p.stat().st_size)
