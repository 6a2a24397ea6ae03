"""Caption, VQA and audio Q&A served by an OpenAI-compatible engine (vLLM, SGLang, `transformers serve`).

One GPU in-process serves a demo; replicas, tensor parallelism and continuous batching are
what those engines do. A RemoteModel stands where a LoadedModel stands for the text tasks:
the pipelines build the same chat messages, and `generation.stream_text` sends them here.
Images go as PNG data URIs (`image_url`), audio as base64 WAV (`input_audio`), a video as the frames
and sound this app sampled, re-encoded to a small MP4 data URI (`video_url`; with the sound switched off
the MP4 has no sound track); the answer streams back token by token over server-sent events. Whether
the engine hears a video's sound is its own setting (vLLM: `--mm-processor-kwargs '{"use_audio_in_video":
true}'`); one that cannot read video answers with an error the user reads as such. Text-to-image stays
in-process.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlsplit

import httpx
import numpy as np

from .errors import Cancelled, ModelError, Text
from .inputs import SAMPLE_RATE
from .loaded import Family, without
from .sampling import GREEDY, Steering

log = logging.getLogger(__name__)

BACKENDS = ("local", "openai")

# What the engine's model is assumed to take; a model that cannot answers 4xx, shown to the user.
# No system prompt: the engine applies the model's own chat template.
REMOTE_FAMILY = Family(model_class="(served by an OpenAI-compatible engine)",
                       modalities=frozenset({"image", "audio", "video"}))


def base_url(endpoint: str) -> str:
    """The OpenAI base URL: `http://host:8000` and `http://host:8000/v1` both mean `.../v1`."""
    endpoint = endpoint.strip().rstrip("/")
    return endpoint if urlsplit(endpoint).path else endpoint + "/v1"


CONTROL_TOKEN = re.compile(r"<\|[^<>|]{1,40}\|>")


@dataclass
class RemoteModel:
    """One model name on one OpenAI-compatible endpoint; safe to share between threads."""

    model_id: str  # the name the engine serves (`--served-model-name` in vLLM, the path in `transformers serve`)
    endpoint: str
    api_key: str = field(default="", repr=False)
    timeout: float = 60.0  # seconds to connect, and to wait for each next piece of the stream
    family: Family = field(default=REMOTE_FAMILY)

    def can(self, modality: str) -> bool:
        return modality in self.family.modalities

    def plain_text(self, text: str) -> str:
        """User text as plain text. The engine's tokenizer is not known here, so the common control-token
        shape `<|...|>` (Qwen-style roles and placeholders) is taken out; lone surrogates become '?'."""
        return without(CONTROL_TOKEN, text.encode("utf-8", "replace").decode("utf-8"))

    @cached_property
    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return httpx.Client(base_url=base_url(self.endpoint), headers=headers,
                            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32))

    def request(self, messages: list[dict], max_new_tokens: int, steering: Steering = GREEDY) -> dict:
        """The chat-completions body: greedy (temperature 0) unless `steering` samples, as on the local path.
        temperature, top_p, seed and max_tokens are OpenAI's own fields; top_k and repetition_penalty are not,
        and go only when set (vLLM and SGLang take them; an engine that does not answers 400 with its reason,
        which the person then reads). The system prompt travels in the messages."""
        body = {"model": self.model_id, "messages": to_openai(messages), "max_tokens": max_new_tokens,
                "temperature": steering.temperature, "stream": True}
        if steering.sampled:
            body["top_p"] = steering.top_p
            if steering.top_k:
                body["top_k"] = steering.top_k
            if steering.seed is not None:
                body["seed"] = steering.seed
        if steering.repetition_penalty != 1.0:
            body["repetition_penalty"] = steering.repetition_penalty
        return body

    def stream(self, messages: list[dict], *, max_new_tokens: int,
               stop: threading.Event | None = None, steering: Steering = GREEDY) -> Iterator[str]:
        """Yield the growing answer; leaving early (Stop, error, closed generator) closes the HTTP stream,
        which is how the engines learn to abort the generation."""
        stop = stop or threading.Event()
        text, answering = "", False
        try:
            with self.client.stream("POST", "/chat/completions", json=self.request(messages, max_new_tokens, steering)) as r:
                if r.status_code >= 400:
                    r.read()
                    raise http_error(r.status_code, r.text)
                answering, complete = True, False
                for line in r.iter_lines():
                    if stop.is_set():
                        raise Cancelled()
                    piece, complete = parse_event(line)
                    if piece:
                        text += piece
                        yield text
                    if complete:
                        break
                if stop.is_set():
                    raise Cancelled()
                if not complete:  # the stream ended without `[DONE]` or a finish_reason: a cut answer
                    raise broken(self.endpoint, "the stream ended early")
        except httpx.TimeoutException:
            log.warning("model server %s: no answer within %g s", self.endpoint, self.timeout)
            raise ModelError("backend_timeout", seconds=self.timeout) from None
        except httpx.TransportError as exc:
            if answering:  # it was reached and had started: the answer broke off
                raise broken(self.endpoint, exc) from None
            log.warning("model server %s unreachable: %s", self.endpoint, exc)
            raise ModelError("backend_down") from None
        finally:
            stop.set()


def broken(endpoint: str, why) -> ModelError:
    log.warning("model server %s: the answer broke off (%s)", endpoint, why)
    return ModelError("backend_broken")


def parse_event(line: str) -> tuple[str, bool]:
    """One SSE line -> (the text it adds, whether the answer is complete: `[DONE]` or a finish_reason)."""
    if not line.startswith("data:"):
        return "", False  # blank separators, comments, `event:` lines
    data = line[5:].strip()
    if data == "[DONE]":
        return "", True
    try:
        event = json.loads(data)
    except json.JSONDecodeError:
        raise ModelError("backend_failed", detail=Text("detail_unreadable_stream")) from None
    if "error" in event:  # an error after the 200 header (transformers serve, vLLM)
        raise ModelError("backend_failed", detail=_short(event["error"]))
    choice = (event.get("choices") or [{}])[0]
    return (choice.get("delta") or {}).get("content") or "", bool(choice.get("finish_reason"))


def http_error(status: int, body: str) -> ModelError:
    """A 4xx/5xx answer -> a message that says whose move it is."""
    try:
        payload = json.loads(body)
        detail = payload.get("detail") or payload.get("error") or payload.get("message") or body
    except (json.JSONDecodeError, AttributeError):
        detail = body
    detail = _short(detail) or f"HTTP {status}"
    log.warning("model server answered HTTP %s: %s", status, detail)
    if status in (401, 403):
        return ModelError("backend_auth", status=status)
    if status in (429, 503):
        return ModelError("backend_busy", status=status)
    if status >= 500:
        return ModelError("backend_failed", detail=f"HTTP {status}: {detail}")
    return ModelError("backend_rejected", status=status, detail=detail)


def _short(detail) -> str:
    if isinstance(detail, dict):
        detail = detail.get("message") or json.dumps(detail)
    return " ".join(str(detail).split())[:200]


def to_openai(messages: list[dict]) -> list[dict]:
    """transformers-style chat messages (PIL images, 16 kHz arrays) -> OpenAI content parts."""
    out = []
    for m in messages:
        content = m["content"]
        if not isinstance(content, str):
            parts = [_part(p) for p in content]
            if all(p["type"] == "text" for p in parts):  # plain strings suit every engine
                content = "\n".join(p["text"] for p in parts)
            else:
                content = parts
        out.append({"role": m["role"], "content": content})
    return out


def _part(part: dict) -> dict:
    kind = part["type"]
    if kind == "text":
        return {"type": "text", "text": part["text"]}
    if kind == "image":
        buf = io.BytesIO()
        part["image"].save(buf, format="PNG")
        return {"type": "image_url", "image_url": {"url": "data:image/png;base64," + _b64(buf)}}
    if kind == "audio":
        import soundfile

        buf = io.BytesIO()
        soundfile.write(buf, np.asarray(part["audio"], dtype=np.float32), SAMPLE_RATE, format="WAV",
                        subtype="PCM_16")
        return {"type": "input_audio", "input_audio": {"data": _b64(buf), "format": "wav"}}
    if kind == "video":
        from .video_input import to_mp4

        data = base64.b64encode(to_mp4(part["video"])).decode("ascii")
        return {"type": "video_url", "video_url": {"url": "data:video/mp4;base64," + data}}
    raise ValueError(f"unsupported content part {kind!r}")


def _b64(buf: io.BytesIO) -> str:
    return base64.b64encode(buf.getvalue()).decode("ascii")


def remote_models(settings) -> dict[str, RemoteModel]:
    """Model id -> RemoteModel for the tasks an engine serves ({} for the local backend)."""
    if settings.backend not in BACKENDS:
        raise ModelError("bad_backend", backend=settings.backend, choices=", ".join(BACKENDS))
    if settings.backend == "local":
        return {}
    if not settings.endpoint:
        raise ModelError("no_endpoint")
    ids = (settings.caption_model, settings.vqa_model, settings.audio_model, settings.video_model)
    models = {i: RemoteModel(settings.served_model or i, settings.endpoint, settings.api_key, settings.remote_timeout)
              for i in ids}
    log.info("caption, VQA, audio and video Q&A go to %s (model %s)", base_url(settings.endpoint),
             ", ".join(sorted({m.model_id for m in models.values()})))
    return models
