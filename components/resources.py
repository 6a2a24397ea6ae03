"""Bounds on what the Gradio server keeps between requests: memory per session, files on disk.

Sessions: for every session id (each plain-HTTP API call brings a new one) Gradio keeps a
SessionState with a copy of every component's config and the last value each input and
output carried, for deep links, until 10,000 sessions are held: about 108 KB each with
nothing in them, plus whatever a client sent (a 10 MB chat history, a 28 MB `data:` URL).
This app offers no deep links, so a session keeps no config copies, and at most
SESSION_CAPACITY sessions are held (launch_options passes it). Its gr.State values do matter:
the chat tabs keep the questions sent but not answered yet in one (`holds_work`); a session
holding such questions is not evicted to make room for others (KeepingStateHolder).

Disk: DiskBudget keeps Gradio's cache folder within --max-cache-mb, and one client's uploads within its
share of it.

Freed memory: big per-request buffers (an audio question's 300 s of Whisper features, 15 MB, and
the encoder's work on them) go back to the system when freed (return_big_frees).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import threading
from copy import copy

import anyio
from gradio import state_holder
from gradio.components import State

# Sessions held at once. An evicted session loses its page's example captions (the page already shows
# them), its Stop flags and explain selection (reset at the next run), never its waiting questions
# (KeepingStateHolder), unless that many sessions all hold some: then at most twice this many are held.
SESSION_CAPACITY = 1000
WORK_STATES: set[int] = set()  # ids of the gr.State components whose value may be work waiting (see waits)


def holds_work(state: State) -> State:
    """Mark a gr.State whose value may be work its session waits for (questions sent, not yet answered; see
    waits): a session holding such work is not evicted to make room for new ones."""
    WORK_STATES.add(state._id)
    return state


def waits(session) -> bool:
    """A work State's value holds work when its `busy` says so (components/vqa.Waiting), a plain value when not empty."""
    return any(getattr(value, "busy", value) for value in map(session.state_data.get, WORK_STATES))


class KeepingStateHolder(state_holder.StateHolder):
    """Gradio's StateHolder, evicting past capacity the oldest session that holds no waiting work, instead of
    the oldest of all (many cheap calls, each a new session, evicted a question waiting for its answer, which
    then ended with nothing). Sessions that hold work may take the room of up to `capacity` more; past that
    the oldest goes anyway, so memory stays bounded whatever clients do."""

    def update(self, session_id: str):
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
    (idempotent).

    Gradio's StateHolder builds sessions through the module-level name SessionState, and its app builds the
    holder through the name StateHolder in gradio.routes; there is no option to choose either class, so the
    names are pointed at ours, once, for this process.
    """
    from gradio import routes

    state_holder.SessionState = LeanSessionState
    routes.StateHolder = KeepingStateHolder


M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
BIG_BUFFER = 4 * 2**20


def return_big_frees() -> None:
    """Buffers of 4 MB or more get their own mapping, unmapped when freed (idempotent, glibc only).

    glibc raises its mapping threshold after each big free, so later buffers of that size come from
    the heap and stay with the process once freed: 70 audio questions left the app 450 MB larger
    (malloc_trim gave it all back; nothing was leaked), and RSS grew 33 % over a 2,000-request soak.
    A fixed threshold keeps RSS what the app really holds; an mmap per big buffer costs microseconds.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc (macOS, Windows): nothing to set
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, BIG_BUFFER)


# A client's uploads may fill at most 1/CACHE_SHARES of the cache (or one question's files, if more):
# beyond it, its own oldest uploads go first, so one client cannot push out others' live uploads
# (a single 1.1 GB multi-file upload evicted a victim's picture before).
CACHE_SHARES = 4


class DiskBudget:
    """At most `max_bytes` in Gradio's cache folder (uploads, `data:` images, drawn images): the
    oldest files go first, as new ones arrive, never one a running request holds. First, though, the
    oldest uploads of any client holding more than `share` bytes of uploads.

    Gradio's own sweep (delete_cache) runs hourly: 500 MB went in within 2.5 s between two sweeps.
    `enforce` runs after every upload (CacheBudgetMiddleware) and as every handler starts (which
    covers `data:` images saved just before, and the images the last drawing wrote).
    """

    def __init__(self):
        self.folder: str | None = None
        self.max_bytes: float = float("inf")
        self.share: float = float("inf")
        self._held: dict[str, int] = {}
        self._owner: dict[str, str] = {}  # uploaded file -> the client that uploaded it
        self._lock = threading.Lock()

    def configure(self, folder: str, max_bytes: float, share: float = float("inf")) -> None:
        self.folder, self.max_bytes, self.share = os.path.realpath(folder), max_bytes, share

    def owned(self, paths, client: str) -> None:
        """`paths` were just uploaded by `client`."""
        with self._lock:
            for p in paths:
                self._owner[os.path.realpath(p)] = client

    @contextlib.contextmanager
    def hold(self, paths):
        """Files a running request uses: not deleted until it ends."""
        paths = [os.path.realpath(p) for p in paths]
        with self._lock:
            for p in paths:
                self._held[p] = self._held.get(p, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                for p in paths:
                    if self._held.get(p, 0) <= 1:
                        self._held.pop(p, None)
                    else:
                        self._held[p] -= 1

    def files(self) -> list[tuple[float, int, str]]:
        """(modified time, size, path) of every file in the folder, oldest first."""
        found = []
        for root, _dirs, names in os.walk(self.folder or ""):
            for name in names:
                path = os.path.join(root, name)
                try:
                    st = os.stat(path)
                except OSError:  # deleted meanwhile
                    continue
                found.append((st.st_mtime, st.st_size, path))
        return sorted(found)

    def used(self) -> int:
        return sum(size for _, size, _ in self.files())

    def enforce(self) -> None:
        if self.folder is None or self.max_bytes == float("inf"):
            return
        with self._lock:
            files = self.files()
            present = {path for _, _, path in files}
            self._owner = {p: c for p, c in self._owner.items() if p in present}  # swept or deleted meanwhile
            by_client: dict[str, int] = {}
            for _, size, path in files:
                if path in self._owner:
                    by_client[self._owner[path]] = by_client.get(self._owner[path], 0) + size
            for _, size, path in files:  # oldest first: the uploads of a client over its share
                client = self._owner.get(path)
                if client is None or by_client[client] <= self.share or path in self._held:
                    continue
                with contextlib.suppress(OSError):
                    os.remove(path)
                    by_client[client] -= size
                    with contextlib.suppress(OSError):
                        os.rmdir(os.path.dirname(path))
            files = self.files()
            total = sum(size for _, size, _ in files)
            for _, size, path in files[:-1]:  # the newest stays: it just arrived for a request
                if total <= self.max_bytes:
                    break
                if path in self._held:
                    continue
                with contextlib.suppress(OSError):
                    os.remove(path)
                    total -= size
                    with contextlib.suppress(OSError):
                        os.rmdir(os.path.dirname(path))  # Gradio's per-file folder, now empty


DISK = DiskBudget()


class CacheBudgetMiddleware:
    """ASGI: after each upload, note whose files arrived (the upload's answer lists them) and bring the
    cache back within its budget (in a worker thread) before the reply's last byte goes out, so a client
    that has its answer never sees the cache over budget."""

    def __init__(self, app, budget: DiskBudget = DISK):
        self.app, self.budget = app, budget

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope.get("path", "").rstrip("/").endswith("/upload"):
            return await self.app(scope, receive, send)
        from .server import client_of

        answer = []

        async def send_after_enforcing(message):
            if message["type"] == "http.response.start":
                answer.append(message["status"])
            if message["type"] == "http.response.body":
                answer.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await anyio.to_thread.run_sync(self._settle, answer, client_of(scope))
            await send(message)

        await self.app(scope, receive, send_after_enforcing)

    def _settle(self, answer: list, client: str) -> None:
        if answer and answer[0] == 200:
            with contextlib.suppress(ValueError, TypeError):
                paths = json.loads(b"".join(answer[1:]))
                self.budget.owned([p for p in paths if isinstance(p, str)], client)
        self.budget.enforce()
