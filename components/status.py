"""Status tab: what runs where, so a person deploying a Space sees it at a glance."""

from __future__ import annotations

import os
import platform

import gradio as gr

from .common import DRAW_QUEUE, MODEL_QUEUE
from .i18n import t


def _rss_mb() -> float:
    """Resident memory of this process (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _queue(demo, concurrency_id: str) -> dict:
    """Waiting and running events of one queue, and its limit (Gradio makes a queue on first use)."""
    q = demo._queue.event_queue_per_concurrency_id.get(concurrency_id)
    limit = next((fn.concurrency_limit for fn in demo.fns.values() if fn.concurrency_id == concurrency_id), None)
    return {"waiting": len(q.queue) if q else 0, "running": q.current_concurrency if q else 0, "limit": limit}


def shown_model(model_id: str) -> str:
    """A hub id as it is; a local folder by its name only: its path would tell anyone where the server keeps files."""
    if os.path.isabs(model_id) or model_id.startswith((".", "~")) or os.path.isdir(model_id):
        return os.path.basename(os.path.normpath(os.path.expanduser(model_id)))
    return model_id


def collect(pipes, demo=None, lang: str = "en") -> dict:
    """Loaded checkpoints, devices, memory, queue and versions, as plain JSON; `device.warnings`
    says what is wrong with the device (pipelines/device.py), in `lang`."""
    import torch
    import transformers

    models = {}
    for p in pipes.all():
        entry = models.setdefault(shown_model(p.model_id), {"tasks": [], "loaded": False})
        entry["tasks"].append(p.task)
        if shown_model(p.model_id) != p.model_id:
            entry["source"] = "local folder"
        if p.remote:  # --backend openai; the engine's URL and key stay private
            entry.update(backend="openai", served_model=pipes.registry.remote[p.model_id].model_id)
    for loaded in pipes.registry.loaded():
        models[shown_model(loaded.model_id)].update(
            loaded=True, device=str(loaded.device), dtype=str(loaded.dtype).replace("torch.", ""),
            architecture=type(loaded.model).__name__, load_seconds=round(loaded.load_seconds, 2),
            parameters=sum(p.numel() for p in loaded.model.parameters()),
            # --quantize as applied (or the checkpoint's own), and the weights' memory as stored
            quantization=getattr(loaded, "quantization", "none"),
            weights_mb=round(sum(t.numel() * t.element_size() for t in (*loaded.model.parameters(),
                                                                         *loaded.model.buffers())) / 2**20, 3))
        if loaded.family.speaks:  # what spoken answers add to this model's memory, once loaded
            spoken = pipes.registry.speech_loaded(loaded.model_id)
            models[shown_model(loaded.model_id)]["speech"] = (
                {"loaded": True, "mb": round(spoken.bytes / 2**20, 1), "voices": sorted(spoken.voices),
                 "load_seconds": round(spoken.load_seconds, 2)} if spoken else {"loaded": False})
    memory = {"process_rss_mb": round(_rss_mb(), 1)}
    if torch.cuda.is_available():
        memory["cuda_allocated_mb"] = round(torch.cuda.memory_allocated() / 2**20, 1)
        memory["cuda_max_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        memory["cuda_total_mb"] = round(torch.cuda.get_device_properties(0).total_memory / 2**20, 1)
    queue = {}
    if demo is not None and getattr(demo, "_queue", None) is not None:
        # The model queue only (a status request must not count itself), and with batching on,
        # the drawings' own queue.
        queue = {**_queue(demo, MODEL_QUEUE), "max_size": demo._queue.max_size}
        if any(fn.concurrency_id == DRAW_QUEUE for fn in demo.fns.values()):
            queue["drawing"] = _queue(demo, DRAW_QUEUE)
    return {
        "models": models,
        "memory": memory,
        "queue": queue,
        "device": {"cuda": torch.cuda.is_available(),
                   "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                   "cpu_threads": torch.get_num_threads(),
                   "warnings": [w.text(lang) for w in getattr(pipes, "device_warnings", [])],
                   # the start-up estimate: each part with its dtype, the largest request, what fits
                   "memory_estimate": plan.as_dict() if (plan := getattr(pipes, "memory_plan", None)) else None},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "gradio": gr.__version__},
        "space": os.environ.get("SPACE_ID"),
    }


def render(pipes, ui) -> None:
    from .language import lang_of
    from .status_panel import readable

    with gr.Tab(t("tab_status"), id="status"):
        summary = gr.Markdown(elem_id="status-panel")
        refresh = gr.Button(t("status_refresh"), elem_id="status-refresh")
        with gr.Accordion(t("status_panel"), open=False):  # the same facts as /status returns them
            panel = gr.JSON(elem_id="status-json")

        def status(request: gr.Request) -> dict:
            """Which checkpoints are loaded, on which device and dtype, memory, queue and versions.

            Returns:
                a JSON object: models, memory, queue, device (with warnings: a GPU that is not
                used, models that will not fit), versions.
            """
            return collect(pipes, ui.demo, lang_of(request))

        def show(request: gr.Request):
            info = status(request)
            return readable(info, lang_of(request)), info

        refresh.click(show, None, [summary, panel], api_visibility="private", queue=False)
        api = gr.Button(t("status_refresh"), visible=False)  # /status: the JSON, as before
        api.click(status, None, panel, api_name="status", queue=False)
        ui.on_load.append((show, [summary, panel]))
