"""Every place the app reaches into Gradio or Starlette past their public API, and nothing else.

Each override counts its calls in HITS (one dict increment), so a test can tell that a request through the
served app still reaches it; tests/test_canaries.py holds one canary per entry below, which fails when the
upstream name, signature or call it relies on changes. Nothing here imports torch, transformers or
components/ (components import from here); transformers' and huggingface_hub's internals are in
pipelines/compat.py.

  blocks.Blocks.preprocess_data   the request check (files, chat parts, strings) before Gradio preprocesses
  blocks.Blocks.process_api       the caller's request, for messages in its language during the check
  blocks.Blocks.validate_inputs   trailing optional parameters a caller left out get their defaults
  blocks.Blocks.queue             the queue Blocks.queue() builds becomes a queue.FairQueue
  queue.FairQueue.push            a client's share of the waiting places
  queue.waiting                   Status reads Gradio's per-queue counts
  sessions.bound_sessions         Gradio's session and holder classes, by module-level name
  blocks.examples_run             a cached example's event, given the model queue gr.Examples takes no option for
  blocks.api_info                 what the "Use via API" page says, through Blocks.get_api_info
  blocks.rooted_api_info          the same with the request's root URL (sample files as this app's URLs), through
                                  gradio.routes.generate_code_snippets
  blocks.running_app              the app a handler runs in (its max_file_size)
  blocks.from_mcp                 the header Gradio's MCP server marks its calls with
  middleware.logged_in            Gradio's login cookies, read by the login wall on every route
  middleware.PROCESS_RECORDING    the route switched off
  middleware.UNKNOWN_ENDPOINT     the exceptions Gradio raises for an endpoint it does not have
  middleware.HeadFirst            a script first in the <head> of Gradio's page (the page language)
  memory.return_big_frees         glibc's MALLOC_MMAP_THRESHOLD_ (a public tunable, set before start-up)
"""

from __future__ import annotations

import collections
import inspect

HITS: collections.Counter = collections.Counter()  # override name -> calls, read by tests/test_canaries.py


def hit(name: str) -> None:
    HITS[name] += 1


def expect(owner, name: str, params: list[str]) -> None:
    """Stop at start-up, loudly, when `owner.name` is gone or no longer takes `params` (in this order): an
    override of a renamed method would simply never be called, and its check would be off in silence."""
    found = getattr(owner, name, None)
    got = list(inspect.signature(found).parameters)[:len(params)] if callable(found) else None
    if got != params:
        raise RuntimeError(f"{getattr(owner, '__qualname__', owner)}.{name} is not what server/ overrides "
                           f"(expected parameters {params}, found {got}): the upstream package changed; "
                           f"see server/__init__.py and tests/test_canaries.py")
