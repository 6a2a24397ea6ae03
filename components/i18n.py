"""The page's labels for the browser: gr.I18n over catalogue.LABELS, so the browser's language picks one.

Gradio leaves example captions, progress text, warnings and errors untranslated: those are written on
the server in the request's language from the same catalogue (catalogue.label, catalogue.message).
"""

import gradio as gr

from catalogue import GRADIO_ZH, LABELS, label

EN, ZH = LABELS["en"], LABELS["zh"]

# The Chinese page also gets Gradio's own strings that its zh-CN table lacks (catalogue.GRADIO_ZH).
I18N = gr.I18n(en=EN, **{"zh-CN": {**GRADIO_ZH, **ZH}, "zh": {**GRADIO_ZH, **ZH}})


def t(key: str):
    """A label that the browser shows in its language."""
    if key not in EN:
        raise KeyError(f"no translation for {key!r}")
    return I18N(key)


text = label  # the same label as plain text in a language, for what the browser leaves alone
