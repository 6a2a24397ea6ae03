"""The server around the tabs: what a hostile client must not get past, where Gradio has no option for it.
What is checked and how it is worded lives here; where it hooks into Gradio lives in server/ (each hook with a
canary in tests/test_canaries.py).

- Demo (the gr.Blocks app.py builds): every file a request names is checked before Gradio touches it
  (common.readable_path), and a value refused before any handler runs (a file that was not uploaded
  here, a number where an image belongs, a malformed history) gets one clear message in the caller's
  language instead of Gradio's raw validation text. Its queue is a FairQueue: one client (network address) holds
  at most its share of the waiting places.
  Before anything walks a request's values, every file path is bounded (longer than the OS allows:
  refused at once: `realpath` of a huge `data:` URL holds the event loop), lone
  surrogates are mended (U+FFFD), and chat messages are cut to text (Gradio's Chatbot would build any
  component a client names, with its constructor arguments, and run its preprocessing).
- app_kwargs() (a launch option, so `python app.py` and the tests get the same): one ASGI middleware
  that puts every route behind the login when --auth is on, limits failed logins and cheap routes
  per client (the real peer: components/server.py trusts no X-Forwarded-For unless --trusted-proxies
  names the proxy), refuses bodies over their limit with 413 before anything parses them, switches
  off Gradio's recording post-processing (the page does not use it) and marks every response
  `X-Content-Type-Options: nosniff`; and a 4xx with a reason, not a bare 500, for an unknown endpoint
  or an upload without a file name.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import time
from urllib.parse import unquote, urlsplit

import anyio
import gradio as gr
from gradio import processing_utils
from gradio.exceptions import InvalidPathError
from gradio.utils import get_upload_folder
from gradio_client.utils import is_file_obj, is_http_url_like, traverse
from pydantic import ValidationError
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse

from catalogue import message
from pipelines.errors import InputError, UserFacingError
from server import blocks, middleware, queue
from server.blocks import from_mcp  # noqa: F401 - the tabs take it from here

from .common import ASSETS, lang_of, readable_path, to_gr_error
from .resources import MAX_SHOWN_MESSAGES, MAX_WAITING, client_of

log = logging.getLogger(__name__)


class FairQueue(queue.FairQueue):
    """server.queue.FairQueue, refusing in the caller's language."""

    def refusal(self, request, count: int) -> str:
        return message("client_queue_full", lang_of(request), count=count)


class Demo(blocks.Blocks):
    """gr.Blocks whose requests are checked, and refused clearly, before any handler runs (server.blocks calls
    `check` where Gradio preprocesses); its queue keeps places for other clients (FairQueue)."""

    queue_class = FairQueue

    async def check(self, block_fn, inputs, preprocess):
        lang = lang_of(blocks.current_request())
        try:
            _mend_strings(inputs)
            for i, block in enumerate(block_fn.inputs):
                if isinstance(block, gr.Chatbot) and i < len(inputs):
                    inputs[i] = text_only_chat(inputs[i])
            await _check_files(inputs)
            return await preprocess()
        except gr.Error:
            raise
        except UserFacingError as exc:  # _check_file: a path that was not uploaded here
            raise to_gr_error(exc, lang) from None
        except InvalidPathError:  # Gradio's own "not uploaded" check: the same answer as ours
            raise to_gr_error(InputError("file_missing"), lang) from None
        except ValidationError:
            raise gr.Error(message(_wrong_value(block_fn, inputs), lang), print_exception=False) from None
        except Exception as exc:  # noqa: BLE001 - a component's preprocess wraps our InputError in its own
            if isinstance(exc.__cause__, UserFacingError):
                exc = exc.__cause__
            elif _links(inputs):  # Gradio fetched a link first: a private address (refused), or it did not answer
                exc = InputError("link_failed")
            raise to_gr_error(exc, lang) from None


def _os_path_max() -> int:
    try:
        return os.pathconf("/", "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows): its classic limit
        return 4096


PATH_MAX = _os_path_max()
URL_MAX = 8192  # a link Gradio fetches: longer ones are not a file anyone serves


FILE_ROUTE = "/gradio_api/file="


def own_asset(url: str) -> str | None:
    """The file of this app's assets/ that a link to its own file route serves (the "Use via API" page's
    samples: components/api_page.py), or None. Taken from the disk, not fetched: Gradio refuses to fetch a
    private address, which is what a local app's own URL is."""
    route = urlsplit(url).path
    if FILE_ROUTE not in route:
        return None
    path = os.path.realpath(unquote(route.split(FILE_ROUTE, 1)[1]))
    inside = path.startswith(os.path.join(os.path.realpath(ASSETS), ""))
    return path if inside and os.path.isfile(path) else None


def _check_file(entry: dict) -> dict:
    path = entry["path"]
    if is_http_url_like(path):  # a link is fetched by Gradio, private ones refused
        if len(path) > URL_MAX:
            raise InputError("link_failed")
        own = own_asset(path)
        if own is not None:  # one of this app's own sample files: a copy in the upload cache, as an upload
            entry.update(path=processing_utils.save_file_to_cache(own, get_upload_folder()), url=None)
        return entry
    # Longer than any path the OS opens: refused before realpath walks it on the event loop.
    if len(path) > PATH_MAX or not readable_path(path):
        raise InputError("file_missing")
    return entry


MAX_FILES = 64  # file entries in one request; a question takes a few (--max-question-images, one video)


async def _check_files(inputs) -> None:
    """Every file entry, in any shape (with or without `meta`, nested anywhere), checked by _check_file, in a
    worker thread: each is a walk of the filesystem, and a request may hold many (at most MAX_FILES)."""
    entries = []
    traverse(inputs, lambda entry: entries.append(entry) or entry, is_file_obj)  # no filesystem access
    if len(entries) > MAX_FILES:
        raise InputError("too_many_images", count=len(entries), limit=MAX_FILES)
    if entries:
        await anyio.to_thread.run_sync(lambda: [_check_file(entry) for entry in entries])


def _mend_strings(value):
    """`value` with every lone surrogate ("\\ud800" in JSON) replaced by U+FFFD. Such a string cannot be
    written back as UTF-8: echoed in an answer it gave a bare 500 and broke off the caller's event stream."""
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, (int, float, type(None), bool)):
                value[i] = _mend_strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(item, (int, float, type(None), bool)):
                value[key] = _mend_strings(item)
    return value


# The most messages a page's conversation holds (the chats show at most MAX_SHOWN_MESSAGES and
# the questions waiting); a longer chat from a client is cut to its end before Gradio checks it.
def _chat_cap() -> int:
    return MAX_SHOWN_MESSAGES + MAX_WAITING + 2


def text_only_chat(value):
    """A conversation as the app's chats hold it: each message's role and its text parts, nothing else.

    Gradio's Chatbot preprocessing builds whatever component a "component" message names, with the
    client's constructor arguments, and runs its preprocessing (decoding whatever audio it is given,
    copying server files into the cache), and moves "file" messages into the cache; the app's chats hold
    text only, so every other part is dropped before Gradio sees it. Not a list: Gradio's own check
    refuses it."""
    if not isinstance(value, list):
        return value
    kept = []
    for msg in value[-_chat_cap():]:
        if not isinstance(msg, dict):
            kept.append(msg)  # Gradio's schema check words it
            continue
        content = msg.get("content")
        if isinstance(content, dict):
            content = [content]
        if isinstance(content, list):
            content = [{"type": "text", "text": part["text"]} for part in content
                       if isinstance(part, dict) and part.get("type", "text") == "text" and isinstance(part.get("text"), str)]
        kept.append({"role": msg.get("role"), "content": content})
    return kept


def _links(inputs) -> list[str]:
    found = []
    traverse(inputs, lambda entry: found.append(entry["path"]) if is_http_url_like(entry["path"]) else None, is_file_obj)
    return found


def _wrong_value(block_fn, inputs) -> str:
    """The message key naming the first input whose value does not fit its component."""
    for block, value in zip(block_fn.inputs, inputs, strict=False):
        model = getattr(block, "data_model", None)
        if model is None or value is None:
            continue
        try:
            model.model_validate(value, context={"validate_meta": True})
        except ValidationError:
            kinds = {gr.Image: "bad_image_value", gr.Audio: "bad_audio_value", gr.Video: "bad_video_value",
                     gr.Chatbot: "bad_history_value"}
            return next((key for cls, key in kinds.items() if isinstance(block, cls)), "bad_value")
    return "bad_value"


# --- the HTTP side ----------------------------------------------------------------------------------

# What the login page itself needs before anyone is logged in (and startup-events, which launch() itself
# calls once, without a login); /config and /gradio_api/info check the login themselves. Everything else (the queue, /cancel, /reset, /heartbeat, streams, uploads, files,
# MCP) answers 401 without a login.
OPEN_PATHS = {"/", "/login", "/login/", "/logout", "/favicon.ico", "/robots.txt", "/manifest.json", "/theme.css",
              "/config", "/config/", "/gradio_api/theme.css", "/gradio_api/login_check", "/gradio_api/login_check/",
              "/gradio_api/info", "/gradio_api/info/", "/gradio_api/token", "/gradio_api/app_id",
              "/gradio_api/startup-events"}
OPEN_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon")

LOGIN_FAILURES = 5  # failed logins a client may make per window, then 429 until the oldest ages out
LOGIN_WINDOW_S = 60.0
MAX_CLIENTS = 10_000  # addresses remembered; the oldest are forgotten first

# Cheap routes (the page's unqueued events, /status, /info, /config, starting an API call) per client: a
# burst, then a steady rate (--max-requests-per-second). A flood of /status at 112 a second made a caption
# 4-6 times slower.
CHEAP_BURST_SECONDS = 15  # the burst: 300 at the default rate; a page load makes about 15, each click a few

SWITCHED_OFF = {middleware.PROCESS_RECORDING}


def body_limits(settings) -> tuple[int, int]:
    """(JSON body, upload body) limits in bytes, from the upload and prompt limits.

    A JSON body carries at most one `data:` image (--max-file-mb, as base64) and a conversation the
    page could hold (the messages of components/server.py's chat cap, each 4 x --max-prompt-chars,
    6 bytes a character at worst as JSON escapes), plus 1 MB for the rest. One upload (a multipart
    body) holds at most what one question takes: its images, each within --max-file-mb, plus 1 MB.
    """
    file = settings.max_file_mb * 2**20
    data_url = math.ceil(file * 4 / 3)
    chat = _chat_cap() * 4 * settings.max_prompt_chars * 6
    upload = (settings.max_question_images + 1) * file
    return data_url + chat + 2**20, upload + 2**20


class Buckets:
    """A token bucket per client: `burst` at once, then `rate` a second; the oldest clients forgotten first."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self.clients: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()

    def wait(self, client: str, now: float) -> float:
        """0 and one token taken if the client may go on, else the seconds until it may."""
        tokens, then = self.clients.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1:
            self.clients[client] = (tokens, now)
            return (1 - tokens) / self.rate
        self.clients[client] = (tokens - 1, now)
        self.clients.move_to_end(client)
        while len(self.clients) > MAX_CLIENTS:
            self.clients.popitem(last=False)
        return 0.0


def _cheap(method: str, path: str) -> bool:
    if method == "POST":
        return path.startswith(("/gradio_api/run/", "/gradio_api/api/", "/gradio_api/call/"))
    return method == "GET" and path.rstrip("/") in ("/config", "/gradio_api/info")


class Guard:
    """Pure ASGI middleware (streams pass through untouched): body limits, switched-off routes, per-client
    rate limit of cheap routes, login wall, failed-login limit, nosniff."""

    def __init__(self, app, body_limit: float = math.inf, upload_limit: float = math.inf, rate: float = 20.0):
        self.app = app
        self.body_limit, self.upload_limit = body_limit, upload_limit
        self.failures: collections.OrderedDict[str, collections.deque] = collections.OrderedDict()
        self.cheap = Buckets(rate, max(1, round(rate * CHEAP_BURST_SECONDS)))

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        gradio_app = scope.get("app")
        path, root = scope["path"], scope.get("root_path") or ""
        path = (path[len(root):] if root and path.startswith(root) else path) or "/"
        request = Request(scope)
        lang = _lang(request)
        if path.rstrip("/") in SWITCHED_OFF:
            return await _refuse(scope, receive, send, 404, message("no_such_endpoint", lang))
        if _cheap(scope["method"], path):
            wait = self.cheap.wait(client_of(scope), time.monotonic())
            if wait:
                seconds = math.ceil(wait)
                return await _refuse(scope, receive, send, 429, message("too_many_requests", lang, seconds=seconds),
                                     [(b"retry-after", str(seconds).encode())])
        if scope["method"] in ("POST", "PUT", "PATCH"):
            receive = await self._bounded(scope, receive, send, path, lang)
            if receive is None:
                return
        if getattr(gradio_app, "auth", None) is not None:
            if path.rstrip("/") == "/login" and scope["method"] == "POST":
                return await self._login(scope, receive, send, lang)
            if not middleware.logged_in(gradio_app, request) and path not in OPEN_PATHS \
                    and not path.startswith(OPEN_PREFIXES):
                return await _refuse(scope, receive, send, 401, message("login_required", lang))

        async def send_nosniff(event):
            if event["type"] == "http.response.start":
                headers = [h for h in event.get("headers", []) if h[0].lower() != b"x-content-type-options"]
                event = {**event, "headers": [*headers, (b"x-content-type-options", b"nosniff")]}
            await send(event)

        await self.app(scope, receive, send_nosniff)

    async def _bounded(self, scope, receive, send, path: str, lang: str):
        """`receive` for a body within its limit, or None once a 413 (or 411) went out: judged by
        Content-Length before a byte is read; a body without one (chunked) is read up to the limit and
        replayed, except an upload, which must say its length (browsers and clients do)."""
        upload = path.rstrip("/").endswith("/upload")
        limit, key = (self.upload_limit, "upload_too_large") if upload else (self.body_limit, "body_too_large")
        length = Request(scope).headers.get("content-length")
        if length is not None:
            size = int(length) if length.isdigit() else math.inf
            if size > limit:
                await _refuse(scope, receive, send, 413, message(key, lang, size=size / 2**20, limit=limit / 2**20))
                return None
            return receive
        if upload:
            await _refuse(scope, receive, send, 411, message(key, lang, size=0, limit=limit / 2**20))
            return None
        chunks, size = [], 0
        while True:
            event = await receive()
            if event["type"] != "http.request":
                return None  # the client left
            chunks.append(event.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await _refuse(scope, receive, send, 413, message(key, lang, size=size / 2**20, limit=limit / 2**20))
                return None
            if not event.get("more_body", False):
                break
        body = b"".join(chunks)
        del chunks
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    async def _login(self, scope, receive, send, lang: str):
        client = client_of(scope)
        now = time.monotonic()
        recent = self.failures.get(client, collections.deque())
        while recent and now - recent[0] > LOGIN_WINDOW_S:
            recent.popleft()
        if len(recent) >= LOGIN_FAILURES:
            wait = int(LOGIN_WINDOW_S - (now - recent[0])) + 1
            return await _refuse(scope, receive, send, 429, message("too_many_logins", lang, seconds=wait),
                                 [(b"retry-after", str(wait).encode())])
        status = {}

        async def watch(event):
            if event["type"] == "http.response.start":
                status["code"] = event["status"]
                event = {**event, "headers": [*event.get("headers", []), (b"x-content-type-options", b"nosniff")]}
            await send(event)

        await self.app(scope, receive, watch)
        if status.get("code") == 200:
            self.failures.pop(client, None)
        elif status.get("code") in (400, 401, 403):
            recent.append(now)
            self.failures[client] = recent
            self.failures.move_to_end(client)
            while len(self.failures) > MAX_CLIENTS:
                self.failures.popitem(last=False)


async def _refuse(scope, receive, send, code: int, text: str, headers=()) -> None:
    response = JSONResponse({"detail": text}, status_code=code)
    response.raw_headers.extend([(b"x-content-type-options", b"nosniff"), *headers])
    await response(scope, receive, send)


def _lang(request: Request) -> str:
    return lang_of(request)  # the page's language switch (cookie), else Accept-Language


FN_ROUTES = ("/gradio_api/queue/join", "/gradio_api/run/", "/gradio_api/api/", "/gradio_api/call/")


async def _no_such_endpoint(request: Request, exc: Exception):
    """An api_name or fn_index the app does not have: 404 with a reason (Gradio raises a bare KeyError)."""
    if isinstance(exc, KeyError) and not request.url.path.startswith(FN_ROUTES):
        raise exc
    return JSONResponse({"detail": message("no_such_endpoint", _lang(request))}, status_code=404)


async def _unnamed_upload(request: Request, exc: Exception):
    """A multipart part without a file name reaches Gradio as plain text, not a file: 400, not a 500."""
    if not request.url.path.startswith("/gradio_api/upload"):
        raise exc
    return JSONResponse({"detail": message("upload_needs_name", _lang(request))}, status_code=400)


def app_kwargs(settings=None) -> dict:
    """Keyword arguments for the FastAPI app Gradio builds (launch(app_kwargs=...)); `settings` gives the
    body limits (body_limits) and the cheap routes' rate, none without them."""
    limits = {}
    if settings is not None:
        limits = dict(zip(("body_limit", "upload_limit"), body_limits(settings)), rate=settings.max_requests_per_second)
    return dict(middleware=[Middleware(Guard, **limits)],
                exception_handlers={**dict.fromkeys(middleware.UNKNOWN_ENDPOINT, _no_such_endpoint),
                                    TypeError: _unnamed_upload})
