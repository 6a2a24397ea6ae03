"""The video tab through the launched app: upload, follow-up, sound on/off, trimming, Stop, and a corpus of
bad videos (made here) that each get a clear message while the server keeps serving and keeps nothing open.

What the model receives is read with tests/recorder.py (hooks on the real model; nothing is mocked).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from assets.make_assets import write_video
from components.vqa import text_of

from .conftest import ASSETS, launch
from .recorder import Recorder
from .test_stop import within

CLIP = ASSETS / "street_en.mp4"  # 4.1 s, 10 fps, 320x214, a spoken line (assets/make_assets.py)
LIMITS = dict(max_new_tokens=3, max_video_seconds=3.0, max_video_frames=16, max_video_pixels=320 * 240)


@pytest.fixture(scope="module")
def served(apps):
    return apps(**LIMITS)


@pytest.fixture(scope="module")
def app_pipes(served):
    return served.pipes


@pytest.fixture(scope="module")
def client(served):
    return served.new_client()


@pytest.fixture()
def seen(app_pipes):
    with Recorder(app_pipes.video.model) as recorder:
        yield recorder


def ask(client, video, question="What happens?", history=(), sound=True):
    return client.predict(handle_file(str(video)), question, list(history), sound, api_name="/video_qa")


def tokens(recorder, name: str) -> int:
    return recorder.last.count(recorder.token_id(name))


# --- answers, follow-ups, sound ---------------------------------------------------------------------

def test_upload_answers_and_follow_up_keeps_the_conversation(client, seen):
    history, box = ask(client, CLIP, "What happens?")
    assert box == "" and [m["role"] for m in history] == ["user", "assistant"]
    assert text_of(history[0]["content"]) == "What happens?" and isinstance(text_of(history[1]["content"]), str)
    first = seen.last
    history, _ = ask(client, CLIP, "And then?", history)
    assert [m["role"] for m in history] == ["user", "assistant"] * 2
    follow_up = seen.last
    assert "What happens?" in follow_up.text and "And then?" in follow_up.text  # the earlier turn travels
    video = seen.token_id("<|VIDEO|>")
    assert follow_up.count(video) == first.count(video) > 0  # the video once, in the first kept turn
    assert follow_up.text.index("<|VIDEO|>") < follow_up.text.index("What happens?")


def test_sound_switch_decides_whether_the_model_hears_the_soundtrack(client, seen):
    ask(client, CLIP, sound=True)
    heard = seen.last
    ask(client, CLIP, sound=False)
    silent = seen.last
    audio, video = seen.token_id("<|AUDIO|>"), seen.token_id("<|VIDEO|>")
    assert heard.count(audio) > 0 and heard.audio_frames, "the soundtrack did not reach the model"
    assert silent.count(audio) == 0 and not silent.audio_frames
    assert heard.count(video) == silent.count(video) > 0  # the same frames either way
    # With sound, 2 s of audio tokens follow each 2 s of frames (the model's interleaving).
    assert "<|audio_bos|><|VIDEO|>" in heard.text and "<|VIDEO|><|AUDIO|>" in heard.text


def test_frames_are_sampled_at_two_a_second_within_the_limits(app_pipes):
    clip = app_pipes.video.load(str(CLIP))
    assert clip.fps == 2.0 and len(clip.frames) == 6  # 3 s kept (--max-video-seconds) at 2 a second
    assert clip.trimmed and clip.seconds == 3.0 and clip.original_seconds > 4
    assert clip.frames.shape[1] * clip.frames.shape[2] <= LIMITS["max_video_pixels"]
    assert clip.audio is not None and len(clip.audio) == 3 * 16_000  # the sound of the same 3 s


@pytest.fixture(scope="module")
def big_clip(tmp_path_factory) -> Path:
    """640x480 (4 times --max-video-pixels here), 3 s at 10 fps, with a tone."""
    path = tmp_path_factory.mktemp("big") / "big.mp4"
    write_video(path, frames(30, 640, 480), 10, tone(3))
    return path


def test_decoded_frames_are_scaled_down_to_the_limit(app_pipes, big_clip):
    clip = app_pipes.video.load(str(big_clip))
    assert clip.frames.shape[1:3] == (240, 320)  # 640x480 halved: 76,800 pixels, the aspect kept


def test_frames_reach_the_model_within_max_video_pixels(client, seen, big_clip):
    """The frame grid the vision encoder gets stays within --max-video-pixels (320x240 here), for a clip over
    the limit and for one under it (which the processor scales up towards its own lower bound)."""
    limit = LIMITS["max_video_pixels"]
    for video in (big_clip, CLIP):
        ask(client, video)
        (image,) = seen.last.images
        h, w = image.side
        assert limit / 2 <= h * w <= limit, (video.name, image.side)


def test_the_frame_grid_stays_within_the_limit_whatever_the_frames_and_the_limit(app_pipes):
    """The processor rounds each side to whole 28 px cells and scales small frames up towards its lower bound;
    for frames of many shapes (larger and smaller than the limit, wide and tall) and several limits, the grid
    it makes is rounded down into --max-video-pixels, never up past it."""
    from pipelines.video_input import Video, model_inputs

    processor = app_pipes.video.model.processor
    over = []
    for limit in (320 * 240, 640 * 360, 200 * 200, 100_000, 50_000):
        for w, h in ((320, 240), (640, 480), (1280, 720), (322, 214), (320, 214), (200, 1000), (1000, 150),
                     (96, 64), (480, 480), (406, 228), (350, 250), (300, 260)):
            clip = Video(np.zeros((4, h, w, 3), np.uint8), 2.0, None, 2.0, 2.0, False, max_pixels=limit)
            inputs, _ = model_inputs(processor, app_pipes.video.messages(clip, "?"), clip)
            _, gh, gw = inputs["video_grid_thw"][0].tolist()
            if gh * gw * 14 * 14 > limit:
                over.append((limit, (w, h), (gw * 14, gh * 14)))
    assert not over, over


def test_the_thinker_places_a_heard_videos_sound_between_its_frames(client, seen, app_pipes):
    """With the sound on, the thinker is told the sound is interleaved with the frames
    (`use_audio_in_video`): its positions are the interleaved ones; with the sound off they are not asked."""
    from pipelines.video_input import model_inputs

    thinker = app_pipes.video.model.generator
    for sound in (True, False):
        ask(client, CLIP, sound=sound)
        prompt = seen.last
        assert bool(prompt.use_audio_in_video) is sound and prompt.positions is not None
        clip = app_pipes.video.load(str(CLIP), sound)
        inputs, _ = model_inputs(app_pipes.video.model.processor, app_pipes.video.messages(clip, "What happens?"), clip)
        mask = inputs.get("feature_attention_mask")

        def rope(interleaved):
            return thinker.model.get_rope_index(
                inputs["input_ids"], None, inputs["video_grid_thw"], inputs["attention_mask"], interleaved,
                None if mask is None else mask.sum(-1), inputs["video_second_per_grid"])[0][:, 0]

        assert torch.equal(prompt.positions[-3:], rope(sound))
        if sound:
            assert not torch.equal(rope(True), rope(False))  # the flag moves the positions: this case tells


def test_zerogpu_duration_counts_the_sound(app_pipes):
    """A minute of soundtrack costs its Whisper encoding and 1,500 audio tokens: the duration asked for grows."""
    clip = app_pipes.video.load(str(CLIP))
    silent = app_pipes.video.load(str(CLIP), sound=False)
    clip.audio = np.zeros(60 * 16_000, np.float32)
    heard = app_pipes.video.gpu_seconds(app_pipes.video.messages(clip, "?"), 64)
    assert heard - app_pipes.video.gpu_seconds(app_pipes.video.messages(silent, "?"), 64) == 3  # 60 s x 0.05


def notices(client, video, **kw) -> list[tuple[str, str]]:
    """The warnings a /video_qa call sent (the page shows them as toasts)."""
    job = client.submit(handle_file(str(video)), "What?", [], kw.get("sound", True), api_name="/video_qa")
    job.result(timeout=60)
    updates = []
    while not job.communicator.updates.empty():
        updates.append(job.communicator.updates.get_nowait())
    return [u.log for u in updates if getattr(u, "log", None)]


def test_trimmed_video_says_so_in_the_callers_language(served):
    for headers, words in ((None, "The video is 4 s long; only the first 3 s were used (6 frames)."),
                           ({"Accept-Language": "zh-CN"}, "视频长 4 秒，只使用了前 3 秒（6 帧）。")):
        client = served.new_client(headers=headers)
        assert (words, "warning") in notices(client, CLIP)


# --- the bad-video corpus -----------------------------------------------------------------------------

def frames(n: int, w: int = 64, h: int = 48) -> list[np.ndarray]:
    return [np.full((h, w, 3), (i * 37) % 255, np.uint8) for i in range(n)]


def tone(seconds: float, rate: int = 16_000) -> np.ndarray:
    return (0.2 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def variable_rate(path: Path) -> None:
    """Frames at irregular times (0, 0.05, 0.9, 1.0, 2.5, 2.6 ... s), as phones record."""
    import av

    times = [0, 0.05, 0.9, 1.0, 2.5, 2.6, 2.65, 2.9]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=1000)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = stream.time_base = __import__("fractions").Fraction(1, 1000)
        for t, img in zip(times, frames(len(times))):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = int(t * 1000), stream.time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from PIL import Image

    d = tmp_path_factory.mktemp("videos")
    good = CLIP.read_bytes()
    (d / "zero.mp4").write_bytes(b"")
    (d / "truncated.mp4").write_bytes(good[: len(good) // 3])
    (d / "corrupt.mp4").write_bytes(good[:64] + os.urandom(len(good) - 64))
    (d / "noise.mp4").write_bytes(os.urandom(20_000))
    (d / "audio_only.mp4").write_bytes((ASSETS / "speech_en.wav").read_bytes())
    Image.new("RGB", (64, 48), "red").save(d / "image_only.mp4", format="PNG")
    (d / "unknown_codec.mp4").write_bytes(good.replace(b"avc1", b"zzzz"))
    write_video(d / "huge.mkv", [np.zeros((4400, 8200, 3), np.uint8)], 1, codec="mjpeg")
    write_video(d / "long.mp4", frames(600, 32, 24), 10)  # 60 s
    write_video(d / "silent.mp4", frames(20), 10)  # no audio track
    write_video(d / "vp9.webm", frames(20), 10, tone(2), 48_000, codec="libvpx-vp9", audio_codec="libopus")
    variable_rate(d / "vfr.mp4")
    return d


@pytest.mark.parametrize("name, match", [
    ("zero.mp4", "The file is empty"),
    ("truncated.mp4", "not a readable video|could not be decoded"),
    ("corrupt.mp4", "not a readable video|could not be decoded"),
    ("noise.mp4", "not a readable video"),
    ("audio_only.mp4", "sound but no pictures"),
    ("image_only.mp4", "not a readable video"),
    ("unknown_codec.mp4", "not a readable video|could not be decoded"),
    ("huge.mkv", "8200×4400 pixels per frame"),
])
def test_bad_video_is_refused_clearly_and_the_server_keeps_serving(client, corpus, name, match):
    with pytest.raises(AppError, match=match):
        ask(client, corpus / name)
    history, _ = ask(client, CLIP)  # still serving
    assert history[-1]["role"] == "assistant"


@pytest.mark.parametrize("name, frames_seen", [
    ("long.mp4", 6),    # 60 s, trimmed to 3 s at 2 a second
    ("vfr.mp4", 6),     # sampled by timestamp: 0, 0.9, 1.0, 2.5 ... not by frame count
    ("silent.mp4", 4),  # no sound track: the pictures alone (a notice says so)
    ("vp9.webm", 4),    # VP9 + Opus, as a browser's webcam records
])
def test_odd_but_valid_videos_are_answered(client, seen, corpus, name, frames_seen):
    ask(client, corpus / name)
    video = seen.last
    grid = video.images[0].grid if video.images else None
    assert grid is not None and grid[0] * 2 == frames_seen, (name, grid)
    assert (tokens(seen, "<|AUDIO|>") > 0) == (name == "vp9.webm")


def test_silent_video_with_sound_on_says_it_has_no_sound(client, corpus):
    said = [text for text, _ in notices(client, corpus / "silent.mp4")]
    assert "This video has no sound track: the answer comes from its pictures only." in said
    assert not notices(client, corpus / "silent.mp4", sound=False)


def test_bad_videos_leave_nothing_open_or_behind(client, corpus, tmp_path, monkeypatch):
    """After the whole corpus: no file of it or of the upload cache is held open by the server, and no
    decoding thread or temporary file was left. The server (in this process) gets a temporary folder of its
    own meanwhile, so files other processes write to the system's are not counted."""
    import tempfile

    private = tmp_path / "system-temp"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr(tempfile, "tempdir", str(private))

    def threads() -> int:
        """Threads other than the server's worker pools (bounded, reused, and grown by a fresh server's first calls)."""
        pools = ("AnyIO worker thread", "ThreadPoolExecutor")
        return sum(not t.name.startswith(pools) for t in threading.enumerate())

    before_tmp = set(os.listdir(tempfile.gettempdir()))
    before = threads()
    for name in sorted(os.listdir(corpus)):
        try:
            ask(client, corpus / name)
        except AppError:
            pass
    time.sleep(0.5)
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.endswith((".mp4", ".mkv", ".webm")):
            held.append(target)
    assert not held, held
    assert threads() <= before + 1
    new = {n for n in set(os.listdir(tempfile.gettempdir())) - before_tmp if not n.startswith(("pytest", "tmp"))}
    assert not new, new


# --- Stop, batching, the miniature's processor -----------------------------------------------------------

def words(message: dict) -> str:
    """A chat message's text, whether the client gives its content as a string or as parts."""
    content = message["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content if isinstance(p, dict))


def test_stop_ends_a_video_answer_and_frees_the_queue(app_pipes, tiny_settings):
    from pipelines.tasks import Pipelines

    from .test_stop import alive

    long = Pipelines(tiny_settings(**{**LIMITS, "max_new_tokens": 4000}), registry=app_pipes.registry)
    served = launch(long)
    try:
        # The cancel request returns once generate() has ended; httpx's 5 s default is too short for a
        # loaded CI machine (the assertions below still say how soon it ended).
        client = Client(served.url, analytics_enabled=False, verbose=False, httpx_kwargs={"timeout": 60})
        job = client.submit(handle_file(str(CLIP)), "What happens?", [], True, api_name="/video_qa")
        # Words, not the first update (the question, sent before the frames are read): Stop ends
        # generate() between decoding steps, and the prompt's one forward pass is not one of them.
        assert within(60, lambda: any(words(out[0][-1]) for out in job.outputs())), "no streamed words"
        assert alive("generate"), "finished before it could be stopped"
        started = time.monotonic()
        job.cancel()
        assert within(2, lambda: not alive("generate")), "generate() still running after Stop"
        assert time.monotonic() - started < 30, "Stop took more than 30 s"
        assert within(2, lambda: served.demo._queue.get_active_worker_count() == 0), "queue slot still taken"
    finally:
        served.close()


def test_video_rows_run_alone_when_batching_is_on(app_pipes, tiny_settings):
    """Batching shares a generate() between text requests; a video's frame and sound positions cannot be
    padded into other rows, so each video runs as a batch of one, in the batcher's turn. A long answer keeps
    the model busy while two image questions and then two videos queue, so a batch really forms behind it."""
    from pipelines.errors import Cancelled
    from pipelines.registry import ModelRegistry
    from pipelines.tasks import Pipelines

    batched = Pipelines(tiny_settings(**{**LIMITS, "max_new_tokens": 4000}, max_batch_size=4),
                        registry=ModelRegistry("cpu", max_batch_size=4, batch_wait=0.2))
    clip = batched.video.load(str(CLIP))
    batcher = batched.registry.batcher(batched.video.model_id)
    results, errors, busy = [], [], threading.Event()

    def run(fn):
        try:
            results.append(list(fn())[-1])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    def long_answer():
        with contextlib.suppress(Cancelled):  # ended by `busy` below
            list(batched.vqa(str(ASSETS / "street.png"), "Long?", stop=busy))

    first = threading.Thread(target=long_answer)
    first.start()
    assert within(60, lambda: len(batcher.sizes) == 1), "the long answer never started"
    jobs = [lambda: batched.vqa(str(ASSETS / "street.png"), "Colour?", max_new_tokens=3),
            lambda: batched.vqa(str(ASSETS / "chart.png"), "Bars?", max_new_tokens=3),
            lambda: batched.video(clip, "What?", max_new_tokens=3),
            lambda: batched.video(clip, "Sound?", max_new_tokens=3)]
    threads = []
    for i, job in enumerate(jobs):  # queued one after the other, in this order, behind the long answer
        threads.append(threading.Thread(target=run, args=(job,)))
        threads[-1].start()
        assert within(60, lambda: batcher.pending.qsize() == i + 1), f"request {i} never queued"
    busy.set()
    first.join(60)
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 4, errors
    assert batcher.sizes[1:] == [2, 1, 1], batcher.sizes  # the two image questions together, each video alone


def test_miniature_sizes_video_frames_as_the_real_processor(app_pipes):
    """The real checkpoint's video settings (no video config on the hub: built from preprocessor_config.json,
    sized by Qwen2_5OmniProcessor.videos_kwargs): 14 px patches, merged 2x2, 2 frames a patch, 128 to 768
    tokens' worth of pixels a frame."""
    from pipelines.video_input import model_inputs

    processor = app_pipes.video.model.processor
    vp = processor.video_processor
    assert (vp.patch_size, vp.merge_size, vp.temporal_patch_size) == (14, 2, 2)
    assert processor.videos_kwargs["size"] == {"shortest_edge": 128 * 28 * 28, "longest_edge": 768 * 28 * 28}
    clip = app_pipes.video.load(str(CLIP))
    clip.max_pixels = 10**9  # the processor's own bounds alone
    inputs, _ = model_inputs(processor, app_pipes.video.messages(clip, "?"), clip)
    t, h, w = inputs["video_grid_thw"][0].tolist()
    # 320x214 is below 128 x 28² pixels: scaled up, as the real processor does (smart_resize), to 392x280.
    assert (t, h * 14, w * 14) == (3, 280, 392)
    assert float(inputs["video_second_per_grid"][0]) == 1.0  # 2 frames at 2 a second


def test_zerogpu_duration_grows_with_frames_and_sound(app_pipes):
    clip = app_pipes.video.load(str(CLIP))
    short = app_pipes.video.gpu_seconds(app_pipes.video.messages(clip, "?"), 64)
    clip.frames = np.concatenate([clip.frames] * 10)
    assert app_pipes.video.gpu_seconds(app_pipes.video.messages(clip, "?"), 64) > short


def test_openai_backend_sends_the_sampled_video_with_its_sound(app_pipes, tmp_path):
    """--backend openai: the video goes as `video_url`, an MP4 of the frames and sound sampled here (no sound
    track when the sound is switched off)."""
    import base64

    from pipelines.remote import RemoteModel
    from pipelines.video_input import load_video

    clip = app_pipes.video.load(str(CLIP))
    body = RemoteModel("m", "http://127.0.0.1:9").request(app_pipes.video.messages(clip, "What?"), 8)
    (part,) = [p for m in body["messages"] if isinstance(m["content"], list) for p in m["content"]
               if p["type"] == "video_url"]
    sent = tmp_path / "sent.mp4"
    sent.write_bytes(base64.b64decode(part["video_url"]["url"].split(",", 1)[1]))
    again = load_video(str(sent))
    assert len(again.frames) == len(clip.frames) and again.audio is not None
    silent = app_pipes.video.load(str(CLIP), sound=False)
    body = RemoteModel("m", "http://127.0.0.1:9").request(app_pipes.video.messages(silent, "What?"), 8)
    (part,) = [p for m in body["messages"] if isinstance(m["content"], list) for p in m["content"]
               if p["type"] == "video_url"]
    sent.write_bytes(base64.b64decode(part["video_url"]["url"].split(",", 1)[1]))
    assert not load_video(str(sent)).has_soundtrack


def test_history_from_the_client_is_bounded(client, seen):
    history = [{"role": r, "content": [{"type": "text", "text": "x" * 10_000}]} for r in ("user", "assistant")] * 10
    out, _ = ask(client, CLIP, "Then?", history)
    assert len(out) <= 2 * 4 + 2 and all(len(text_of(m["content"])) <= 4 * 2000 for m in out)
    assert json.dumps(out).count("x") < 100_000
    assert seen.last.text.count("x" * 2000) <= 4 + 4 * 4  # the model read the kept turns only, each cut


def test_a_spoken_video_answer_keeps_the_sound_interleaved_for_the_thinker_and_the_talker(tiny_settings):
    """A heard video, answered aloud: the thinker pass that feeds the talker and the talker's first step place
    the sound between the frames (`use_audio_in_video`). The token layout is the same either way; only the
    rope positions tell, so they are compared with the model's own get_rope_index, with and without the flag.
    With the sound off, the positions are the plain ones. A registry of its own: loading the talker stays here."""
    from pipelines.tasks import Pipelines

    pipes = Pipelines(tiny_settings(**LIMITS, max_speech_seconds=1))  # the talker's first steps are what count
    video = pipes.video
    pipes.registry.speech(video.model_id)
    rope_index = video.model.model.thinker.model.get_rope_index
    for sound in (True, False):
        asked = video.prepare(str(CLIP), "What happens?", sound=sound)
        *_, answer = video.answer(asked)
        with Recorder(video.model) as seen:
            list(video.say(asked, answer, "Chelsie"))
        inputs = asked.inputs
        mask = inputs.get("feature_attention_mask")

        def rope(ids: list[int], interleaved: bool) -> torch.Tensor:
            ids = torch.tensor([ids])
            return rope_index(ids, None, inputs["video_grid_thw"], torch.ones_like(ids), interleaved,
                              None if mask is None else mask.sum(-1), inputs["video_second_per_grid"])[0][:, 0]

        thought, start = seen.prompts[-1], seen.talker_starts[-1]  # the pass over prompt + answer; the talker
        assert thought.positions is not None and start.positions is not None
        assert torch.equal(thought.positions[-3:], rope(thought.ids, sound)), "thinker pass"
        assert torch.equal(start.positions[-3:], rope(start.text_ids, sound)), "talker"
        if sound:  # the flag moves the positions: this case tells
            assert not torch.equal(rope(thought.ids, True), rope(thought.ids, False))
            assert not torch.equal(rope(start.text_ids, True), rope(start.text_ids, False))
