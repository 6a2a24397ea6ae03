"""Compare models tab (模型对比, issue 30): one image question to --vqa-model and to --compare-model, both answers
streaming next to each other, each with its token count and times. Shown only when --compare-model is set and
takes images (pipelines/compare.py); named API endpoint `/compare`."""

from __future__ import annotations

import gradio as gr

from catalogue import message
from pipelines.compare import side_by_side, stats
from pipelines.errors import UserFacingError

from .common import RunControls, SafeImage, lang_of, model_event, notify, user_errors
from .i18n import t
from .status import shown_model


def available(pipes) -> bool:
    """A second model is configured, answers in this process or an engine, and can take an image question."""
    return bool(pipes.settings.compare_model) and pipes.compared("vqa") is not None


def stats_markdown(answer, lang: str) -> str:
    """Tokens, seconds, tokens a second and the time to the first token, in `lang`."""
    figures = stats(answer)
    if not figures:
        return ""
    return message("compare_stats", lang, tokens=figures["tokens"], seconds=figures["seconds"],
                   rate=figures["tokens_per_second"] or 0.0, first=figures["first_token_seconds"] or 0.0)


def render(pipes, ui) -> None:
    settings = ui.settings
    sides = [pipes.vqa, pipes.compared("vqa")]
    with gr.Tab(t("tab_compare"), id="compare"):
        with gr.Row():
            with gr.Column(scale=1):
                image = SafeImage(type="filepath", label=t("image_input"), sources=["upload", "clipboard"],
                                  elem_id="compare-image")
                question = gr.Textbox(label=t("question"), lines=1, max_lines=6, max_length=settings.max_prompt_chars,
                                      elem_id="compare-question")
                with gr.Row():
                    controls = RunControls("compare_run", "busy_compare", "compare")
                    clear = gr.ClearButton(value=t("clear_inputs"), elem_id="compare-clear")
            with gr.Column(scale=2):
                with gr.Row(elem_id="compare-answers"):
                    outs, notes = [], []
                    for i, side in enumerate(sides):
                        with gr.Column(min_width=280):
                            gr.Markdown(f"**{shown_model(side.model_id)}**", elem_id=f"compare-model-{i}")  # no server paths
                            outs.append(gr.Textbox(label=t("compare_answer"), lines=8, buttons=["copy"],
                                                   elem_id=f"compare-answer-{i}"))
                            notes.append(gr.Markdown(elem_id=f"compare-stats-{i}"))
        clear.add([image, question, *outs, *notes])

        @user_errors
        def compare(image, question, request: gr.Request):
            """Ask one question about an image to both models at once; both answers stream side by side.

            Args:
                image: the picture (a file path or URL).
                question: what to ask about it.
            Returns:
                the first model's answer, the second's, and under each its tokens and times, growing as written.
            """
            lang = lang_of(request)
            asked = [side.prepare(image, question) for side in sides]  # each model's own processor; refused here
            notify(asked[0], request)
            texts, lines, last = ["", ""], ["", ""], [None, None]

            def answer(i):
                return lambda stop: sides[i].answer(asked[i], stop=stop)

            for i, item in side_by_side([answer(0), answer(1)]):
                if isinstance(item, UserFacingError):
                    lines[i] = "⚠️ " + item.message(lang)
                else:
                    texts[i], lines[i], last[i] = str(item), stats_markdown(item, lang), item
                yield *texts, *lines
            # An answer's Usage gets its end time once its stream is read to the end: the final figures.
            yield *texts, *(stats_markdown(a, lang) if a is not None and not lines[i].startswith("⚠️") else lines[i]
                            for i, a in enumerate(last))

        event = controls.around(controls.run.click, dict(fn=compare, inputs=[image, question], outputs=[*outs, *notes],
                                                         api_name="compare", **model_event(ui, pipes.vqa)))
        submit = controls.around(question.submit, dict(fn=compare, inputs=[image, question], outputs=[*outs, *notes],
                                                       api_visibility="private", **model_event(ui, pipes.vqa)))
        controls.stop_cancels([event, submit])
