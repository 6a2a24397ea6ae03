"""What the "Use via API" page (and gradio_client's view_api) says about each endpoint.

Gradio builds it from the components: our labels are gr.I18n keys, which that page prints as
"[object Object]"; its sample files are Gradio's bus.png, audio_sample.wav and world.mp4 on GitHub (which
an offline app cannot reach either); a Dropdown of integers is described as strings. Here each label is the
English text, samples are this repository's assets, as URLs this app serves (so a snippet copied from the
page runs as written, from any folder), and integer choices are integers.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from server.blocks import api_info, rooted_api_info

from .common import ASSETS
from .i18n import EN

SAMPLES = {"Image": "assets/street.png", "Audio": "assets/speech_en.wav", "Video": "assets/street_en.mp4"}


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


def sample_urls(endpoint: dict, root: str) -> None:
    """Each sample file (SAMPLES, a path in this repository) as the URL this app serves it at (launch's
    allowed_paths holds the assets): gradio_client's handle_file downloads it, and the snippets write
    handle_file(url) only for a sample that has a URL."""
    for item in endpoint.get("parameters", []):
        sample = item.get("example_input")
        if isinstance(sample, dict) and sample.get("path") in SAMPLES.values() and not sample.get("url"):
            path = ASSETS.parent / sample["path"]
            sample["url"] = f"{root.rstrip('/')}/gradio_api/file={quote(str(path))}"
            sample["orig_name"] = path.name


def polish(demo) -> None:
    """Edit what the app's API info says (read by the page, /gradio_api/info, the clients and MCP)."""
    def edit(info):
        for endpoint in (info or {}).get("named_endpoints", {}).values():
            for item in endpoint.get("parameters", []) + endpoint.get("returns", []):
                fix_parameter(item)
        return info

    api_info(demo, edit)
    rooted_api_info(sample_urls)
