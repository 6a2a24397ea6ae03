"""Every place the pipelines reach into transformers or huggingface_hub past their public API, and nothing else.

Each function counts its calls in HITS, so a test can tell that the app still goes through it;
tests/test_canaries.py holds one canary per entry, failing when the upstream name, signature or behaviour it
relies on changes. Public APIs are used wherever one exists (`key_mapping` in speech.py,
`huggingface_hub.try_to_load_from_cache` here).

  load_without_voices    PreTrainedModel.from_pretrained under a subclass whose own loader would refuse
  optional_file          a checkpoint file that may be absent, None then (try_to_load_from_cache + hf_hub_download)
  go_offline             huggingface_hub's offline switch, flipped for this process
  attention_of           the attention implementation a config runs (config._attn_implementation)
  smart_resize           Qwen2-VL's frame sizing, from its processor's module
  sdpa_mask              transformers' SDPA mask function, registered for our attention (masking_utils)
  talker_mask            the Omni talker's attention mask, given back at each step after generate() drops it
  unpackable_4bit_on_cpu bitsandbytes' packed CPU path (AVX512-BF16) switched off for a 4-bit linear it cannot pack
"""

from __future__ import annotations

import collections
import functools
import os

HITS: collections.Counter = collections.Counter()  # function name -> calls, read by tests/test_canaries.py


def load_without_voices(cls):
    """`cls.from_pretrained` as PreTrainedModel defines it. Qwen2.5-Omni's own loader refuses a checkpoint
    without spk_dict.pt, which only spoken answers read (speech.load_speech says clearly when it is missing);
    without it the text answers still work. transformers has no option to skip that check."""
    import transformers

    HITS["load_without_voices"] += 1
    return functools.partial(transformers.PreTrainedModel.from_pretrained.__func__, cls)


def optional_file(repo: str, filename: str) -> str | None:
    """The local path of `filename` in a checkpoint (a folder or a hub id, fetched if need be), or None when
    the checkpoint has no such file. Other failures (no network, offline and not cached) raise."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import RemoteEntryNotFoundError

    HITS["optional_file"] += 1
    folder = os.path.expanduser(repo)
    if os.path.isdir(folder):
        path = os.path.join(folder, filename)
        return path if os.path.isfile(path) else None
    cached = try_to_load_from_cache(repo, filename)
    if isinstance(cached, str):
        return cached
    if cached is not None:  # the cache remembers that the repository has no such file
        return None
    try:
        return hf_hub_download(repo, filename)
    except RemoteEntryNotFoundError:  # the hub says there is no such file
        return None


def go_offline() -> None:
    """From now on transformers and huggingface_hub use the local cache only, as with HF_HUB_OFFLINE=1 (which
    they read once, at import: the constant is what they consult afterwards)."""
    from huggingface_hub import constants

    HITS["go_offline"] += 1
    constants.HF_HUB_OFFLINE = True
    os.environ["HF_HUB_OFFLINE"] = "1"


def attention_of(config) -> str | None:
    """The attention implementation `config` runs ("sdpa", "eager", a registered name); transformers keeps it
    in a private attribute and offers no getter (set_attn_implementation sets it)."""
    HITS["attention_of"] += 1
    return config._attn_implementation


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """The (height, width) Qwen2-VL's video processor scales a frame of this size to."""
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import smart_resize as upstream

    HITS["smart_resize"] += 1
    return upstream(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)


def sdpa_mask():
    """transformers' mask function for SDPA-style attention (causal order, no n x n tensor where it can)."""
    from transformers.masking_utils import sdpa_mask as upstream

    HITS["sdpa_mask"] += 1
    return upstream


def talker_mask(talker):
    """Give the Omni talker an attention mask at every step of its generate(); returns the hook's handle.

    generate() drops an all-ones mask (no padding: every request the talker gets here) before the first step,
    but the talker's forward computes its rope positions (the media's, a video's sound interleaved with its
    frames as `use_audio_in_video` says) and adds its codec start embeddings only when it gets one: without
    it every axis counts tokens one by one. The mask given back covers the cache and the new tokens, as
    generate() builds it when it keeps it."""
    import torch

    def give_back(module, args, kwargs):
        if kwargs.get("attention_mask") is not None:
            return None
        new = kwargs.get("inputs_embeds")
        if new is None:
            new = kwargs.get("input_ids")
        if new is None:
            return None
        cache = kwargs.get("past_key_values")
        past = cache.get_seq_length() if cache is not None else 0
        HITS["talker_mask"] += 1
        mask = torch.ones((new.shape[0], past + new.shape[1]), dtype=torch.long, device=new.device)
        return args, {**kwargs, "attention_mask": mask}

    return talker.register_forward_pre_hook(give_back, with_kwargs=True)


def unpackable_4bit_on_cpu(model) -> int:
    """Keep bitsandbytes' generic 4-bit matmul for each linear its packed CPU kernel cannot take; returns how many.

    On a CPU with AVX512-BF16, Linear4bit's first forward repacks its weight in blocks of 32 output rows and 64
    inputs, and fails ("shape [N, 0] is invalid") where a layer is narrower or not a multiple of them. Every
    linear of the default checkpoints fits; a miniature's do not. The switch is the module's own attribute,
    set in its __init__ from `has_avx512bf16()`: there is no public option."""
    try:
        from bitsandbytes.nn import Linear4bit
    except ImportError:
        return 0
    switched = 0
    for module in model.modules():
        if not isinstance(module, Linear4bit) or not getattr(module, "support_avx512bf16_for_cpu", False):
            continue
        state = getattr(module.weight, "quant_state", None)
        shape = getattr(state, "shape", None)
        if state is None or shape is None or len(shape) != 2:
            continue
        if shape[0] % 32 or shape[1] % state.blocksize:
            module.support_avx512bf16_for_cpu = False
            switched += 1
    HITS["unpackable_4bit_on_cpu"] += 1
    return switched
