"""Ask-about-an-image tab: a conversation about an image, answers streamed.

Sending a question moves it into the conversation and empties the box at once; the answer
then streams into the conversation only, so whatever is typed meanwhile stays. A question
sent while an answer streams waits its turn in the conversation and is answered next.
"""

import gradio as gr

from catalogue import message
from pipelines.errors import InputError
from pipelines.inputs import check_text

from .common import SEND_QUEUE, RunControls, SafeImage, add_examples, lang_of, model_event, user_errors, warn
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


def to_pairs(history) -> list[tuple[str, str]]:
    """Chatbot messages -> (question, answer) pairs for the pipeline."""
    pairs, question = [], None
    for msg in history or []:
        role = role_of(msg)
        content = msg.get("content") if isinstance(msg, dict) else getattr(msg, "content", None)
        if role == "user":
            question = text_of(content)
        elif role == "assistant" and question is not None:
            pairs.append((question, text_of(content)))
            question = None
    return pairs


def answered(chat) -> list:
    """The conversation without its trailing questions that have no answer yet."""
    done = list(chat or [])
    while done and role_of(done[-1]) == "user":
        done.pop()
    return done




def shown(chat, limit: int) -> list[dict]:
    """The conversation as the page shows it, bounded: the last MAX_SHOWN_MESSAGES messages, each
    as plain text of at most 4 x --max-prompt-chars (a hostile client can send any chat)."""
    return [{"role": role_of(m), "content": text_of(m.get("content") if isinstance(m, dict)
                                                    else getattr(m, "content", None))[:4 * limit]}
            for m in list(chat or [])[-MAX_SHOWN_MESSAGES:] if role_of(m) in ROLES]


def user(text: str) -> dict:
    return {"role": "user", "content": text}


class Waiting:
    """A session's questions sent and not answered yet, and which run answers them (its `turn`).

    Stop, a new image or video, New conversation, retry, edit and undo start a new turn. Gradio cannot
    close a cancelled answer's generator while its thread is in a step (decoding a video, a piece of
    speech): it closes it later, after the person may have asked again. A run whose turn has passed
    therefore never touches the questions: they belong to the run that answers them now."""

    def __init__(self):
        self.questions: list[str] = []
        self.turn = 0

    @property
    def busy(self) -> bool:  # questions are being answered: a stopped run's end leaves Stop live
        return bool(self.questions)

    def restart(self, questions=()) -> None:
        self.turn += 1
        self.questions = list(questions)


def send_question(question, chat, waiting: Waiting, limit: int, missing: str | None = None) -> tuple[list, str]:
    """Move the question into the conversation and empty the box (before any model work). A question
    that cannot be sent yet (none typed, `missing` the image or video, too many waiting) stays in the
    box: the refusal is the event's error, shown on the page in its language."""
    question = check_text(question, "question", limit)
    if missing:
        raise InputError(missing)
    if len(waiting.questions) >= MAX_WAITING:
        raise InputError("too_many_waiting", limit=MAX_WAITING)
    waiting.questions.append(question)
    return [*shown(chat, limit), user(question)], ""


def send_steps(limit: int, missing: str) -> tuple:
    """A chat tab's send, and an example's (a new conversation); both refuse a question sent before its image or
    video (`missing`: the message key)."""

    @user_errors
    def send(question, media, chat, waiting, request: gr.Request):
        return send_question(question, chat, waiting, limit, None if media else missing)

    @user_errors
    def send_new(question, media, chat, waiting, request: gr.Request):
        """An example's question: a new conversation about the example's image or video."""
        waiting.restart()
        return send_question(question, [], waiting, limit, None if media else missing)

    return send, send_new


def take_back(chat, waiting: Waiting, box: str, limit: int) -> tuple[list, str, list[str]]:
    """Stop (or a new picture): the questions not answered yet leave the conversation and go back to the
    box, before what is typed there, and no run answers them any more. Returns the conversation, the
    box and the questions taken back."""
    waiting.restart()
    chat = shown(chat, limit)
    back = []
    while chat and chat[-1]["role"] == "user":
        back.insert(0, chat.pop()["content"])
    return chat, "\n".join([*back, box] if (box or "").strip() else back), back


def chat_column(prefix: str, pipeline, ui, placeholder: str, editable=None) -> tuple:
    """A chat tab's right column (image chat, video): the conversation, the question box, Ask/Stop and
    Clear, Speak the answer, Show attention. Returns (chat, question, controls, clear, voice, view, waiting).

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
    voice = SpeakControls(pipeline, prefix)
    view = ExplainView(prefix, pipeline, ui, controls)
    return chat, question, controls, clear, voice, view, waiting


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
    if asked. `prepare(question, earlier pairs)` is the task's prepared Request (pipelines/tasks/base.py). Yields
    (conversation, player, wav) updates; the chat tabs (image, video) share it. The run ends as soon as
    its turn has passed (Stop, a new picture...); after an error the questions wait for the next Ask."""
    done = answered(shown(chat, limit))
    turn_of_run = waiting.turn
    if not waiting.questions:  # a later trigger whose question an earlier run already answered
        yield gr.skip(), gr.skip(), gr.skip()
        return
    first = True
    while waiting.questions and waiting.turn == turn_of_run:
        question = waiting.questions[0]
        turn = [user(question), {"role": "assistant", "content": ""}]
        asked = prepare(question, to_pairs(done))
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
                chat, question, controls, clear, voice, view, waiting = chat_column(
                    "vqa", pipes.vqa, ui, "question_placeholder", editable="user")
                advanced = Advanced(pipes.vqa, "vqa")  # under the chat: Ask stays on a phone's first screen
        advanced.lock_with(voice.speak)

        send, send_new = send_steps(limit, "no_image")

        @user_errors
        @explained("vqa", lambda: pipes.vqa)
        @steered(pipes.vqa, speak="speak")
        def answer(image, more, chat, waiting, speak, voice_name, request: gr.Request, steering=None):
            """Answer the waiting questions in turn, streaming into the conversation (then speaking each)."""
            images = [image, *(more or [])] if more else image
            yield from answer_waiting(pipes.vqa, lambda q, pairs: pipes.vqa.prepare(images, q, pairs, steering),
                                      chat, waiting, limit, voice, speak, voice_name, request)

        @user_errors
        @explained("vqa", lambda: pipes.vqa)
        @steered(pipes.vqa)
        def vqa(image, question, history, more_images=None, request: gr.Request = None, steering=None):
            """Answer a question about an image; pass the returned conversation back for follow-ups.

            Args:
                image: the picture the conversation is about (a file path or URL).
                question: what to ask about it.
                history: the conversation so far as returned by the last call ([] to start).
                more_images: further pictures for the same question (compare, several pages), or None.
            Returns:
                the conversation with the new question and its answer, and an empty question box.
            """
            images = [image, *more_images] if more_images else image
            # Only the kept turns travel on, to the model and back to the caller (bounded, see kept_turns).
            turns = pipes.vqa.kept_turns(to_pairs(history))
            asked = pipes.vqa.prepare(images, question, turns, steering)
            stream = pipes.vqa.answer(asked)
            history = [{"role": role, "content": text} for pair in turns for role, text in zip(ROLES, pair)]
            history += [user(asked.question), {"role": "assistant", "content": ""}]
            for text in stream:
                history[-1] = {"role": "assistant", "content": text}
                yield history, ""

        queue = model_event(ui, pipes.vqa)

        sending = dict(fn=send, inputs=[question, image, chat, waiting], outputs=[chat, question])
        answering = dict(fn=answer, inputs=[image, more, chat, waiting, *voice.inputs, *advanced.inputs],
                         outputs=[chat, *voice.outputs], **queue)
        event = ask_chain(controls, [controls.run.click, question.submit], sending, answering)
        # The API keeps its one-call shape (image, question, history) -> (history, ""); it is never
        # triggered from the page, so it never touches what a person types.
        api = gr.Button(t("ask"), visible=False)
        api_event = api.click(vqa, [image, question, chat, more, *advanced.inputs], [chat, question], api_name="vqa",
                              **queue)

        @user_errors
        @steered(pipes.vqa, speak=True)
        def vqa_spoken(image, question, history, voice_name, more_images=None, request: gr.Request = None,
                       steering=None):
            """Answer a question about an image and say the answer aloud; pass the conversation back for follow-ups.

            Args:
                image: the picture the conversation is about (a file path or URL).
                question: what to ask about it.
                history: the conversation so far as returned by the last call ([] to start).
                voice_name: the voice, "Chelsie" or "Ethan".
                more_images: further pictures for the same question, or None.
            Returns:
                the conversation, an empty question box, and the spoken answer's 24 kHz wav (None until ready).
            """
            images = [image, *more_images] if more_images else image
            turns = pipes.vqa.kept_turns(to_pairs(history))
            asked = pipes.vqa.prepare(images, question, turns, steering)
            history = [{"role": role, "content": text} for pair in turns for role, text in zip(ROLES, pair)]
            yield from answer_then_speak(pipes.vqa, asked, [*history, user(asked.question)], voice, voice_name,
                                         request)

        spoken_api = gr.Button(t("ask"), visible=False)
        api_spoken = spoken_api.click(vqa_spoken, [image, question, chat, voice.voice, more, *advanced.inputs],
                                      [chat, question, voice.wav], api_name="vqa_spoken", **queue)

        def vqa_new(image, question, request: gr.Request):
            yield from vqa(image, question, [], request)

        examples = add_examples(ui, [[ui.asset("street.png"), "What colour is the house?"],
                                     [ui.asset("chart.png"), "哪个柱子最高？"]], [image, question], [chat, question],
                                vqa_new, ["example_house_colour", "example_highest_bar"], pipes.vqa,
                                chain=lambda loaded: ask_chain(controls, [loaded.then], {**sending, "fn": send_new},
                                                               answering))
        answers = [event, api_event, api_spoken, *examples]
        chat_events(chat, question, waiting, controls, clear, voice, view, answering, answers, limit,
                    pictures=[image.input, more.upload, more.clear, more.delete], new_talk="new_image_new_talk")


def rewind(chat, index: int) -> tuple[list, str]:
    """The conversation before the question at or before `index`, and that question."""
    chat = list(chat or [])
    i = min(index, len(chat) - 1)
    while i > 0 and role_of(chat[i]) != "user":
        i -= 1
    question = text_of(chat[i]["content"] if isinstance(chat[i], dict) else chat[i].content) if chat else ""
    return chat[:i], question


def index_of(data) -> int:
    return data.index if isinstance(data.index, int) else data.index[0]


def chat_events(chat, question, waiting, controls, clear, voice, view, answering: dict, answers: list, limit: int,
                pictures: list, new_talk: str) -> None:
    """What both chat tabs (image, video) do besides Ask: the chat's own retry, undo and edit; New
    conversation and the chat's trash icon; Stop, which hands the questions still waiting back to the
    box and says so; a new picture (`pictures`: its user events), which starts a new conversation and
    says so. Each of these first cancels the running answer (`answers`, to which retry and edit add theirs)."""
    quick = dict(**SEND_QUEUE, api_visibility="private")

    def retry(chat, waiting, data: gr.RetryData):
        done, asked = rewind(chat, index_of(data))
        waiting.restart([asked])
        return [*done, user(asked)]

    def edit(chat, waiting, data: gr.EditData, request: gr.Request):
        asked = text_of(data.value).strip()
        if not asked:  # refused: the question stands as it was (the page had emptied its bubble)
            warn("no_question", request)
            chat = shown(chat, limit)
            if 0 <= index_of(data) < len(chat):
                chat[index_of(data)] = user(text_of(data.previous_value))
            return chat
        done, _ = rewind(chat, index_of(data))
        waiting.restart([asked[:limit]])
        return [*done, user(asked[:limit])]

    def undo(chat, waiting, data: gr.UndoData):
        waiting.restart()
        return rewind(chat, index_of(data))

    for listener, fn in ((chat.retry, retry), (chat.edit, edit)):
        again = listener(fn, [chat, waiting], chat, cancels=list(answers), **quick)
        answers.append(answer_after(controls, again, answering))
    chat.undo(undo, [chat, waiting], [chat, question], cancels=list(answers), **quick)

    def new_conversation(waiting):
        waiting.restart()
        return [], "", *voice.cleared()

    clear.click(new_conversation, waiting, [chat, question, *voice.outputs], cancels=answers,
                api_visibility="private", queue=False)

    def emptied(waiting):  # the chat's trash icon: the page has emptied it; the answer must not go on
        waiting.restart()
        return voice.cleared()

    chat.clear(emptied, waiting, voice.outputs, cancels=answers, api_visibility="private", queue=False)

    # Stop and a new picture restart the turn at once, unqueued, before the button comes back (a queued
    # restart could land after the next question was sent, and end its answer); their notices follow.
    said = gr.State(None)

    def notice(said, request: gr.Request):
        if said:
            key, params = said
            gr.Info(message(key, lang_of(request), **params))

    def stopped(chat, waiting, box):
        chat, box, back = take_back(chat, waiting, box, limit)
        if not back:
            return *controls.ended(), gr.skip(), gr.skip(), None
        return *controls.ended(), chat, box, ("stop_returned", {"count": len(back)})

    controls.stop.click(stopped, [chat, waiting, question], [controls.run, controls.stop, chat, question, said],
                        cancels=answers, queue=False, api_visibility="private").then(notice, said, None, **quick)

    def new_picture(chat, waiting, box):
        had = bool(shown(chat, limit))
        _, box, back = take_back(chat, waiting, box, limit)
        return ([] if had else gr.skip()), (box if back else gr.skip()), *voice.cleared(), \
            ((new_talk, {}) if had else None)

    gr.on(pictures, new_picture, [chat, waiting, question], [chat, question, *voice.outputs, said], cancels=answers,
          queue=False, api_visibility="private").then(notice, said, None, **quick)
    view.after(*answers)
