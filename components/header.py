"""The page's header: which model does what (with a link to its card), where it runs, and a
banner when the models are --tiny random-weight ones. Written on each page load in the
page's language (a Markdown the browser does not translate)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from catalogue import message
from pipelines import tiny
from pipelines.device import gpu_of

from .language import lang_of
from .status import shown_model


CSS = """
/* Gradio puts elem_classes on both the block and its prose: style the block only, or the border doubles. */
.block.tiny-banner { background: #fff4d6; border: 1px solid #f0b429; border-radius: 8px; padding: 2px 12px; }
.dark .block.tiny-banner { background: #3d3000; }
/* Gradio 6.31 leaves the divider before the (removed) settings link: a stray "·" ending the footer. */
footer > .divider:last-child { display: none; }
/* A phone (390 px): title and switch on one line, the subtitle left out (the tabs say it), small print for
   the models and banner, tighter tabs; the chats' media, conversation and buttons short enough that Ask
   is within the first screen. ("Use via API", which Gradio hides under 640 px: HEAD below.) */
@media (max-width: 640px) {
  #page-head { flex-wrap: nowrap; align-items: center; gap: var(--size-2); }
  #page-head > .column { min-width: 0 !important; flex: 1 1 auto; }
  #page-head > .column:last-child { flex: 0 0 auto; }
  #lang-switch label { padding: 2px var(--size-2); font-size: var(--text-sm); min-height: 0; }
  #title, #title * { font-size: var(--text-xl) !important; margin: 0 !important; line-height: 1.2 !important; }
  #subtitle { display: none; }
  #models *, .block.tiny-banner *, .block.device-warning * { font-size: var(--text-xs) !important; line-height: 1.35; }
  #models p, .block.tiny-banner p, .block.device-warning p { margin: 0; }
  .block.tiny-banner { padding: 2px 8px; }
  /* eight tabs wrap to three rows here: each row 24 px (the smallest touch target WCAG 2.2 asks for) */
  [role=tablist] button[role=tab] { padding: 2px var(--size-2); font-size: var(--text-sm); line-height: 20px;
                                    height: auto; min-height: 24px; }
  #vqa-image, #video-input { height: 150px !important; min-height: 0 !important; }
  #vqa-more-images { height: 84px !important; min-height: 0 !important; }
  #vqa-more-images .icon-wrap { display: none; }
  #vqa-chat, #video-chat { height: 140px !important; }
  .chat-buttons { flex-wrap: nowrap; gap: var(--size-2); }
  .chat-buttons > button { min-width: 0 !important; padding: var(--size-2) var(--size-1) !important;
                           font-size: var(--text-sm) !important; }
}
"""

# Gradio scopes launch(css=) to the blocks (".contain"), and the footer lies outside them: a rule for it
# goes in the page's <head>. "Use via API" stays on a phone (Gradio 6.31 hides it under 640 px).
HEAD = ("<style>@media (max-width: 640px) { footer .show-api, footer .show-api-divider "
        "{ display: flex !important; } }</style>")


def is_tiny(model_id: str) -> bool:
    """A miniature built by pipelines/tiny.py (a local folder of that name)."""
    path = Path(model_id)
    return path.name in (tiny.OMNI_DIR, tiny.JANUS_DIR, tiny.THINKER_DIR) and path.is_dir()


def model_link(model_id: str) -> str:
    """A hub id links to its model card; a local folder shows its name only (no server paths)."""
    name = shown_model(model_id)
    if name != model_id:
        return f"`{name}`"
    return f"[{model_id}](https://huggingface.co/{model_id})"


def device_of(pipes, model_id: str, lang: str) -> str:
    if model_id in pipes.registry.remote:
        return message("header_engine", lang)
    gpu = gpu_of(pipes, model_id)
    return f"GPU ({gpu})" if gpu else message("header_cpu", lang)


def models_line(pipes, lang: str) -> str:
    tasks: dict[str, list[str]] = {}
    for p in pipes.shown():
        if (p.task != "audio" or pipes.audio_available()) and (p.task != "video" or pipes.video_available()):
            tasks.setdefault(p.model_id, []).append(message(f"header_{p.task}", lang))
    if pipes.settings.compare_model:  # --compare-model (issue 30)
        tasks.setdefault(pipes.settings.compare_model, []).append(message("header_compare", lang))
    on = message("header_on", lang)
    parts = [f"{model_link(m)} ({', '.join(ts)}, {on} {device_of(pipes, m, lang)})" for m, ts in tasks.items()]
    return f"**{message('header_models', lang)}:** " + " · ".join(parts)


def render(pipes, ui) -> None:
    models = gr.Markdown(elem_id="models")
    banner = gr.Markdown(visible=False, elem_id="tiny-banner", elem_classes=["tiny-banner"])
    tiny_models = any(is_tiny(m) for m in pipes.model_ids())

    def fill(request: gr.Request):
        lang = lang_of(request)
        return models_line(pipes, lang), gr.Markdown(message("header_tiny", lang), visible=tiny_models)

    ui.on_load.append((fill, [models, banner]))
