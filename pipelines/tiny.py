"""Build tiny random-weight checkpoints of the default architectures, offline.

The hub checkpoints cannot be downloaded where tests run, so tests (and `app.py --tiny`)
load these miniatures through the very same `from_pretrained` code path as the real ones.
Same config classes, same processors, same file layout; only the sizes shrink and the
tokenizer is trained here in a second. Outputs are gibberish by design.

    python -m pipelines.tiny build DIR     # writes DIR/qwen2_5_omni and DIR/janus
    python -m pipelines.tiny thinker DIR   # also DIR/qwen2_5_omni_thinker, for `transformers serve`
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

OMNI_DIR = "qwen2_5_omni"
JANUS_DIR = "janus"
THINKER_DIR = "qwen2_5_omni_thinker"
DEFAULT_DIR = Path(__file__).resolve().parent.parent / ".tiny"

# Text the byte-level BPE is trained on: English and Chinese, so both tokenize compactly.
_CORPUS = [
    "a photo of a cat on a mat", "what is in this image?", "describe the audio clip",
    "a dog running under the rain", "describe this image", "hello world",
    "这是一张什么图片？", "请描述这段音频。", "一只猫坐在垫子上", "User: Assistant:",
]


def _train_tokenizer(specials: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS * 20, trainer)
    return tok


def build_omni(out: Path) -> Path:
    """Qwen2.5-Omni in the hub layout (full config, talker disabled, thinker weights)."""
    import torch
    from transformers import (Qwen2_5OmniConfig, Qwen2_5OmniForConditionalGeneration, Qwen2_5OmniProcessor,
                              Qwen2TokenizerFast, Qwen2VLImageProcessorPil, Qwen2VLVideoProcessor,
                              WhisperFeatureExtractor)

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>",
                "<|IMAGE|>", "<|VIDEO|>", "<|vision_bos|>", "<|vision_eos|>"]
    tokenizer = Qwen2TokenizerFast(
        tokenizer_object=_train_tokenizer(specials), eos_token="<|im_end|>", pad_token="<|endoftext|>",
        image_token="<|IMAGE|>", audio_token="<|AUDIO|>", video_token="<|VIDEO|>",
        vision_bos_token="<|vision_bos|>", vision_eos_token="<|vision_eos|>",
        audio_bos_token="<|audio_bos|>", audio_eos_token="<|audio_eos|>")
    # Same message format as the real template: one placeholder per image/audio block.
    chat = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
            "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
            "{% if c['type'] == 'image' %}<|vision_bos|><|IMAGE|><|vision_eos|>"
            "{% elif c['type'] == 'audio' %}<|audio_bos|><|AUDIO|><|audio_eos|>"
            "{% elif c['type'] == 'video' %}<|vision_bos|><|VIDEO|><|vision_eos|>"
            "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    processor = Qwen2_5OmniProcessor(
        image_processor=Qwen2VLImageProcessorPil(min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 16, patch_size=14,
                                                 merge_size=2, temporal_patch_size=2),
        video_processor=Qwen2VLVideoProcessor(),
        feature_extractor=WhisperFeatureExtractor(feature_size=20, sampling_rate=16000, chunk_length=30),
        tokenizer=tokenizer, chat_template=chat)
    ids = tokenizer.convert_tokens_to_ids
    thinker = dict(
        audio_config=dict(d_model=32, encoder_attention_heads=4, encoder_ffn_dim=32, encoder_layers=2,
                          num_mel_bins=20, max_source_positions=1500, n_window=100, output_dim=32),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=4, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, window_size=112, out_hidden_size=32,
                           fullatt_block_indexes=[1]),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32768,
                         rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [1, 1, 2]},
                         eos_token_id=ids("<|im_end|>"), pad_token_id=ids("<|endoftext|>")),
        audio_token_index=ids("<|AUDIO|>"), image_token_index=ids("<|IMAGE|>"), video_token_index=ids("<|VIDEO|>"),
        audio_start_token_id=ids("<|audio_bos|>"), audio_end_token_id=ids("<|audio_eos|>"),
        vision_start_token_id=ids("<|vision_bos|>"), vision_end_token_id=ids("<|vision_eos|>"),
        user_token_id=ids("<|im_start|>"))
    config = Qwen2_5OmniConfig(thinker_config=thinker, enable_audio_output=False)
    torch.manual_seed(0)
    model = Qwen2_5OmniForConditionalGeneration(config)
    for gc in (model.generation_config, model.thinker.generation_config):
        gc.eos_token_id, gc.pad_token_id = ids("<|im_end|>"), ids("<|endoftext|>")
    out.mkdir(parents=True, exist_ok=True)
    processor.save_pretrained(out)
    model.save_pretrained(out)
    torch.save({}, out / "spk_dict.pt")  # the hub repo ships voices; from_pretrained requires the file
    return out


def build_janus(out: Path, patches: int = 4) -> Path:
    """Janus-Pro at 32x32 pixels: understands images and draws them, like the real one.

    `patches` per side sets the image tokens drawn (patches**2, 576 like the real one at 24)
    and the size (8 px per patch); the Stop tests need a drawing that takes a while.
    """
    import torch
    from transformers import (GenerationConfig, JanusConfig, JanusForConditionalGeneration,
                              JanusImageProcessorPil, JanusProcessor, PreTrainedTokenizerFast)

    specials = ["<pad>", "<|begin▁of▁sentence|>", "<|end▁of▁sentence|>", "<image_placeholder>",
                "<begin_of_image>", "<end_of_image>"]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(specials), bos_token="<|begin▁of▁sentence|>",
        eos_token="<|end▁of▁sentence|>", pad_token="<pad>", image_token="<image_placeholder>",
        boi_token="<begin_of_image>", eoi_token="<end_of_image>")
    chat = ("{% for m in messages %}{% if m['role'] == 'user' %}<|User|>: {% else %}<|Assistant|>: {% endif %}"
            "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
            "{% if c['type'] == 'image' %}<image_placeholder>{% elif c['type'] == 'text' %}{{ c['text'] }}"
            "{% endif %}{% endfor %}{% endif %}\n\n{% endfor %}{% if add_generation_prompt %}<|Assistant|>:{% endif %}")
    # vision 16 px per patch; VQ decoder: 3 upsamples -> 8 px per patch (4 patches: 16 tokens, 32x32 px)
    side = 16 * patches
    processor = JanusProcessor(image_processor=JanusImageProcessorPil(size={"height": side, "width": side}),
                               tokenizer=tokenizer, chat_template=chat, num_image_tokens=patches ** 2)
    ids = tokenizer.convert_tokens_to_ids
    config = JanusConfig(
        text_config=dict(model_type="llama", vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=4, intermediate_size=37, max_position_embeddings=4096,
                         pad_token_id=ids("<pad>"), bos_token_id=ids("<|begin▁of▁sentence|>"),
                         eos_token_id=ids("<|end▁of▁sentence|>")),
        vision_config=dict(image_size=side, patch_size=16, num_image_tokens=patches ** 2, hidden_size=32,
                           projection_dim=32, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2),
        vq_config=dict(embed_dim=12, num_embeddings=12, latent_channels=12, in_channels=3, base_channels=32,
                       channel_multiplier=[1, 1, 1, 1], num_patches=patches, projection_dim=32,
                       image_token_embed_dim=32),
        image_token_id=ids("<image_placeholder>"))
    torch.manual_seed(0)
    model = JanusForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        bos_token_id=ids("<|begin▁of▁sentence|>"), eos_token_id=ids("<|end▁of▁sentence|>"),
        pad_token_id=ids("<pad>"), guidance_scale=5.0, generation_kwargs={"boi_token_id": ids("<begin_of_image>")})
    out.mkdir(parents=True, exist_ok=True)
    processor.save_pretrained(out)
    model.save_pretrained(out)
    return out


def build(root: Path = DEFAULT_DIR) -> dict[str, Path]:
    """Build both miniatures under `root` (skipping any already built); return their folders."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the unused talker's default ids outside the tiny vocabulary are expected
    hf_logging.disable_progress_bar()
    paths = {}
    for name, builder in ((OMNI_DIR, build_omni), (JANUS_DIR, build_janus)):
        path = Path(root) / name
        if not (path / "config.json").exists():
            tmp = Path(root) / f".{name}.partial"
            shutil.rmtree(tmp, ignore_errors=True)
            builder(tmp)
            tmp.rename(path)  # atomic: a half-built folder never looks finished
        paths[name] = path
    return paths


def build_thinker(root: Path = DEFAULT_DIR) -> Path:
    """The Omni miniature's thinker alone, for `transformers serve` (README "Scaling out").

    The miniature has no talker, and `transformers serve` drives the full Omni class, whose
    generate() needs one; the thinker class is what it serves for text answers.
    """
    from transformers import AutoProcessor, Qwen2_5OmniForConditionalGeneration

    path = Path(root) / THINKER_DIR
    if not (path / "config.json").exists():
        omni = build(root)[OMNI_DIR]
        tmp = Path(root) / f".{THINKER_DIR}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        model = Qwen2_5OmniForConditionalGeneration.from_pretrained(omni, enable_audio_output=False)
        model.thinker.save_pretrained(tmp)
        AutoProcessor.from_pretrained(omni).save_pretrained(tmp)
        tmp.rename(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.tiny", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the tiny checkpoints")
    b.add_argument("dir", nargs="?", default=str(DEFAULT_DIR))
    t = sub.add_parser("thinker", help="also export the Omni thinker alone (for `transformers serve`)")
    t.add_argument("dir", nargs="?", default=str(DEFAULT_DIR))
    args = parser.parse_args(argv)
    if args.cmd == "thinker":
        print(f"{THINKER_DIR}: {build_thinker(Path(args.dir))}")
        return 0
    for name, path in build(Path(args.dir)).items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
