"""Bounds on what the Gradio server keeps between requests: memory per session, files on disk.

Sessions: for every session id (each plain-HTTP API call brings a new one) Gradio keeps a
SessionState with a copy of every component's config and the last value each input and
output carried, for deep links, until 10,000 sessions are held: about 108 KB each with
nothing in them, plus whatever a client sent (a 10 MB chat history, a 28 MB `data:` URL).
This app offers no deep links and keeps no gr.State, so a session keeps neither, and at
most SESSION_CAPACITY sessions are held (launch_options passes it).
"""

from __future__ import annotations

from copy import copy

from gradio import state_holder
from gradio.components import State

# Sessions held at once. This app keeps nothing a later request needs in them (no gr.State): an
# evicted session only loses its page's example captions, which the page already shows.
SESSION_CAPACITY = 1000


class LeanSessionState(state_holder.SessionState):
    """A session without the per-component config copies and last values kept for deep links."""

    def __init__(self, blocks):  # noqa: D107 - the parent's, less config_values
        self.blocks_config = copy(blocks.default_config)
        self.config_values = {}  # deep links would read these; the app offers none
        self.state_data = {}
        self._state_ttl = {}
        self.is_closed = False
        self.STATE_TTL_WHEN_CLOSED = 3600

    def __setitem__(self, key, value):
        # An updated component (gr.Dataset(...) returned by a handler) still goes into this session's
        # config, so its next events see it; a gr.State value into state_data, as Gradio does.
        if isinstance(self.blocks_config.blocks.get(key), State):
            self.state_data[key] = value
        else:
            self.blocks_config.blocks[key] = value

    def _update_config(self, key):
        pass

    def _update_value_in_config(self, key, value):
        pass


def bound_sessions() -> None:
    """Every session the server creates from now on is a LeanSessionState (idempotent).

    Gradio's StateHolder builds sessions through the module-level name SessionState; there is
    no option to choose the class, so the name is pointed at ours, once, for this process.
    """
    state_holder.SessionState = LeanSessionState
