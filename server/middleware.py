"""What the ASGI middleware in front of Gradio's app knows of Gradio's routes: its login cookies, the route
switched off, and the exceptions Gradio raises for an endpoint it does not have."""

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
