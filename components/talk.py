"""Talk · 语音对话 (issue 28): a hands-free spoken conversation, with the camera optional.

The microphone streams (Gradio's own streaming audio: chunks every STREAM_EVERY s to `hear`, outside the model
queue and cheap: a few ms of voice detection a chunk). pipelines/listening.py decides when the person has
finished; the turn then goes to the model queue (`answer`, triggered by a hidden counter's change), which
streams the answer's text into the conversation and its speech, piece by piece, into the page's Web Audio
player (TALK_SCRIPT) as it is made; the whole answer's wav then waits in a plain player, to hear again. Speech
that begins while an answer runs sets that answer's stop Event (barge-in): generation or speech ends within one
step, the page's sound stops at once, and the new turn is answered next. The camera (optional) streams too; only
its latest frame is kept, and goes with each turn.

Why not Gradio's streaming gr.Audio for the pieces: it re-encodes them (ffmpeg, AAC) into an HLS playlist the
browser polls, which adds one to two seconds before the first sound is heard (bench/RESULTS.md); a piece sent
as wav bytes and scheduled with the Web Audio API plays as soon as it arrives.

A tab of its own rather than a mode of the chat tabs: the conversation is hands-free (no box, no Ask), with
camera and microphone side by side, like Qwen2.5-Omni's own "Online" demo. (The chat tabs take one spoken
question at a time beside images or a video: their microphone, components/vqa.py.)
"""

from __future__ import annotations

import base64
import itertools
import logging
import time

import gradio as gr
import numpy as np
from gradio import processing_utils

from catalogue import message
from pipelines import speech
from pipelines.errors import UserFacingError
from pipelines.inputs import SAMPLE_RATE
from pipelines.listening import Conversations

from .common import Switch, lang_of, model_event, user_errors
from .i18n import t
from .speech import VOICES, VoiceChoice

log = logging.getLogger(__name__)

STREAM_EVERY = 0.25  # s of microphone a chunk: the turn's end is heard within this of its silence
LISTEN_LIMIT = 600  # s one press of record listens (Gradio's time_limit): then the person presses it again
CONVERSATIONS = Conversations()  # every page's, by session
PIECES = itertools.count(1)  # numbers each message to the page's player: equal pieces still change its value

# The page's player for the spoken pieces (in the page's <head>, app.py launch_options). The hidden box
# #talk-pieces gets "N|<base64 wav>" for a piece, "N|stop" to silence it (a cut-in, a new answer, a new
# conversation); its change event hands the value to mmdemoTalk.play, which schedules each piece right after the
# last (one AudioContext, unlocked by the press of Record: a browser plays sound only after a gesture). Each
# piece's start time is kept (mmdemoTalk.started, performance.now() ms) for bench/talk.py and the tests.
TALK_SCRIPT = """<script>(function(){
var T=window.mmdemoTalk={ctx:null,next:0,epoch:0,sources:[],started:[],stops:0,chain:Promise.resolve()};
function ctx(){if(!T.ctx){var A=window.AudioContext||window.webkitAudioContext;if(!A)return null;T.ctx=new A();}
if(T.ctx.state==='suspended')T.ctx.resume();return T.ctx;}
document.addEventListener('pointerdown',function(e){if(e.target.closest&&e.target.closest('#talk-mic'))ctx();},true);
T.stop=function(){T.epoch++;T.stops++;T.sources.forEach(function(s){try{s.stop();}catch(_){}});T.sources=[];T.next=0;};
T.play=function(v){if(!v)return;var body=String(v).slice(String(v).indexOf('|')+1);
if(body==='stop'){T.stop();return;}var c=ctx();if(!c)return;var epoch=T.epoch;
var raw=atob(body),bytes=new Uint8Array(raw.length);for(var i=0;i<raw.length;i++)bytes[i]=raw.charCodeAt(i);
T.chain=T.chain.then(function(){return c.decodeAudioData(bytes.buffer);}).then(function(buf){
if(epoch!==T.epoch)return;var s=c.createBufferSource();s.buffer=buf;s.connect(c.destination);
var at=Math.max(c.currentTime+0.01,T.next);s.start(at);T.next=at+buf.duration;T.sources.push(s);
s.onended=function(){T.sources=T.sources.filter(function(x){return x!==s;});};
T.started.push(performance.now()+(at-c.currentTime)*1000);}).catch(function(){});};
})();</script>"""
PLAY_PIECE = "(v) => { if (window.mmdemoTalk) window.mmdemoTalk.play(v); }"


def piece_message(samples: np.ndarray | None) -> str:
    """What the hidden #talk-pieces box gets: a piece of speech as base64 wav, or (None) the word to stop."""
    return f"{next(PIECES)}|" + ("stop" if samples is None else base64.b64encode(speech.to_wav(samples)).decode())


def person(request: gr.Request | None) -> str:
    """Who is listening: the client's address and browser (two tabs of one browser are one person)."""
    if request is None:
        return ""
    host = getattr(getattr(request, "client", None), "host", "") or ""
    return f"{host}|{request.headers.get('user-agent', '')}"


def session_of(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or ""


def clip_file(samples: np.ndarray, cache_dir: str) -> str:
    """The turn as a wav in Gradio's cache: the conversation shows it, playable, as the person's turn."""
    return processing_utils.save_bytes_to_cache(speech.to_wav(samples, SAMPLE_RATE), "spoken-question.wav",
                                                cache_dir=cache_dir)


def render(pipes, ui) -> None:
    settings = ui.settings
    pipeline = pipes.talk
    try:
        can_speak = pipeline.speaks
    except UserFacingError:
        can_speak = False
    with gr.Tab(t("tab_talk"), id="talk"):
        gr.Markdown(t("talk_intro"), elem_id="talk-intro")
        with gr.Row():
            with gr.Column():
                mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label=t("talk_mic"),
                               elem_id="talk-mic")
                camera = gr.Image(sources=["webcam"], streaming=True, type="numpy", label=t("talk_camera"),
                                  height=240, elem_id="talk-camera")
            with gr.Column():
                status = gr.Markdown(t("talk_status_idle"), elem_id="talk-status")
                chat = gr.Chatbot(label=t("conversation"), height=360, buttons=["copy"], elem_id="talk-chat")
                with gr.Row(equal_height=True):
                    speak = Switch(label=t("talk_speak"), value=can_speak, interactive=can_speak,
                                   info=None if can_speak else t("speech_text_only"), elem_id="talk-speak")
                    voice = VoiceChoice(list(VOICES), value=VOICES[0], label=t("voice_choice"),
                                        interactive=can_speak, elem_id="talk-voice")
                # The last spoken answer whole, to hear again (its pieces played as they came: TALK_SCRIPT).
                player = gr.Audio(label=t("spoken_answer"), type="filepath", interactive=False,
                                  buttons=["download"], elem_id="talk-spoken")
                clear = gr.Button(t("clear"), elem_id="talk-clear")
        turns = gr.Number(0, visible="hidden", elem_id="talk-turns")  # its change starts an answer
        pieces = gr.Textbox(visible="hidden", elem_id="talk-pieces")  # the page's player's messages

        def listening(request: gr.Request):
            """Record pressed: this tab listens (another tab of the same browser stops)."""
            CONVERSATIONS.open(session_of(request), person(request), settings.max_audio_seconds,
                               settings.max_history_turns)
            return message("talk_listening", lang_of(request))

        def hear(chunk, count, request: gr.Request):
            """One chunk of the microphone: (status, page player's message, turn counter) updates, or skips."""
            lang = lang_of(request)
            session = session_of(request)
            if CONVERSATIONS.was_taken(session):
                raise gr.Error(message("talk_taken", lang), print_exception=False)
            talk = CONVERSATIONS.get(session) or CONVERSATIONS.open(
                session, person(request), settings.max_audio_seconds, settings.max_history_turns)
            if chunk is None:
                return gr.skip(), gr.skip(), gr.skip()
            rate, data = chunk
            barged = talk.barged
            heard = talk.hear(int(rate), data)
            if heard.turns:
                cut = any(turn.cut for turn in heard.turns)
                if cut:
                    gr.Warning(message("talk_monologue", lang, limit=settings.max_audio_seconds))
                said = message("talk_heard", lang, seconds=heard.turns[-1].seconds)
                return said, (piece_message(None) if talk.barged != barged else gr.skip()), (count or 0) + 1
            if talk.barged != barged:  # cut in: the page goes quiet at once
                return message("talk_cut_in", lang), piece_message(None), gr.skip()
            if heard.idle:
                return message("talk_idle", lang, seconds=30), gr.skip(), gr.skip()
            return gr.skip(), gr.skip(), gr.skip()

        def see(frame, request: gr.Request):
            """The camera's latest frame, kept for the next turn (None: camera off)."""
            talk = CONVERSATIONS.get(session_of(request))
            if talk is not None:
                talk.frame = frame

        @user_errors
        def answer(speak_on, voice_name, request: gr.Request):
            """Answer the turns heard, one after another: the text streams into the conversation, then (or, if
            cut in, not) its speech piece by piece into the page's player, then whole into `player`. Yields
            (conversation, page player's message, player, status)."""
            talk = CONVERSATIONS.get(session_of(request))
            lang = lang_of(request)
            if talk is None:
                yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
                return
            while (turn := talk.next_turn()) is not None:
                stop = talk.begin_answer()
                try:
                    asked = pipeline.prepare(turn.samples, talk.frame, talk.history)
                    question = {"role": "user", "content": gr.Audio(clip_file(turn.samples, player.GRADIO_CACHE),
                                                                    label=message("talk_user_spoke", lang,
                                                                                  seconds=turn.seconds))}
                    talk.shown = [*talk.shown, question, {"role": "assistant", "content": ""}][-100:]
                    text, first = "", True
                    for text in pipeline.answer(asked, stop=stop):
                        talk.shown[-1] = {"role": "assistant", "content": str(text)}
                        if first:
                            talk.events.append(("text", time.monotonic()))  # bench/talk.py reads these
                        yield list(talk.shown), (piece_message(None) if first else gr.skip()), \
                            (gr.update(value=None) if first else gr.skip()), \
                            (message("talk_answering", lang) if first else gr.skip())
                        first = False
                    said = []
                    if speak_on and can_speak and str(text).strip() and not stop.is_set():
                        for piece in pipeline.say(asked, text, voice_name or VOICES[0], stop):
                            if stop.is_set():
                                break
                            if not isinstance(piece, speech.Said):
                                said.append(piece)
                                talk.events.append(("sound", time.monotonic()))
                                yield gr.skip(), piece_message(piece), gr.skip(), gr.skip()
                    if said and not stop.is_set():
                        yield gr.skip(), gr.skip(), processing_utils.save_bytes_to_cache(
                            speech.to_wav(np.concatenate(said)), "spoken-answer.wav", cache_dir=player.GRADIO_CACHE), \
                            gr.skip()
                    talk.done(turn, str(text))
                finally:
                    talk.end_answer()
                yield gr.skip(), gr.skip(), gr.skip(), message("talk_listening", lang)

        def new_conversation(request: gr.Request):
            talk = CONVERSATIONS.get(session_of(request))
            if talk is not None:
                talk.restart()
                talk.shown = []
            return [], piece_message(None), gr.update(value=None), t("talk_status_idle")

        mic.start_recording(listening, None, status, queue=False, api_visibility="private")
        mic.stream(hear, [mic, turns], [status, pieces, turns], stream_every=STREAM_EVERY, time_limit=LISTEN_LIMIT,
                   concurrency_limit=None, concurrency_id="talk_listen", show_progress="hidden",
                   api_visibility="private")
        camera.stream(see, camera, None, stream_every=1.0, time_limit=LISTEN_LIMIT, concurrency_limit=None,
                      concurrency_id="talk_see", show_progress="hidden", api_visibility="private")
        pieces.change(None, pieces, None, js=PLAY_PIECE, queue=False, api_visibility="private")
        answering = turns.change(answer, [speak, voice], [chat, pieces, player, status], trigger_mode="always_last",
                                 show_progress="hidden", api_visibility="private", **model_event(ui, pipeline))
        clear.click(new_conversation, None, [chat, pieces, player, status], cancels=[answering], queue=False,
                    api_visibility="private")

        def gone(request: gr.Request):
            """The page closed or lost its connection: its answer stops (its model slot frees), its turns go."""
            CONVERSATIONS.close(session_of(request))

        ui.on_unload.append(gone)
