"""Build tiny random-weight checkpoints of the default architectures, offline.

The hub checkpoints cannot be downloaded where tests run, so tests (and `app.py --tiny`)
load these miniatures through the very same `from_pretrained` code path as the real ones.
Everything a request passes through besides the weights is the real checkpoint's: processor
settings, chat template, special tokens, system-prompt behaviour, generation config (values and
sources: the constants below; tests/test_prompts.py renders every task's prompt against the real
one). Only the model dims shrink (so the vocabulary is a ~320-token BPE trained here in a second,
with the real special tokens, and as many spare embedding rows past it as the real Omni thinker has)
and Janus reads and draws 16 tokens per image instead of 576 (see build_janus).
Outputs are gibberish by design.

    python -m pipelines.tiny build DIR     # writes DIR/qwen2_5_omni and DIR/janus
    python -m pipelines.tiny thinker DIR   # also DIR/qwen2_5_omni_thinker, for `transformers serve`
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
from pathlib import Path

OMNI_DIR = "qwen2_5_omni"
JANUS_DIR = "janus"
THINKER_DIR = "qwen2_5_omni_thinker"
SIGLIP_DIR = "siglip2"  # the search model's miniature (build_search)
DEFAULT_DIR = Path(__file__).resolve().parent.parent / ".tiny"

# Text the byte-level BPE is trained on: English and Chinese, so both tokenize compactly.
_CORPUS = [
    "a photo of a cat on a mat", "what is in this image?", "describe the audio clip",
    "a dog running under the rain", "describe this image", "hello world",
    "这是一张什么图片？", "请描述这段音频。", "一只猫坐在垫子上", "User: Assistant:",
]


def _train_tokenizer(specials: list[str], bos: str | None = None, plain_added: tuple[str, ...] = ()):
    """A ~320-token byte-level BPE; `bos` is prepended to every encoding, as the real tokenizer does;
    `plain_added` are whole-piece tokens that are not special (decoded and kept like text)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS * 20, trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in plain_added])
    if bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))])
    return tok


# --- Qwen/Qwen2.5-Omni-3B: the real values (sources in /work/shared/notes/real-checkpoints.md) -----------
# Added tokens in the order of the real added_tokens.json (ids 151643-151664); only the ids shrink.
# The real tokenizer_config.json marks the first 14 special and the tool-call and fill-in-the-middle
# ones not special (they decode as text and a user may type them).
OMNI_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>",
                 "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_bos|>", "<|vision_eos|>", "<|vision_pad|>",
                 "<|IMAGE|>", "<|VIDEO|>"]
OMNI_PLAIN_ADDED = ("<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
                    "<|repo_name|>", "<|file_sep|>")
# chat_template.json of Qwen2.5-Omni (the same template is in the hub repo and in public copies of it).
OMNI_CHAT_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}{% set image_count = namespace(value=0) %}"
    "{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_bos|><|IMAGE|><|vision_eos|>"
    "{% elif content['type'] == 'audio' or 'audio' in content or 'audio_url' in content %}"
    "{% set audio_count.value = audio_count.value + 1 %}{% if add_audio_id %}Audio {{ audio_count.value }}: "
    "{% endif %}<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_bos|><|VIDEO|><|vision_eos|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
OPENAI_CLIP_MEAN, OPENAI_CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
# preprocessor_config.json: images up to 12845056 pixels (a 1024x768 image is ~1000 visual tokens) ...
OMNI_IMAGE = dict(min_pixels=3136, max_pixels=12845056, patch_size=14, merge_size=2, temporal_patch_size=2,
                  image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD)
# ... and Whisper features: 128 mel bins, windows of 300 s (the processor pads every clip to that), with a mask.
OMNI_AUDIO = dict(feature_size=128, sampling_rate=16000, hop_length=160, n_fft=400, chunk_length=300,
                  padding_value=0.0, return_attention_mask=True, dither=0.0)


def build_omni(out: Path) -> Path:
    """Qwen2.5-Omni in the hub layout: thinker, talker, token2wav and the voices file.

    Tokenizer specials, chat template, image and audio preprocessing are the real checkpoint's;
    only the model dims (and so the vocabulary ids) shrink.
    """
    import torch
    from transformers import (Qwen2_5OmniConfig, Qwen2_5OmniForConditionalGeneration, Qwen2_5OmniProcessor,
                              Qwen2TokenizerFast, Qwen2VLImageProcessor, Qwen2VLVideoProcessor,
                              WhisperFeatureExtractor)

    tokenizer = Qwen2TokenizerFast(
        tokenizer_object=_train_tokenizer(OMNI_SPECIALS, plain_added=OMNI_PLAIN_ADDED), eos_token="<|im_end|>", pad_token="<|endoftext|>",
        model_max_length=32768, image_token="<|IMAGE|>", audio_token="<|AUDIO|>", video_token="<|VIDEO|>",
        vision_bos_token="<|vision_bos|>", vision_eos_token="<|vision_eos|>",
        audio_bos_token="<|audio_bos|>", audio_eos_token="<|audio_eos|>")
    processor = Qwen2_5OmniProcessor(
        image_processor=Qwen2VLImageProcessor(**OMNI_IMAGE),
        # The hub repo has no video_preprocessor_config.json: transformers builds the video processor from
        # preprocessor_config.json, as here. Frames are sized at call time by Qwen2_5OmniProcessor.videos_kwargs
        # (128 to 768 x 28² pixels) and read at 2 per second (pipelines/video_input.py), in both.
        video_processor=Qwen2VLVideoProcessor(**OMNI_IMAGE),
        feature_extractor=WhisperFeatureExtractor(**OMNI_AUDIO),
        tokenizer=tokenizer, chat_template=OMNI_CHAT_TEMPLATE)
    ids = tokenizer.convert_tokens_to_ids
    thinker = dict(
        audio_config=dict(d_model=32, encoder_attention_heads=4, encoder_ffn_dim=32, encoder_layers=2,
                          num_mel_bins=OMNI_AUDIO["feature_size"], max_source_positions=1500, n_window=100,
                          output_dim=32),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=4, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, window_size=112, out_hidden_size=32,
                           fullatt_block_indexes=[1]),
        # vocab_size: the ids the tokenizer names; the real count of spare rows follows once built (_add_spare_rows)
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32768,
                         rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [1, 1, 2]},
                         eos_token_id=ids("<|im_end|>"), pad_token_id=ids("<|endoftext|>")),
        audio_token_index=ids("<|AUDIO|>"), image_token_index=ids("<|IMAGE|>"), video_token_index=ids("<|VIDEO|>"),
        audio_start_token_id=ids("<|audio_bos|>"), audio_end_token_id=ids("<|audio_eos|>"),
        vision_start_token_id=ids("<|vision_bos|>"), vision_end_token_id=ids("<|vision_eos|>"),
        user_token_id=ids("<|im_start|>"))
    # enable_audio_output=True as in the real config.json: the file holds talker and token2wav weights too.
    config = Qwen2_5OmniConfig(thinker_config=thinker, talker_config=_talker_config(thinker, len(tokenizer)),
                               token2wav_config=TINY_TOKEN2WAV, enable_audio_output=True)
    torch.manual_seed(0)
    model = Qwen2_5OmniForConditionalGeneration(config)
    _add_spare_rows(model.thinker, SPARE_ROWS)
    for gc in (model.generation_config, model.thinker.generation_config):  # greedy: no sampling defaults shipped
        gc.eos_token_id, gc.pad_token_id = ids("<|im_end|>"), ids("<|endoftext|>")
    _shape_talker(model)
    out.mkdir(parents=True, exist_ok=True)
    processor.save_pretrained(out)
    model.save_pretrained(out)
    torch.save(_voices(model, len(tokenizer)), out / "spk_dict.pt")  # the real one holds Chelsie and Ethan
    return out


# Talker and token2wav of the real classes, shrunk. The real ones (Qwen/Qwen2.5-Omni-3B config.json; a public
# copy: github.com/xygu/MusicQnA, models/Qwen2.5-Omni-3B/config.json): a 24-layer talker (hidden 896, 14 heads,
# 2 KV heads, head dim 64, MLP 4864, embedding 2048) over an 8448-code vocabulary (pad 8292, start 8293, end 8294,
# mask 8296), 0.385 B parameters; and token2wav, a 22-layer DiT (dim 1024, 16 heads) + BigVGAN (80 mel bins,
# upsampling 5*3*2*2*2*2 = 240 samples per mel frame, 2 frames per code: 50 codes a second at 24 kHz), 0.449 B
# parameters, run in float32. The miniature keeps the mel size and the upsampling (so its wav has the real rate
# and duration per code) and shrinks the widths.
TINY_CODES = 40
TINY_TOKEN2WAV = dict(
    dit_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, head_dim=8, ff_mult=2, emb_dim=16,
                    block_size=24, look_ahead_layers=[1], look_backward_layers=[0], repeats=2,
                    num_embeds=TINY_CODES, mel_dim=80, enc_emb_dim=16, enc_dim=16,
                    enc_channels=[16, 16, 16, 16, 48], enc_kernel_sizes=[5, 3, 3, 3, 1],
                    enc_dilations=[1, 2, 3, 4, 1], enc_attention_channels=8, enc_res2net_scale=2,
                    enc_se_channels=8),
    bigvgan_config=dict(mel_dim=80, upsample_initial_channel=64, resblock_kernel_sizes=[3],
                        resblock_dilation_sizes=[[1, 3, 5]], upsample_rates=[5, 3, 2, 2, 2, 2],
                        upsample_kernel_sizes=[11, 7, 4, 4, 4, 4]))
# The real thinker's text embedding has rows that no token names: Qwen2.5-Omni-3B's config.json gives the
# thinker's text vocab_size 151936 (the 7B's, transformers' default: 152064), while its tokenizer's ids end at
# 151664 (added_tokens.json: `<|file_sep|>`), so 151665 ids are named and 271 rows are spare. The talker reads
# some of them as text ids that no text maps to (a user cannot type them): tts_text_pad/start/end,
# 151859-151861 (the real config.json's talker_config, public copy above; also Qwen2_5OmniTalkerConfig's
# defaults), and each voice's text start token (`bos_token` in spk_dict.pt). The miniature's thinker has as many
# spare rows past its own tokenizer, and each of these ids sits at its real offset past the tokenizer.
REAL_NAMED_IDS, REAL_TEXT_ROWS = 151665, 151936
SPARE_ROWS = REAL_TEXT_ROWS - REAL_NAMED_IDS  # 271
TTS_TEXT = {"tts_text_pad_token_id": 151859 - REAL_NAMED_IDS, "tts_text_start_token_id": 151860 - REAL_NAMED_IDS,
            "tts_text_end_token_id": 151861 - REAL_NAMED_IDS}  # offsets past the tokenizer: 194, 195, 196
# Each voice's text start token, as an offset past the tokenizer. The real ids are in spk_dict.pt, a pickle no
# public text shows, so they could not be checked here: the miniature gives each voice its own spare row, the
# two after the tts ids (what matters to the code is that they are spare rows, distinct, read by the talker).
VOICES = {"Chelsie": TTS_TEXT["tts_text_end_token_id"] + 1, "Ethan": TTS_TEXT["tts_text_end_token_id"] + 2}


def _talker_config(thinker: dict, named: int) -> dict:
    """The talker's config; `named`: how many ids the tokenizer names (the spare rows start there)."""
    same = {k: thinker[k] for k in ("audio_token_index", "image_token_index", "video_token_index",
                                    "audio_start_token_id", "audio_end_token_id", "vision_start_token_id",
                                    "vision_end_token_id")}
    return dict(**same, **{k: named + offset for k, offset in TTS_TEXT.items()}, vocab_size=TINY_CODES,
                tts_codec_pad_token_id=TINY_CODES - 8, tts_codec_start_token_id=TINY_CODES - 7,
                tts_codec_end_token_id=TINY_CODES - 6, tts_codec_mask_token_id=TINY_CODES - 4,
                embedding_size=32, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, head_dim=8, max_position_embeddings=32768,
                rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [1, 1, 2]})


def _add_spare_rows(thinker, spare: int) -> None:
    """Grow the thinker's text embedding and output layer by `spare` rows that no token names, as the real
    one has (see SPARE_ROWS).

    Added once the rest is initialised, so every other weight, and so every answer, is the one a miniature
    without them has. Embedding rows: random like the named ones (the talker reads some of them). Output
    rows: the mean of the named rows, so each spare id's logit is the mean logit, never the greedy pick. The
    real model's training pushed these never-seen targets down alike; should a model write one anyway, its
    tokenizer decodes it to nothing and it counts as a generated token (tests/test_speech.py checks the stream).
    """
    import torch

    named = thinker.get_input_embeddings().weight.shape[0]
    thinker.resize_token_embeddings(named + spare, mean_resizing=False)  # also sets the text config's vocab_size
    embed, head = thinker.get_input_embeddings().weight, thinker.get_output_embeddings().weight
    with torch.no_grad():
        noise = torch.randn(spare, embed.shape[1], generator=torch.Generator().manual_seed(3))
        embed[named:] = noise * embed[:named].std()
        head[named:] = head[:named].mean(0)


def _shape_talker(model) -> None:
    """Random weights would speak for a random number of codes; the real talker speaks about one code per
    text token and ends after the text's end. Shape the miniature so it does the same (tests measure that the
    wav grows with the text): one dimension, D, carries "the text is over" from the thinker's embedding of the
    text pad token to the end code's logit, and stays negative while there is text (a bias on the projection;
    the thinker's final norm leaves D out of its hidden states)."""
    import torch

    talker, thinker, d = model.talker, model.thinker, 0
    with torch.no_grad():
        thinker.model.language_model.norm.weight[d] = 0.0
        thinker.get_input_embeddings().weight[talker.text_pad_token, d] = 100.0
        proj = talker.thinker_to_talker_proj
        proj.weight.copy_(torch.eye(proj.weight.shape[0], proj.weight.shape[1]))
        proj.bias.zero_()
        proj.bias[d] = -1.0
        for layer in talker.model.layers:  # quiet layers: the residual stream carries the signal through
            layer.self_attn.o_proj.weight.mul_(0.1)
            layer.mlp.down_proj.weight.mul_(0.1)
        talker.model.norm.weight.fill_(1.0)
        talker.codec_head.weight[:, d] = 0.0
        talker.codec_head.weight[[talker.codec_eos_token, talker.codec_pad_token], d] = 20.0  # both end speech
        # Random BigVGAN layers shrink the signal to ~1e-10, silence once written as 16-bit samples: scale its
        # last layer so the miniature's speech is audible (about 0.1 RMS), and voices differ in the wav file.
        vocoder, mel = model.token2wav.code2wav_bigvgan_model, torch.randn(1, 80, 50, generator=torch.Generator().manual_seed(2))
        rms = vocoder(mel).pow(2).mean().sqrt().item()
        vocoder.conv_post.weight.mul_(0.1 / max(rms, 1e-30))


def _voices(model, named: int) -> dict:
    """spk_dict.pt as the real one is laid out: per voice its conditioning vector, reference mel and text
    start token (a spare row of the thinker's embedding, VOICES' offset past the `named` ids)."""
    import torch

    dit = model.config.token2wav_config.dit_config
    gen = torch.Generator().manual_seed(1)
    return {name: {"cond": torch.randn(1, dit.enc_emb_dim, generator=gen),
                   "ref_mel": torch.randn(1, 30, dit.mel_dim, generator=gen),
                   "bos_token": named + offset} for name, offset in VOICES.items()}


# --- deepseek-community/Janus-Pro-1B: processor and template from transformers'
# src/transformers/models/janus/convert_janus_weights_to_hf.py, tokens from the hub's special_tokens_map.json -----
JANUS_BOS = "<\uff5cbegin\u2581of\u2581sentence\uff5c>"  # fullwidth bars: <｜begin▁of▁sentence｜>
JANUS_EOS = "<\uff5cend\u2581of\u2581sentence\uff5c>"
JANUS_PAD = "<\uff5c\u2581pad\u2581\uff5c>"
JANUS_SPECIALS = [JANUS_BOS, JANUS_EOS, JANUS_PAD, "<begin_of_image>", "<end_of_image>", "<image_placeholder>",
                  "<patch_placeholder>", "<|ref|>", "<|/ref|>", "<|det|>", "<|/det|>", "<|grounding|>",
                  "<|User|>", "<|Assistant|>"]
JANUS_CHAT_TEMPLATE = (
    "{%set seps=['\n\n','<\uff5cend\u2581of\u2581sentence\uff5c>']%}"
    "{%set i=0%}"
    "{%for message in messages%}"
    "{%if message['role']|lower=='user'%}"
    "<|User|>: "
    "{%elif message['role']|lower=='assistant'%}"
    "<|Assistant|>:{%if not (loop.last and not add_generation_prompt and message['content'][0]['type']=='text' "
    "and message['content'][0]['text']=='')%} {%endif%}"
    "{%else%}"
    "{{message['role'].capitalize()}}: "
    "{%endif%}"
    "{%for content in message['content']%}"
    "{%if content['type']=='image'%}"
    "{%if not loop.first%}{{'\n'}}{%endif%}"
    "<image_placeholder>"
    "{%if not loop.last%}{{'\n'}}{%endif%}"
    "{%elif content['type']=='text'%}"
    "{%set text=content['text']%}"
    "{%if loop.first%}{%set text=text.lstrip()%}{%endif%}"
    "{%if loop.last%}{%set text=text.rstrip()%}{%endif%}"
    "{%if not loop.first and message['content'][loop.index0-1]['type']=='text'%}"
    "{{' '+text}}"
    "{%else%}"
    "{{text}}"
    "{%endif%}"
    "{%endif%}"
    "{%endfor%}"
    "{%if not loop.last or add_generation_prompt%}"
    "{%if message['role']|lower=='user'%}"
    "{{seps[0]}}"
    "{%else%}"
    "{{seps[1]}}"
    "{%endif%}"
    "{%endif%}"
    "{%endfor%}"
    "{%if add_generation_prompt%}<|Assistant|>:{%endif%}"
)
JANUS_IMAGE = dict(size={"height": 384, "width": 384}, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
                   min_size=14)  # background: int(0.5 * 255) = 127 grey, from the mean


def build_janus(out: Path, patches: int = 4) -> Path:
    """Janus-Pro: understands images and draws them, like the real one.

    The processor (384 px, mean/std 0.5, grey 127 padding, DeepSeek's default system prompt in
    text mode), chat template, special tokens (a BOS on every prompt, so guidance's unconditional
    row keeps BOS + begin-of-image as in a real run) and generation config are the real checkpoint's.

    One thing is smaller: `patches`**2 image tokens per image, 16 by default (the real 576 at 24).
    JanusConfig ties the tokens drawn to the tokens an image is read as (384 px / patch size), and
    drawing is the cost that matters: each token is a step over a doubled batch (bench/RESULTS.md,
    "Incidents", has the times), and the suite draws dozens of images. So the image still goes in at 384 px, cut into 96 px
    patches (16 px at 24). The Stop tests and the bench's scale section build the real 576
    (`patches=24`). The VQ decoder upsamples 8x: the picture is 8*patches px, resized to the size asked.
    """
    import torch
    from transformers import (GenerationConfig, JanusConfig, JanusForConditionalGeneration, JanusImageProcessor,
                              JanusProcessor, PreTrainedTokenizerFast)

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(JANUS_SPECIALS, bos=JANUS_BOS), bos_token=JANUS_BOS, eos_token=JANUS_EOS,
        pad_token=JANUS_PAD, model_max_length=16384, image_token="<image_placeholder>", boi_token="<begin_of_image>",
        eoi_token="<end_of_image>")
    processor = JanusProcessor(image_processor=JanusImageProcessor(**JANUS_IMAGE), tokenizer=tokenizer,
                               chat_template=JANUS_CHAT_TEMPLATE, use_default_system_prompt=True,
                               num_image_tokens=patches ** 2)
    side = JANUS_IMAGE["size"]["height"]
    ids = tokenizer.convert_tokens_to_ids
    config = JanusConfig(
        text_config=dict(model_type="llama", vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=4, intermediate_size=37, max_position_embeddings=16384,
                         pad_token_id=ids(JANUS_PAD), bos_token_id=ids(JANUS_BOS), eos_token_id=ids(JANUS_EOS)),
        vision_config=dict(image_size=side, patch_size=side // patches, hidden_size=32, projection_dim=32,
                           num_image_tokens=patches ** 2, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2),
        vq_config=dict(embed_dim=12, num_embeddings=12, latent_channels=12, in_channels=3, base_channels=32,
                       channel_multiplier=[1, 1, 1, 1], num_patches=patches, projection_dim=32,
                       image_token_embed_dim=32),
        image_token_id=ids("<image_placeholder>"))
    torch.manual_seed(0)
    model = JanusForConditionalGeneration(config)
    # generation_config.json of Janus-Pro-1B: guidance 5, temperature 1, the pad and begin-of-image tokens.
    model.generation_config = GenerationConfig(
        bos_token_id=ids(JANUS_BOS), eos_token_id=ids(JANUS_EOS), pad_token_id=ids(JANUS_PAD), guidance_scale=5,
        temperature=1, generation_kwargs={"boi_token_id": ids("<begin_of_image>")})
    out.mkdir(parents=True, exist_ok=True)
    processor.save_pretrained(out)
    model.save_pretrained(out)
    return out


# --- google/siglip2-base-patch16-224 (fixed resolution, model_type "siglip"): the real processor settings --------
# SiglipImageProcessor: 224x224, bilinear, rescaled 1/255, mean/std 0.5. GemmaTokenizer (BPE with byte fallback,
# spaces as "▁", <bos> first), pad 0 / eos 1 / bos 2 / unk 3 / mask 4; the text tower reads 64 positions and was
# trained on lowercased text padded to all 64 (pipelines/tasks/search.py pads so).
SIGLIP_IMAGE = dict(size={"height": 224, "width": 224}, resample=2, do_rescale=True, rescale_factor=1 / 255,
                    do_normalize=True, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
SIGLIP_TEXT_POSITIONS = 64
SIGLIP_SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]


def build_siglip(out: Path) -> Path:
    """SigLIP 2 (fixed resolution): the real processor, a Gemma-style tokenizer trained here on English and
    Chinese (its byte fallback reads any other script), and both towers shrunk to 2 layers of 32."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import GemmaTokenizer, SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor

    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    trained = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    trained.normalizer = normalizers.Replace(" ", "\u2581")
    trained.pre_tokenizer = pre_tokenizers.Split(pattern="\u2581", behavior="merged_with_next")
    trainer = trainers.BpeTrainer(vocab_size=len(SIGLIP_SPECIALS) + 256 + 200, show_progress=False,
                                  special_tokens=SIGLIP_SPECIALS + byte_tokens)
    trained.train_from_iterator([line.lower() for line in _CORPUS] * 20, trainer)
    import json

    bpe = json.loads(trained.to_str())["model"]
    tokenizer = GemmaTokenizer(vocab=bpe["vocab"], merges=[tuple(m) if isinstance(m, list) else tuple(m.split(" "))
                                                           for m in bpe["merges"]],
                               model_max_length=SIGLIP_TEXT_POSITIONS, padding_side="right")
    processor = SiglipProcessor(image_processor=SiglipImageProcessor(**SIGLIP_IMAGE), tokenizer=tokenizer)
    ids = tokenizer.convert_tokens_to_ids
    side = SIGLIP_IMAGE["size"]["height"]
    config = SiglipConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=37, max_position_embeddings=SIGLIP_TEXT_POSITIONS,
                         pad_token_id=ids("<pad>"), bos_token_id=ids("<bos>"), eos_token_id=ids("<eos>")),
        vision_config=dict(image_size=side, patch_size=16, hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=4, intermediate_size=37))
    torch.manual_seed(0)
    model = SiglipModel(config)
    out.mkdir(parents=True, exist_ok=True)
    processor.save_pretrained(out)
    model.save_pretrained(out)
    return out


def build_search(root: Path = DEFAULT_DIR) -> Path:
    """The search model's miniature under `root` (apart from build(): its callers unpack two folders)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    stamp = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    Path(root).mkdir(parents=True, exist_ok=True)
    with open(Path(root) / ".lock", "w") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:
            pass
        return _build_under_lock(Path(root), stamp, ((SIGLIP_DIR, build_siglip),))[SIGLIP_DIR]


def build(root: Path = DEFAULT_DIR) -> dict[str, Path]:
    """Build both miniatures under `root` (skipping any already built); return their folders."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the unused talker's default ids outside the tiny vocabulary are expected
    hf_logging.disable_progress_bar()
    # A folder built by another version of this file is built again: `--tiny` after an update must not
    # run on a miniature without the parts the code now expects (a stale one had no voices, say).
    stamp = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    Path(root).mkdir(parents=True, exist_ok=True)
    with open(Path(root) / ".lock", "w") as lock:
        try:  # test processes (pytest -n) sharing one folder build it once; Windows has no fcntl
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:
            pass
        return _build_under_lock(Path(root), stamp)


def _build_under_lock(root: Path, stamp: str, builders=None) -> dict[str, Path]:
    paths = {}
    for name, builder in builders or ((OMNI_DIR, build_omni), (JANUS_DIR, build_janus)):
        path = Path(root) / name
        built = path / ".built-by"
        if not (built.exists() and built.read_text() == stamp):
            tmp = Path(root) / f".{name}.partial"
            shutil.rmtree(tmp, ignore_errors=True)
            builder(tmp)
            (tmp / ".built-by").write_text(stamp)
            shutil.rmtree(path, ignore_errors=True)
            tmp.rename(path)  # a half-built folder never looks finished
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
