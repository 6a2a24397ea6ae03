"""Bounds on what the Gradio server keeps between requests: memory per session, files on disk.

Sessions: for every session id (each plain-HTTP API call brings a new one) Gradio keeps a
SessionState with a copy of every component's config and the last value each input and
output carried, for deep links, until 10,000 sessions are held, plus whatever a client sent.
This app offers no deep links, so a session keeps no config copies (server/sessions.py), and at
most SESSION_CAPACITY sessions are held (launch_options passes it). Its gr.State values do
matter (gr.State): the image chat's and the video chat's questions sent but not answered yet
(`holds_work`: a session holding such questions is not evicted to make room for others), each
chat's last notice, the Stop flags of the tabs that stop quietly, the drawing picked to send to
the Caption tab, and the explain view's selection.

Disk: DiskBudget keeps Gradio's cache folder within --max-cache-mb, and one client's uploads within its
share of it.

Freed memory: big per-request buffers go back to the system when freed (server/memory.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading

import anyio

from server.sessions import WORK_STATES, KeepingStateHolder, LeanSessionState, bound_sessions, holds_work  # noqa: F401

# Sessions held at once. An evicted session loses its page's example captions (the page already shows
# them), its Stop flags, chat notice, picked drawing and explain selection (reset at the next run), never
# its waiting questions (KeepingStateHolder), unless that many sessions all hold some: then at most twice
# this many are held.
SESSION_CAPACITY = 1000


# A client's uploads may fill at most 1/CACHE_SHARES of the cache (or one question's files, if more):
# beyond it, its own oldest uploads go first, so one client cannot push out others' live uploads.
CACHE_SHARES = 4


class DiskBudget:
    """At most `max_bytes` in Gradio's cache folder (uploads, `data:` images, drawn images): the
    oldest files go first, as new ones arrive, never one a running request holds. First, though, the
    oldest uploads of any client holding more than `share` bytes of uploads.

    Gradio's own sweep (delete_cache) runs hourly, far too seldom for a flood of uploads.
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


def client_of(scope) -> str:
    """The peer's address. uvicorn replaces it by X-Forwarded-For only for the proxies --trusted-proxies
    names (app.launch_options sets uvicorn's FORWARDED_ALLOW_IPS from it), so a client cannot choose it."""
    return (scope.get("client") or ("unknown",))[0]


# The page's conversation comes back from the client with every event and is echoed on every
# streamed update: bounded before any work (the model sees fewer still: --max-history-turns).
MAX_SHOWN_MESSAGES = 100
MAX_WAITING = 5  # questions sent while one is answered; each waits its turn in one model event


class CacheBudgetMiddleware:
    """ASGI: after each upload, note whose files arrived (the upload's answer lists them) and bring the
    cache back within its budget (in a worker thread) before the reply's last byte goes out, so a client
    that has its answer never sees the cache over budget."""

    def __init__(self, app, budget: DiskBudget = DISK):
        self.app, self.budget = app, budget

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope.get("path", "").rstrip("/").endswith("/upload"):
            return await self.app(scope, receive, send)
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
