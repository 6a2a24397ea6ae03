"""What the chat tasks (image chat, video chat) share: earlier turns kept within bounds, and the media
riding in the first kept turn, as the model was trained."""

from __future__ import annotations

from .base import Pipeline, Request


class ChatPipeline(Pipeline):
    """Media + question (+ earlier turns about the same media) -> streamed answer. A subclass says how its
    media load (`prepare`) and what they are in the chat (content parts)."""

    def kept_turns(self, history: list[tuple[str, str]] | None) -> list[tuple[str, str]]:
        """The earlier turns the model sees, and the only ones a caller gets back: the last
        --max-history-turns, each question cut to --max-prompt-chars and each answer to 4 times that.

        History comes from the client and is echoed on every streamed update, so it is bounded here,
        before any work: an unbounded one costs memory in proportion to its size and holds the model slot.
        Trimmed rather than refused: a conversation in the page grows past the window in normal use.
        """
        kept, limit = self.settings.max_history_turns, self.settings.max_prompt_chars
        turns = list(history or [])[-kept:] if kept > 0 else []
        return [(str(q)[:limit], str(a)[:4 * limit]) for q, a in turns]

    def request(self, *args, **kwargs) -> Request:
        """`prepare`, by the name the image chat's callers knew it by."""
        return self.prepare(*args, **kwargs)

    def _chat(self, media: list[dict], question: str, history: list[tuple[str, str]] | None) -> list[dict]:
        """The kept turns with `media` (content parts) in the first of them, as the model was trained, then the question."""
        turns = self.kept_turns(history)
        previous: list[dict] = []
        for q, a in turns:
            previous.append({"role": "user", "content": [{"type": "text", "text": q}]})
            previous.append({"role": "assistant", "content": [{"type": "text", "text": a}]})
        if previous:
            previous[0]["content"][:0] = media
            content = [{"type": "text", "text": question}]
        else:
            content = [*media, {"type": "text", "text": question}]
        return self._messages(content, previous)
