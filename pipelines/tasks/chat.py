"""What the chat tasks (image chat, video chat) share: earlier turns kept within bounds, and the media
riding in the first kept turn, as the model was trained."""

from __future__ import annotations

from ..errors import InputError
from ..inputs import Audio, check_text, load_audio
from .base import Pipeline


class ChatPipeline(Pipeline):
    """Media + question (+ earlier turns about the same media) -> streamed answer. A subclass says how its
    media load (`prepare`) and what they are in the chat (content parts)."""

    def kept_turns(self, history: list[tuple] | None) -> list[tuple]:
        """The earlier turns the model sees, and the only ones a caller gets back: the last
        --max-history-turns, each question cut to --max-prompt-chars and each answer to 4 times that. A turn
        asked aloud is (question, answer, recording): a path or an Audio (the app's own chats pass those).

        History comes from the client and is echoed on every streamed update, so it is bounded here,
        before any work: an unbounded one costs memory in proportion to its size and holds the model slot.
        Trimmed rather than refused: a conversation in the page grows past the window in normal use.
        """
        kept, limit = self.settings.max_history_turns, self.settings.max_prompt_chars
        turns = list(history or [])[-kept:] if kept > 0 else []
        return [(str(q)[:limit], str(a)[:4 * limit], *rest[:1]) for q, a, *rest in turns]

    def spoken_question(self, question, spoken) -> tuple[str, Audio | None, list[tuple[str, dict]]]:
        """A question typed, spoken (`spoken`: a recording, within --max-audio-seconds, trimmed with a notice) or
        both (issue 28). The model hears the clip itself: no transcript is made. Without a clip a question must
        be typed; with one it may be left empty. Returns (question as checked, clip or None, notices)."""
        if spoken is None or (isinstance(spoken, str) and not spoken.strip()):
            return check_text(question, "question", self.settings.max_prompt_chars), None, []
        if not self.hears:
            raise InputError("cannot_hear", model=self.model_id)
        question = check_text(question, "question", self.settings.max_prompt_chars, required=False)
        heard = spoken if isinstance(spoken, Audio) else load_audio(spoken, self.settings.max_audio_seconds)
        notices = [("audio_trimmed", dict(seconds=heard.original_seconds, limit=self.settings.max_audio_seconds))
                   ] if heard.trimmed else []
        return question, heard, notices

    def _chat(self, media: list[dict], question: str, history: list[tuple[str, str]] | None,
              heard: Audio | None = None) -> list[dict]:
        """The kept turns with `media` (content parts) in the first of them, as the model was trained, then the
        question: its spoken clip (`heard`, if any; in the question's own turn: Qwen2.5-Omni takes audio and
        images in one user turn) and its text (left out when it was only spoken). An earlier turn asked aloud
        is heard again (its recording, within --max-audio-seconds): no transcript of it exists."""
        turns = self.kept_turns(history)
        previous: list[dict] = []
        for q, a, *clip in turns:
            previous.append({"role": "user", "content": self._question_parts(q, self._earlier(*clip))})
            previous.append({"role": "assistant", "content": [{"type": "text", "text": a}]})
        asked = self._question_parts(question, heard)
        if previous:
            previous[0]["content"][:0] = media
            content = asked
        else:
            content = [*media, *asked]
        return self._messages(content, previous)

    def _earlier(self, clip=None) -> Audio | None:
        if clip is None or isinstance(clip, Audio):
            return clip
        return load_audio(clip, self.settings.max_audio_seconds)

    @staticmethod
    def _question_parts(question: str, heard: Audio | None) -> list[dict]:
        parts = [{"type": "audio", "audio": heard.samples}] if heard is not None else []
        if question or not parts:
            parts.append({"type": "text", "text": question})
        return parts
