"""The Status tab's readable panel: the /status facts as short lines a person can scan, in the
page's language, narrow enough for a phone (lists, no wide tables). The JSON stays for the API."""

from __future__ import annotations

WORDS = {
    "en": {"models": "Models", "loaded": "loaded", "not_loaded": "not loaded yet (loads on first use)",
           "tasks": "tasks", "params": "parameters", "load": "loaded in", "device": "Device",
           "gpu": "GPU", "cpu": "CPU only", "threads": "CPU threads", "memory": "Memory",
           "rss": "this process", "cuda": "GPU memory in use", "peak": "peak", "of": "of",
           "queue": "Queue", "running": "running", "waiting": "waiting", "limit": "at once", "max": "room for",
           "drawing": "drawings", "versions": "Versions", "engine": "served by an OpenAI-compatible engine as",
           "speech": "speech (talker + token2wav)", "speech_off": "speech not loaded (loads on the first spoken answer)",
           "weights": "weights", "quantized": "quantized"},
    "zh": {"models": "模型", "loaded": "已加载", "not_loaded": "尚未加载（首次使用时加载）",
           "tasks": "任务", "params": "参数量", "load": "加载用时", "device": "设备",
           "gpu": "GPU", "cpu": "仅 CPU", "threads": "CPU 线程", "memory": "内存",
           "rss": "本进程", "cuda": "已用显存", "peak": "峰值", "of": "共",
           "queue": "队列", "running": "运行中", "waiting": "等待中", "limit": "同时运行", "max": "最多排队",
           "drawing": "绘图", "versions": "版本", "engine": "由 OpenAI 兼容推理服务提供，模型名",
           "speech": "语音部分（talker + token2wav）", "speech_off": "语音部分尚未加载（首次朗读时加载）",
           "weights": "权重", "quantized": "量化"},
}


def mb(value) -> str:
    return f"{value / 1024:.1f} GB" if value >= 1024 else f"{value:.0f} MB"


def queue_line(q: dict, w: dict) -> str:
    line = f"{q.get('running', 0)} {w['running']}, {q.get('waiting', 0)} {w['waiting']}"
    if q.get("limit"):
        line += f", {w['limit']} {q['limit']}"
    if q.get("max_size"):
        line += f", {w['max']} {q['max_size']}"
    return line


def readable(info: dict, lang: str) -> str:
    w = WORDS.get(lang, WORDS["en"])
    lines = [f"#### {w['models']}"]
    for model_id, m in (info.get("models") or {}).items():
        facts = [f"{w['tasks']}: {', '.join(m.get('tasks', []))}"]
        if m.get("backend"):
            facts.append(f"{w['engine']} `{m.get('served_model', '')}`")
        elif m.get("loaded"):
            facts.append(f"{w['loaded']}: {m.get('device', '?')}, {m.get('dtype', '?')}")
            if m.get("parameters"):
                facts.append(f"{w['params']}: {m['parameters'] / 1e6:,.1f} M")
            if m.get("quantization", "none") != "none":  # --quantize, or the checkpoint's own
                facts.append(f"{w['weights']}: {mb(m.get('weights_mb', 0))}, {w['quantized']} {m['quantization']}")
            if m.get("load_seconds") is not None:
                facts.append(f"{w['load']} {m['load_seconds']} s")
            if isinstance(m.get("speech"), dict):
                sp = m["speech"]
                facts.append(f"{w['speech']}: +{mb(sp['mb'])}, {', '.join(sp['voices'])}" if sp.get("loaded")
                             else w["speech_off"])
        else:
            facts.append(w["not_loaded"])
        lines.append(f"- **{model_id}** — " + "; ".join(facts))
    device = info.get("device") or {}
    lines.append(f"#### {w['device']}")
    gpu = device.get("gpu")
    lines.append(f"- {w['gpu']}: {gpu}" if gpu else f"- {w['cpu']}")
    if device.get("cpu_threads"):
        lines.append(f"- {w['threads']}: {device['cpu_threads']}")
    memory = info.get("memory") or {}
    lines.append(f"#### {w['memory']}")
    if "process_rss_mb" in memory:
        lines.append(f"- {w['rss']}: {mb(memory['process_rss_mb'])}")
    if "cuda_allocated_mb" in memory:
        lines.append(f"- {w['cuda']}: {mb(memory['cuda_allocated_mb'])} ({w['peak']} "
                     f"{mb(memory.get('cuda_max_allocated_mb', 0))}, {w['of']} {mb(memory.get('cuda_total_mb', 0))})")
    queue = info.get("queue") or {}
    if queue:
        lines.append(f"#### {w['queue']}")
        lines.append(f"- {queue_line(queue, w)}")
        if isinstance(queue.get("drawing"), dict):
            lines.append(f"- {w['drawing']}: {queue_line(queue['drawing'], w)}")
    versions = info.get("versions") or {}
    if versions:
        lines.append(f"#### {w['versions']}")
        lines.append("- " + " · ".join(f"{k} {v}" for k, v in versions.items()))
    return "\n".join(lines)
