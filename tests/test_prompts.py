"""Each task's prompt, built by the pipelines and rendered by the miniature's processor as generation
does, is byte for byte what the real checkpoint renders.

Expected strings: /work/shared/notes/real-checkpoints.md ("Rendered, real template"), made with the
real chat templates: Qwen2.5-Omni's chat_template.json (hub repo Qwen/Qwen2.5-Omni-3B) and Janus-Pro's
CHAT_TEMPLATE in transformers' src/transformers/models/janus/convert_janus_weights_to_hf.py, whose
processor also prepends DEFAULT_SYSTEM_PROMPT (processing_janus.py) in text mode and BOS through the
tokenizer. The miniatures copy those templates, so a drift in either the pipelines' messages or the
miniature shows here.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from pipelines.generation import model_inputs
from pipelines.inputs import Audio

# The model card's system prompt, which the app sends (pipelines/registry.py Family.system_prompt).
QWEN_SYSTEM = ("You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving "
               "auditory and visual inputs, as well as generating text and speech.")
IMAGE = "<|vision_bos|><|IMAGE|><|vision_eos|>"
AUDIO = "<|audio_bos|><|AUDIO|><|audio_eos|>"


def qwen(user_turns: str) -> str:
    return f"<|im_start|>system\n{QWEN_SYSTEM}<|im_end|>\n{user_turns}<|im_start|>assistant\n"


QWEN_EXPECTED = {
    "caption_en": qwen(f"<|im_start|>user\n{IMAGE}Describe this image in detail.<|im_end|>\n"),
    "caption_zh": qwen(f"<|im_start|>user\n{IMAGE}请用中文详细描述这张图片。<|im_end|>\n"),
    # real-checkpoints.md, "a VQA follow-up", verbatim:
    "vqa_follow_up": (
        f"<|im_start|>system\n{QWEN_SYSTEM}<|im_end|>\n<|im_start|>user\n<|vision_bos|><|IMAGE|><|vision_eos|>"
        "Which bar?<|im_end|>\n<|im_start|>assistant\nthe red one<|im_end|>\n<|im_start|>user\nAnd the lowest?"
        "<|im_end|>\n<|im_start|>assistant\n"),
    "audio": qwen(f"<|im_start|>user\n{AUDIO}What is said?<|im_end|>\n"),
}
# Janus-Pro (real-checkpoints.md): an image-generation prompt, then a text-mode chat.
JANUS_IMAGE_PROMPT = "<|User|>: A red house, watercolour\n\n<|Assistant|>:"
JANUS_CHAT = ("<|User|>: <image_placeholder>\nWhich bar?\n\n<|Assistant|>: red<｜end▁of▁sentence｜>"
              "<|User|>: And?\n\n<|Assistant|>:")
JANUS_BOS = "<｜begin▁of▁sentence｜>"
JANUS_SYSTEM = ("You are a helpful language and vision assistant. You are able to understand the visual content "
                "that the user provides, and assist the user with a variety of tasks using natural language.\n\n")

PICTURE = Image.new("RGB", (400, 300), "teal")


def rendered(loaded, messages) -> str:
    return loaded.processor.apply_chat_template(messages, add_generation_prompt=True)


def tokens_text(loaded, messages) -> str:
    """The ids generation feeds the model, decoded; a run of one placeholder token collapses to one."""
    ids = model_inputs(loaded, messages)["input_ids"][0]
    text = loaded.tokenizer.decode(ids)
    return re.sub(r"(<\|IMAGE\|>|<\|AUDIO\|>|<image_placeholder>)\1+", r"\1", text)


@pytest.fixture(scope="module")
def omni_prompts(pipes):
    clip = Audio(np.zeros(16_000, dtype=np.float32), 1.0)
    return {
        "caption_en": pipes.caption.messages(PICTURE, "en"),
        "caption_zh": pipes.caption.messages(PICTURE, "zh"),
        "vqa_follow_up": pipes.vqa.messages(PICTURE, "And the lowest?", [("Which bar?", "the red one")]),
        "audio": pipes.audio.messages(clip, "What is said?"),
    }


@pytest.mark.parametrize("task", list(QWEN_EXPECTED))
def test_omni_prompts_render_as_the_real_template(pipes, omni_prompts, task):
    loaded = pipes.caption.model
    assert rendered(loaded, omni_prompts[task]) == QWEN_EXPECTED[task]
    assert tokens_text(loaded, omni_prompts[task]) == QWEN_EXPECTED[task]  # no BOS, nothing added


def test_omni_template_adds_the_default_system_prompt_only_without_one(pipes):
    """The real template's own fallback, which the app's model-card system prompt replaces."""
    loaded = pipes.caption.model
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert rendered(loaded, messages) == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                                          "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


def test_omni_special_tokens_are_the_real_ones(pipes):
    tok = pipes.caption.model.tokenizer
    added = {t.content: t.special for t in tok.added_tokens_decoder.values()}
    specials = {t for t, special in added.items() if special}
    assert specials == {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>",
                        "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_bos|>", "<|vision_eos|>",
                        "<|vision_pad|>", "<|IMAGE|>", "<|VIDEO|>"}
    # Added but not special in the real tokenizer_config.json (ids 151657-151664): whole pieces, kept as text.
    plain = ["<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
             "<|repo_name|>", "<|file_sep|>"]
    assert [added.get(t) for t in plain] == [False] * len(plain)
    assert tok.decode(tok("a<tool_call>b")["input_ids"], skip_special_tokens=True) == "a<tool_call>b"
    assert (tok.eos_token, tok.pad_token, tok.bos_token) == ("<|im_end|>", "<|endoftext|>", None)


def test_omni_processor_settings_are_the_real_ones(pipes):
    proc = pipes.caption.model.processor
    image, audio = proc.image_processor, proc.feature_extractor
    assert (image.size["shortest_edge"], image.size["longest_edge"]) == (3136, 12845056)
    assert (image.patch_size, image.merge_size, image.temporal_patch_size) == (14, 2, 2)
    assert list(image.image_mean) == [0.48145466, 0.4578275, 0.40821073]
    assert list(image.image_std) == [0.26862954, 0.26130258, 0.27577711]
    assert (audio.feature_size, audio.sampling_rate, audio.hop_length, audio.n_fft) == (128, 16000, 160, 400)
    assert (audio.chunk_length, audio.n_samples, audio.nb_max_frames) == (300, 4_800_000, 30_000)
    assert audio.return_attention_mask is True and audio.dither == 0.0
    assert pipes.caption.model.model.config.thinker_config.audio_config.num_mel_bins == 128


@pytest.fixture(scope="module")
def janus(tiny_settings):
    from pipelines.tasks import Pipelines

    settings = tiny_settings()
    settings.use_single_checkpoint(settings.image_model)
    return Pipelines(settings)


def test_janus_image_prompt_renders_as_the_real_template(janus):
    loaded = janus.image.model
    assert janus.image.prompt_text("A red house, watercolour") == JANUS_IMAGE_PROMPT
    # What generate() gets: BOS (so the unconditional row keeps BOS + begin-of-image), no system prompt.
    ids = loaded.processor(text=JANUS_IMAGE_PROMPT, generation_mode="image", return_tensors="pt")["input_ids"][0]
    assert loaded.tokenizer.decode(ids) == JANUS_BOS + JANUS_IMAGE_PROMPT + "<begin_of_image>"
    assert ids[0] == loaded.model.generation_config.bos_token_id


def test_janus_text_chat_renders_as_the_real_template(janus):
    loaded = janus.vqa.model
    messages = janus.vqa.messages(PICTURE, "And?", [("Which bar?", "red")])
    assert rendered(loaded, messages) == JANUS_CHAT
    # The processor adds BOS and DeepSeek's default system prompt in text mode; each image is
    # begin-of-image, its placeholders (576 in the real one, 16 in the miniature: pipelines/tiny.py), end-of-image.
    expected = JANUS_BOS + JANUS_SYSTEM + JANUS_CHAT.replace(
        "<image_placeholder>", "<begin_of_image><image_placeholder><end_of_image>")
    assert tokens_text(loaded, messages) == expected
    ids = model_inputs(loaded, messages)["input_ids"][0].tolist()
    assert ids.count(loaded.model.config.image_token_id) == loaded.processor.num_image_tokens


def test_janus_processor_and_generation_config_are_the_real_ones(janus):
    loaded = janus.image.model
    proc, gen = loaded.processor, loaded.model.generation_config
    image = proc.image_processor
    assert (image.size["height"], image.size["width"], image.min_size) == (384, 384, 14)
    assert list(image.image_mean) == [0.5] * 3 and list(image.image_std) == [0.5] * 3
    assert tuple(image.background_color) == (127, 127, 127)
    assert proc.use_default_system_prompt is True
    assert proc.num_image_tokens == loaded.model.model.vision_model.config.num_image_tokens  # drawn = read
    tok = loaded.tokenizer
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == (JANUS_BOS, "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>")
    assert gen.guidance_scale == 5 and gen.temperature == 1
    assert gen.pad_token_id == tok.convert_tokens_to_ids("<｜▁pad▁｜>")
    assert gen.generation_kwargs["boi_token_id"] == tok.convert_tokens_to_ids("<begin_of_image>")
