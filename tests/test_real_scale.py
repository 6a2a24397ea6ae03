"""Inputs at the size real users send, through the whole app, on the miniatures' real preprocessing
(pipelines/tiny.py): a 1024x768 photo is about 1000 visual tokens, a 30 s clip is 3000 frames of
128 mel bins in a 300 s window, and a chat can hold several images.
"""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from pipelines.generation import model_inputs, stream_text
from pipelines.inputs import load_audio


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A 1024x768 photo-like image (noise compresses badly, as photos do)."""
    path = tmp_path_factory.mktemp("scale") / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (768, 1024, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """30 s of speech-like sound at 16 kHz: the default --max-audio-seconds."""
    import soundfile

    path = tmp_path_factory.mktemp("scale") / "clip.wav"
    rate = 16_000
    t = np.arange(30 * rate) / rate
    soundfile.write(path, (0.2 * np.sin(2 * np.pi * (200 + 50 * np.sin(t)) * t)).astype(np.float32), rate)
    return path


def test_a_1024x768_photo_is_about_1000_visual_tokens(pipes, photo):
    loaded = pipes.caption.model
    messages = pipes.caption.messages(Image.open(photo).convert("RGB"), "en")
    inputs = model_inputs(loaded, messages)
    assert inputs["image_grid_thw"].tolist() == [[1, 54, 74]]  # 756x1036 px in 14 px patches
    visual = int((inputs["input_ids"] == loaded.model.config.thinker_config.image_token_id).sum())
    assert visual == 54 * 74 // 4 == 999


def test_a_1024x768_photo_through_the_app(client, photo):
    answer = client.predict(handle_file(str(photo)), "en", api_name="/caption")
    assert isinstance(answer, str) and answer
    history, _ = client.predict(handle_file(str(photo)), "What is in it?", [], api_name="/vqa")
    assert history[-1]["role"] == "assistant"


def test_a_30_second_clip_is_128_mel_bins_in_a_300_second_window(pipes, clip):
    loaded = pipes.audio.model
    messages = pipes.audio.messages(load_audio(str(clip), 30.0), "What is said?")
    inputs = model_inputs(loaded, messages)
    assert tuple(inputs["input_features"].shape) == (1, 128, 30_000)  # padded to 300 s, as the real processor
    assert int(inputs["feature_attention_mask"].sum()) == 3000  # 30 s of 10 ms frames are real audio
    audio_tokens = int((inputs["input_ids"] == loaded.model.config.thinker_config.audio_token_id).sum())
    assert audio_tokens == 750  # 3000 frames, /2 by the conv, /2 by the pooling: 25 tokens a second


def test_a_30_second_clip_through_the_app(client, clip):
    answer = client.predict(handle_file(str(clip)), "What is said?", api_name="/audio_qa")
    assert isinstance(answer, str) and answer


def test_several_images_in_one_chat(pipes, photo):
    """Three images of different sizes in one conversation, through the generation path the tabs use
    (the Ask tab itself keeps one image per conversation)."""
    loaded = pipes.vqa.model
    images = [Image.open(photo).convert("RGB"), Image.new("RGB", (480, 320), "red"), Image.new("RGB", (64, 900), "blue")]
    messages = pipes.vqa._messages(
        [*({"type": "image", "image": im} for im in images), {"type": "text", "text": "Compare them."}])
    inputs = model_inputs(loaded, messages)
    grids = inputs["image_grid_thw"].tolist()
    assert len(grids) == 3 and grids[0] == [1, 54, 74]
    visual = int((inputs["input_ids"] == loaded.model.config.thinker_config.image_token_id).sum())
    assert visual == sum(t * h * w for t, h, w in grids) // 4
    answer = list(stream_text(loaded, messages, max_new_tokens=8))
    assert answer and isinstance(answer[-1], str)


def test_several_images_in_one_janus_chat(tiny_settings, photo):
    """Janus-Pro in text mode: every image is read at 384 px, whatever its size, as the same number of
    tokens (576 in the real one, 16 in the miniature)."""
    from pipelines.tasks import Pipelines

    settings = tiny_settings()
    settings.use_single_checkpoint(settings.image_model)
    janus = Pipelines(settings)
    loaded = janus.vqa.model
    messages = janus.vqa._messages([{"type": "image", "image": Image.open(photo).convert("RGB")},
                                    {"type": "image", "image": Image.new("RGB", (64, 900), "blue")},
                                    {"type": "text", "text": "Compare them."}])
    inputs = model_inputs(loaded, messages)
    assert tuple(inputs["pixel_values"].shape) == (2, 3, 384, 384)
    assert int((inputs["input_ids"] == loaded.model.config.image_token_id).sum()) == 2 * loaded.processor.num_image_tokens
    answer = list(stream_text(loaded, messages, max_new_tokens=8))
    assert answer and isinstance(answer[-1], str)
