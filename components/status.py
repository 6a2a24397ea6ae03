"""Status tab: what runs where, so a person deploying a Space sees it at a glance."""

from __future__ import annotations

import os
import platform

import gradio as gr

from pipelines import device
from server.queue import queue_size, waiting

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


def shown_model(model_id: str) -> str:
    """A hub id as it is; a local folder by its name only: its path would tell anyone where the server keeps files."""
    if os.path.isabs(model_id) or model_id.startswith((".", "~")) or os.path.isdir(model_id):
        return os.path.basename(os.path.normpath(os.path.expanduser(model_id)))
    return model_id


def collect(pipes, demo=None, lang: str = "en") -> dict:
    """Loaded checkpoints, devices, memory, queue and versions, as plain JSON; `device.warnings`
    says what is wrong with the device (pipelines/device.py), in `lang`."""
    facts = device.report(pipes)
    models = {}
    for p in pipes.shown():
        entry = models.setdefault(shown_model(p.model_id), {"tasks": [], "loaded": False})
        entry["tasks"].append(p.task)
        if shown_model(p.model_id) != p.model_id:
            entry["source"] = "local folder"
        if p.remote:  # --backend openai; the engine's URL and key stay private
            entry.update(backend="openai", served_model=pipes.registry.remote[p.model_id].model_id)
    if pipes.settings.compare_model:  # --compare-model (issue 30): the Compare models tab's second checkpoint
        models.setdefault(shown_model(pipes.settings.compare_model), {"tasks": [], "loaded": False})["tasks"].append(
            "compare")
    for model_id, loaded in facts["models"].items():
        models[shown_model(model_id)].update(loaded=True, **loaded)
    memory = {"process_rss_mb": round(_rss_mb(), 1), **facts["memory"]}
    # The model queue only (a status request must not count itself), and with batching on,
    # the drawings' own queue.
    queue = waiting(demo, MODEL_QUEUE) if demo is not None else {}
    if queue:
        queue["max_size"] = queue_size(demo)
        if any(fn.concurrency_id == DRAW_QUEUE for fn in demo.fns.values()):
            queue["drawing"] = waiting(demo, DRAW_QUEUE)
    return {
        "models": models,
        "memory": memory,
        "queue": queue,
        "device": {"cuda": facts["cuda"], "gpu": facts["gpu"], "cpu_threads": facts["cpu_threads"],
                   "warnings": [w.text(lang) for w in getattr(pipes, "device_warnings", [])],
                   # the start-up estimate: each part with its dtype, the largest request, what fits
                   "memory_estimate": plan.as_dict() if (plan := getattr(pipes, "memory_plan", None)) else None},
        "versions": {"python": platform.python_version(), **facts["versions"], "gradio": gr.__version__},
        "space": os.environ.get("SPACE_ID"),
    }


def render(pipes, ui) -> None:
    from .language import lang_of
    from .status_panel import readable

    with gr.Tab(t("tab_status"), id="status") as status_tab:
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
        # Opening the tab shows it as it is now (models load on first use, after the page loaded).
        status_tab.select(show, None, [summary, panel], api_visibility="private", queue=False)
        api = gr.Button(t("status_refresh"), visible=False)  # /status: the JSON, as before
        api.click(status, None, panel, api_name="status", queue=False)
        ui.on_load.append((show, [summary, panel]))
