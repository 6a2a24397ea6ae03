"""Load each distinct checkpoint once and hand the same instance to every pipeline.

Loading is lazy (the first request pays for it, so the page is up at once) and thread-safe
(two tabs asking for the same checkpoint at the same moment get one load). Weights go
through accelerate's `device_map`: bf16 on CUDA, float32 on CPU.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from . import compat, quantize
from .errors import ModelError, Text
from .loaded import Family, LoadedModel, ModelLock, without  # noqa: F401 - re-exported

log = logging.getLogger(__name__)


FAMILIES = {
    # The full Omni checkpoint holds thinker + talker; we load the thinker only (text answers), and
    # the talker and token2wav on the first spoken answer (ModelRegistry.speech).
    "qwen2_5_omni": Family(
        model_class="Qwen2_5OmniForConditionalGeneration",
        modalities=frozenset({"image", "audio", "video"}),
        load_kwargs={"enable_audio_output": False},
        system_prompt=("You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of "
                       "perceiving auditory and visual inputs, as well as generating text and speech."),
        text_module="thinker",
        speaks=True,
        keep_full=("thinker.model.audio_tower", "thinker.model.visual", "thinker.lm_head", "talker", "token2wav"),
    ),
    "janus": Family(
        model_class="JanusForConditionalGeneration",
        modalities=frozenset({"image", "draw"}),
        text_generate_kwargs={"generation_mode": "text"},
        keep_full=("model.vision_model", "model.aligner", "model.vqmodel", "model.generation_embeddings",
                   "model.generation_aligner", "model.generation_head", "lm_head"),
    ),
    # Search by meaning (pipelines/tasks/search.py): a contrastive image-text encoder, nothing generated. SigLIP 2's
    # fixed-resolution checkpoints are model_type "siglip". Its weights stay full precision under --quantize.
    "siglip": Family(
        model_class="SiglipModel",
        modalities=frozenset({"embed"}),
        keep_full=("text_model", "vision_model"),
    ),
}


def pick_device(device: str = "auto") -> tuple[str, Any]:
    """(device_map, dtype): bf16 on CUDA, float32 on CPU."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelError("load_failed", model="(any)", reason=Text("reason_no_cuda"))
        return ("auto" if device == "cuda" else device), torch.bfloat16
    return "cpu", torch.float32


class ModelRegistry:
    """Checkpoint id -> LoadedModel, each loaded at most once (or the RemoteModel of an id an engine serves)."""

    def __init__(self, device: str = "auto", remote: dict | None = None, max_batch_size: int = 1,
                 batch_wait: float = 0.025, quantize: str = "none"):
        self.device = device
        self.quantize = quantize  # --quantize: none | int8 | nf4 (pipelines/quantize.py)
        self.remote = dict(remote or {})  # id -> RemoteModel (remote.py): served by an engine, never loaded here
        self.max_batch_size, self.batch_wait = max_batch_size, batch_wait
        self._batchers: dict[str, Any] = {}
        self._models: dict[str, LoadedModel] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.load_counts: dict[str, int] = {}
        self._speech: dict[str, Any] = {}  # id -> speech.Speech, loaded on first use
        # Set at start-up where the memory estimate does not fit (device.apply_plan): spoken answers off,
        # checkpoints left out (their tabs answer with a clear message instead).
        self.speech_off = False
        self.off: set[str] = set()

    def get(self, model_id: str) -> LoadedModel:
        if model_id in self.remote:
            return self.remote[model_id]
        if model_id in self.off:
            raise ModelError("model_off", model=model_id)
        loaded = self._models.get(model_id)
        if loaded is not None:
            return loaded
        with self._guard:
            lock = self._locks.setdefault(model_id, threading.Lock())
        with lock:  # one load per id; other ids load in parallel
            if model_id not in self._models:
                self._models[model_id] = self._load(model_id)
                self.load_counts[model_id] = self.load_counts.get(model_id, 0) + 1
        return self._models[model_id]

    def batcher(self, model_id: str):
        """The model's request batcher (generation.Batcher), or None when batching is off."""
        if self.max_batch_size <= 1 or model_id in self.remote:  # an engine batches on its own
            return None
        loaded = self.get(model_id)
        with self._guard:
            if model_id not in self._batchers:
                from .generation import Batcher

                self._batchers[model_id] = Batcher(loaded, self.max_batch_size, self.batch_wait)
            return self._batchers[model_id]

    def speech(self, model_id: str):
        """The checkpoint's talker, token2wav and voices (speech.Speech), added once to its loaded model."""
        if model_id in self.remote:
            raise ModelError("speech_remote")
        if self.speech_off:
            raise ModelError("speech_off")
        loaded = self.get(model_id)
        if model_id in self._speech:
            return self._speech[model_id]
        if not loaded.family.speaks:
            raise ModelError("cannot_speak", model=model_id)
        with self._guard:
            lock = self._locks.setdefault(f"{model_id} speech", threading.Lock())
        with lock:
            if model_id not in self._speech:
                from .speech import load_speech

                try:
                    self._speech[model_id] = load_speech(loaded, pick_device(self.device)[0])
                except ModelError:
                    raise
                except Exception as exc:  # noqa: BLE001 - out of memory, a damaged file: the text still stands
                    log.warning("speech parts of %s failed to load: %s", model_id, exc)
                    raise ModelError("speech_load_failed", model=model_id, reason=load_failure_reason(exc)) from exc
        return self._speech[model_id]

    def speech_loaded(self, model_id: str):
        """The speech parts if they are loaded, else None (never loads)."""
        return self._speech.get(model_id)

    def loaded(self) -> list[LoadedModel]:
        return list(self._models.values())

    def family_of(self, model_id: str) -> Family:
        """The family from the (small) config alone, without loading weights."""
        if model_id in self.remote:
            return self.remote[model_id].family
        if model_id in self._models:
            return self._models[model_id].family
        from transformers import AutoConfig

        try:
            model_type = AutoConfig.from_pretrained(model_id).model_type
        except Exception as exc:  # noqa: BLE001 - any failure here is a load failure
            raise ModelError("load_failed", model=model_id, reason=load_failure_reason(exc)) from exc
        if model_type not in FAMILIES:
            raise ModelError("load_failed", model=model_id,
                             reason=Text("reason_family", dict(model_type=model_type, families=", ".join(FAMILIES))))
        return FAMILIES[model_type]

    def quantization_of(self, model_id: str) -> tuple[str, bool]:
        """(mode, the checkpoint's own): how `model_id` will load, checked before any weight is read. A checkpoint
        with its own quantization_config loads with it (its backend must be installed) and --quantize is not
        applied on top; else --quantize, refused here where the backend cannot run it on this device."""
        from transformers import AutoConfig

        try:
            own = quantize.own_quantization(AutoConfig.from_pretrained(model_id))
        except Exception as exc:  # noqa: BLE001 - any failure here is a load failure
            raise ModelError("load_failed", model=model_id, reason=load_failure_reason(exc)) from exc
        if own is not None:
            quantize.check_own(model_id, own)
            return quantize.own_mode(own), True
        device_map = pick_device(self.device)[0]
        quantize.check(self.quantize, "cuda" if device_map == "auto" else device_map)
        return self.quantize, False

    def _load(self, model_id: str) -> LoadedModel:
        import transformers

        family = self.family_of(model_id)
        device_map, dtype = pick_device(self.device)
        mode, own = self.quantization_of(model_id)
        quantization = {}
        if own and self.quantize != "none":
            log.warning("%s has its own quantization_config (%s): --quantize %s is not applied on top",
                        model_id, mode, self.quantize)
        elif not own and mode != "none":
            quantization["quantization_config"] = quantize.config_for(mode, family, dtype)
        log.info("loading %s on %s (%s), quantization %s", model_id, device_map, dtype, quantize.describe(mode, own))
        start = time.perf_counter()
        try:
            cls = getattr(transformers, family.model_class)
            load = cls.from_pretrained
            if family.speaks:  # Omni's own loader refuses a checkpoint without spk_dict.pt, which only speech
                # reads (speech.load_speech, with its own clear message): without it the text answers still work.
                load = compat.load_without_voices(cls)
            model = load(model_id, dtype=dtype, device_map=device_map, **family.load_kwargs, **quantization).eval()
            if mode in ("nf4", "fp4") and model.device.type == "cpu":
                compat.unpackable_4bit_on_cpu(model)
            processor = transformers.AutoProcessor.from_pretrained(model_id)
        except ImportError as exc:  # a quantization backend transformers asked for and did not find
            if not (own or quantization):
                raise ModelError("load_failed", model=model_id, reason=load_failure_reason(exc)) from exc
            raise ModelError("quantized_checkpoint_missing", model=model_id, method=mode,
                             install=str(exc).strip().splitlines()[0][:300]) from exc
        except Exception as exc:  # noqa: BLE001
            raise ModelError("load_failed", model=model_id, reason=load_failure_reason(exc)) from exc
        seconds = time.perf_counter() - start
        log.info("loaded %s in %.1f s", model_id, seconds)
        return LoadedModel(model_id, family, model, processor, model.device, dtype, seconds,
                           quantization=quantize.describe(mode, own))


def hub_reachable(timeout: float = 3.0) -> bool:
    """One quick request to the Hub (HF_ENDPOINT; proxies honoured): without it, huggingface_hub
    retries each file for about 30 s before it gives up."""
    import httpx
    from huggingface_hub import constants

    try:
        httpx.head(constants.ENDPOINT, timeout=timeout)
    except Exception:  # noqa: BLE001 - refused, no DNS, timeout, a malformed endpoint: all "not reachable"
        return False
    return True


def looks_like_folder(model_id: str) -> bool:
    """A path, not a hub id ("org/name"): starts like one, or has more than one slash."""
    return model_id.startswith(("./", "../", "/", "~", ".\\")) or model_id.count("/") > 1 or "\\" in model_id


def check_source(model_id: str, flags: str, reachable) -> None:
    """Fail fast, with the fix, on a local folder that does not exist or a hub checkpoint that
    cannot be fetched (no network, not in the cache). With the Hub out of reach but the
    checkpoint cached, go offline for this process, so loading skips the network retries."""
    import os

    if os.path.isdir(os.path.expanduser(model_id)):
        return
    if looks_like_folder(model_id):
        raise ModelError("no_folder", model=model_id, flags=flags)
    from huggingface_hub import constants, is_offline_mode, try_to_load_from_cache

    try:
        cached = isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except Exception:  # noqa: BLE001 - not a valid id: from_pretrained says why
        return
    if is_offline_mode():
        if not cached:
            raise ModelError("not_cached_offline", model=model_id, flags=flags)
    elif not reachable():
        if not cached:
            raise ModelError("hub_unreachable", model=model_id, flags=flags, endpoint=constants.ENDPOINT)
        log.warning("the Hugging Face Hub (%s) is not reachable: using the local cache, as with HF_HUB_OFFLINE=1",
                    constants.ENDPOINT)
        compat.go_offline()


def load_failure_reason(exc: BaseException) -> Text:
    """One line that says what failed (Pipelines.check adds the flag that fixes it)."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    return Text("reason_load", dict(error=first))
