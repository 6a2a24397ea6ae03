"""What every tab shares: the model queue, error handling, language, safe upload widgets."""

from __future__ import annotations

import binascii
import contextlib
import functools
import inspect
import json
import logging
import os
from pathlib import Path

import gradio as gr
from gradio import processing_utils
from gradio.utils import get_upload_folder

from catalogue import message
from pipelines.errors import Cancelled, InputError, UserFacingError
from server.blocks import examples_run, running_app

from .i18n import t, text
from .language import lang_of  # noqa: F401 - the tabs take it from here
from .resources import DISK

log = logging.getLogger(__name__)

# Every event that runs a model joins this one queue: two tabs never run a model at once
# (one GPU, no out-of-memory races). Its limit is set from --concurrency in app.py.
MODEL_QUEUE = "model"
# With batching on (--max-batch-size N) the model queue lets N text requests in at once, to
# share one generate(); text-to-image then waits in a queue of its own that keeps --concurrency,
# so N drawings never run at once.
DRAW_QUEUE = "draw"
# Tasks an OpenAI-compatible engine serves (--backend openai) wait in their own, wider queue:
# the engine batches them, and the local GPU keeps its limit for text-to-image.
REMOTE_QUEUE = "remote"


def model_event(ui, pipeline) -> dict:
    """The queue an event that runs `pipeline` waits in, and how many such events run at once."""
    settings = pipeline.settings
    if pipeline.remote:
        return dict(concurrency_id=REMOTE_QUEUE, concurrency_limit=settings.remote_concurrency)
    if settings.max_batch_size > 1:
        if pipeline.needs == "draw":
            return dict(concurrency_id=DRAW_QUEUE, concurrency_limit=ui.concurrency)
        return dict(concurrency_id=MODEL_QUEUE, concurrency_limit=max(ui.concurrency, settings.max_batch_size))
    return dict(concurrency_id=MODEL_QUEUE, concurrency_limit=ui.concurrency)


def to_gr_error(exc: BaseException, lang: str) -> gr.Error:
    """A clear message for the person; the traceback goes to the server log only."""
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, UserFacingError):
        return gr.Error(exc.message(lang), print_exception=False)
    log.exception("unexpected error", exc_info=exc)
    return gr.Error(message("internal", lang), print_exception=False)


def user_errors(fn):
    """Wrap an event handler (plain or generator): known errors -> gr.Error in the user's language.

    Gradio fills in a `gr.Request` parameter of the wrapped function; the wrapper finds it
    among the arguments to pick the language. A Cancelled generation simply ends.
    """
    def request_of(args, kwargs):
        return next((a for a in (*args, *kwargs.values()) if isinstance(a, gr.Request)), None)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                with using_files(args, kwargs):
                    yield from fn(*args, **kwargs)
            except Cancelled:
                return
            except Exception as exc:  # noqa: BLE001
                raise to_gr_error(exc, lang_of(request_of(args, kwargs))) from None
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                with using_files(args, kwargs):
                    return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001
                raise to_gr_error(exc, lang_of(request_of(args, kwargs))) from None
    return wrapper


@contextlib.contextmanager
def using_files(args, kwargs):
    """While a handler runs, the cached files it was handed are kept from the disk budget's cleaning,
    which runs first: files that arrived since the last upload (a `data:` image, the last drawing)."""
    paths = [a for a in (*args, *kwargs.values()) if isinstance(a, str) and a.startswith(DISK.folder or "\0")]
    with DISK.hold(paths):
        DISK.enforce()
        yield


def warn(key: str, request: gr.Request | None, **params) -> None:
    gr.Warning(message(key, lang_of(request), **params))


def notify(asked, request: gr.Request | None) -> None:
    """A prepared request's notices (a clip trimmed, a video with no sound to hear), as warnings on the page."""
    for key, params in asked.notices:
        warn(key, request, **params)


ASSETS = Path(__file__).resolve().parent.parent / "assets"


def readable_path(path: str) -> bool:
    """True if the app may read `path`: a file that arrived through an upload of this server (Gradio's
    upload cache) or one of its own assets/. Symlinks and `..` are resolved first. A path a client
    merely names (/etc/..., the app's own code) is never read, whatever shape the request takes."""
    real = os.path.realpath(path)
    return any(real.startswith(os.path.join(os.path.realpath(root), "")) for root in (get_upload_folder(), ASSETS))


def uploaded_file(path: str) -> str:
    """`path` if readable_path() allows it, else the one answer for every refused path: the same
    "not found among the uploads" whether the file exists or not, so no caller learns which do."""
    if not readable_path(path):
        raise InputError("file_missing")
    return path


# A new run closes the toasts of earlier ones: an old error must not sit on top of a later success.
CLOSE_TOASTS = "() => { document.querySelectorAll('[data-testid=toast-close]').forEach(b => b.click()); return []; }"


class RunControls:
    """A tab's Run and Stop buttons. While a request runs, Run is disabled and says what it is doing
    (a second click is never dropped silently) and Stop is live; otherwise Stop is grey and off."""

    def __init__(self, run_key: str, busy_key: str, prefix: str, *, keep_run: bool = False,
                 quiet_stop: bool = False, busy: gr.State | None = None):
        self.run_key, self.busy_key, self.keep_run, self.busy = run_key, busy_key, keep_run, busy
        self.run = gr.Button(t(run_key), variant="primary", elem_id=f"{prefix}-run")
        self.stop = gr.Button(t("stop"), variant="secondary", interactive=False, elem_id=f"{prefix}-stop")
        # quiet_stop: Stop raises this session's flag and the handler ends itself at its next step.
        # (Gradio 6.31's cancel leaves a bare "Error" badge on the outputs about one Stop in six.)
        self.stopping = gr.State({}) if quiet_stop else None

    def started(self, stopping: dict | None = None):
        if stopping is not None:
            stopping["stop"] = False
        run = gr.skip() if self.keep_run else gr.Button(t(self.busy_key), interactive=False)
        return run, gr.Button(variant="stop", interactive=True)

    def ended(self):
        return gr.Button(t(self.run_key), interactive=True), gr.Button(variant="secondary", interactive=False)

    def ended_unless_busy(self, state):
        """ended(), unless the `busy` State's value says (its .busy) that a later run is at work."""
        return (gr.skip(), gr.skip()) if state.busy else self.ended()

    def around(self, trigger, run: dict) -> dict:
        """`trigger(**kw)` starts an event (a click, a submit): the buttons say busy, `run` (the
        event's arguments) runs, the buttons come back. Returns the running event, for Stop to cancel."""
        buttons = dict(inputs=None, outputs=[self.run, self.stop], queue=False, api_visibility="private")
        flag = [self.stopping] if self.stopping is not None else None
        event = trigger(self.started, **{**buttons, "inputs": flag}, js=CLOSE_TOASTS).then(**run)
        if self.busy is None:
            event.then(self.ended, **buttons)
        else:  # a stopped run's end must not turn the buttons off under the next run (the chat tabs)
            event.then(self.ended_unless_busy, **{**buttons, "inputs": [self.busy]})
        event.failure(self.ended, **buttons)  # Gradio 6.31's page skips .then() after an error
        return event

    def stop_cancels(self, events: list) -> None:
        """Stop cancels `events` (Gradio's cancel), and with quiet_stop also raises the flag."""
        if self.stopping is None:
            self.stop.click(self.ended, None, [self.run, self.stop], cancels=events, queue=False,
                            api_visibility="private")
            return

        def stop(stopping: dict):
            stopping["stop"] = True  # the run ends at its next step; its own end brings Run back
            return gr.Button(interactive=False)

        self.stop.click(stop, self.stopping, self.stop, cancels=events, queue=False, api_visibility="private")


class SafeImage(gr.Image):
    """gr.Image (type="filepath") that hands the uploaded file over unopened.

    Stock gr.Image opens and converts the upload before our handler runs: a zero-byte,
    truncated or renamed file would end as a vague message, and a large image would be
    decoded in full. pipelines.inputs.load_image is the one place that opens images
    (decompression-bomb guard, downscale first, a specific message for each problem), base64
    images sent through the API included.
    """

    is_template = True  # rendered by the stock Image front-end

    @functools.wraps(gr.Image.__init__)  # keeps the signature: Gradio builds the page's config from it
    def __init__(self, *args, **kwargs):
        # image_mode=None: the upload reaches the pipeline as it is, and pipelines/inputs.py converts
        # it after downscaling (transparency over white). Gradio's default, "RGB", re-encodes every
        # non-RGB upload at full size first, before the task starts (bench/RESULTS.md, "Incidents").
        kwargs.setdefault("image_mode", None)
        super().__init__(*args, **kwargs)

    def preprocess(self, payload):
        if payload is None:
            return None
        if (payload.url or "").startswith("data:"):  # a base64 image sent through the API
            return save_data_url(payload.url, self.GRADIO_CACHE)  # too big: an InputError, Demo words it
        if payload.path:  # Gradio skips its "not uploaded" check for an entry without `meta`: ours runs always
            return uploaded_file(str(payload.path))
        return None  # no file (an empty entry, a link): "add an image", in the caller's language


class SafeAudio(gr.Audio):
    """gr.Audio that reads only an uploaded file or an asset (uploaded_file), like SafeImage."""

    is_template = True  # rendered by the stock Audio front-end

    def preprocess(self, payload):
        if payload is not None and payload.path:
            uploaded_file(str(payload.path))
        return super().preprocess(payload)


class SafeVideo(gr.Video):
    """gr.Video that reads only an uploaded file or an asset (uploaded_file), like SafeImage; the file is
    handed over as it is (no conversion: pipelines/video_input.py decodes any container FFmpeg reads)."""

    is_template = True  # rendered by the stock Video front-end

    def preprocess(self, payload):
        if payload is not None and payload.path:
            uploaded_file(str(payload.path))
        return super().preprocess(payload)


class Switch(gr.Checkbox):
    """gr.Checkbox that takes only true or false (or nothing: off) from an API caller. Gradio passes any
    JSON on, and the string "false" is true in Python: it switched speech on for a curl user."""

    is_template = True  # rendered by the stock Checkbox front-end

    def preprocess(self, payload):
        if payload is None:
            return False
        if not isinstance(payload, bool):
            raise InputError("bad_switch", value=shown_value(payload))
        return payload


def shown_value(value, limit: int = 40) -> str:
    """A value a caller sent (JSON), short enough to quote back in a message: a megabyte is not echoed."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"


def save_data_url(url: str, cache_dir: str, max_bytes: float | None = None) -> str:
    """A `data:` URL's bytes as a file, like any upload, for load_image to check (in the user's
    language, with its size guards). Undecodable base64 is kept as it is: it is not an image.

    The URL counts against the upload limit (--max-file-mb) by its length, before anything is
    decoded or copied; it is decoded by binascii (base64's decoder), not urllib, whose parse cache
    kept the last URLs alive (hundreds of MB after a few large ones).
    """
    if max_bytes is None:
        max_bytes = getattr(running_app(), "max_file_size", None)  # its launch(max_file_size=...)
    comma = url.find(",", 0, 1024)
    size = (len(url) - comma - 1) * 3 // 4  # the decoded size of base64 text, to a few bytes
    if max_bytes is not None and size > max_bytes:
        raise InputError("file_too_big", size=size / 2**20, limit=max_bytes / 2**20)
    payload = url[comma + 1:] if comma >= 0 else url
    try:
        if ";base64" not in url[:max(comma, 0)]:
            raise ValueError("not base64")
        data = binascii.a2b_base64(payload)  # reads the ASCII text in place: no encoded copy
    except (binascii.Error, ValueError):
        data = payload.encode("utf-8", "replace")
    del payload
    return processing_utils.save_bytes_to_cache(data, "image.data", cache_dir)


def last_value(fn):
    """A generator handler as a plain function returning its last value, with its signature.

    Gradio's example cache wraps generator handlers in a bare (*args, **kwargs) function,
    which loses their gr.Request parameter (the handler then fails); a plain one keeps it.
    """
    @functools.wraps(fn)
    def run(*args, **kwargs):
        value = None
        for value in fn(*args, **kwargs):  # noqa: B007
            pass
        return value
    return run


def add_examples(ui, examples: list[list], inputs: list, outputs: list, fn, labels: list[str],
                 pipeline, controls: RunControls | None = None, chain=None) -> list:
    """Clicking an example fills the inputs and runs the task; returns the events Stop cancels.

    On a Space (ui.cache_examples) results are cached lazily, after their first use; that first
    run also joins the task's model queue. Locally each click runs through that queue like any
    other request, with the tab's Run/Stop `controls` saying so. `chain(event)` (optional) runs the
    task after the inputs are filled instead of `fn` (the chat puts the question in the conversation
    first). `labels` are i18n keys: Gradio shows example captions untranslated, so each page load
    sets them in the language of the request, and shows them then.
    """
    captions = dict(label=t("examples"), example_labels=[text(k, "en") for k in labels])
    queue = model_event(ui, pipeline)
    if ui.cache_examples:
        ex = gr.Examples(examples, inputs, outputs, fn=last_value(fn), cache_examples=True, cache_mode="lazy",
                         **captions)
        run = examples_run(ex)  # gr.Examples takes no concurrency_id
        run.concurrency_id, run.concurrency_limit = queue["concurrency_id"], queue["concurrency_limit"]
        events = []  # a run that fills the cache for everyone is not cancelled
    else:
        ex = gr.Examples(examples, inputs, **captions)
        run = dict(fn=fn, inputs=inputs, outputs=outputs, api_visibility="private", **queue)
        if chain is not None:
            events = [chain(ex.load_input_event)]
        elif controls is not None:
            events = [controls.around(ex.load_input_event.then, run)]
        else:
            events = [ex.load_input_event.then(**run)]

    # Column headers come from the input labels, but the browser does not translate them
    # (it would show raw "__i18n__{...}" keys); the examples sit right below their inputs.
    ex.dataset.headers = []
    # Shown once the page's language is known: no English captions flashing on a Chinese page.
    ex.dataset.visible = False

    def translate(request: gr.Request):
        return gr.Dataset(sample_labels=[text(k, lang_of(request)) for k in labels], visible=True)

    ui.on_load.append((translate, ex.dataset))
    return events


# Wrong file types (issue 26): Gradio 6.31's upload area refuses a file whose type does not fit its
# `accept` in the browser, with its own English toast ("Invalid file type: x.txt. Only audio/aac,
# audio/midi,... allowed."), titled Error in the image tabs and Warning in the audio and video ones.
# This script, in the page's <head>, sees the choice or drop first (capture phase), applies the same
# test as Gradio's upload (gradio/js/upload: is_valid_file on `accept`), and for a file that would be
# refused stops the event and clicks the hidden button of its kind (#file-refusal-image...): the server
# answers with our message, in the page's language, as an Error like every other refusal. The canary
# (tests/test_browser_chat.py test_a_wrong_file_type_is_refused_in_the_pages_language) fails if
# Gradio's own toast comes back.
FILE_TYPE_SCRIPT = """<script>(function(){
function fits(f,accept){if(!accept)return true;var n=f.name.toLowerCase(),ext='.'+n.split('.').pop(),type=f.type||'';
return accept.split(',').some(function(a){a=a.trim().toLowerCase();if(!a)return false;
if(a==='*'||a==='file/*'||a==='*/*')return true;
if(a.charAt(0)==='.')return n.length>a.length&&n.slice(-a.length)===a||a===ext;
if(a.slice(-2)==='/*')return type.indexOf(a.slice(0,-1))===0;return type===a;});}
function refuse(input,files,e){if(!files.length||files.every(function(f){return fits(f,input.accept)}))return;
e.stopImmediatePropagation();e.preventDefault();input.value='';var m=/(image|audio|video)\\//.exec(input.accept||'');
var b=document.getElementById('file-refusal-'+(m?m[1]:'file'));if(b)b.click();}
window.addEventListener('change',function(e){var i=e.target;
if(i instanceof HTMLInputElement&&i.type==='file'&&i.files)refuse(i,Array.from(i.files),e);},true);
window.addEventListener('drop',function(e){if(!e.dataTransfer||!e.dataTransfer.files.length)return;
for(var el=e.target;el&&el.querySelector;el=el.parentElement){var i=el.querySelector('input[type=file]');
if(i){refuse(i,Array.from(e.dataTransfer.files),e);return;}}},true);
})();</script>"""

# Sending is quick but queued, in a queue of its own that never waits: Gradio shows a queued event's
# error on the page, and drops that of an unqueued one (an empty question said nothing). The chats'
# sending (components/vqa.py) and the file-type refusal below.
SEND_QUEUE = dict(queue=True, concurrency_id="chat_send", concurrency_limit=None, show_progress="hidden")

WRONG_FILE_KEYS = {"image": "wrong_file_image", "audio": "wrong_file_audio", "video": "wrong_file_video"}


def render_file_refusal() -> None:
    """One hidden button per kind of file, clicked by FILE_TYPE_SCRIPT; in SEND_QUEUE (never waits)."""
    for kind in (*WRONG_FILE_KEYS, "file"):
        button = gr.Button("", visible="hidden", elem_id=f"file-refusal-{kind}")
        button.click(refuse_file_type(kind), None, None, **SEND_QUEUE, api_visibility="private")


def refuse_file_type(kind: str):
    """The handler of a `kind` the page's upload refused (FILE_TYPE_SCRIPT): our message, in the page's language."""
    def refuse(request: gr.Request):
        raise gr.Error(message(WRONG_FILE_KEYS.get(kind, "wrong_file"), lang_of(request)), print_exception=False)
    return refuse
