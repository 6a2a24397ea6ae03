"""What the ASGI middleware in front of Gradio's app knows of Gradio's routes: its login cookies, the route
switched off, the exceptions Gradio raises for an endpoint it does not have, and its page's <head> (HeadFirst)."""

from __future__ import annotations

from gradio.route_utils import FnIndexInferError

from . import hit

# gradio/routes.py names the login cookies after the app's cookie_id (its `/login` sets them, its `/user`
# reads them); there is no function for it outside the app's own closures.
TOKEN_COOKIES = ("access-token-{}", "access-token-unsecure-{}")

# Gradio's screen-recording post-processing (ffmpeg re-encodes, outside the queue): the page's recorder
# lives in Gradio's settings panel, which this app does not show (launch_options' footer_links).
PROCESS_RECORDING = "/gradio_api/process_recording"

# An api_name or fn_index the app does not have (Gradio raises these, unhandled: a bare 500).
UNKNOWN_ENDPOINT = (FnIndexInferError, KeyError)


def logged_in(gradio_app, request) -> bool:
    """The request carries a login token Gradio's app issued (with --auth)."""
    hit("logged_in")
    cookie_id = gradio_app.cookie_id
    token = next(filter(None, (request.cookies.get(name.format(cookie_id)) for name in TOKEN_COOKIES)), None)
    return token is not None and token in gradio_app.tokens


class HeadFirst:
    """ASGI: the page's HTML (Gradio's GET /) gets `script` first thing in its <head>, before Gradio's own
    scripts; launch(head=...) is added by those scripts once they run, too late for what must come first."""

    script: bytes = b""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "GET" or scope.get("path") != "/":
            await self.app(scope, receive, send)
            return
        start: dict = {}
        chunks: list[bytes] = []

        async def rewrite(message):
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            html = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)
            encoded = any(k.lower() == b"content-encoding" for k, _ in headers)
            if html and not encoded and b"<head>" in body:
                hit("head_first")
                body = body.replace(b"<head>", b"<head>" + self.script, 1)
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)
