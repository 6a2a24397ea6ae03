"""Gradio's queue, read and extended where it has no option: a client's share of the waiting places
(FairQueue), and the counts Status shows (waiting)."""

from __future__ import annotations

from gradio import queueing

from . import expect, hit

expect(queueing.Queue, "push", ["self", "body", "request", "username"])


class FairQueue(queueing.Queue):
    """Gradio's queue, where one client cannot take every place: a client (its network address) may hold at
    most `share` of the waiting places, and at most a quarter of those for spoken answers (each up to
    --max-speech-seconds of talker time); a quarter of the places stays for everyone else. The session hash is
    not the key: a client picks a new one per call at will. The address is the one the ASGI scope gives:
    behind a proxy that --trusted-proxies does not name, every client has the proxy's address and the share
    bounds them together. `refusal(request, count)` words the answer (components/server.py: translated)."""

    clients: dict  # event id -> (address, spoken) of the events this queue took

    @staticmethod
    def share(max_size: int) -> tuple[int, int]:
        """(places, spoken places) one client may hold of a queue of `max_size`."""
        places = max(1, max_size - max_size // 4)
        return places, max(1, places // 4)

    def refusal(self, request, count: int) -> str:
        return f"You already have {count} requests waiting; the rest of the queue is kept for others."

    async def push(self, body, request, username):
        hit("push")
        address = getattr(getattr(request, "client", None), "host", None) or "unknown"
        fn = self.blocks.fns.get(body.fn_index) if body.fn_index is not None else None
        spoken = bool(fn is not None and (fn.api_name or "").endswith("_spoken"))
        if self.max_size is not None and len(self) < self.max_size:  # full: Gradio's own answer
            waiting = {e._id for q in self.event_queue_per_concurrency_id.values() for e in q.queue}
            self.clients = {k: v for k, v in self.clients.items() if k in waiting}
            mine = [s for a, s in self.clients.values() if a == address]
            places, spoken_places = self.share(self.max_size)
            if len(mine) >= places or (spoken and sum(mine) >= spoken_places):
                return False, self.refusal(request, len(mine)), "queue_full"
        ok, event_id, status = await super().push(body, request, username)
        if ok and status == "success" and isinstance(event_id, str):
            self.clients[event_id] = (address, spoken)
        return ok, event_id, status


def waiting(demo, concurrency_id: str) -> dict:
    """Waiting and running events of one queue, and its limit (Gradio makes a queue on first use); empty
    before demo.queue()."""
    queue = getattr(demo, "_queue", None)
    if queue is None:
        return {}
    hit("waiting")
    q = queue.event_queue_per_concurrency_id.get(concurrency_id)
    limit = next((fn.concurrency_limit for fn in demo.fns.values() if fn.concurrency_id == concurrency_id), None)
    return {"waiting": len(q.queue) if q else 0, "running": q.current_concurrency if q else 0, "limit": limit}


def queue_size(demo) -> int | None:
    """The queue's max_size (None: unbounded, or no queue yet)."""
    return getattr(getattr(demo, "_queue", None), "max_size", None)
