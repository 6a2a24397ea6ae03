""""Speak the answer": a toggle, a voice, a player that plays the speech as it is made, and its wav.

A tab builds `SpeakControls(pipeline, prefix)` under its answer, adds `controls.inputs` to its event's
inputs and `controls.outputs` (player, wav) to its outputs, streams the text as before, then yields from
`controls.spoken(asked, answer, speak, voice, request)` (`asked`: the task's prepared Request). The text is never held back for speech,
and a failure of speech (out of memory, no voices file) leaves it in place, with a notice.

The player is Gradio's streaming audio: each piece of speech goes to the page as soon as token2wav
has made it (Gradio encodes the pieces with ffmpeg and the page plays them as one stream), so the
first sound does not wait for the whole answer to be spoken. The exact 24 kHz wav follows, to
download, once all is said; the API endpoints return that wav. Without ffmpeg on the machine the
player gets the whole wav at the end instead.
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


# The spoken-answer player in the page (issue 26). Gradio 6.31 plays a streamed gr.Audio with hls.js on one
# <audio> element per player, reused for every answer. The element keeps the last answer's position when the
# next stream is attached; hls.js only ever seeks forward to the playlist's start (EXT-X-START:TIME-OFFSET=0),
# and the browser clamps the old position to the new stream's length: a later answer began partway, or at its
# end. And Stop ends the stream on the server while the page plays on what it has buffered. This script, in the
# page's <head> (app.py launch_options): a spoken player's element that loads a new stream starts at 0, until it
# plays; Stop or Clear of a tab pauses that tab's player at once (the server's answer to Clear, or to the chat's
# trash icon, empties the player, which takes its element out of the page). Its DOM hooks (an <audio> inside
# #PREFIX-spoken, the buttons #PREFIX-stop and #PREFIX-clear) are checked by tests/test_browser_speech.py.
SPOKEN_SCRIPT = """<script>(function(){
function player(a){return a instanceof HTMLMediaElement&&a.closest('[id$="-spoken"]')?a:null;}
function fresh(e){var a=player(e.target);if(!a)return;if(e.type==='loadstart'||e.type==='emptied')a.dataset.fresh='1';
if(a.dataset.fresh&&a.currentTime>0.05)a.currentTime=0;if(e.type==='playing')delete a.dataset.fresh;}
['emptied','loadstart','loadedmetadata','canplay','playing'].forEach(function(t){document.addEventListener(t,fresh,true);});
document.addEventListener('click',function(e){var b=e.target.closest&&e.target.closest('button');if(!b)return;
var m=/^(.+)-(stop|clear)$/.exec(b.id||'');if(!m)return;
document.querySelectorAll('#'+m[1]+'-spoken audio').forEach(function(a){a.pause();});},true);
})();</script>"""


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
    """The toggle (off by default) and the voice; under them, while the toggle is on, the player, and
    the wav's download button once there is a wav."""

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
        # Gradio's streaming audio encodes with ffmpeg; without it, one whole wav at the end.
        self.streams = processing_utils.ffmpeg_installed()
        # No download on the player: its stream is Gradio's re-encoding; the wav button has the original.
        self.player = gr.Audio(label=t("spoken_answer"), streaming=self.streams, autoplay=True, type="filepath",
                               interactive=False, buttons=[], visible=False, elem_id=f"{prefix}-spoken")
        self.wav = gr.DownloadButton(t("download_wav"), visible=False, size="sm", elem_id=f"{prefix}-spoken-wav")
        self.speak.change(lambda on: (gr.update(visible=on), gr.update(visible=False)), self.speak,
                          self.outputs, queue=False, api_visibility="private")

    @property
    def inputs(self) -> list:
        return [self.speak, self.voice]

    @property
    def outputs(self) -> list:
        """The page's: the player, and the wav's download button."""
        return [self.player, self.wav]

    @staticmethod
    def cleared(player: bool = True) -> tuple:
        """(player, wav) for a new answer or a cleared tab: nothing to play or download. The player's is
        an update, not a value: a value would open its stream with no sound in it, and the page's
        stream player gives up on a stream that stays empty while the text is written. `player=False`
        (a later answer of the same run, whose speech follows the earlier one's in the same stream):
        the player keeps playing, only the earlier wav goes."""
        return gr.update(value=None) if player else gr.skip(), gr.update(value=None, visible=False)

    def spoken(self, asked, answer: str, speak: bool, voice: str,
               request: gr.Request | None) -> Iterator[tuple]:
        """The page's (player, wav button) updates: each piece of speech to the player as it comes
        (Stop can end it between pieces), then the wav to download. Nothing when speech is off or there
        is nothing to say; when speech fails, a notice says why and the text stands."""
        for item in self.said(asked, answer, speak, voice, request):
            if isinstance(item, bytes):  # a piece
                yield (item if self.streams else gr.skip()), gr.skip()
            else:  # the whole wav's file, or None
                whole = item if not self.streams else gr.skip()
                yield whole, gr.update(value=item, visible=item is not None)

    def spoken_file(self, asked, answer: str, speak: bool, voice: str,
                    request: gr.Request | None) -> Iterator[str | None]:
        """The API's: gr.skip() after each piece (Stop can end it there), then the wav's file or None."""
        for item in self.said(asked, answer, speak, voice, request):
            yield gr.skip() if isinstance(item, bytes) else item

    def said(self, asked, answer, speak, voice, request) -> Iterator[bytes | str | None]:
        """Each piece of speech as wav bytes, as it is made; last, the whole answer's wav file (or None:
        speech off, nothing to say, or speech failed)."""
        if not speak or not answer.strip():
            return
        pieces, said = [], None
        try:
            for item in self.pipeline.say(asked, answer, voice or VOICES[0]):
                if isinstance(item, speech.Said):
                    said = item
                else:
                    pieces.append(item)
                    yield speech.to_wav(item)
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
