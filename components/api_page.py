"""What the "Use via API" page (and gradio_client's view_api) says about each endpoint.

Gradio builds it from the components: our labels are gr.I18n keys, which that page prints as
"[object Object]"; its sample files are Gradio's bus.png and audio_sample.wav; a Dropdown of
integers is described as strings. Here each label is the English text, samples are this
repository's assets (the paths README's snippets use) and integer choices are integers.
"""

from __future__ import annotations

import json

from server.blocks import api_info

from .i18n import EN

SAMPLES = {"Image": "assets/street.png", "Audio": "assets/speech_en.wav"}


def english(label):
    """An i18n label (object, dict or its "__i18n__{...}" string) as its English text."""
    key = getattr(label, "key", None)
    if key is None and isinstance(label, dict):
        key = label.get("key")
    if key is None and isinstance(label, str) and label.startswith("__i18n__"):
        key = json.loads(label[len("__i18n__"):]).get("key")
    return EN.get(key, label) if key else label


def fix_parameter(item: dict) -> None:
    item["label"] = english(item.get("label"))
    sample = SAMPLES.get(item.get("component"))
    if sample and isinstance(item.get("example_input"), dict):
        item["example_input"] = {**item["example_input"], "path": sample, "url": None, "orig_name": None}
    schema = item.get("type") or {}
    choices = schema.get("enum") or []
    if choices and all(isinstance(c, int) and not isinstance(c, bool) for c in choices):
        item["type"] = {**schema, "type": "integer"}
        item["python_type"] = {**item.get("python_type", {}), "type": f"Literal[{', '.join(map(str, choices))}]"}
        if isinstance(item.get("example_input"), str) and item["example_input"].isdigit():
            item["example_input"] = int(item["example_input"])


def polish(demo) -> None:
    """Edit what the app's API info says (read by the page, /gradio_api/info, the clients and MCP)."""
    def edit(info):
        for endpoint in (info or {}).get("named_endpoints", {}).values():
            for item in endpoint.get("parameters", []) + endpoint.get("returns", []):
                fix_parameter(item)
        return info

    api_info(demo, edit)
