"""A warning under the title when the device is wrong: a GPU that torch cannot use, models that
will not fit (pipelines/device.py). Hidden when all is well; one small piece, so the page's
styling can move or restyle it (elem_id "device-warning")."""

import gradio as gr

from .common import lang_of


def render(pipes, ui) -> None:
    banner = gr.Markdown(visible=False, elem_id="device-warning", elem_classes=["device-warning"])

    def show(request: gr.Request):
        warnings = getattr(pipes, "device_warnings", [])
        if not warnings:
            return gr.Markdown(visible=False)
        return gr.Markdown("\n\n".join(f"⚠️ {w.text(lang_of(request))}" for w in warnings), visible=True)

    ui.on_load.append((show, banner))
