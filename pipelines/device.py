"""Start-up checks of the device: a GPU that torch cannot use, and models that will not fit.

PyPI's torch wheels (>= 2.10) are CUDA 13 builds: on an older NVIDIA driver `torch.cuda.is_available()`
is False and `--device auto` would quietly run float32 on the CPU, where both default models at once
do not fit a small Space's RAM. These checks say so before anything loads, with the fix; the app logs
them, shows them in a banner on the page and in Status (`device.warnings`).

Every function takes what it reads (environment, /dev, PATH, free memory) as arguments, so the
tests exercise each case on any machine.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from catalogue import Text

log = logging.getLogger(__name__)


class DeviceWarning(Text):
    """What is wrong with the device at start-up: logged in English, shown in each reader's language."""


def nvidia_gpu_present(dev: str | Path = "/dev", which=shutil.which) -> bool:
    """An NVIDIA GPU on this machine: its driver's device files or its `nvidia-smi` tool."""
    return which("nvidia-smi") is not None or any(Path(dev).glob("nvidia[0-9]*"))


def space_gpu_hardware(environ=os.environ) -> str | None:
    """'ZeroGPU' on a ZeroGPU Space (SPACES_ZERO_GPU), else None. Spaces publish no other hardware
    variable; a paid GPU Space shows up through its NVIDIA device files instead."""
    if environ.get("SPACE_ID") and environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true"):
        return "ZeroGPU"
    return None


def gpu_unused(device: str, cuda_available: bool, environ=os.environ, dev: str | Path = "/dev",
               which=shutil.which, torch_version: str = "", torch_cuda: str | None = None) -> DeviceWarning | None:
    """A GPU is there (or the Space pays for one) but the models would run on the CPU."""
    if cuda_available or device == "cpu":  # --device cpu is a choice, not an accident
        return None
    cuda = torch_cuda or "none (a CPU-only build)"
    hardware = space_gpu_hardware(environ)
    if hardware:
        from .zerogpu import ZEROGPU_TORCH

        return DeviceWarning("space_gpu_unused", dict(hardware=hardware, torch=torch_version, cuda=cuda,
                                                      supported=", ".join(ZEROGPU_TORCH)))
    if nvidia_gpu_present(dev, which):
        return DeviceWarning("gpu_unused", dict(torch=torch_version, cuda=cuda))
    return None


def model_bytes(model_id: str, family, dtype_bytes: int) -> int:
    """Weights of a checkpoint in memory: its parameter count (built on the meta device from its
    config, no weights read) times the bytes of the dtype it loads in."""
    import torch
    import transformers

    config = transformers.AutoConfig.from_pretrained(model_id, **family.load_kwargs)
    with torch.device("meta"):
        model = getattr(transformers, family.model_class)._from_config(config)
    return sum(p.numel() for p in model.parameters()) * dtype_bytes


@dataclass(frozen=True)
class Part:
    """One part of a checkpoint that loads on its own, with the dtype it loads in."""

    model_id: str
    name: str  # "thinker", "talker", "token2wav" (Qwen2.5-Omni) or "model"
    params: int
    dtype_bytes: int
    quantized: int = 0  # of `params`, those stored in `mode` (--quantize, or the checkpoint's own)
    mode: str = "none"

    @property
    def bytes(self) -> int:
        from .quantize import bytes_per_param

        per = bytes_per_param(self.mode) if self.quantized else None
        if per is None:
            return self.params * self.dtype_bytes
        return int((self.params - self.quantized) * self.dtype_bytes + self.quantized * per)

    @property
    def label(self) -> str:
        """Its dtype, and the quantization of its decoder layers if any: "bf16", "bf16, decoder layers int8"."""
        kind = {2: "bf16", 4: "float32"}.get(self.dtype_bytes, str(self.dtype_bytes))
        return f"{kind}, decoder layers {self.mode}" if self.quantized else kind


def checkpoint_parts(model_id: str, family, dtype_bytes: int, mode: str = "none") -> list[Part]:
    """The parts of a checkpoint, each counted on the meta device from the config (no weights read).

    A checkpoint that speaks: the thinker and the talker load in `dtype_bytes` (bf16 on a GPU),
    token2wav always in float32 (speech.load_speech, as transformers requires). `mode` (quantize.py):
    the weights of the linears it quantizes (all but family.keep_full) are counted in its size.
    """
    import torch
    import transformers

    from .quantize import quantized_linears

    config = transformers.AutoConfig.from_pretrained(model_id)
    if family.speaks:
        config.enable_audio_output = True  # build the talker and token2wav too, to count them
    with torch.device("meta"):
        model = getattr(transformers, family.model_class)._from_config(config)

    def count(module) -> int:
        return sum(p.numel() for p in module.parameters())

    quantized = {} if mode == "none" else {name: m.weight.numel() for name, m in quantized_linears(model, family)}
    if not family.speaks:
        return [Part(model_id, "model", count(model), dtype_bytes, sum(quantized.values()), mode)]
    in_thinker = sum(n for name, n in quantized.items() if name.startswith("thinker."))
    return [Part(model_id, "thinker", count(model.thinker), dtype_bytes, in_thinker, mode),
            Part(model_id, "talker", count(model.talker), dtype_bytes),
            Part(model_id, "token2wav", count(model.token2wav), 4)]


VISION_TOKEN_PIXELS = 28 * 28  # Qwen2.5-Omni: 14 px patches merged 2x2 into one token
VIDEO_FRAME_PIXELS = 768 * 28 * 28  # the processor's own bound per frame (Qwen2_5OmniProcessor.videos_kwargs)
TEMPLATE_TOKENS = 64  # system prompt and chat markers


@dataclass(frozen=True)
class Request:
    """The largest request the limits allow, in what it costs memory."""

    task: str
    tokens: int   # prompt tokens: media, question, template
    patches: int  # vision-encoder patches (before the 2x2 merge)
    answer: int   # new tokens


def largest_requests(settings, audio_tokens_per_second: int = 25) -> list[Request]:
    """For each Omni task, the request its limits allow at most: the longest video with its sound
    (frames at 2 a second), the most images at the largest side, the longest clip; each with the longest
    question (a character is at most a token) and the longest answer. Earlier turns of a chat are not
    counted (they are text, trimmed to --max-history-turns; README "Memory")."""
    s = settings
    text = TEMPLATE_TOKENS + s.max_prompt_chars
    frames = max(4, min(s.max_video_frames, int(2 * s.max_video_seconds)))
    frames += frames % 2  # the processor takes frames in pairs (temporal patch 2)
    per_frame = min(s.max_video_pixels, VIDEO_FRAME_PIXELS) // VISION_TOKEN_PIXELS
    video = frames // 2 * per_frame
    per_image = (-(-s.max_image_side // 28)) ** 2
    images = s.max_question_images * per_image
    return [
        Request("video", text + video + int(s.max_video_seconds * audio_tokens_per_second), 4 * video,
                s.max_new_tokens),
        Request("vqa", text + images, 4 * images, s.max_new_tokens),
        Request("audio", text + int(s.max_audio_seconds * audio_tokens_per_second), 0, s.max_new_tokens),
    ]


def activation_bytes(config, request: Request, dtype_bytes: int, speech: bool = False) -> int:
    """Memory a Qwen2.5-Omni request needs beside the weights, from the thinker's config.

    The text answer: the KV cache of prompt + answer, and the prompt's forward pass, which holds its
    logits over the whole vocabulary for every prompt position (the thinker has no `logits_to_keep` in
    transformers 5.23), the MLP's intermediate activations and a few hidden-state copies; the vision
    encoder runs first, on its patches. A spoken answer (speech.talker_inputs) runs the thinker once more
    over prompt + answer with every layer's hidden states kept, after the text's KV cache is freed.
    """
    thinker = config.thinker_config
    text, vision = thinker.text_config, thinker.vision_config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    kv = 2 * text.num_hidden_layers * text.num_key_value_heads * head_dim * dtype_bytes
    per_token = (text.vocab_size + 3 * text.intermediate_size + 4 * text.hidden_size) * dtype_bytes
    encoder = request.patches * (3 * vision.intermediate_size + 4 * vision.hidden_size) * dtype_bytes
    answer = kv * (request.tokens + request.answer) + max(per_token * request.tokens, encoder)
    if not speech:
        return answer
    n = request.tokens + request.answer
    spoken = n * ((text.num_hidden_layers + 1) * text.hidden_size * dtype_bytes + per_token)
    return max(answer, spoken)


def drawing_bytes(config, settings, dtype_bytes: int) -> int:
    """Janus drawing --max-images at once: the KV cache of the doubled batch (guidance) over the prompt and
    the image tokens, which transformers allocates whole up front (a static cache)."""
    text = config.text_config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    tokens = TEMPLATE_TOKENS + settings.max_prompt_chars + config.vision_config.num_image_tokens
    return 2 * settings.max_images * tokens * 2 * text.num_hidden_layers * text.num_key_value_heads * head_dim \
        * dtype_bytes


@dataclass
class MemoryPlan:
    """What loads, what the largest request needs, against the free memory: and what was turned off."""

    parts: list[Part]             # what loads at start-up (or on first use)
    activations: int              # bytes, the largest single request
    largest: str                  # which task that is
    available: int | None
    on_gpu: bool
    speech: bool                  # spoken answers on (their parts counted in `parts`)
    speech_parts: list[Part] = field(default_factory=list)  # what speech would add, when off
    off_models: list[str] = field(default_factory=list)
    video_seconds: float | None = None  # the video limit lowered to this
    video_frames: int | None = None
    wanted: "MemoryPlan | None" = None  # the plan with everything on, when this one turned something off
    voice: bool = False  # the speech parts load at start-up; else on the first spoken answer
    quantize: str = "none"  # --quantize as asked (a checkpoint's own quantization shows in its parts)

    @property
    def total(self) -> int:
        return sum(p.bytes for p in self.parts) + self.activations

    @property
    def fits(self) -> bool:
        return self.available is None or self.total <= self.available

    def summary(self) -> str:
        """One line for the log and Status: each part with its dtype, the activations, the free memory."""
        later = set() if self.voice else {"talker", "token2wav"}
        parts = ", ".join(f"{p.model_id} {p.name} {p.bytes / 2**30:.2f} GB ({p.label})"
                          + (", on the first spoken answer" if p.name in later else "") for p in self.parts)
        free = "unknown" if self.available is None else f"{self.available / 2**30:.1f} GB"
        return (f"memory estimate (--quantize {self.quantize}): {parts}; largest request ({self.largest}) {self.activations / 2**30:.2f} GB; "
                f"total {self.total / 2**30:.2f} GB of {'GPU' if self.on_gpu else 'RAM'}, {free} free: "
                f"{'fits' if self.fits else 'does not fit'}")

    def as_dict(self) -> dict:
        return {"total_gb": round(self.total / 2**30, 2), "activations_gb": round(self.activations / 2**30, 2),
                "largest_request": self.largest, "fits": self.fits, "speech": self.speech, "quantize": self.quantize,
                "free_gb": None if self.available is None else round(self.available / 2**30, 2),
                "parts": [{"model": p.model_id, "part": p.name, "gb": round(p.bytes / 2**30, 2),
                           "dtype": {2: "bf16", 4: "float32"}.get(p.dtype_bytes, str(p.dtype_bytes)),
                           "quantized": p.mode if p.quantized else "none"}
                          for p in self.parts],
                "off": self.off_models, "video_seconds": self.video_seconds}


def plan_memory(pipes, voice: bool, available: int | None, on_gpu: bool) -> MemoryPlan:
    """Everything that will load, each part in its dtype, and the activations of the largest request the
    limits allow, against the free memory. Where it does not fit, the first of these that does is taken:
    spoken answers off; then the video limits lowered; then the drawing checkpoint left out (and the video
    limits lowered if still needed). If none fits, nothing is turned off and the plan says it does not fit.

    `voice`: the talker and token2wav load at start-up (--voice, ZeroGPU); without it they load on the first
    spoken answer, and are counted all the same: a checkpoint that can speak will load them.
    """
    import dataclasses

    import transformers

    dtype_bytes = 2 if on_gpu else 4
    settings = pipes.settings
    checkpoints = {}  # model id -> (family, config, parts)
    for model_id in pipes.model_ids():
        if model_id in pipes.registry.remote:
            continue
        family = pipes.registry.family_of(model_id)
        mode, _ = pipes.registry.quantization_of(model_id)  # --quantize, or the checkpoint's own
        checkpoints[model_id] = (family, transformers.AutoConfig.from_pretrained(model_id),
                                 checkpoint_parts(model_id, family, dtype_bytes, mode))
    speakers = {p.model_id for p in pipes.all() if p.model_id in checkpoints and checkpoints[p.model_id][0].speaks
                and p.task in ("vqa", "audio", "video")}

    def plan(speech: bool, off: tuple[str, ...] = (), video: float | None = None) -> MemoryPlan:
        limits = settings if video is None else dataclasses.replace(
            settings, max_video_seconds=video, max_video_frames=max(2, min(settings.max_video_frames, int(2 * video))))
        parts, extra, need, largest = [], [], 0, "none"
        for model_id, (family, config, model_parts) in checkpoints.items():
            if model_id in off:
                continue
            for part in model_parts:
                if part.name in ("talker", "token2wav") and model_id not in speakers:
                    continue  # loaded only to speak
                (parts if part.name not in ("talker", "token2wav") or speech else extra).append(part)
            if family.speaks:
                for request in largest_requests(limits, getattr(config.thinker_config, "position_id_per_seconds", 25)):
                    size = activation_bytes(config, request, dtype_bytes, speech and model_id in speakers)
                    if size > need:
                        need, largest = size, request.task
            elif "draw" in family.modalities:
                size = drawing_bytes(config, limits, dtype_bytes)
                if size > need:
                    need, largest = size, "text-to-image"
        return MemoryPlan(parts, need, largest, available, on_gpu, speech, extra, list(off),
                          video, limits.max_video_frames if video is not None else None, voice=voice,
                          quantize=settings.quantize)

    speech = bool(speakers)
    full = plan(speech)
    if full.fits or available is None:
        return full
    drawers = tuple(m for m, (family, _, _) in checkpoints.items()
                    if "draw" in family.modalities and not family.speaks and len(checkpoints) > 1)
    video_tab = pipes.video.model_id in checkpoints and "video" in checkpoints[pipes.video.model_id][0].modalities
    shorter = [s for s in (25, 20, 15, 10, 5) if s < settings.max_video_seconds] if video_tab else []
    tries = [dict(speech=False)] if speech else []
    tries += [dict(speech=False, video=s) for s in shorter]
    if drawers:
        tries += [dict(speech=False, off=drawers)] + [dict(speech=False, off=drawers, video=s) for s in shorter]
    for kwargs in tries:
        candidate = plan(**kwargs)
        if candidate.fits:
            candidate.wanted = full
            return candidate
    return full


def plan_warnings(plan: MemoryPlan, pipes) -> list[DeviceWarning]:
    """What the plan turned off, or that it does not fit, in words for the banner, Status and the log."""
    where, have, full = "GPU" if plan.on_gpu else "RAM", (plan.available or 0) / 2**30, plan.wanted
    warnings = []
    if not plan.fits:
        needed = {f"{p.model_id} {p.name}": p.bytes for p in plan.parts}
        needed[f"largest request ({plan.largest})"] = plan.activations
        return [memory_short(needed, plan.available, plan.on_gpu)]
    if plan.speech_parts and full is not None and full.speech:
        warnings.append(DeviceWarning("memory_speech_off", dict(
            speech=sum(p.bytes for p in plan.speech_parts) / 2**30, need=full.total / 2**30, have=have, where=where)))
    if plan.video_seconds is not None:
        warnings.append(DeviceWarning("memory_video_lowered", dict(
            seconds=plan.video_seconds, frames=plan.video_frames, was=pipes.settings.max_video_seconds, have=have,
            where=where)))
    for model_id in plan.off_models:
        size = sum(p.bytes for p in full.parts if p.model_id == model_id) if full else 0
        tabs = ", ".join(p.task for p in pipes.all() if p.model_id == model_id)
        warnings.append(DeviceWarning("memory_model_off", dict(model=model_id, size=size / 2**30, have=have,
                                                               where=where, tabs=tabs)))
    return warnings


def check_compare(pipes, plan: MemoryPlan) -> None:
    """--compare-model is an extra the person asked for: where everything asked for does not fit with it (the plan
    had to turn something off, or nothing fits), start-up stops with the numbers (ModelError), rather than
    quietly losing speech, a tab or video length to it. A compare model that is also a tab's adds nothing."""
    from .errors import ModelError

    model_id = pipes.settings.compare_model
    if not model_id or plan.available is None or model_id in {p.model_id for p in pipes.all()}:
        return
    if plan.fits and plan.wanted is None:
        return
    wanted = plan.wanted or plan
    own = sum(p.bytes for p in wanted.parts if p.model_id == model_id)
    raise ModelError("compare_too_big", model=model_id, need=wanted.total / 2**30, have=plan.available / 2**30,
                     where="GPU" if plan.on_gpu else "RAM", alone=(wanted.total - own) / 2**30,
                     parts=", ".join(f"{p.model_id} {p.name} {p.bytes / 2**30:.2f} GB" for p in wanted.parts)
                     + f", largest request ({wanted.largest}) {wanted.activations / 2**30:.2f} GB")


def apply_plan(pipes, plan: MemoryPlan) -> None:
    """Start with what fits: speech off, the video limits lowered, a checkpoint left out (its tab refuses
    with a clear message), as the plan says."""
    if plan.wanted is None:
        return
    if plan.wanted.speech and not plan.speech:
        pipes.registry.speech_off = True
    if plan.video_seconds is not None:
        pipes.settings.max_video_seconds, pipes.settings.max_video_frames = plan.video_seconds, plan.video_frames
    pipes.registry.off.update(plan.off_models)


def available_bytes(on_gpu: bool) -> int | None:
    """Free memory where the weights go: the GPU's (torch), else the machine's (MemAvailable)."""
    if on_gpu:
        import torch

        return torch.cuda.mem_get_info()[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def memory_short(needed: dict[str, int], available: int | None, on_gpu: bool) -> DeviceWarning | None:
    """What must fit (name -> bytes: weights, the largest request's activations) against the free memory;
    None when it fits or the free memory is unknown."""
    total = sum(needed.values())
    if available is None or total <= available:
        return None
    return DeviceWarning("memory_short", dict(
        need=total / 2**30, have=available / 2**30, where="GPU" if on_gpu else "RAM",
        models=", ".join(f"{m} {b / 2**30:.1f} GB" for m, b in needed.items())))


def startup_warnings(pipes, environ=os.environ, dev: str | Path = "/dev", which=shutil.which,
                     available: int | None = -1, voice: bool = False,
                     on_gpu: bool | None = None) -> list[DeviceWarning]:
    """Everything wrong with the device for these pipelines, before any weights load; where the memory
    estimate does not fit, what is turned off so that the rest does (apply_plan), said here too.

    `available` (bytes) stands in for the free memory in tests; -1 reads it from the machine. `voice`:
    the speech parts load at start-up (--voice, or ZeroGPU). `on_gpu` stands in for the device in tests.
    """
    import torch

    from .registry import pick_device

    warnings = []
    cuda = torch.cuda.is_available()
    unused = gpu_unused(pipes.settings.device, cuda, environ, dev, which, torch.__version__, torch.version.cuda)
    if unused:
        warnings.append(unused)
    try:
        _, dtype = pick_device(pipes.settings.device)
    except Exception:  # noqa: BLE001 - --device cuda without a GPU: Pipelines.check says so
        return warnings
    on_gpu = dtype == torch.bfloat16 if on_gpu is None else on_gpu
    try:
        if available == -1:  # ZeroGPU: this process holds no GPU; each call gets the default slice
            from . import zerogpu

            available = zerogpu.GPU_BYTES if zerogpu.ON_ZEROGPU and on_gpu else available_bytes(on_gpu)
        plan = plan_memory(pipes, voice, available, on_gpu)
    except Exception as exc:  # noqa: BLE001 - a checkpoint that cannot load: Pipelines.check says so
        log.debug("no memory estimate: %s", exc)
        plan = None
    if plan is not None:
        log.info("%s", plan.summary())
        check_compare(pipes, plan)  # --compare-model was asked for: refused, with the numbers, where it does not fit
        pipes.memory_plan = plan
        warnings += plan_warnings(plan, pipes)  # before apply_plan: they name the limits as they were
        apply_plan(pipes, plan)
    for warning in warnings:
        log.warning("%s", warning.text("en"))
    return warnings


def report(pipes) -> dict:
    """What torch knows of the loaded models and the device, as plain data: the Status tab shows it and
    imports no torch itself. `models` is keyed by checkpoint id (only the loaded ones)."""
    import torch
    import transformers

    models = {}
    for loaded in pipes.registry.loaded():
        entry = models[loaded.model_id] = dict(
            device=str(loaded.device), dtype=str(loaded.dtype).replace("torch.", ""),
            architecture=type(loaded.model).__name__, load_seconds=round(loaded.load_seconds, 2),
            parameters=sum(p.numel() for p in loaded.model.parameters()),
            # --quantize as applied (or the checkpoint's own), and the weights' memory as stored
            quantization=getattr(loaded, "quantization", "none"),
            weights_mb=round(sum(t.numel() * t.element_size() for t in (*loaded.model.parameters(),
                                                                         *loaded.model.buffers())) / 2**20, 3))
        if loaded.family.speaks:  # what spoken answers add to this model's memory, once loaded
            spoken = pipes.registry.speech_loaded(loaded.model_id)
            entry["speech"] = ({"loaded": True, "mb": round(spoken.bytes / 2**20, 1), "voices": sorted(spoken.voices),
                                "load_seconds": round(spoken.load_seconds, 2)} if spoken else {"loaded": False})
    cuda = torch.cuda.is_available()
    memory = {}
    if cuda:
        memory["cuda_allocated_mb"] = round(torch.cuda.memory_allocated() / 2**20, 1)
        memory["cuda_max_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        memory["cuda_total_mb"] = round(torch.cuda.get_device_properties(0).total_memory / 2**20, 1)
    return {"models": models, "memory": memory, "cuda": cuda, "gpu": torch.cuda.get_device_name(0) if cuda else None,
            "cpu_threads": torch.get_num_threads(),
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}


def gpu_of(pipes, model_id: str) -> str | None:
    """The name of the GPU `model_id` runs on (or will, once loaded), or None for the CPU: the header says it."""
    import torch

    from .registry import pick_device

    for loaded in pipes.registry.loaded():
        if loaded.model_id == model_id:
            on_gpu = str(loaded.device).startswith("cuda")
            break
    else:  # not loaded yet: where it will load ("auto" or "cuda:N" on a GPU)
        on_gpu = pick_device(pipes.settings.device)[0] != "cpu"
    return torch.cuda.get_device_name(0) if on_gpu else None
