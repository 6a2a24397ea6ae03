"""8-bit and 4-bit weights (--quantize) through transformers' own BitsAndBytesConfig.

Only the language model's decoder linears are quantized (the Omni thinker's, Janus's); what needs its
precision stays float: the vision and audio encoders, the output layer and embeddings, Janus's VQ model and
drawing head, the Omni talker and token2wav (Family.keep_full, by module name). A checkpoint that ships its
own `quantization_config` (GPTQ/AWQ releases, a bitsandbytes-saved one) loads with it and --quantize is not
applied on top. Everything impossible (the package missing, the backend unable to run on this device) is
refused before any weight loads, with what to install.
"""

from __future__ import annotations

import importlib.util
import logging

from .errors import ModelError

log = logging.getLogger(__name__)

MODES = ("none", "int8", "nf4")
BNB_PIN = "bitsandbytes==0.50.2"  # requirements-dev.txt; not in requirements.txt (README "Quantized weights")

# Bytes a quantized weight takes per parameter, and per output row / per block for its scales (fp32):
# int8 keeps one absmax per row (Int8Params.SCB), nf4 packs two weights a byte with one absmax per 64.
INT8_BYTES, NF4_BYTES, NF4_BLOCK = 1.0, 0.5, 64

# What a checkpoint's own quantization_config needs installed: quant_method -> (import name, pip line).
BACKENDS = {
    "bitsandbytes": ("bitsandbytes", BNB_PIN),
    "gptq": ("gptqmodel", "gptqmodel optimum"),
    "awq": ("awq", "autoawq"),
    "torchao": ("torchao", "torchao"),
    "quanto": ("optimum.quanto", "optimum-quanto"),
    "compressed-tensors": ("compressed_tensors", "compressed-tensors"),
}


def installed(module: str, find_spec=importlib.util.find_spec) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing
        return False


def probe(mode: str, device: str) -> None:
    """Run the backend's own quantize op for `mode` on a few numbers on `device`: raises where it cannot."""
    import bitsandbytes.functional as F
    import torch

    x = torch.ones(2, 64, device=device)
    if mode == "int8":
        F.int8_vectorwise_quant(x.half())
    else:
        F.quantize_4bit(x, blocksize=NF4_BLOCK, quant_type="nf4")


def check(mode: str, device: str, find_spec=importlib.util.find_spec, run_probe=probe) -> None:
    """Refuse (ModelError, before loading) a mode this machine cannot run: the package missing, or its
    backend unable to quantize on `device` ("cpu", "cuda", ...). `find_spec`, `run_probe`: what it reads,
    passed in so a test can show each case."""
    if mode == "none":
        return
    if mode not in MODES:
        raise ModelError("quantize_unknown", mode=mode, modes=", ".join(MODES))
    if not installed("bitsandbytes", find_spec):
        raise ModelError("quantize_missing", mode=mode, install=BNB_PIN)
    try:
        run_probe(mode, device)
    except Exception as exc:  # noqa: BLE001 - any failure of the backend's op is "cannot run here"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelError("quantize_device", mode=mode, device=device, reason=first) from exc


class _CastSaidOnce(logging.Filter):
    """bitsandbytes logs its float16 cast on every int8 matmul whose input is not float16 (float32 on a CPU, bf16
    on a GPU): each layer, each token. It is expected; said once is enough."""

    def __init__(self):
        super().__init__()
        self.said = False

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("MatMul8bitLt: inputs will be cast"):
            return True
        said, self.said = self.said, True
        return not said


CAST_FILTER = _CastSaidOnce()


def config_for(mode: str, family, dtype):
    """transformers' BitsAndBytesConfig for `mode`, keeping the family's full-precision modules as they are."""
    if mode == "none":
        return None
    from transformers import BitsAndBytesConfig

    skip = list(family.keep_full)
    if mode == "int8":
        logging.getLogger("bitsandbytes.autograd._functions").addFilter(CAST_FILTER)  # once per logger
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype,
                              llm_int8_skip_modules=skip)


def own_quantization(config) -> dict | None:
    """The checkpoint's own quantization_config as a dict (GPTQ, AWQ, bitsandbytes...), or None."""
    q = getattr(config, "quantization_config", None)
    if q is None:
        return None
    return q if isinstance(q, dict) else q.to_dict()


def own_mode(q: dict) -> str:
    """A short name for a checkpoint's own quantization: 'int8' / 'nf4' / 'fp4' for bitsandbytes, else the method
    and its bits ('gptq 4-bit')."""
    method = q.get("quant_method", "unknown")
    if method == "bitsandbytes":
        if q.get("load_in_8bit"):
            return "int8"
        return q.get("bnb_4bit_quant_type", "nf4")
    bits = q.get("bits") or q.get("w_bit")
    return f"{method} {bits}-bit" if bits else str(method)


def check_own(model_id: str, q: dict, find_spec=importlib.util.find_spec) -> None:
    """A pre-quantized checkpoint whose backend package is missing: refused before loading, naming it."""
    method = q.get("quant_method", "unknown")
    module, pip = BACKENDS.get(method, (None, None))
    if module and not installed(module, find_spec):
        raise ModelError("quantized_checkpoint_missing", model=model_id, method=method, install=f"`pip install {pip}`")


def bytes_per_param(mode: str) -> float | None:
    """Storage of one quantized weight, scales included on average (None: not quantized)."""
    if mode == "int8":
        return INT8_BYTES
    if mode in ("nf4", "fp4"):
        return NF4_BYTES + 4 / NF4_BLOCK
    if mode.endswith("-bit"):
        return int(mode.split()[-1].removesuffix("-bit")) / 8
    return None


def quantized_linears(model, family):
    """(name, module) of every nn.Linear --quantize would quantize: not under any of family.keep_full."""
    import torch

    keep = tuple(family.keep_full)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and not any(name == k or name.startswith(k + ".") for k in keep):
            yield name, module


def weight_bytes(module) -> int:
    """Memory of a linear's weight as stored, its quantization scales included (bias apart: it stays float)."""
    w = module.weight
    size = w.numel() * w.element_size()
    for scale in (getattr(w, "SCB", None), getattr(getattr(w, "quant_state", None), "absmax", None)):
        if scale is not None:
            size += scale.numel() * scale.element_size()
    return size


def describe(loaded_mode: str, own: bool) -> str:
    """What Status and the log say: 'none', 'int8 (bitsandbytes)', or 'gptq 4-bit (the checkpoint's own)'."""
    if loaded_mode == "none":
        return "none"
    return f"{loaded_mode} (the checkpoint's own)" if own else f"{loaded_mode} (bitsandbytes)"
