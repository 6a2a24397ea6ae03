"""How the model saw, heard and drew (issue 17): attention mapping, token budgets, previews.

The mapping is checked on constructed attention (a known peak lands on a known cell / second);
the rest end to end on the miniature: the real pipelines, the real server, the processor's own
counts as the reference.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

from components.explain import budget_markdown
from pipelines import explain
from pipelines.inputs import Audio
from pipelines.tasks import Drawn, Preview
from tests.conftest import ASSETS, serve

# -- mapping, on constructed tensors -------------------------------------------------------------


def test_peak_lands_on_its_image_cell():
    """Tokens are laid out frame by frame, row by row: position start + f*rows*cols + r*cols + c."""
    seg = explain.Segment("video", start=7, stop=7 + 2 * 3 * 5, grid=(2, 3, 5))
    weights = torch.full((50,), 0.001)
    weights[7 + 1 * 15 + 2 * 5 + 4] = 0.9  # frame 1, row 2, column 4
    cells = explain.image_cells(weights, seg)
    assert cells.shape == (2, 3, 5)
    assert np.unravel_index(cells.argmax(), cells.shape) == (1, 2, 4)


def test_peak_lands_on_its_second():
    rate = explain.audio_rate(SimpleNamespace(position_id_per_seconds=25))
    seg = explain.Segment("audio", start=10, stop=10 + 100, seconds_per_token=1 / rate)
    weights = torch.zeros(120)
    weights[10 + 50] = 1.0  # the 51st audio token: 2.0 s into the clip at 25 tokens/s
    starts, values = explain.audio_times(weights, seg)
    assert len(starts) == 100 and starts[values.argmax()] == pytest.approx(2.0)


def test_rate_and_merge_come_from_the_config():
    assert explain.audio_rate(SimpleNamespace(position_id_per_seconds=50)) == 50
    assert explain.audio_rate(SimpleNamespace()) is None
    assert explain.merge_size(SimpleNamespace(vision_config=SimpleNamespace(spatial_merge_size=3))) == 3
    assert explain.merge_size(SimpleNamespace()) == 1


def test_segments_split_side_by_side_images_by_their_grids(pipes):
    """Two images, the processor's grids (t, h, w in patches), a 2x2 merge: each gets its own tokens."""
    loaded = pipes.vqa.model
    image, audio = (loaded.tokenizer.convert_tokens_to_ids(getattr(loaded.processor, f"{k}_token"))
                    for k in ("image", "audio"))
    x = loaded.tokenizer("x", add_special_tokens=False).input_ids[0]  # plain text between them
    ids = [x, x] + [image] * 6 + [x] + [image] * 4 + [x] + [audio] * 5 + [x]
    grids = torch.tensor([[1, 4, 6], [1, 4, 4]])
    found = explain.segments(loaded, {"input_ids": torch.tensor([ids]), "image_grid_thw": grids})
    assert [(s.kind, s.start, s.stop, s.grid) for s in found[:2]] == [("image", 2, 8, (1, 2, 3)),
                                                                        ("image", 9, 13, (1, 2, 2))]
    rate = loaded.generator.config.position_id_per_seconds
    assert (found[2].kind, found[2].tokens, found[2].seconds_per_token) == ("audio", 5, 1 / rate)


def test_video_heard_with_its_sound_maps_interleaved_tokens_to_frame_cell_and_second(pipes):
    """With its sound on, Qwen2.5-Omni lays a video out in 2 s chunks, frames then sound each chunk
    (processing_qwen2_5_omni.replace_video_with_audio_token): a peak in the second chunk's frames lands on
    its own temporal patch and cell, a peak in the second chunk's sound on its own second, and a lone
    clip after it stays a clip of its own."""
    loaded = pipes.video.model
    tok = {k: loaded.tokenizer.convert_tokens_to_ids(getattr(loaded.processor, f"{k}_token"))
           for k in ("video", "audio", "audio_bos", "audio_eos", "vision_bos", "vision_eos")}
    x = loaded.tokenizer("x", add_special_tokens=False).input_ids[0]
    rate = loaded.generator.config.position_id_per_seconds  # 25 audio tokens a second; patches of 1 s
    per_patch = 2 * 3  # grid (4 patches, 4 x 6 patches) merged 2x2: 2 x 3 tokens a patch
    chunk = int(2 * rate)  # audio tokens in one 2 s chunk; 2 temporal patches of frames
    audio_tokens = 2 * chunk + 20  # 4.8 s of sound, a chunk longer than the frames
    video = [tok["video"]] * (2 * per_patch)
    ids = ([x, tok["vision_bos"], tok["audio_bos"]] + video + [tok["audio"]] * chunk + video
           + [tok["audio"]] * chunk + [tok["audio"]] * 20 + [tok["audio_eos"], tok["vision_eos"], x, tok["audio_bos"]]
           + [tok["audio"]] * 7 + [tok["audio_eos"], x])
    found = explain.segments(loaded, {"input_ids": torch.tensor([ids]), "video_grid_thw": torch.tensor([[4, 4, 6]])})
    second_frames = 3 + 2 * per_patch + chunk  # where the second chunk's frames begin
    weights = torch.full((len(ids),), 0.001)
    weights[second_frames + 1 * per_patch + 1 * 3 + 2] = 0.9  # patch 3 (frames 6-7), row 1, column 2
    weights[second_frames + 2 * per_patch + 10] = 0.8  # sound token chunk + 10: (50 + 10) / 25 = 2.4 s
    cells = explain.image_cells(weights, found[0])
    assert cells.shape == (4, 2, 3) and np.unravel_index(cells.argmax(), cells.shape) == (3, 1, 2)
    starts, values = explain.audio_times(weights, found[1])
    assert len(values) == audio_tokens and starts[values.argmax()] == pytest.approx((chunk + 10) / rate)
    assert [(s.kind, s.tokens, s.in_video) for s in found] == [("video", 4 * per_patch, False),
                                                               ("audio", audio_tokens, True), ("audio", 7, False)]
    sheet = explain.frames_overlay(np.zeros((8, 48, 64, 3), np.uint8), cells, fps=2.0, columns=4)
    assert sheet.size == (4 * 64, 2 * 48)  # every sampled frame, under its patch's cells


# -- end to end on the miniature -----------------------------------------------------------------


def last(stream):
    answer = None
    for answer in stream:  # noqa: B007
        pass
    return answer


def processor_counts(loaded, messages):
    """The processor's own view of a chat: its token ids and image grids."""
    inputs = loaded.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                  return_dict=True, return_tensors="pt")
    ids = inputs["input_ids"][0]
    count = {k: int((ids == loaded.tokenizer.convert_tokens_to_ids(getattr(loaded.processor, f"{k}_token"))).sum())
             for k in ("image", "audio")}
    return inputs, count


@pytest.mark.parametrize("size", [(80, 60), (300, 200), (200, 500)])
def test_image_heatmap_has_the_models_grid_and_budget_the_processors_counts(pipes, size):
    image = Image.new("RGB", size, (200, 40, 40))
    answer = last(pipes.caption(image, "en", max_new_tokens=3))
    loaded, usage = pipes.caption.model, answer.usage
    inputs, count = processor_counts(loaded, usage.messages)
    t, h, w = inputs["image_grid_thw"][0].tolist()
    merge = loaded.generator.config.vision_config.spatial_merge_size

    budget = explain.budget(loaded, usage)
    image_part = budget["inputs"][0]
    assert image_part["kind"] == "image" and image_part["tokens"] == count["image"] == t * h * w // merge ** 2
    assert image_part["patches"] == [t, h, w]
    assert budget["prompt_tokens"] == inputs["input_ids"].shape[-1]
    assert sum(p["tokens"] for p in budget["inputs"]) == budget["prompt_tokens"]
    assert budget["generated_tokens"] == len(usage.tokens) and budget["context_used"] == \
        budget["prompt_tokens"] + budget["generated_tokens"]
    assert budget["context_max"] == loaded.generator.config.text_config.max_position_embeddings

    rows, used = explain.answer_attention(loaded, usage.messages, usage.tokens, explain.default_layers(loaded))
    assert torch.equal(used["input_ids"], inputs["input_ids"])  # the exact prompt the answer used
    assert rows.shape == (len(usage.tokens), inputs["input_ids"].shape[-1] + len(usage.tokens))
    assert torch.allclose(rows.sum(-1), torch.ones(len(usage.tokens)), atol=1e-3)  # each row is a distribution
    seg = explain.segments(loaded, used)[0]
    assert explain.image_cells(rows[0], seg).shape == (1, h // merge, w // merge)
    config = loaded.generator.config  # answering speed untouched afterwards: the fast kernels are back
    assert config.text_config._attn_implementation == config.vision_config._attn_implementation != "eager"


@pytest.mark.parametrize("seconds", [1.0, 3.0])
def test_audio_heat_spans_the_clip_and_budget_the_processors_counts(pipes, seconds):
    rate = 16000
    samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)
    answer = last(pipes.audio(Audio(samples, seconds), "what is it?", max_new_tokens=3))
    loaded, usage = pipes.audio.model, answer.usage
    inputs, count = processor_counts(loaded, usage.messages)
    budget = explain.budget(loaded, usage)
    audio_part = budget["inputs"][0]
    assert audio_part["kind"] == "audio" and audio_part["tokens"] == count["audio"]
    tokens_per_second = loaded.generator.config.position_id_per_seconds
    assert audio_part["tokens_per_second"] == tokens_per_second
    assert audio_part["seconds"] == pytest.approx(seconds, abs=1.5 / tokens_per_second)

    rows, used = explain.answer_attention(loaded, usage.messages, usage.tokens, (0, 0), "max")
    starts, values = explain.audio_times(rows[0], explain.segments(loaded, used)[0])
    assert len(values) == count["audio"] and starts[-1] < seconds <= starts[-1] + 2 / tokens_per_second


def test_previews_fill_in_row_by_row_before_the_final_image(pipes):
    items = list(pipes.image.stream("a red house", seed=5, num_images=2, size=256))
    previews = [i for i in items if isinstance(i, Preview)]
    assert isinstance(items[-1], Drawn) and not any(isinstance(i, Drawn) for i in items[:-1])
    side = previews[0].total_rows
    assert [p.rows for p in previews] == sorted({p.rows for p in previews}) and previews[-1].rows < side
    for p in previews:  # both images, 256 wide, as tall as the rows drawn so far
        assert [im.size for im in p.images] == [(256, round(256 * p.rows / side))] * 2
    # Watching changes nothing: the same seed draws the same picture.
    again, _ = pipes.image("a red house", seed=5, num_images=2, size=256)
    assert [np.asarray(a).tolist() for a in again] == [np.asarray(b).tolist() for b in items[-1].images]


# -- the API -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(pipes, tiny_settings):
    from pipelines.tasks import Pipelines

    # Up to 33 clients from one address (each fetches the config first): many people, not one client's flood.
    with serve(Pipelines(tiny_settings(max_requests_per_second=1000), registry=pipes.registry)) as served:
        yield served


def test_api_budget_and_attention_for_the_sessions_last_answer(served):
    client = Client(served.url, analytics_enabled=False, verbose=False)
    with pytest.raises(Exception, match="Nothing to explain yet"):
        client.predict("caption", api_name="/token_budget")
    description = client.predict(handle_file(str(ASSETS / "street.png")), "en", api_name="/caption")
    assert isinstance(description, str)  # the caption endpoint's output is unchanged
    budget = client.predict("caption", api_name="/token_budget")
    grid = budget["inputs"][0]["grid"]
    assert budget["generated_tokens"] >= 1 and budget["context_used"] > budget["prompt_tokens"]

    heatmaps, raw = client.predict("caption", 0, 0, 0, 1, "max", api_name="/attention")
    assert len(heatmaps) == 1 and Image.open(heatmaps[0]["image"]).size == Image.open(ASSETS / "street.png").size
    assert np.array(raw["inputs"][0]["weights"]).shape == tuple(grid)
    with pytest.raises(Exception, match="Layers go from 0 to 1"):
        client.predict("caption", 0, 0, 0, 7, "mean", api_name="/attention")
    other = Client(served.url, analytics_enabled=False, verbose=False, headers={"Accept-Language": "zh-CN"})
    with pytest.raises(Exception, match="还没有可解释的内容"):  # another session has its own answers; in Chinese
        other.predict("caption", api_name="/token_budget")


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory):
    """3 s, 64x48, with a tone: 6 frames (3 temporal patches), 75 sound tokens in two chunks."""
    from assets.make_assets import write_video

    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    frames = [np.full((48, 64, 3), 8 * i, np.uint8) for i in range(30)]
    t = np.arange(3 * 16_000) / 16_000
    write_video(path, frames, 10, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    return path


@pytest.mark.parametrize("sound", [True, False])
def test_api_video_attention_has_the_models_grid_and_its_sound_only_when_heard(served, pipes, short_clip, sound):
    from pipelines.video_input import model_inputs

    client = Client(served.url, analytics_enabled=False, verbose=False)
    client.predict(handle_file(str(short_clip)), "What?", [], sound, api_name="/video_qa")
    clip = pipes.video.load(str(short_clip), sound)
    inputs, _ = model_inputs(pipes.video.model.processor, pipes.video.messages(clip, "?"), clip)
    t, h, w = inputs["video_grid_thw"][0].tolist()
    merge = pipes.video.model.generator.config.vision_config.spatial_merge_size
    ids = inputs["input_ids"][0]

    budget = client.predict("video", api_name="/token_budget")
    assert sum(p["tokens"] for p in budget["inputs"]) == budget["prompt_tokens"]  # no token counted twice
    # Each part by itself: the frames' tokens, the sound's (heard with the video) and the text's, none as another.
    loaded = pipes.video.model
    video_n, audio_n = (int((ids == loaded.tokenizer.convert_tokens_to_ids(getattr(loaded.processor, f"{k}_token")))
                            .sum()) for k in ("video", "audio"))
    assert video_n > 0 and (audio_n > 0) == sound
    expected = [("video", video_n, False)] + ([("audio", audio_n, True)] if sound else []) \
        + [("text", budget["prompt_tokens"] - video_n - audio_n, False)]
    assert [(p["kind"], p["tokens"], p.get("in_video", False)) for p in budget["inputs"]] == expected
    heatmaps, raw = client.predict("video", 0, 0, -1, -1, "mean", api_name="/attention")
    kinds = [part["kind"] for part in raw["inputs"]]
    assert kinds == (["video", "audio"] if sound else ["video"]) and len(heatmaps) == len(kinds)
    assert np.array(raw["inputs"][0]["weights"]).shape == (t, h // merge, w // merge)
    rows = math.ceil(len(clip.frames) / 4)  # the sheet: every sampled frame, 4 a row
    assert Image.open(heatmaps[0]["image"]).size == (4 * clip.frames.shape[2], rows * clip.frames.shape[1])
    if sound:
        audio_id = pipes.video.model.tokenizer.convert_tokens_to_ids(pipes.video.model.processor.audio_token)
        heard = raw["inputs"][1]
        assert heard["in_video"] and len(heard["weights"]) == int((ids == audio_id).sum()) > 0
        assert len(heard["weights"]) * heard["seconds_per_token"] == pytest.approx(3.0, abs=0.1)


def test_budget_table_in_both_languages():
    budget = {"inputs": [{"kind": "image", "tokens": 187, "grid": [1, 11, 17], "patches": [1, 22, 34]},
                         {"kind": "audio", "tokens": 116, "seconds": 4.64, "tokens_per_second": 25.0},
                         {"kind": "text", "tokens": 180}],
              "prompt_tokens": 483, "generated_tokens": 8, "context_used": 491, "context_max": 32768,
              "seconds_per_token": 0.004}
    en, zh = (budget_markdown(budget, lang) for lang in ("en", "zh"))
    assert "11×17 tokens (22×34 patches) | 187" in en and "4.64 s at 25 tokens/s | 116" in en
    assert "491 of 32,768" in en and "8 tokens, 4.0 ms per token" in en
    assert "11×17 个令牌" in zh and "4.64 秒" in zh and "已用上下文：491 / 32,768" in zh


def test_the_budget_says_what_a_patch_is():
    """Issue 26, finding 6: "11×17 tokens (22×34 patches)" comes with what it means (here 2×2 patches a token),
    in the page's language; a budget without a picture has no such line."""
    from catalogue import message

    budget = {"inputs": [{"kind": "image", "tokens": 187, "grid": [1, 11, 17], "patches": [1, 22, 34]},
                         {"kind": "text", "tokens": 180}], "generated_tokens": 8, "context_used": 375}
    for lang in ("en", "zh"):
        assert message("budget_patches", lang, merge=2) in budget_markdown(budget, lang)
    heard = {"inputs": [{"kind": "audio", "tokens": 116, "seconds": 4.64, "tokens_per_second": 25.0}],
             "generated_tokens": 8}
    assert message("budget_patches", "en", merge=2) not in budget_markdown(heard, "en")


def test_api_drawing_streams_previews_before_the_images(served):
    client = Client(served.url, analytics_enabled=False, verbose=False)
    job = client.submit("a red house", 3, 1, 256, 5, api_name="/text_to_image")
    job.result()
    heights = [Image.open(out[0][0]["image"]).size[1] for out in job.outputs() if isinstance(out[0], list)]
    assert len(heights) >= 2 and heights == sorted(heights) and heights[-1] == 256 > heights[0]


def test_kept_answers_are_bounded_by_the_bytes_of_their_media(served, short_clip, monkeypatch):
    """Each kept answer holds its chat's media (a video at the default limits: ~46 MB): past
    KEPT_MEDIA_BYTES the oldest answers are forgotten, so 32 kept videos cannot hold 1.5 GB; the newest stays."""
    from components import explain as view
    from pipelines.video_input import load_video

    clip = load_video(str(short_clip))
    assert view.media_bytes([{"role": "user", "content": [{"type": "video", "video": clip},
                                                          {"type": "text", "text": "?"}]}]) \
        == clip.frames.nbytes + clip.audio.nbytes
    assert view.media_bytes([{"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (20, 10))}]}]) \
        == 600
    monkeypatch.setattr(view, "KEPT_MEDIA_BYTES", clip.frames.nbytes + clip.audio.nbytes + 1)
    first, second = (Client(served.url, analytics_enabled=False, verbose=False) for _ in range(2))
    first.predict(handle_file(str(short_clip)), "What?", [], True, api_name="/video_qa")
    assert isinstance(first.predict("video", api_name="/token_budget"), dict)
    second.predict(handle_file(str(short_clip)), "And?", [], True, api_name="/video_qa")
    assert isinstance(second.predict("video", api_name="/token_budget"), dict)  # the newest stays
    with pytest.raises(Exception, match="Nothing to explain yet"):  # the oldest went, over the budget
        first.predict("video", api_name="/token_budget")
    assert sum(r.media for r in view.RECORDS.values()) <= view.KEPT_MEDIA_BYTES


def test_kept_answers_are_bounded_in_number(served):
    """At most 32 answers are kept server-wide (sessions x tabs), whatever their size: the 33rd session's
    answer makes the oldest go."""
    from components import explain as view

    image = handle_file(str(ASSETS / "chart.png"))
    clients = [Client(served.url, analytics_enabled=False, verbose=False) for _ in range(33)]
    for client in clients:
        client.predict(image, "en", api_name="/caption")
    assert len(view.RECORDS) == 32
    assert isinstance(clients[-1].predict("caption", api_name="/token_budget"), dict)
    with pytest.raises(Exception, match="Nothing to explain yet"):
        clients[0].predict("caption", api_name="/token_budget")


# -- attention values, against the model's own weights --------------------------------------------


def direct_rows(loaded, messages, tokens, layers, heads):
    """The answer's attention rows computed apart from pipelines/explain.py: one eager pass with
    output_attentions, each layer's weights for the steps that wrote the answer, heads reduced, layers averaged."""
    full, inputs = explain.conversation(loaded, messages, tokens)
    prompt = inputs["input_ids"].shape[-1]
    model = loaded.generator
    previous = model.config.text_config._attn_implementation
    model.set_attn_implementation({"text_config": "eager"})
    try:
        with torch.inference_mode():
            out = model(**full, use_cache=False, output_attentions=True)
    finally:
        model.set_attn_implementation({"text_config": previous})
    rows = [w[0, :, prompt - 1:-1, :].float() for w in out.attentions[layers[0]:layers[1] + 1]]
    rows = [r.mean(0) if heads == "mean" else r.amax(0) for r in rows]
    return torch.stack(rows).mean(0)


# -- the attention pass's memory and its lock (issue 23, issue 25 item 3) -----------------------------


class Biggest(torch.utils._python_dispatch.TorchDispatchMode):
    """The most elements any one tensor made inside the `with` block held."""

    def __init__(self):
        super().__init__()
        self.numel = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self.numel = max(self.numel, t.numel())
        return out


def long_chat(loaded, words: int):
    """A long text conversation (about five tokens a word on the miniature), as a /vqa caller's history makes one."""
    messages = [{"role": "user", "content": [{"type": "text", "text": "tree " * words}]}]
    return messages, loaded.tokenizer("a small house", add_special_tokens=False)["input_ids"]


def test_attention_memory_grows_with_the_length_not_its_square(pipes):
    """A long conversation: no tensor of the pass grows with the square of its length (eager attention made
    one of heads x length x length per layer: 4 x 4,000² floats here, 3.8 GB at 11k tokens on the miniature)."""
    loaded = pipes.vqa.model
    messages, answer_ids = long_chat(loaded, 800)
    with Biggest() as seen:
        rows, inputs = explain.answer_attention(loaded, messages, answer_ids, (0, 1), "mean")
    length = inputs["input_ids"].shape[-1] + len(answer_ids)
    assert length > 3000 and rows.shape == (len(answer_ids), length)
    assert seen.numel * 4 <= explain.CHUNK_BYTES + 2000 * length, (seen.numel, length)
    assert seen.numel < length * length


@pytest.mark.parametrize("language, text", [("en", "the attention view fits"), ("zh", "注意力视图最多容纳")])
def test_attention_beyond_the_free_memory_is_refused_clearly(pipes, monkeypatch, language, text):
    """The token budget is read from the model's heads and widths and the memory free now: a conversation
    past it is refused before the pass, in the caller's language, saying both numbers."""
    from pipelines.errors import InputError

    loaded = pipes.vqa.model
    messages, answer_ids = long_chat(loaded, 200)
    free = explain.pass_bytes(loaded, 600, len(answer_ids)) / explain.MEMORY_SHARE
    assert explain.token_limit(loaded, len(answer_ids), free) == pytest.approx(600, abs=1)
    monkeypatch.setattr(explain, "free_bytes", lambda device: free)
    with pytest.raises(InputError) as refused:
        explain.answer_attention(loaded, messages, answer_ids, (0, 1), "mean")
    said = refused.value.message(language)
    length = explain.conversation(loaded, messages, answer_ids)[0]["input_ids"].shape[-1]
    assert length > 600 and text in said and "600" in said and f"{length:,}" in said


def test_kept_attention_rows_count_in_the_explain_budget(served, monkeypatch):
    """A view's rows are kept with its answer: they count in KEPT_MEDIA_BYTES like its media, so the oldest
    answer goes once another's rows take the room."""
    from collections import OrderedDict

    from components import explain as view

    monkeypatch.setattr(view, "RECORDS", OrderedDict())  # this test's answers only
    first, second = (Client(served.url, analytics_enabled=False, verbose=False) for _ in range(2))
    image = handle_file(str(ASSETS / "street.png"))
    first.predict(image, "en", api_name="/caption")
    second.predict(image, "en", api_name="/caption")
    kept = sum(r.bytes for r in view.RECORDS.values())
    monkeypatch.setattr(view, "KEPT_MEDIA_BYTES", kept + 16)
    assert isinstance(first.predict("caption", api_name="/token_budget"), dict)
    second.predict("caption", 0, 0, 0, 1, "mean", api_name="/attention")  # rows: more than 16 bytes
    with pytest.raises(Exception, match="Nothing to explain yet"):
        first.predict("caption", api_name="/token_budget")
    assert sum(r.bytes for r in view.RECORDS.values()) <= view.KEPT_MEDIA_BYTES or len(view.RECORDS) == 1


@pytest.fixture(scope="module")
def answered(pipes):
    """A caption of a picture, six tokens long: the answer the attention tests look at."""
    image = Image.new("RGB", (120, 90), (30, 140, 200))
    answer = last(pipes.caption(image, "en", max_new_tokens=6))
    assert len(answer.usage.tokens) == 6
    return pipes.caption.model, answer.usage


def test_attention_per_layer_and_head_mode_is_the_models_own(answered):
    """Each layer range and head mode gives the rows the model's own weights give; layers differ, and the
    heads' max is at least their mean (and above it somewhere)."""
    loaded, usage = answered
    rows = {}
    for layers in ((0, 0), (1, 1), (0, 1)):
        for heads in explain.HEADS:
            rows[layers, heads], _ = explain.answer_attention(loaded, usage.messages, usage.tokens, layers, heads)
            expected = direct_rows(loaded, usage.messages, usage.tokens, layers, heads)
            assert torch.allclose(rows[layers, heads], expected, atol=1e-6), (layers, heads)
    assert not torch.allclose(rows[(0, 0), "mean"], rows[(1, 1), "mean"], atol=1e-4)
    assert torch.allclose(rows[(0, 1), "mean"], (rows[(0, 0), "mean"] + rows[(1, 1), "mean"]) / 2, atol=1e-6)
    for layers in ((0, 0), (1, 1)):
        top, mean = rows[layers, "max"], rows[layers, "mean"]
        assert (top >= mean - 1e-7).all() and (top > mean + 1e-4).any()


@pytest.mark.parametrize("span", ["last", "all"])
def test_a_clicked_words_heat_is_its_own_rows(answered, pipes, span):
    """What the view shows for a word (the last one, whose slice is the end of the rows) or the whole answer:
    the mean of exactly those tokens' rows over the image's cells, the model's own weights."""
    from components import explain as view

    loaded, usage = answered
    rec = view.Record(pipes.caption.model_id, usage.messages, list(usage.tokens), {})
    pieces = rec.pieces(loaded.tokenizer)
    start, end = (len(pieces) - 1, len(pieces) - 1) if span == "last" else (0, len(pieces) - 1)
    _, raw = view.attention(pipes.caption, rec, start, end, 0, 1, "mean")
    a, b = pieces[start][1], pieces[end][2]
    assert raw["tokens"] == [a, b] and b > a and (span == "all") == (a == 0 and b == len(usage.tokens))
    rows = direct_rows(loaded, usage.messages, usage.tokens, (0, 1), "mean")
    full, _ = explain.conversation(loaded, usage.messages, usage.tokens)
    seg = explain.segments(loaded, full)[0]
    expected = explain.image_cells(rows[a:b].mean(0), seg)
    np.testing.assert_allclose(np.array(raw["inputs"][0]["weights"]), expected, atol=2e-6)


@pytest.mark.parametrize("layers, heads", [((1, 1), "max"), ((0, 0), "mean")])
def test_the_api_views_the_layers_and_head_mode_asked(served, pipes, monkeypatch, layers, heads):
    """/attention's layer range and head mode reach the pass (not the first layer, not the mean, whatever is
    asked): the last word's heat over the image is the mean of its own rows of the model's own weights."""
    from collections import OrderedDict

    from components import explain as view

    monkeypatch.setattr(view, "RECORDS", OrderedDict())  # this test's answer only
    client = Client(served.url, analytics_enabled=False, verbose=False)
    client.predict(handle_file(str(ASSETS / "street.png")), "en", api_name="/caption")
    (rec,) = view.RECORDS.values()
    loaded = pipes.caption.model
    pieces = explain.pieces_of(loaded.tokenizer, rec.tokens)
    word = len(pieces) - 1
    _, raw = client.predict("caption", word, word, *layers, heads, api_name="/attention")
    a, b = pieces[word][1], pieces[word][2]
    assert raw["layers"] == list(layers) and raw["heads"] == heads and raw["tokens"] == [a, b]
    rows = direct_rows(loaded, rec.messages, rec.tokens, layers, heads)
    full, _ = explain.conversation(loaded, rec.messages, rec.tokens)
    expected = explain.image_cells(rows[a:b].mean(0), explain.segments(loaded, full)[0])
    np.testing.assert_allclose(np.array(raw["inputs"][0]["weights"]), expected, atol=2e-6)


@pytest.mark.parametrize("name", ["vision_bos", "audio_bos", "vision_eos", "audio_eos"])
def test_an_answer_holding_a_control_token_is_explained(answered, name):
    """A model may write a control token itself (a vision or audio start): the replay took it for media that
    is not there and failed ("Something went wrong": an index out of range after a vision start at the end,
    no audio lengths after an audio start). Its attention is now shown, at the end of the answer and within
    it, and the rows before it are those of the answer without it (its tokens numbered as generate() did)."""
    loaded, usage = answered
    control = loaded.tokenizer.convert_tokens_to_ids(getattr(loaded.processor, f"{name}_token"))
    tokens = list(usage.tokens)
    for ids in (tokens + [control], [*tokens[:2], control, *tokens[2:]]):
        pictures, raw = explain.view(loaded, usage.messages, ids, 0, len(explain.pieces_of(loaded.tokenizer, ids)) - 1,
                                     0, 1)
        assert len(pictures) == 1 and raw["tokens"] == [0, len(ids)]
        assert np.array(raw["inputs"][0]["weights"]).shape == np.array(
            explain.view(loaded, usage.messages, tokens, 0, 0, 0, 1)[1]["inputs"][0]["weights"]).shape
    rows, _ = explain.answer_attention(loaded, usage.messages, tokens + [control], (0, 1))
    plain, _ = explain.answer_attention(loaded, usage.messages, tokens, (0, 1))
    assert torch.allclose(rows[:len(tokens), :-1], plain, atol=1e-6)
    assert torch.allclose(rows.sum(-1), torch.ones(len(tokens) + 1), atol=1e-3)


@pytest.mark.parametrize("name", ["image", "audio", "video"])
def test_an_answer_holding_a_media_placeholder_is_refused_clearly(answered, name):
    """A media placeholder the model wrote would be filled with media that is not there: a clear refusal
    (its own message, not "Something went wrong")."""
    from pipelines.errors import InputError

    loaded, usage = answered
    placeholder = loaded.tokenizer.convert_tokens_to_ids(getattr(loaded.processor, f"{name}_token"))
    with pytest.raises(InputError) as refused:
        explain.view(loaded, usage.messages, [*usage.tokens[:2], placeholder, *usage.tokens[2:]], 0, 1, 0, 1)
    assert refused.value.key == "explain_placeholder"


# -- the pictures read on their own: a colour key, a time axis -------------------------------------------


def ramp_of(band: np.ndarray) -> np.ndarray:
    """The longest run of coloured (not background, not grey text) pixels along a band's middle row."""
    row = band[band.shape[0] // 2].astype(int)
    coloured = (np.ptp(row, axis=-1) > 40)  # a heat colour is far from grey; background and text are grey
    best, start = (0, 0), None
    for i, c in enumerate([*coloured, False]):
        if c and start is None:
            start = i
        elif not c and start is not None:
            best, start = max(best, (i - start, start)), None
    length, first = best
    return row[first:first + length], first, first + length


def dark(pixels: np.ndarray) -> np.ndarray:
    return (pixels < 90).all(axis=-1)


@pytest.mark.parametrize("size", [(300, 200), (80, 60), (200, 500)])
def test_a_heat_maps_key_reads_its_colours(answered, size):
    """Finding 6: what colour means how much attention. The view's picture (as the page shows it) is the heat map
    whole, then a band under it: a colour ramp from the coldest to the hottest colour, the hotter the further
    right (red and green never fall), with a label at each end; a narrow picture is scaled up for it to read."""
    loaded, usage = answered
    image = Image.new("RGB", size, (30, 140, 200))
    messages = [{"role": m["role"], "content": m["content"] if isinstance(m["content"], str) else
                 [{**p, "image": image} if p.get("type") == "image" else p for p in m["content"]]}
                for m in usage.messages]
    plain, _ = explain.view(loaded, messages, usage.tokens, 0, 0, 0, 1)
    keyed, _ = explain.view(loaded, messages, usage.tokens, 0, 0, 0, 1, keyed=True)
    assert plain[0].size == size  # the API's picture: the image's own size
    width = max(size[0], explain.KEY_MIN_WIDTH)
    height = round(size[1] * width / size[0])
    shown = np.asarray(keyed[0])
    assert keyed[0].width == width and keyed[0].height > height
    np.testing.assert_array_equal(shown[:height], np.asarray(plain[0].resize((width, height), Image.NEAREST)))
    band = shown[height:]
    ramp, left, right = ramp_of(band)
    assert len(ramp) >= 0.4 * width, (len(ramp), width)
    assert (np.diff(ramp[:, 0]) >= -1).all() and (np.diff(ramp[:, 1]) >= -1).all()  # red and green only rise
    cold, hot = explain._colours(np.array([0.0, 1.0])).astype(int)
    assert np.abs(ramp[0] - cold).max() <= 12 and np.abs(ramp[-1] - hot).max() <= 12
    assert dark(band[:, :left]).sum() >= 10 and dark(band[:, right:]).sum() >= 10  # "0%" and the top value


@pytest.mark.parametrize("seconds", [0.8, 3.0, 12.0])
def test_a_waveform_has_a_time_axis_in_round_seconds(seconds):
    """Finding 6: where in the clip. Under the waveform, ticks at a round step of seconds, evenly spaced from the
    clip's start, the last one at most one step before its end, each with a label under it."""
    rate, width, height = 16000, 800, 200
    samples = (0.3 * np.sin(np.arange(int(seconds * rate)) / 7)).astype(np.float32)
    starts = np.arange(int(seconds * 25)) / 25
    picture = np.asarray(explain.audio_overlay(samples, starts, np.linspace(0, 1, len(starts)), seconds,
                                               size=(width, height)))
    assert picture.shape[1] == width and picture.shape[0] > height + 12
    axis = picture[height:]
    ticks = np.flatnonzero(dark(axis[2:6]).all(axis=0))
    groups = np.split(ticks, np.flatnonzero(np.diff(ticks) > 1) + 1)
    xs = np.array([g.mean() for g in groups])
    assert len(xs) >= 2 and xs[0] <= 2, xs
    spacing = np.diff(xs)
    assert np.ptp(spacing) <= 3, spacing  # evenly spaced (the last tick drawn inside the edge)
    step = spacing.mean() / width * seconds
    assert min(abs(step - s) for s in (0.1, 0.2, 0.5, 1, 2, 5)) < 0.02, step
    assert seconds - step <= (len(xs) - 1) * step <= seconds + 1e-6
    labels = dark(axis[8:])
    assert labels.sum() >= 20 * len(xs)  # text under the ticks


def test_each_frames_second_reads_on_a_bright_frame():
    """The second each frame of a video was taken at is written on it: white text alone vanished on a white
    frame; it now sits on a dark box."""
    frames = np.full((8, 96, 128, 3), 255, np.uint8)
    sheet = np.asarray(explain.frames_overlay(frames, np.zeros((4, 3, 4)), fps=2.0, columns=4))
    for i in range(8):
        x, y = (i % 4) * 128, (i // 4) * 96
        corner = sheet[y:y + 20, x:x + 50]
        assert dark(corner).sum() >= 40, i  # the box
        assert ((corner > 200).all(axis=-1) & ~dark(corner)).sum() >= 5, i  # the white text on it
