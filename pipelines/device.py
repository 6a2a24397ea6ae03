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
from dataclasses import dataclass
from pathlib import Path

from .messages import message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceWarning:
    """A message key and its parameters: rendered in the reader's language (messages.py)."""

    key: str
    params: dict

    def text(self, lang: str = "en") -> str:
        return message(self.key, lang, **self.params)


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
    """The chosen checkpoints' weights (id -> bytes) against the free memory, with 10 % head-room
    for activations; None when they fit or the free memory is unknown."""
    total = sum(needed.values())
    if available is None or total * 1.1 <= available:
        return None
    return DeviceWarning("memory_short", dict(
        need=total / 2**30, have=available / 2**30, where="GPU" if on_gpu else "RAM",
        models=", ".join(f"{m} {b / 2**30:.1f} GB" for m, b in needed.items())))


def startup_warnings(pipes, environ=os.environ, dev: str | Path = "/dev", which=shutil.which,
                     available: int | None = -1) -> list[DeviceWarning]:
    """Everything wrong with the device for these pipelines, before any weights load.

    `available` (bytes) stands in for the free memory in tests; -1 reads it from the machine.
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
    on_gpu = dtype == torch.bfloat16
    needed = {}
    for model_id in pipes.model_ids():
        if model_id in pipes.registry.remote:
            continue
        try:
            needed[model_id] = model_bytes(model_id, pipes.registry.family_of(model_id), dtype.itemsize)
        except Exception as exc:  # noqa: BLE001 - a checkpoint that cannot load: Pipelines.check says so
            log.debug("no memory estimate for %s: %s", model_id, exc)
    short = memory_short(needed, available_bytes(on_gpu) if available == -1 else available, on_gpu)
    if short:
        warnings.append(short)
    for warning in warnings:
        log.warning("%s", warning.text("en"))
    return warnings
