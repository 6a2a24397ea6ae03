"""The Status tab's readable panel: the /status facts as short lines a person can scan, in the
page's language, narrow enough for a phone (lists, no wide tables). The JSON stays for the API."""

from __future__ import annotations

from typing import Callable

from catalogue import label, message


# A task as the page names it: its tab (the JSON keeps the task ids the API uses).
TASK_TABS = {"caption": "tab_caption", "vqa": "tab_vqa", "image": "tab_image", "audio": "tab_audio",
             "video": "tab_video"}


def tab_name(task: str, lang: str) -> str:
    return label(TASK_TABS[task], lang) if task in TASK_TABS else task


def mb(value) -> str:
    return f"{value / 1024:.1f} GB" if value >= 1024 else f"{value:.0f} MB"


def queue_line(q: dict, w: Callable[[str], str]) -> str:
    line = f"{q.get('running', 0)} {w('running')}, {q.get('waiting', 0)} {w('waiting')}"
    if q.get("limit"):
        line += f", {w('limit')} {q['limit']}"
    if q.get("max_size"):
        line += f", {w('max')} {q['max_size']}"
    return line


def readable(info: dict, lang: str) -> str:
    def w(key: str) -> str:
        return message(f"status_{key}", lang)

    lines = [f"#### {w('models')}"]
    for model_id, m in (info.get("models") or {}).items():
        facts = [f"{w('tasks')}: {', '.join(tab_name(task, lang) for task in m.get('tasks', []))}"]
        if m.get("backend"):
            facts.append(f"{w('engine')} `{m.get('served_model', '')}`")
        elif m.get("loaded"):
            facts.append(f"{w('loaded')}: {m.get('device', '?')}, {m.get('dtype', '?')}")
            if m.get("parameters"):
                facts.append(f"{w('params')}: {m['parameters'] / 1e6:,.1f} M")
            if m.get("quantization", "none") != "none":  # --quantize, or the checkpoint's own
                facts.append(f"{w('weights')}: {mb(m.get('weights_mb', 0))}, {w('quantized')} {m['quantization']}")
            if m.get("load_seconds") is not None:
                facts.append(f"{w('load')} {m['load_seconds']} s")
            if isinstance(m.get("speech"), dict):
                sp = m["speech"]
                facts.append(f"{w('speech')}: +{mb(sp['mb'])}, {', '.join(sp['voices'])}" if sp.get("loaded")
                             else w("speech_off"))
        else:
            facts.append(w("not_loaded"))
        lines.append(f"- **{model_id}** — " + "; ".join(facts))
    device = info.get("device") or {}
    lines.append(f"#### {w('device')}")
    gpu = device.get("gpu")
    lines.append(f"- {w('gpu')}: {gpu}" if gpu else f"- {w('cpu')}")
    if device.get("cpu_threads"):
        lines.append(f"- {w('threads')}: {device['cpu_threads']}")
    memory = info.get("memory") or {}
    lines.append(f"#### {w('memory')}")
    if "process_rss_mb" in memory:
        lines.append(f"- {w('rss')}: {mb(memory['process_rss_mb'])}")
    if "cuda_allocated_mb" in memory:
        lines.append(f"- {w('cuda')}: {mb(memory['cuda_allocated_mb'])} ({w('peak')} "
                     f"{mb(memory.get('cuda_max_allocated_mb', 0))}, {w('of')} {mb(memory.get('cuda_total_mb', 0))})")
    queue = info.get("queue") or {}
    if queue:
        lines.append(f"#### {w('queue')}")
        lines.append(f"- {queue_line(queue, w)}")
        if isinstance(queue.get("drawing"), dict):
            lines.append(f"- {w('drawing')}: {queue_line(queue['drawing'], w)}")
    versions = info.get("versions") or {}
    if versions:
        lines.append(f"#### {w('versions')}")
        lines.append("- " + " · ".join(f"{k} {v}" for k, v in versions.items()))
    return "\n".join(lines)
