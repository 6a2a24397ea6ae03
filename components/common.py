"""What every tab shares: the model queue, error handling, language, safe upload widgets."""

from __future__ import annotations

import functools
import inspect
import logging

import gradio as gr

from pipelines.errors import Cancelled, UserFacingError
from pipelines.messages import message

log = logging.getLogger(__name__)

# Every event that runs a model joins this one queue: two tabs never run a model at once
# (one GPU, no out-of-memory races). Its limit is set from --concurrency in app.py.
MODEL_QUEUE = "model"


def model_event(limit: int = 1) -> dict:
    return dict(concurrency_id=MODEL_QUEUE, concurrency_limit=limit)


def lang_of(request: gr.Request | None) -> str:
    """'zh' for a browser (or client) that prefers Chinese, else 'en'."""
    headers = getattr(request, "headers", None) or {}
    accept = (headers.get("accept-language") or "").lower()
    return "zh" if accept.startswith("zh") else "en"


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
                yield from fn(*args, **kwargs)
            except Cancelled:
                return
            except Exception as exc:  # noqa: BLE001
                raise to_gr_error(exc, lang_of(request_of(args, kwargs))) from None
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001
                raise to_gr_error(exc, lang_of(request_of(args, kwargs))) from None
    return wrapper


def warn(key: str, request: gr.Request | None, **params) -> None:
    gr.Warning(message(key, lang_of(request), **params))


class SafeImage(gr.Image):
    """gr.Image whose upload step answers unreadable or oversized files with a clear message.

    Gradio opens the file header before our handler runs; a renamed text file or a
    decompression bomb would otherwise end as a bare 'Error'.
    """

    is_template = True  # rendered by the stock Image front-end

    @functools.wraps(gr.Image.__init__)  # keeps the signature: Gradio builds the page's config from it
    def __init__(self, *args, **kwargs):
        # image_mode=None: the upload reaches the pipeline as it is, and pipelines/inputs.py converts
        # it after downscaling (transparency over white). Gradio's default, "RGB", re-encodes every
        # non-RGB upload first: 0.4-0.5 s for a 1080p screenshot (RGBA PNG), before the task starts.
        kwargs.setdefault("image_mode", None)
        super().__init__(*args, **kwargs)

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001 - PIL raises many types for broken files
            from PIL import Image

            key = "image_bomb" if isinstance(exc, Image.DecompressionBombError) else "not_image"
            raise gr.Error(message(key, "en", limit=Image.MAX_IMAGE_PIXELS or 0), print_exception=False) from None


def add_examples(examples: list[list], inputs: list, outputs: list, fn, *, cache: bool, labels=None,
                 concurrency: int = 1) -> gr.Examples:
    """Clicking an example fills the inputs and runs the task.

    On a Space (cache=True) results are cached lazily, after their first use; locally the
    run goes through the shared model queue like any other request.
    """
    if cache:
        return gr.Examples(examples, inputs, outputs, fn=fn, cache_examples=True, cache_mode="lazy",
                           example_labels=labels)
    ex = gr.Examples(examples, inputs, example_labels=labels)
    ex.load_input_event.then(fn, inputs, outputs, api_visibility="private", **model_event(concurrency))
    return ex
