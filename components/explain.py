"""“Show attention” (显示注意力) and the token budget, under every tab that answers in text.

A tab marks its handler `@explained("caption")`: when an answer ends, what it was made of (the
chat the model got, the answer's token ids, its token budget) is kept for that browser session
and tab (the last 64 kept, server-wide). The view under the answer then shows the budget and the
answer's words; clicking a word runs one attention pass (pipelines/explain.py) in the model
queue and shows the heat map over each image, or over each clip's waveform.

API: `/token_budget(task)` and `/attention(task, start, end, first_layer, last_layer, heads)`
answer about the last answer of the caller's session (a gradio_client Client keeps one).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import gradio as gr
import numpy as np

from catalogue import message
from pipelines import explain
from pipelines.errors import InputError
from pipelines.generation import Answer
from pipelines.video_input import Video

from .ablation import AblationView, render_api as render_ablation_api
from .common import lang_of, model_event, user_errors
from .server import from_mcp
from .i18n import t

log = logging.getLogger(__name__)
TASKS = ("caption", "vqa", "audio", "video")
KEPT = 32  # answers remembered server-wide (sessions x tabs); each holds its chat's images or clip
# ... and at most this many bytes of their media and attention rows in all (a video at the default limits is
# ~46 MB of frames and sound: 32 of them would hold 1.5 GB; a view's rows are answer x conversation floats);
# the oldest answers go first, the newest always stays.
KEPT_MEDIA_BYTES = 256 * 2**20


def media_bytes(messages: list[dict]) -> int:
    """What a kept chat's images, clips and videos weigh in memory."""
    total = 0
    for turn in messages:
        for part in turn["content"] if isinstance(turn["content"], list) else []:
            media = part.get(part.get("type"))
            if isinstance(media, Video):
                total += media.frames.nbytes + (media.audio.nbytes if media.audio is not None else 0)
            elif isinstance(media, np.ndarray):
                total += media.nbytes
            elif hasattr(media, "size") and hasattr(media, "getbands"):  # a PIL image
                total += media.size[0] * media.size[1] * len(media.getbands())
    return total


@dataclass
class Record:
    """The last answer of one session's tab: enough to rerun its exact prompt."""

    model_id: str
    messages: list[dict]
    tokens: list[int]
    budget: dict
    rows: dict = field(default_factory=dict)  # (first, last, heads) -> attention rows, computed once
    media: int = 0  # bytes of the chat's images, clips and videos (media_bytes)
    inputs: dict | None = None  # the request's processor output, on the CPU: the view reuses it
    _pieces: list | None = None

    @property
    def bytes(self) -> int:
        """What it holds in memory that grows with a request: its media, its processor output and its
        attention rows."""
        kept = sum(v.nbytes for v in (self.inputs or {}).values() if hasattr(v, "nbytes"))
        return self.media + kept + sum(rows.nbytes for rows, _ in self.rows.values())

    def pieces(self, tokenizer) -> list[tuple[str, int, int]]:
        """(text, first token, end token) per clickable word; decoded when first shown, not while answering."""
        if self._pieces is None:
            self._pieces = explain.pieces_of(tokenizer, self.tokens)
        return self._pieces


RECORDS: OrderedDict[tuple[str, str], Record] = OrderedDict()
_lock = threading.Lock()


def _key(request: gr.Request | None, task: str) -> tuple[str, str] | None:
    """Whose answer: a caller without a session (nothing to tell callers apart) gets none kept, nor does an MCP
    caller: every MCP call arrives in one shared session (server.from_mcp), so one agent would read another's."""
    session = getattr(request, "session_hash", None)
    return (session, task) if session and not from_mcp(request) else None


def _trim() -> None:
    """Forget the oldest answers past KEPT or KEPT_MEDIA_BYTES (the newest stays). Called holding _lock."""
    while len(RECORDS) > 1 and (len(RECORDS) > KEPT or sum(r.bytes for r in RECORDS.values()) > KEPT_MEDIA_BYTES):
        RECORDS.popitem(last=False)


def record_of(request, task: str) -> Record:
    with _lock:
        rec = RECORDS.get(_key(request, task))  # type: ignore[arg-type]
    if rec is None:
        raise InputError("explain_none")
    return rec


def _last_answer(value):
    """The Answer in what a handler yields: the text itself, or inside a tuple or a chat."""
    if isinstance(value, Answer):
        return value
    if isinstance(value, dict):
        return _last_answer(value.get("content"))
    if isinstance(value, (list, tuple)):
        for item in reversed(value):
            if (found := _last_answer(item)) is not None:
                return found
    return None


def explained(task: str, pipeline_of):
    """Decorator for a tab's streaming handler: once the answer ends, keep its record for the view."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            answer = None
            for value in fn(*args, **kwargs):
                answer = _last_answer(value) or answer
                yield value
            request = next((a for a in (*args, *kwargs.values()) if isinstance(a, gr.Request)), None)
            usage = getattr(answer, "usage", None)
            if usage is None or usage.inputs is None:  # an engine elsewhere (--backend openai) or ZeroGPU
                return
            pipeline = pipeline_of()
            try:
                rec = Record(pipeline.model_id, usage.messages, list(usage.tokens),
                             explain.budget(pipeline.model, usage), media=media_bytes(usage.messages),
                             inputs=usage.inputs)
            except Exception:  # noqa: BLE001 - the answer is out: a view that cannot follow must not fail it
                log.exception("could not keep the answer's record for the explain view")
                return
            key = _key(request, task)
            if key is None:
                return
            with _lock:
                RECORDS[key] = rec
                RECORDS.move_to_end(key)
                _trim()
        return run
    return wrap


def budget_markdown(budget: dict, lang: str) -> str:
    """The budget as a small table, in `lang`."""
    rows, n = [], {"image": 0, "video": 0, "audio": 0}
    for part in budget["inputs"]:
        kind = part["kind"]
        if kind == "text":
            label = message("budget_text", lang)
        else:
            n[kind] += 1
            if kind == "audio":
                label = message("budget_audio", lang, n=n[kind], seconds=part.get("seconds") or 0,
                                rate=part.get("tokens_per_second") or 0)
            elif kind == "video":
                label = message("budget_video", lang, n=n[kind], frames=part["grid"][0], rows=part["grid"][1],
                                cols=part["grid"][2])
            else:
                label = message("budget_image", lang, n=n[kind], rows=part["grid"][1], cols=part["grid"][2],
                                prows=part["patches"][1], pcols=part["patches"][2])
        rows.append(f"| {label} | {part['tokens']:,} |")
    lines = [f"**{message('budget_title', lang)}**", "",
             f"| {message('budget_input', lang)} | {message('budget_tokens', lang)} |", "|---|---:|", *rows, ""]
    merge = next((p["patches"][1] // p["grid"][1] for p in budget["inputs"]
                  if p["kind"] in ("image", "video") and p.get("patches") and p["grid"][1]), None)
    if merge:  # what "17×23 tokens (34×46 patches)" means
        lines.append(message("budget_patches", lang, merge=merge) + "  ")
    if budget.get("context_max"):
        lines.append(message("budget_context", lang, used=budget["context_used"], max=budget["context_max"],
                             share=budget["context_used"] / budget["context_max"]) + "  ")
    if budget.get("seconds_per_token") is not None:
        lines.append(message("budget_generated", lang, n=budget["generated_tokens"],
                             ms=budget["seconds_per_token"] * 1000))
    else:
        lines.append(message("budget_generated_untimed", lang, n=budget["generated_tokens"]))
    return "\n".join(lines)


def attention(pipeline, rec: Record, start: int, end: int, first: int, last: int, heads: str, keyed: bool = False):
    """Heat maps (PIL images) and the raw weights (JSON) of answer pieces [start, end]: pipelines/explain.py's
    view over the kept request (its own processor output), the rows of the last view kept with it. `keyed`: each
    picture with its colour key (the page's view)."""
    loaded = pipeline.model

    def keep(key, value):
        with _lock:
            rec.rows = {key: value}  # one view kept
            _trim()  # its rows count in the budget too

    return explain.view(loaded, rec.messages, rec.tokens, start, end, first, last, heads, inputs=rec.inputs,
                        pieces=rec.pieces(loaded.tokenizer), kept=rec.rows, keep=keep, keyed=keyed)


class ExplainView:
    """The accordion under a tab's answer: token budget, the answer's words, the heat map."""

    def __init__(self, task: str, pipeline, ui, controls):
        self.task, self.pipeline = task, pipeline
        with gr.Accordion(t("explain"), open=False, elem_id=f"{task}-explain"):
            self.budget = gr.Markdown(elem_id=f"{task}-budget")
            self.words = gr.HighlightedText(label=t("explain_words"), combine_adjacent=False, show_legend=False,
                                            interactive=False, color_map={"▲": "#f97316"}, elem_id=f"{task}-words")
            with gr.Row():
                self.span = gr.Checkbox(False, label=t("explain_span"), elem_id=f"{task}-span")
                self.heads = gr.Dropdown([(t("explain_heads_mean"), "mean"), (t("explain_heads_max"), "max")],
                                         value="mean", label=t("explain_heads"), elem_id=f"{task}-heads")
            with gr.Row():
                self.first = gr.Slider(0, 1, value=0, step=1, label=t("explain_first_layer"),
                                       elem_id=f"{task}-first-layer")
                self.last = gr.Slider(0, 1, value=1, step=1, label=t("explain_last_layer"),
                                      elem_id=f"{task}-last-layer")
            # One a row, "contain", a cell within the height: each heat map whole, however wide (square
            # thumbnails cut off a waveform, a strip of frames), the next one a scroll away.
            self.heat = gr.Gallery(label=t("explain_heatmap"), columns=1, height=600, format="png",
                                   object_fit="contain", elem_id=f"{task}-heatmap")
            with gr.Accordion(t("explain_raw"), open=False):
                self.raw = gr.JSON(elem_id=f"{task}-raw")
        self.ablation = AblationView(task, pipeline, ui, controls, record_of)  # beside it: issue 30
        self.picked = gr.State([0, 0])  # the selected pieces [start, end]
        queue = model_event(ui, pipeline)

        @user_errors
        def refresh(request: gr.Request):
            """After an answer: its budget, its words, the model's layer range."""
            try:
                rec = record_of(request, task)
            except InputError as exc:  # an engine elsewhere answered (--backend openai): said here, not as an error
                return exc.message(lang_of(request)), [], gr.skip(), gr.skip(), [], None
            n = explain.layer_count(self.pipeline.model)
            first, last = explain.default_layers(self.pipeline.model)
            pieces = rec.pieces(self.pipeline.model.tokenizer)
            return (budget_markdown(rec.budget, lang_of(request)), [(p[0], None) for p in pieces],
                    gr.Slider(maximum=n - 1, value=first), gr.Slider(maximum=n - 1, value=last), [], None)

        self.refresh_args = dict(fn=refresh, inputs=None,
                                 outputs=[self.budget, self.words, self.first, self.last, self.heat, self.raw],
                                 queue=False, api_visibility="private")

        @user_errors
        def pick(picked, span, evt: gr.SelectData, request: gr.Request):
            """A click on a word: select it (or, with "span", extend the selection to it) and mark it."""
            index = evt.index if isinstance(evt.index, int) else evt.index[0]
            picked = [picked[0], index] if span else [index, index]
            low, high = min(picked), max(picked)
            pieces = record_of(request, task).pieces(self.pipeline.model.tokenizer)
            return picked, [(p[0], "▲" if low <= i <= high else None) for i, p in enumerate(pieces)]

        @user_errors
        def show(picked, first, last, heads, request: gr.Request):
            rec = record_of(request, task)
            pictures, raw = attention(self.pipeline, rec, picked[0], picked[1], first, last, heads, keyed=True)
            return pictures, raw

        shown = dict(fn=show, inputs=[self.picked, self.first, self.last, self.heads], outputs=[self.heat, self.raw],
                     api_visibility="private", **queue)
        stop = dict(inputs=None, outputs=controls.stop, queue=False, api_visibility="private")

        def around(trigger):
            """The pass runs with the tab's Stop live (it waits in the model queue like an answer)."""
            event = trigger(lambda: gr.Button(variant="stop", interactive=True), **stop).then(**shown)
            for after in (event.then, event.failure):
                after(lambda: gr.Button(variant="secondary", interactive=False), **stop)
            return event

        picked = self.words.select(pick, [self.picked, self.span], [self.picked, self.words], queue=False,
                                   api_visibility="private")
        # A layer typed in the slider's box counts as soon as it is typed (its release comes only on blur).
        typed = [functools.partial(slider.input, trigger_mode="always_last") for slider in (self.first, self.last)]
        self.events = [around(picked.success), around(self.heads.input), around(self.first.release),
                       around(self.last.release), *(around(trigger) for trigger in typed)]
        controls.stop_cancels(self.events)

    def after(self, *events) -> None:
        """Show the budget and words once each of `events` (a tab's answering runs) ends."""
        for event in events:
            event.then(**self.refresh_args)
            self.ablation.after(event)


def render_api(pipes, ui, controls) -> None:
    """`/token_budget` and `/attention`: the same views for API callers (about their session's last answer)."""
    pipelines = {"caption": pipes.caption, "vqa": pipes.vqa, "audio": pipes.audio, "video": pipes.video}

    def task_pipeline(task):
        if task not in pipelines:
            raise InputError("explain_none")
        return pipelines[task]

    @user_errors
    def token_budget(task: str, request: gr.Request):
        """The token budget of this session's last answer on a task.

        Args:
            task: "caption", "vqa", "audio" or "video".
        Returns:
            tokens per input (image grid, audio seconds), text tokens, context used and its maximum,
            tokens generated, seconds per token.
        """
        task_pipeline(task)
        return record_of(request, task).budget

    @user_errors
    def attention_api(task: str, start: int, end: int, first_layer: int, last_layer: int, heads: str,
                      request: gr.Request):
        """What words of this session's last answer on a task attended to, in each image or audio clip.

        Args:
            task: "caption", "vqa", "audio" or "video".
            start: the first word (piece) of the answer, from 0.
            end: the last word (piece), inclusive.
            first_layer: the first decoder layer averaged (from 0); -1: the later half of the layers.
            last_layer: the last decoder layer averaged (inclusive); -1: the last layer.
            heads: "mean" or "max" over the attention heads.
        Returns:
            heat maps (over each image; over each clip's waveform), and the raw weights as JSON.
        """
        pipeline = task_pipeline(task)
        return attention(pipeline, record_of(request, task), start, end, first_layer, last_layer, heads)

    with gr.Row(visible=False):
        task = gr.Textbox("caption")
        numbers = [gr.Number(v, precision=0) for v in (0, 0, -1, -1)]
        heads = gr.Textbox("mean")
        budget_out, heat, raw = gr.JSON(), gr.Gallery(format="png"), gr.JSON()
        budget_button, attention_button = gr.Button(t("explain")), gr.Button(t("explain"))
    budget_button.click(token_budget, task, budget_out, api_name="token_budget", queue=False)
    event = attention_button.click(attention_api, [task, *numbers, heads], [heat, raw], api_name="attention",
                                   **model_event(ui, pipes.caption))
    controls.stop_cancels([event])  # (an API job is cancelled by its client; this keeps "Stop cancels every run")
    render_ablation_api(pipes, ui, controls, record_of)  # /ablation (issue 30)
