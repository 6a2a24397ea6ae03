"""“What each input contributed” (消融对比), under every answer of the text tabs, beside “Show attention”.

One click answers the last question again with one input left out (the image, a clip, a video's sound or its
frames, the earlier turns), from the answer's kept request (components/explain.py's store), and shows the two
answers side by side, their words compared, and how likely the original answer is with and without that input
(pipelines/ablation.py: one forward pass each, in the model queue). The new answer streams with the tab's Stop
live.

API: `/ablation(task, leave_out)` does the same for the caller's session's last answer on a task.
"""

from __future__ import annotations

import gradio as gr

from catalogue import message
from pipelines import ablation
from pipelines.errors import InputError

from .common import lang_of, model_event, user_errors
from .i18n import t

TASKS = ("caption", "vqa", "audio", "video")


def what_label(what: str, lang: str) -> str:
    return message(f"ablation_{what}", lang)


def score_markdown(result: ablation.Ablation, lang: str) -> str:
    """The likelihood figures as one paragraph, in `lang`."""
    change = result.change
    if change is None:
        return message("ablation_score_empty", lang)
    what = what_label(result.left_out, lang)
    verdict = message("ablation_helped" if change < 0 else "ablation_hindered", lang, what=what)
    return message("ablation_score", lang, tokens=result.with_input.tokens, what=what,
                   with_mean=result.with_input.mean, with_total=result.with_input.total,
                   without_mean=result.without_input.mean, without_total=result.without_input.total,
                   change=change, verdict=verdict, similarity=ablation.similarity(result.original, result.answer),
                   before=result.prompt_tokens[0], after=result.prompt_tokens[1])


def run_ablation(pipeline, rec, what: str, stop=None):
    """pipelines/ablation.run over a kept record (components/explain.py Record)."""
    return ablation.run(pipeline, rec.messages, rec.tokens, rec.inputs, what, stop)


class AblationView:
    """The accordion under a tab's answer: what to leave out, both answers, their words, the scores."""

    def __init__(self, task: str, pipeline, ui, controls, record_of):
        self.task, self.pipeline = task, pipeline
        with gr.Accordion(t("ablation"), open=False, elem_id=f"{task}-ablation"):
            self.what = gr.Dropdown([], label=t("ablation_leave_out"), elem_id=f"{task}-ablation-what")
            self.run = gr.Button(t("ablation_run"), size="md", elem_id=f"{task}-ablation-run")
            with gr.Row():
                self.original = gr.Textbox(label=t("ablation_original"), lines=4, interactive=False,
                                           elem_id=f"{task}-ablation-original")
                self.answer = gr.Textbox(label=t("ablation_without"), lines=4, interactive=False,
                                         elem_id=f"{task}-ablation-answer")
            self.diff = gr.HighlightedText(label=t("ablation_diff"), combine_adjacent=True, show_legend=False,
                                           interactive=False, color_map={"-": "#ef4444", "+": "#22c55e"},
                                           elem_id=f"{task}-ablation-diff")
            self.score = gr.Markdown(elem_id=f"{task}-ablation-score")

        @user_errors
        def refresh(request: gr.Request):
            """After an answer: what it can be rerun without, its text; the last comparison goes."""
            lang = lang_of(request)
            try:
                rec = record_of(request, task)
            except InputError as exc:  # nothing kept (an engine elsewhere answered): said here
                return gr.Dropdown(choices=[], value=None), "", "", [], exc.message(lang)
            found = ablation.choices(rec.messages)
            text = self.pipeline.model.tokenizer.decode(rec.tokens, skip_special_tokens=True)
            note = message("ablation_pick" if found else "ablation_nothing", lang)
            return (gr.Dropdown(choices=[(what_label(w, lang), w) for w in found], value=found[0] if found else None),
                    text, "", [], note)

        self.refresh_args = dict(fn=refresh, inputs=None,
                                 outputs=[self.what, self.original, self.answer, self.diff, self.score],
                                 queue=False, api_visibility="private")

        @user_errors
        def rerun(what, request: gr.Request):
            """Answer again without `what`: the new answer streams, then the words compared and the scores."""
            rec = record_of(request, task)
            if not what:
                raise InputError("ablation_absent", choices=", ".join(ablation.choices(rec.messages)) or "-")
            yield "", [], ""  # the last comparison goes at once
            for item in run_ablation(self.pipeline, rec, what):
                if isinstance(item, ablation.Ablation):
                    yield item.answer, item.diff, score_markdown(item, lang_of(request))
                else:
                    yield str(item), gr.skip(), gr.skip()

        stop = dict(inputs=None, outputs=controls.stop, queue=False, api_visibility="private")
        event = self.run.click(lambda: gr.Button(variant="stop", interactive=True), **stop).then(
            rerun, [self.what], [self.answer, self.diff, self.score], api_visibility="private",
            **model_event(ui, pipeline))
        for after in (event.then, event.failure):
            after(lambda: gr.Button(variant="secondary", interactive=False), **stop)
        controls.stop_cancels([event])

    def after(self, event) -> None:
        """Offer the inputs of the answer `event` (a tab's answering run) made, once it ends."""
        event.then(**self.refresh_args)


def render_api(pipes, ui, controls, record_of) -> None:
    """`/ablation(task, leave_out)`: the same comparison for API callers, about their session's last answer."""
    pipelines = {"caption": pipes.caption, "vqa": pipes.vqa, "audio": pipes.audio, "video": pipes.video}

    @user_errors
    def ablation_api(task: str, leave_out: str, request: gr.Request):
        """Answer this session's last question on a task again with one input left out, and score the original
        answer with and without it.

        Args:
            task: "caption", "vqa", "audio" or "video".
            leave_out: "image", "audio", "video", "video_sound", "video_frames" or "history" (one the answer had).
        Returns:
            both answers, their word-level difference, and the original answer's log-likelihood (total, per
            token, perplexity) with and without the input, and the change.
        """
        if task not in pipelines:
            raise InputError("explain_none")
        if not isinstance(leave_out, str) or leave_out not in ablation.INPUTS:
            raise InputError("ablation_absent", choices=", ".join(ablation.INPUTS))
        result = None
        for item in run_ablation(pipelines[task], record_of(request, task), leave_out):
            result = item
        return result.as_dict() if isinstance(result, ablation.Ablation) else {}

    with gr.Row(visible=False):
        task, leave_out, out = gr.Textbox("caption"), gr.Textbox("image"), gr.JSON()
        button = gr.Button(t("ablation_run"))
    event = button.click(ablation_api, [task, leave_out], out, api_name="ablation",
                         **model_event(ui, pipes.caption))
    controls.stop_cancels([event])
