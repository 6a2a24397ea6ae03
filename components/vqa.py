"""Ask-about-an-image tab: a conversation about an image, answers streamed.

Sending a question moves it into the conversation and empties the box at once; the answer
then streams into the conversation only, so whatever is typed meanwhile stays. A question
sent while an answer streams waits its turn in the conversation and is answered next. A question may be asked
aloud (the microphone under Ask, issue 28): stopping the recording sends it; the model hears the recording itself.
"""

import inspect
import os
from dataclasses import dataclass

import gradio as gr

from catalogue import message
from pipelines.errors import InputError
from pipelines.inputs import check_text, load_audio

from .common import (SEND_QUEUE, RunControls, SafeAudio, SafeImage, add_examples, lang_of, model_event, user_errors,
                     warn)
from .advanced import Advanced, steered
from .explain import ExplainView, explained
from .i18n import t
from .resources import MAX_SHOWN_MESSAGES, MAX_WAITING, holds_work
from .speech import SpeakControls


def text_of(content) -> str:
    """Plain text of a chat message's content, whatever shape Gradio gives it."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("value") or "")
    if isinstance(content, (list, tuple)):
        return " ".join(filter(None, (text_of(c) for c in content)))
    return ""


ROLES = ("user", "assistant")


def role_of(msg) -> str | None:
    return msg.get("role") if isinstance(msg, dict) else getattr(msg, "role", None)


def content_of(msg):
    return msg.get("content") if isinstance(msg, dict) else getattr(msg, "content", None)


def clip_of(msg) -> str | None:
    """The recording a user turn of the app's own making holds (shown(..., waiting)), or None."""
    parts = content_of(msg)
    parts = parts if isinstance(parts, list) else [parts]
    return next((p["path"] for p in parts if isinstance(p, dict) and isinstance(p.get("path"), str)), None)


def to_pairs(history, clips: bool = False) -> list[tuple]:
    """Chatbot messages -> (question, answer) pairs for the pipeline; with `clips`, (question, answer, recording)
    for the turns asked aloud. Only for a conversation the app rebuilt itself (shown with its Waiting): the
    server keeps no file a client names in a chat (components/server.text_only_chat)."""
    pairs, question = [], None
    for msg in history or []:
        role = role_of(msg)
        if role == "user":
            question = (text_of(content_of(msg)), clip_of(msg) if clips else None)
        elif role == "assistant" and question is not None:
            text, clip = question
            pairs.append((text, text_of(content_of(msg)), clip) if clip else (text, text_of(content_of(msg))))
            question = None
    return pairs


def answered(chat) -> list:
    """The conversation without its trailing questions that have no answer yet."""
    done = list(chat or [])
    while done and role_of(done[-1]) == "user":
        done.pop()
    return done




@dataclass(frozen=True)
class Question:
    """A question as sent: its typed words (may be empty when it was asked aloud) and its recording, if any (a
    file in Gradio's upload folder, which the model hears: no transcript is made)."""

    text: str
    clip: str | None = None


def _same_words(a: str, b: str) -> bool:
    return inspect.cleandoc(a) == inspect.cleandoc(b)  # the Chatbot shows (and sends back) a message cleandoc'ed


def shown(chat, limit: int, waiting: "Waiting | None" = None) -> list[dict]:
    """The conversation as the page shows it, bounded: the last MAX_SHOWN_MESSAGES messages, each
    as plain text of at most 4 x --max-prompt-chars (a hostile client can send any chat). With the session's
    `waiting`, the questions asked aloud get their recordings back (a client's chat holds text only: it names
    no file; Waiting.asked says which turns were spoken, matched from the end by their words)."""
    kept = [{"role": role_of(m), "content": text_of(content_of(m))[:4 * limit]}
            for m in list(chat or [])[-MAX_SHOWN_MESSAGES:] if role_of(m) in ROLES]
    if waiting is not None:
        asked = list(waiting.asked)
        for msg in reversed([m for m in kept if m["role"] == "user"]):
            if not asked or not _same_words(asked[-1].text, msg["content"]):
                break
            said = asked.pop()
            if said.clip:
                msg["content"] = user(said)["content"]
    return kept


def user(question: "str | Question") -> dict:
    """A user turn as the chat shows it: its words, and its recording (playable) when it was asked aloud."""
    if isinstance(question, Question):
        if not question.clip:
            return {"role": "user", "content": question.text}
        return {"role": "user", "content": [{"path": question.clip},
                                            *([question.text] if question.text else [])]}
    return {"role": "user", "content": question}


def question_of(msg) -> Question:
    """The Question a user turn of a conversation the app rebuilt holds (shown(..., waiting))."""
    return Question(text_of(content_of(msg)).strip(), clip_of(msg))


class Waiting:
    """A session's questions sent and not answered yet, and which run answers them (its `turn`); and every
    question the conversation shows (`asked`, as sent: which were spoken, and their recordings).

    Stop, a new image or video, New conversation, retry, edit and undo start a new turn. Gradio cannot
    close a cancelled answer's generator while its thread is in a step (decoding a video, a piece of
    speech): it closes it later, after the person may have asked again. A run whose turn has passed
    therefore never touches the questions: they belong to the run that answers them now."""

    def __init__(self):
        self.questions: list[Question] = []
        self.asked: list[Question] = []
        self.turn = 0

    @property
    def busy(self) -> bool:  # questions are being answered: a stopped run's end leaves Stop live
        return bool(self.questions)

    def restart(self, questions=(), shows: list | None = None) -> None:
        """A new turn, `questions` waiting; `shows`: the conversation (its messages, rebuilt by shown(..., self))
        now on the page, when it changed, then these questions."""
        self.turn += 1
        self.questions = list(questions)
        if shows is not None:
            self.asked = [*(question_of(m) for m in shows if role_of(m) == "user"), *self.questions]

    def send(self, question: Question) -> None:
        self.questions.append(question)
        self.asked = [*self.asked, question][-MAX_SHOWN_MESSAGES:]


def send_question(question, chat, waiting: Waiting, limit: int, missing: str | None = None, spoken=None,
                  max_audio_seconds: float = 30.0) -> tuple[list, str, None]:
    """Move the question into the conversation and empty the box and the microphone (before any model work). A
    question that cannot be sent yet (none typed or spoken, `missing` the image or video, too many waiting, a
    recording that is not sound) stays where it is: the refusal is the event's error, shown on the page in its
    language. `spoken`: the recording, if the question was (also) asked aloud."""
    if spoken:
        question = check_text(question, "question", limit, required=False)
        load_audio(spoken, max_audio_seconds)  # refused now, in the person's sight, rather than at its turn
    else:
        question = check_text(question, "question", limit)
    if missing:
        raise InputError(missing)
    if len(waiting.questions) >= MAX_WAITING:
        raise InputError("too_many_waiting", limit=MAX_WAITING)
    asked = Question(question, spoken or None)
    chat = shown(chat, limit, waiting)
    waiting.send(asked)
    return [*chat, user(asked)], "", None


def send_steps(limit: int, missing: str, max_audio_seconds: float) -> tuple:
    """A chat tab's send, and an example's (a new conversation); both refuse a question sent before its image or
    video (`missing`: the message key). Returns the steps (question, recording, media, chat, waiting) ->
    (chat, box, recording)."""

    @user_errors
    def send(question, spoken, media, chat, waiting, request: gr.Request):
        return send_question(question, chat, waiting, limit, None if media else missing, spoken, max_audio_seconds)

    @user_errors
    def send_new(question, spoken, media, chat, waiting, request: gr.Request):
        """An example's question: a new conversation about the example's image or video."""
        waiting.restart(shows=[])
        return send_question(question, [], waiting, limit, None if media else missing, spoken, max_audio_seconds)

    return send, send_new


def take_back(chat, waiting: Waiting, box: str, limit: int) -> tuple[list, str, list[Question]]:
    """Stop (or a new picture): the questions not answered yet leave the conversation and go back to the
    box, before what is typed there (a recording, to the microphone: see chat_events), and no run answers them
    any more. Returns the conversation, the box and the questions taken back."""
    chat = shown(chat, limit, waiting)
    back = []
    while chat and chat[-1]["role"] == "user":
        back.insert(0, question_of(chat.pop()))
    waiting.restart(shows=chat)
    words = [q.text for q in back if q.text]
    return chat, "\n".join([*words, box] if (box or "").strip() else words), back


def chat_column(prefix: str, pipeline, ui, placeholder: str, editable=None) -> tuple:
    """A chat tab's right column (image chat, video): the conversation, the question box, Ask/Stop and
    Clear, the microphone (a question asked aloud, issue 28), Speak the answer, Show attention. Returns
    (chat, question, spoken, controls, clear, voice, view, waiting).

    `waiting` holds the questions sent and not answered yet (Waiting). Gradio hands a State's object itself
    to every event of the session, so the running answer sees questions added while it streams."""
    waiting = holds_work(gr.State(Waiting()))  # a session holding questions is not evicted for new ones
    chat = gr.Chatbot(label=t("conversation"), height=360, editable=editable, buttons=["copy", "copy_all"],
                      elem_id=f"{prefix}-chat")
    # lines=1 (growing to 6): Enter sends, Shift+Enter adds a line (Gradio's rule for one-line boxes)
    question = gr.Textbox(label=t("question"), placeholder=t(placeholder), lines=1, max_lines=6,
                          max_length=ui.settings.max_prompt_chars, elem_id=f"{prefix}-question")
    with gr.Row(elem_classes=["chat-buttons"]):  # one row, also at 390 px (components/header.py CSS)
        # Ask stays live while an answer streams: the next question waits its turn.
        controls = RunControls("ask", "busy_answer", prefix, keep_run=True, busy=waiting)
        clear = gr.Button(t("clear"), elem_id=f"{prefix}-clear")
    # Under Ask (which stays on a phone's first screen); stopping a recording sends it (chat_events). Shown only
    # where the tab's checkpoint hears.
    # (A recording past --max-audio-seconds is trimmed, with a notice, when it is prepared.)
    spoken = SafeAudio(sources=["microphone", "upload"], type="filepath", label=t("spoken_question"),
                       visible=pipeline.hears, elem_id=f"{prefix}-mic")
    voice = SpeakControls(pipeline, prefix)
    view = ExplainView(prefix, pipeline, ui, controls)
    return chat, question, spoken, controls, clear, voice, view, waiting


def ask_chain(controls, triggers: list, send: dict, answer: dict):
    """send (quick, its own queue) -> answer (model queue). One answering event for Ask and Enter: a question
    sent while it runs is answered by that run, or by one more run right after. `send` and `answer` are
    the steps' fn, inputs, outputs (and the answer's queue); the chat tabs (image, video) share it."""
    send = dict(**send, **SEND_QUEUE, api_visibility="private")
    sent = gr.on(triggers, **send) if len(triggers) > 1 else triggers[0](**send)
    return answer_after(controls, sent, answer)


def answer_after(controls, step, answer: dict):
    """The answering run once `step` (a send, a retry, an edit) has succeeded."""
    return controls.around(step.success, dict(**answer, api_visibility="private", trigger_mode="always_last"))


def answer_then_speak(pipeline, asked, history: list, voice, voice_name, request):
    """The spoken API endpoints: the answer to the prepared request `asked` streams into `history` (which ends
    with the question), then its speech follows. Yields (conversation, empty question box, wav or None)."""
    history = [*history, {"role": "assistant", "content": ""}]
    text = ""
    for text in pipeline.answer(asked):
        history[-1] = {"role": "assistant", "content": text}
        yield history, "", None
    for wav in voice.spoken_file(asked, text, True, voice_name, request):
        yield history, "", wav


def answer_waiting(pipeline, prepare, chat, waiting: Waiting, limit: int, voice, speak, voice_name,
                   request):
    """Answer the waiting questions in turn, streaming into the conversation, then speaking each answer
    if asked. `prepare(question, earlier turns)` is the task's prepared Request (pipelines/tasks/base.py) for a
    Question; earlier turns asked aloud are heard again, as their recordings. Yields (conversation, player, wav)
    updates; the chat tabs (image, video) share it. The run ends as soon as its turn has passed (Stop, a new
    picture...); after an error the questions wait for the next Ask."""
    done = answered(shown(chat, limit, waiting))
    turn_of_run = waiting.turn
    if not waiting.questions:  # a later trigger whose question an earlier run already answered
        yield gr.skip(), gr.skip(), gr.skip()
        return
    first = True
    while waiting.questions and waiting.turn == turn_of_run:
        question = waiting.questions[0]
        turn = [user(question), {"role": "assistant", "content": ""}]
        asked = prepare(question, [(*pair[:2], clip) if len(pair) > 2 and os.path.isfile(clip := pair[2])
                                   else pair[:2] for pair in to_pairs(done, clips=True)])
        # A new answer clears the last one's speech; in the same run, its speech plays on after it.
        text, spoken, first = "", voice.cleared(player=first), False
        for text in pipeline.answer(asked):
            if waiting.turn != turn_of_run:  # a Stop that came before Gradio knew of this run
                return
            turn[1] = {"role": "assistant", "content": text}
            yield done + turn + [user(q) for q in waiting.questions[1:]], *spoken
            spoken = gr.skip(), gr.skip()
        for spoken in voice.spoken(asked, text, speak, voice_name, request):
            if waiting.turn != turn_of_run:
                return
            yield gr.skip(), *spoken
        if waiting.turn != turn_of_run:
            return
        done += turn
        waiting.questions.pop(0)


def render(pipes, ui) -> None:
    limit = ui.settings.max_prompt_chars
    with gr.Tab(t("tab_vqa"), id="vqa"):
        with gr.Row():
            with gr.Column():
                image = SafeImage(type="filepath", label=t("image_input"), sources=["upload", "clipboard", "webcam"],
                                  elem_id="vqa-image")
                # Several images in one question: compare them, read across pages (pipelines check each one).
                more = gr.File(file_count="multiple", file_types=["image"], type="filepath", label=t("more_images"),
                               height=170, elem_id="vqa-more-images")
            with gr.Column():
                # Retry, undo and edit of a question (the chat's own buttons), copy of an answer or of all.
                chat, question, spoken, controls, clear, voice, view, waiting = chat_column(
                    "vqa", pipes.vqa, ui, "question_placeholder", editable="user")
                advanced = Advanced(pipes.vqa, "vqa")  # under the chat: Ask stays on a phone's first screen
        advanced.lock_with(voice.speak)

        send, send_new = send_steps(limit, "no_image", ui.settings.max_audio_seconds)

        @user_errors
        @explained("vqa", lambda: pipes.vqa)
        @steered(pipes.vqa, speak="speak")
        def answer(image, more, chat, waiting, speak, voice_name, request: gr.Request, steering=None):
            """Answer the waiting questions in turn, streaming into the conversation (then speaking each)."""
            images = [image, *(more or [])] if more else image
            yield from answer_waiting(pipes.vqa, lambda q, pairs: pipes.vqa.prepare(images, q.text, pairs, steering,
                                                                                    spoken=q.clip),
                                      chat, waiting, limit, voice, speak, voice_name, request)

        @user_errors
        @explained("vqa", lambda: pipes.vqa)
        @steered(pipes.vqa)
        def vqa(image, question, history, more_images=None, spoken_question=None, request: gr.Request = None,
                steering=None):
            """Answer a question about an image; pass the returned conversation back for follow-ups.

            Args:
                image: the picture the conversation is about (a file path or URL).
                question: what to ask about it ("" when `spoken_question` asks it).
                history: the conversation so far as returned by the last call ([] to start).
                more_images: further pictures for the same question (compare, several pages), or None.
                spoken_question: the question asked aloud (a recording the model hears), or None.
            Returns:
                the conversation with the new question and its answer, and an empty question box.
            """
            images = [image, *more_images] if more_images else image
            # Only the kept turns travel on, to the model and back to the caller (bounded, see kept_turns).
            turns = pipes.vqa.kept_turns(to_pairs(history))
            asked = pipes.vqa.prepare(images, question, turns, steering, spoken=spoken_question)
            stream = pipes.vqa.answer(asked)
            history = [{"role": role, "content": text} for pair in turns for role, text in zip(ROLES, pair)]
            history += [user(Question(asked.question, spoken_question)), {"role": "assistant", "content": ""}]
            for text in stream:
                history[-1] = {"role": "assistant", "content": text}
                yield history, ""

        queue = model_event(ui, pipes.vqa)

        sending = dict(fn=send, inputs=[question, spoken, image, chat, waiting], outputs=[chat, question, spoken])
        answering = dict(fn=answer, inputs=[image, more, chat, waiting, *voice.inputs, *advanced.inputs],
                         outputs=[chat, *voice.outputs], **queue)
        event = ask_chain(controls, [controls.run.click, question.submit, spoken.stop_recording], sending, answering)
        # The API keeps its one-call shape (image, question, history) -> (history, ""); it is never
        # triggered from the page, so it never touches what a person types.
        api = gr.Button(t("ask"), visible=False)
        api_event = api.click(vqa, [image, question, chat, more, spoken, *advanced.inputs], [chat, question],
                              api_name="vqa",
                              **queue)

        @user_errors
        @steered(pipes.vqa, speak=True)
        def vqa_spoken(image, question, history, voice_name, more_images=None, spoken_question=None,
                       request: gr.Request = None, steering=None):
            """Answer a question about an image and say the answer aloud; pass the conversation back for follow-ups.

            Args:
                image: the picture the conversation is about (a file path or URL).
                question: what to ask about it.
                history: the conversation so far as returned by the last call ([] to start).
                voice_name: the voice, "Chelsie" or "Ethan".
                more_images: further pictures for the same question, or None.
                spoken_question: the question asked aloud (a recording the model hears), or None.
            Returns:
                the conversation, an empty question box, and the spoken answer's 24 kHz wav (None until ready).
            """
            images = [image, *more_images] if more_images else image
            turns = pipes.vqa.kept_turns(to_pairs(history))
            asked = pipes.vqa.prepare(images, question, turns, steering, spoken=spoken_question)
            history = [{"role": role, "content": text} for pair in turns for role, text in zip(ROLES, pair)]
            yield from answer_then_speak(pipes.vqa, asked, [*history, user(Question(asked.question, spoken_question))],
                                         voice, voice_name, request)

        spoken_api = gr.Button(t("ask"), visible=False)
        api_spoken = spoken_api.click(vqa_spoken, [image, question, chat, voice.voice, more, spoken, *advanced.inputs],
                                      [chat, question, voice.wav], api_name="vqa_spoken", **queue)

        def vqa_new(image, question, request: gr.Request):
            yield from vqa(image, question, [], request=request)

        examples = add_examples(ui, [[ui.asset("street.png"), "What colour is the house?"],
                                     [ui.asset("chart.png"), "哪个柱子最高？"]], [image, question], [chat, question],
                                vqa_new, ["example_house_colour", "example_highest_bar"], pipes.vqa,
                                chain=lambda loaded: ask_chain(controls, [loaded.then], {**sending, "fn": send_new},
                                                               answering))
        answers = [event, api_event, api_spoken, *examples]
        chat_events(chat, question, spoken, waiting, controls, clear, voice, view, answering, answers, limit,
                    pictures=[image.input, more.upload, more.clear, more.delete], new_talk="new_image_new_talk")


def rewind(chat, index: int) -> tuple[list, dict | None]:
    """The conversation before the question at or before `index`, and that question's message."""
    chat = list(chat or [])
    i = min(index, len(chat) - 1)
    while i > 0 and role_of(chat[i]) != "user":
        i -= 1
    return chat[:i], (chat[i] if chat else None)


def index_of(data) -> int:
    return data.index if isinstance(data.index, int) else data.index[0]


def chat_events(chat, question, spoken, waiting, controls, clear, voice, view, answering: dict, answers: list,
                limit: int, pictures: list, new_talk: str) -> None:
    """What both chat tabs (image, video) do besides Ask: the chat's own retry, undo and edit; New
    conversation and the chat's trash icon; Stop, which hands the questions still waiting back to the
    box (a recording, to the microphone `spoken`) and says so; a new picture (`pictures`: its user events),
    which starts a new conversation and says so. Each of these first cancels the running answer (`answers`, to
    which retry and edit add theirs). A question asked aloud keeps its recording through retry and edit."""
    quick = dict(**SEND_QUEUE, api_visibility="private")

    def retry(chat, waiting, data: gr.RetryData):
        done, msg = rewind(shown(chat, limit, waiting), index_of(data))
        asked = question_of(msg) if msg else Question("")
        waiting.restart([asked], shows=done)
        return [*done, user(asked)]

    def edit(chat, waiting, data: gr.EditData, request: gr.Request):
        chat = shown(chat, limit, waiting)
        done, msg = rewind(chat, index_of(data))
        clip = clip_of(msg) if msg else None
        asked = text_of(data.value).strip()[:limit]
        if not asked and not clip:  # refused: the question stands as it was (the page had emptied its bubble)
            warn("no_question", request)
            if 0 <= index_of(data) < len(chat):
                chat[index_of(data)] = user(Question(text_of(data.previous_value), clip))
            return chat
        waiting.restart([Question(asked, clip)], shows=done)
        return [*done, user(Question(asked, clip))]

    def undo(chat, waiting, mic, data: gr.UndoData):
        done, msg = rewind(shown(chat, limit, waiting), index_of(data))
        asked = question_of(msg) if msg else Question("")
        waiting.restart(shows=done)
        return done, asked.text, (asked.clip if asked.clip and not mic else gr.skip())

    for listener, fn in ((chat.retry, retry), (chat.edit, edit)):
        again = listener(fn, [chat, waiting], chat, cancels=list(answers), **quick)
        answers.append(answer_after(controls, again, answering))
    chat.undo(undo, [chat, waiting, spoken], [chat, question, spoken], cancels=list(answers), **quick)

    def new_conversation(waiting):
        waiting.restart(shows=[])
        return [], "", *voice.cleared()

    clear.click(new_conversation, waiting, [chat, question, *voice.outputs], cancels=answers,
                api_visibility="private", queue=False)

    def emptied(waiting):  # the chat's trash icon: the page has emptied it; the answer must not go on
        waiting.restart(shows=[])
        return voice.cleared()

    chat.clear(emptied, waiting, voice.outputs, cancels=answers, api_visibility="private", queue=False)

    # Stop and a new picture restart the turn at once, unqueued, before the button comes back (a queued
    # restart could land after the next question was sent, and end its answer); their notices follow.
    said = gr.State(None)

    def notice(said, request: gr.Request):
        if said:
            key, params = said
            gr.Info(message(key, lang_of(request), **params))

    def recording(back: list[Question], mic):
        """The microphone's value after questions came back: the first recording among them, unless it holds
        one already (a new recording is never overwritten)."""
        clip = next((q.clip for q in back if q.clip), None)
        return clip if clip and not mic else gr.skip()

    def stopped(chat, waiting, box, mic):
        chat, box, back = take_back(chat, waiting, box, limit)
        if not back:
            return *controls.ended(), gr.skip(), gr.skip(), gr.skip(), None
        return *controls.ended(), chat, box, recording(back, mic), ("stop_returned", {"count": len(back)})

    controls.stop.click(stopped, [chat, waiting, question, spoken],
                        [controls.run, controls.stop, chat, question, spoken, said],
                        cancels=answers, queue=False, api_visibility="private").then(notice, said, None, **quick)

    def new_picture(chat, waiting, box, mic):
        had = bool(shown(chat, limit))
        _, box, back = take_back(chat, waiting, box, limit)
        waiting.restart(shows=[])
        return ([] if had else gr.skip()), (box if back else gr.skip()), recording(back, mic), *voice.cleared(), \
            ((new_talk, {}) if had else None)

    gr.on(pictures, new_picture, [chat, waiting, question, spoken], [chat, question, spoken, *voice.outputs, said],
          cancels=answers, queue=False, api_visibility="private").then(notice, said, None, **quick)
    view.after(*answers)
