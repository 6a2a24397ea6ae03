"""Gradio's per-session memory, bounded: sessions without the config copies kept for deep links
(LeanSessionState), and eviction that spares sessions holding waiting work (KeepingStateHolder).

Gradio builds sessions through the module-level name gradio.state_holder.SessionState and its app builds the
holder through the name StateHolder in gradio.routes; there is no option to choose either class, so
bound_sessions points the names at ours.
"""

from __future__ import annotations

from copy import copy

from gradio import routes, state_holder
from gradio.components import State

from . import expect, hit

expect(state_holder.StateHolder, "update", ["self", "session_id"])
expect(state_holder.SessionState, "__init__", ["self", "blocks"])
expect(state_holder.SessionState, "_update_config", ["self", "key"])
expect(state_holder.SessionState, "_update_value_in_config", ["self", "key", "value"])

WORK_STATES: set[int] = set()  # ids of the gr.State components whose value may be work waiting (see waits)


def holds_work(state: State) -> State:
    """Mark a gr.State whose value may be work its session waits for (questions sent, not yet answered; see
    waits): a session holding such work is not evicted to make room for new ones."""
    WORK_STATES.add(state._id)
    return state


def waits(session) -> bool:
    """A work State's value holds work when its `busy` says so (components/vqa.Waiting), a plain value when
    not empty."""
    return any(getattr(value, "busy", value) for value in map(session.state_data.get, WORK_STATES))


class KeepingStateHolder(state_holder.StateHolder):
    """Gradio's StateHolder, evicting past capacity the oldest session that holds no waiting work, instead of
    the oldest of all (many cheap calls, each a new session, evicted a question waiting for its answer, which
    then ended with nothing). Sessions that hold work may take the room of up to `capacity` more; past that
    the oldest goes anyway, so memory stays bounded whatever clients do."""

    def update(self, session_id: str):
        hit("holder_update")
        with self.lock:
            if session_id in self.session_data:
                self.session_data.move_to_end(session_id)
            while len(self.session_data) > self.capacity:
                victim = next((k for k, s in self.session_data.items() if k != session_id and not waits(s)), None)
                if victim is None:
                    if len(self.session_data) <= 2 * self.capacity:
                        break
                    victim = next(iter(self.session_data))
                self.session_data.pop(victim)
                self.time_last_used.pop(victim, None)


class LeanSessionState(state_holder.SessionState):
    """A session without the per-component config copies and last values kept for deep links."""

    def __init__(self, blocks):  # noqa: D107 - the parent's, less config_values
        hit("session_state")
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
    """Every session the server creates from now on is a LeanSessionState, held by a KeepingStateHolder
    (idempotent, for this process)."""
    state_holder.SessionState = LeanSessionState
    routes.StateHolder = KeepingStateHolder
