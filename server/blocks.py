"""gr.Blocks with the hooks Gradio has no option for: the request check before preprocessing, the caller's
request during it, defaults for left-out trailing parameters, the queue class, and edits of the API info.

components/server.py's Demo fills in `check` (what is refused and how it is worded); this module only knows
where Gradio calls.
"""

from __future__ import annotations

import contextvars
import inspect

import gradio as gr
from gradio import routes as gradio_routes
from gradio.context import LocalContext, get_blocks_context

from . import expect, hit
from .queue import FairQueue

# What the overrides below rely on: checked once, at import, so a Gradio that renamed one stops the app here
# instead of serving it without the check (tests/test_canaries.py also sees that each is still called).
expect(gr.Blocks, "preprocess_data", ["self", "block_fn", "inputs", "state", "explicit_call"])
expect(gr.Blocks, "process_api", ["self", "block_fn", "inputs", "state", "request"])
expect(gr.Blocks, "validate_inputs", ["self", "block_fn", "inputs"])
expect(gr.Blocks, "get_api_info", ["self", "all_endpoints", "page"])
expect(gradio_routes, "generate_code_snippets", ["api_name", "endpoint_info", "root"])

_REQUEST = contextvars.ContextVar("server_request", default=None)  # set in Blocks.process_api


def current_request():
    """The gr.Request of the call being processed (the first of a batch), or None outside one."""
    return _REQUEST.get()


class Blocks(gr.Blocks):
    """gr.Blocks whose every call passes `check` before Gradio preprocesses its values, whose queue is
    `queue_class`, and whose API info goes through the edits api_info() registered."""

    queue_class: type = FairQueue
    HOOKS = ("preprocess_data", "process_api", "validate_inputs", "queue")

    def __init_subclass__(cls, **kwargs):
        """A subclass says what is checked in `check`; one that replaced a hook would skip the check."""
        super().__init_subclass__(**kwargs)
        for name in Blocks.HOOKS:
            if getattr(cls, name) is not getattr(Blocks, name):
                raise TypeError(f"{cls.__qualname__} overrides {name}: put the check in `check` instead")

    async def check(self, block_fn, inputs: list, preprocess):
        """Check and mend `inputs` in place, then `return await preprocess()` (Gradio's preprocessing).
        Refusing is raising; the subclass says what and how."""
        return await preprocess()

    async def process_api(self, block_fn, inputs, state=None, request=None, *args, **kwargs):
        hit("process_api")
        first = request[0] if isinstance(request, list) and request else request
        token = _REQUEST.set(first)  # preprocess_data runs inside this call, without the request
        try:
            return await super().process_api(block_fn, inputs, state, request, *args, **kwargs)
        finally:
            _REQUEST.reset(token)

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        hit("preprocess_data")
        return await self.check(block_fn, inputs, lambda: super(Blocks, self).preprocess_data(
            block_fn, inputs, state, explicit_call))

    def validate_inputs(self, block_fn, inputs):
        """A caller that leaves out trailing optional parameters (a client of /vqa written before its
        more_images) gets their defaults, as gradio_client would have sent them."""
        hit("validate_inputs")
        missing = len(block_fn.inputs) - len(inputs)
        if 0 < missing and isinstance(inputs, list) and block_fn.fn is not None:
            params = [p for p in inspect.signature(block_fn.fn).parameters.values()
                      if p.annotation is not gr.Request and p.name != "request"]
            tail = params[len(inputs):len(block_fn.inputs)]
            if len(tail) == missing and all(p.default is not inspect.Parameter.empty for p in tail):
                inputs.extend(p.default for p in tail)
        return super().validate_inputs(block_fn, inputs)

    def queue(self, *args, **kwargs):
        out = super().queue(*args, **kwargs)
        hit("queue")
        self._queue.__class__ = self.queue_class  # Blocks.queue() builds gradio.queueing.Queue; no option to pick ours
        self._queue.clients = {}
        return out

    def get_api_info(self, all_endpoints=False, page=None):
        info = super().get_api_info(all_endpoints, page)
        for edit in getattr(self, "api_edits", ()):
            hit("api_info")
            info = edit(info)
        return info


def api_info(demo: Blocks, edit) -> None:
    """`edit(info) -> info` runs on what the page, /gradio_api/info, the clients and MCP read of the API."""
    demo.api_edits = [*getattr(demo, "api_edits", ()), edit]


_ROOTED_EDITS: list = []  # edit(endpoint_info, root), registered by rooted_api_info
_generate_code_snippets = gradio_routes.generate_code_snippets


def _rooted_code_snippets(api_name, endpoint_info, root, *args, **kwargs):
    for edit in _ROOTED_EDITS:
        hit("rooted_api_info")
        edit(endpoint_info, root)
    return _generate_code_snippets(api_name, endpoint_info, root, *args, **kwargs)


gradio_routes.generate_code_snippets = _rooted_code_snippets


def rooted_api_info(edit) -> None:
    """`edit(endpoint_info, root)` runs on each endpoint's API info as a request gets it (the page, /gradio_api/info),
    with the app's root URL as that request reached it (known only then), just before Gradio writes the endpoint's
    code snippets from it: the page and the snippets read the edit. Registered once per process (every app in
    it gets it: an edit checks what it changes)."""
    if edit not in _ROOTED_EDITS:
        _ROOTED_EDITS.append(edit)


def examples_run(examples: gr.Examples):
    """The event a cached gr.Examples runs to fill its cache (gr.Examples takes no concurrency_id: the caller
    sets its queue on it)."""
    hit("examples_run")
    return get_blocks_context().fns[examples.cache_event["id"]]


def running_app():
    """The Blocks whose handler is running (Gradio's context), or None."""
    blocks = LocalContext.blocks.get(None)
    if blocks is not None:
        hit("running_app")
    return blocks


MCP_HEADER = ("x-gradio-user", "mcp")  # gradio/mcp.py: every queued MCP tool call goes through its own client


def from_mcp(request) -> bool:
    """A call that Gradio's MCP server forwarded. Gradio sends every queued MCP tool call through one client
    of its own, marked with this header, so all MCP callers share that client's one session (and its MCP
    transport is stateless: nothing tells two agents apart). Session-bound answers must not be kept for it."""
    headers = getattr(request, "headers", None) or {}
    return headers.get(MCP_HEADER[0]) == MCP_HEADER[1]
