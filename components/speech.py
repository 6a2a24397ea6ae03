""""Speak the answer": a toggle, a voice and a player, for any tab that answers in text.

A tab builds `SpeakControls(pipeline, prefix)` under its answer, adds `controls.inputs` to its event's
inputs and `controls.player` to its outputs, streams the text as before, then yields from
`controls.spoken(messages, answer, speak, voice, request)`. The text is never held back for speech,
and a failure of speech (out of memory, no voices file) leaves it in place, with a notice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import gradio as gr
import numpy as np
from gradio import processing_utils

from pipelines import speech
from pipelines.errors import InputError, UserFacingError

from .common import Switch, lang_of, shown_value, warn
from .i18n import t

log = logging.getLogger(__name__)

VOICES = ("Chelsie", "Ethan")  # the voices in Qwen2.5-Omni's spk_dict.pt (and in the miniature's)


class VoiceChoice(gr.Dropdown):
    """The voice: one of VOICES, or nothing (the first). Anything else an API caller sends is refused
    before any model work, in the caller's language and without echoing it whole (Gradio's own check
    answers in English with the value, a megabyte if sent, and lets a list through)."""

    is_template = True  # rendered by the stock Dropdown front-end

    def preprocess(self, payload):
        if payload is None or (isinstance(payload, str) and payload in VOICES):
            return payload
        raise InputError("no_such_voice", voice=shown_value(payload), voices=", ".join(VOICES))


class SpeakControls:
    """The toggle (off by default), the voice and the player with its download button."""

    def __init__(self, pipeline, prefix: str):
        self.pipeline = pipeline
        try:
            can = pipeline.speaks
        except UserFacingError:  # the checkpoint fails to load: the tab says so when asked
            can = False
        # Off here (e.g. --backend openai: the engine answers in text only): shown greyed, saying why.
        info = None if can else t("speech_text_only")
        with gr.Row(equal_height=True):
            self.speak = Switch(label=t("speak_answer"), value=False, interactive=can, info=info,
                                elem_id=f"{prefix}-speak")
            self.voice = VoiceChoice(list(VOICES), value=VOICES[0], label=t("voice_choice"), interactive=can,
                                     elem_id=f"{prefix}-voice")
        self.player = gr.Audio(label=t("spoken_answer"), type="filepath", interactive=False,
                               buttons=["download"], elem_id=f"{prefix}-spoken")

    @property
    def inputs(self) -> list:
        return [self.speak, self.voice]

    def spoken(self, messages: list[dict], answer: str, speak: bool, voice: str,
               request: gr.Request | None) -> Iterator[str | None]:
        """gr.skip() after each piece of speech (Stop can end it there), then the wav file, or None
        (speech off, nothing to say, or speech failed: then a notice says why and the text stands)."""
        if not speak or not answer.strip():
            return
        pieces, said = [], None
        try:
            for item in self.pipeline.say(messages, answer, voice or VOICES[0]):
                if isinstance(item, speech.Said):
                    said = item
                else:
                    pieces.append(item)
                    yield gr.skip()
        except UserFacingError as exc:
            warn("speech_failed", request, reason=exc.message(lang_of(request)).rstrip(".。"))
            yield None
            return
        except Exception as exc:  # noqa: BLE001 - the text answer must survive whatever speech does
            log.exception("speech failed", exc_info=exc)
            warn("speech_failed", request, reason=type(exc).__name__)
            yield None
            return
        if said is not None and said.cut:
            warn("speech_cut", request, limit=self.pipeline.settings.max_speech_seconds)
        if not pieces:
            yield None
            return
        wav = speech.to_wav(np.concatenate(pieces))
        yield processing_utils.save_bytes_to_cache(wav, "spoken-answer.wav", cache_dir=self.player.GRADIO_CACHE)
