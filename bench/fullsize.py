"""Full-size random-weight checkpoints of the default models, for timing on a GPU.

Speed and memory do not depend on weight values, only on shapes, so these stand in for
Qwen/Qwen2.5-Omni-3B and deepseek-community/Janus-Pro-1B where the hub cannot be reached.
The shapes below are the published config values (hidden sizes, layers, heads, vocabulary,
encoders, image/audio preprocessing). Each is made from the tiny checkpoint of the same
architecture (pipelines/tiny.py: chat template, special tokens and their ids) with the
dimensions raised to full size and a word-level tokenizer as large as the real vocabulary,
so every generated id decodes to text. Written in the hub layout, loaded by the app's usual
`from_pretrained` path.

    python -m bench.fullsize DIR [--layers N]   # N: fewer layers, for a quick check of the code path
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Published values (config.json of each hub repo); only what sets compute and memory.
OMNI_3B = {
    "thinker_config": {
        "text_config": dict(vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                            num_attention_heads=16, num_key_value_heads=2, max_position_embeddings=32768,
                            tie_word_embeddings=False,
                            rope_parameters={"rope_type": "default", "rope_theta": 1e6,
                                             "mrope_section": [16, 24, 24]}),
        "vision_config": dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, patch_size=14,
                              spatial_merge_size=2, temporal_patch_size=2, window_size=112, out_hidden_size=2048,
                              fullatt_block_indexes=[7, 15, 23, 31]),
        "audio_config": dict(d_model=1280, encoder_layers=32, encoder_attention_heads=20, encoder_ffn_dim=5120,
                             num_mel_bins=128, max_source_positions=1500, n_window=100, output_dim=2048),
    },
}
JANUS_PRO_1B = {
    "text_config": dict(vocab_size=102400, hidden_size=2048, intermediate_size=5632, num_hidden_layers=24,
                        num_attention_heads=16, num_key_value_heads=16, head_dim=128, max_position_embeddings=16384),
    "vision_config": dict(image_size=384, patch_size=16, hidden_size=1024, num_hidden_layers=24,
                          num_attention_heads=16, mlp_ratio=4.0, num_image_tokens=576, projection_dim=2048),
    "vq_config": dict(embed_dim=8, num_embeddings=16384, latent_channels=256, base_channels=128,
                      channel_multiplier=[1, 1, 2, 2, 4], num_patches=24, projection_dim=2048,
                      image_token_embed_dim=2048),
}
NAMED_TOKENS = ("eos_token", "pad_token", "bos_token", "unk_token", "image_token", "audio_token", "video_token",
                "vision_bos_token", "vision_eos_token", "audio_bos_token", "audio_eos_token", "boi_token",
                "eoi_token")


def deep_update(base: dict, new: dict) -> dict:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value
    return base


def big_tokenizer(small, vocab_size: int):
    """A word-level tokenizer with `vocab_size` entries; special tokens keep their ids."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = {t: small.convert_tokens_to_ids(t) for t in small.all_special_tokens}
    specials.update({t.content: i for i, t in small.added_tokens_decoder.items()})
    vocab = dict(specials)
    taken = set(vocab.values())
    vocab.update({f"w{i}": i for i in range(vocab_size) if i not in taken})
    unk = small.unk_token or small.pad_token
    tok = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens(list(specials))
    named = {n: getattr(small, n) for n in NAMED_TOKENS if getattr(small, n, None)}
    return PreTrainedTokenizerFast(tokenizer_object=tok, **named)


def build_one(tiny_path: Path, out: Path, layers: int | None = None) -> Path:
    import torch
    import transformers
    from transformers import AutoConfig, AutoProcessor

    from pipelines.registry import FAMILIES

    small = AutoProcessor.from_pretrained(tiny_path)
    config = AutoConfig.from_pretrained(tiny_path)
    family = FAMILIES[config.model_type]
    values = config.to_dict()
    if config.model_type == "qwen2_5_omni":
        deep_update(values, OMNI_3B)
        text = values["thinker_config"]["text_config"]
        tokenizer = big_tokenizer(small.tokenizer, text["vocab_size"])
        # The tiny checkpoint's processor already has the real settings (pipelines/tiny.py); only the vocabulary grows.
        processor = type(small)(image_processor=small.image_processor, video_processor=small.video_processor,
                                feature_extractor=small.feature_extractor, tokenizer=tokenizer,
                                chat_template=small.chat_template)
        depth_keys = [("thinker_config", "text_config", "num_hidden_layers"),
                      ("thinker_config", "vision_config", "depth"), ("thinker_config", "audio_config", "encoder_layers")]
    else:  # janus
        deep_update(values, JANUS_PRO_1B)
        tokenizer = big_tokenizer(small.tokenizer, values["text_config"]["vocab_size"])
        processor = type(small)(image_processor=small.image_processor, tokenizer=tokenizer,
                                chat_template=small.chat_template, use_default_system_prompt=True,
                                num_image_tokens=JANUS_PRO_1B["vision_config"]["num_image_tokens"])
        depth_keys = [("text_config", "num_hidden_layers"), ("vision_config", "num_hidden_layers")]
    if layers:
        for path in depth_keys:
            node = values
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = layers
        if "fullatt_block_indexes" in str(values):
            values["thinker_config"]["vision_config"]["fullatt_block_indexes"] = [layers - 1]
    for text in (values.get("text_config"), values.get("thinker_config", {}).get("text_config")):
        if text:
            text.pop("layer_types", None)  # derived from the layer count; rebuilt by the config
    config = type(config).from_dict(values)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = getattr(transformers, family.model_class)(config)  # the tiny config already says e.g. no talker
    finally:
        torch.set_default_dtype(default)
    generation = transformers.GenerationConfig.from_pretrained(tiny_path)
    model.generation_config = generation
    if family.text_module:
        getattr(model, family.text_module).generation_config = generation
    out.mkdir(parents=True, exist_ok=True)
    processor.save_pretrained(out)
    model.save_pretrained(out)
    for extra in tiny_path.glob("*.pt"):  # e.g. Omni's voices file, required by from_pretrained
        (out / extra.name).write_bytes(extra.read_bytes())
    del model
    if device == "cuda":
        torch.cuda.empty_cache()  # the benchmark loads its own copy next
    return out


def build(root: Path, layers: int | None = None) -> dict[str, Path]:
    """Both full-size checkpoints under `root` (kept when already there); their folders by tiny name."""
    from pipelines import tiny

    small = tiny.build(Path(root) / "tiny")
    paths = {}
    for name, tiny_path in small.items():
        out = Path(root) / (name if layers is None else f"{name}-{layers}l")
        if not (out / "config.json").exists():
            build_one(tiny_path, out, layers)
        paths[name] = out
    return paths


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fullsize", description=__doc__.splitlines()[0])
    p.add_argument("dir")
    p.add_argument("--layers", type=int, help="fewer layers (quick check of the code path)")
    args = p.parse_args(argv)
    for name, path in build(Path(args.dir), args.layers).items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
