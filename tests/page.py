"""The page's own side of the app, for tests: its (private) events run as the browser's JavaScript client
runs them, through the queue (join, the session's one event stream, /cancel), without a browser."""

from __future__ import annotations

import json
import threading
import time
import uuid

import httpx
from gradio_client.utils import apply_diff


def fn_index(demo, name: str, elem_id: str) -> int:
    """The page event running `name` with the component `elem_id` among its inputs."""
    found = [i for i, fn in demo.fns.items() if getattr(fn.fn, "__name__", "") == name
             and any(getattr(c, "elem_id", None) == elem_id for c in fn.inputs)]
    assert found, (name, elem_id)
    return found[0]


class PageSession:
    """One browser session as the page's JavaScript client is: events joined to the queue, their messages
    read from the session's one stream (a reader thread), cancelled through /cancel."""

    def __init__(self, url: str):
        self.url, self.session = url, uuid.uuid4().hex
        self.http = httpx.Client(base_url=url, timeout=60)
        self.messages: dict[str, list[dict]] = {}
        self.changed = threading.Condition()
        self.closing = False
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self) -> None:
        while not self.closing:
            try:
                with httpx.stream("GET", f"{self.url}gradio_api/queue/data", params={"session_hash": self.session},
                                  timeout=httpx.Timeout(60, read=None)) as stream:
                    for line in stream.iter_lines():
                        if not line.startswith("data:"):
                            continue
                        msg = json.loads(line[5:])
                        with self.changed:
                            self.messages.setdefault(msg.get("event_id"), []).append(msg)
                            self.changed.notify_all()
            except httpx.HTTPError:
                pass
            time.sleep(0.02)

    def upload(self, path) -> dict:
        with open(path, "rb") as f:
            r = self.http.post("gradio_api/upload", files={"files": (path.name, f)})
        r.raise_for_status()
        return {"path": r.json()[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}

    def join(self, index: int, data: list, event_data: dict | None = None) -> str:
        """Join an event to the queue (`event_data`: what a chat's retry, edit or undo tells its handler)."""
        # json.dumps escapes what UTF-8 cannot carry (a lone surrogate arrives as "\\ud800", as a client sends it)
        body = json.dumps({"data": data, "fn_index": index, "session_hash": self.session, "trigger_id": None,
                           "event_data": event_data})
        r = self.http.post("gradio_api/queue/join", content=body, headers={"content-type": "application/json"})
        r.raise_for_status()
        return r.json()["event_id"]

    def wait(self, event: str, kind: str = "process_completed", seconds: float = 60) -> list[dict]:
        """The event's messages once one of `kind` has come (process_starts, process_completed)."""
        deadline = time.monotonic() + seconds
        with self.changed:
            while not any(m["msg"] == kind for m in self.messages.get(event, [])):
                left = deadline - time.monotonic()
                assert left > 0, f"no {kind} for {event} within {seconds} s: {self.messages.get(event)}"
                self.changed.wait(left)
            return list(self.messages[event])

    def call(self, index: int, data: list, event_data: dict | None = None) -> list:
        """Run an event to its end; its outputs (a streamed event's diffs applied)."""
        messages = self.wait(self.join(index, data, event_data))
        return outputs(messages)

    def predict(self, index: int, data: list) -> list:
        """Run an unqueued event (a quick page handler); its outputs."""
        r = self.http.post("gradio_api/run/predict", json={"data": data, "fn_index": index,
                                                           "session_hash": self.session})
        r.raise_for_status()
        return r.json()["data"]

    def cancel(self, index: int, event: str) -> None:
        self.http.post("gradio_api/cancel", json={"session_hash": self.session, "fn_index": index,
                                                  "event_id": event})

    def close(self) -> None:
        self.closing = True
        self.http.close()


def outputs(messages: list[dict]) -> list:
    """An event's outputs as the page holds them: the end's full values, or while it streams (or after a
    cancel) its first values with the later updates' diffs applied."""
    data = None
    for m in messages:
        if m["msg"] == "process_completed" and m.get("success") and m["output"].get("data") is not None:
            return m["output"]["data"]
        if m["msg"] == "process_generating" and m.get("success"):
            out = m["output"]["data"]
            data = out if data is None else [apply_diff(old, diff) for old, diff in zip(data, out)]
    return data or []


def chat_of(messages: list[dict], before: list) -> list:
    """The conversation the page shows after an event: its output, unless it skipped that."""
    out = outputs(messages)
    return out[0] if out and isinstance(out[0], list) else before


def failed(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["msg"] in ("process_generating", "process_completed")
            and not m.get("success", True)]
