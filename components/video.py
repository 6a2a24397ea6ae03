"""Ask-about-a-video tab: upload or record a video, ask about it (and its sound), follow up; answers stream.

The conversation works as the image chat's does (components/vqa.py): sending moves the question into
the conversation and empties the box at once, so whatever is typed while an answer streams stays, and
a question sent meanwhile waits its turn. The video rides in the first kept turn; the sound switch
decides whether the model hears the soundtrack; "Speak the answer" reads each answer aloud.
"""

import gradio as gr

from .common import SafeVideo, Switch, add_examples, model_event, notify, user_errors
from .advanced import Advanced, steered
from .explain import explained
from .i18n import t
from .vqa import (ROLES, Question, answer_then_speak, answer_waiting, ask_chain, chat_column, chat_events,
                  send_steps, shown, to_pairs, user)


def render(pipes, ui) -> None:
    settings = ui.settings
    limit = settings.max_prompt_chars
    with gr.Tab(t("tab_video"), id="video"):
        with gr.Row():
            with gr.Column():
                video = SafeVideo(sources=["upload", "webcam"], include_audio=True, label=t("video_input"),
                                  elem_id="video-input")
                sound = Switch(value=True, label=t("video_sound"), elem_id="video-sound")
            with gr.Column():
                # The image chat's features: retry, undo and edit of a question, copy.
                chat, question, spoken, controls, clear, voice, view, waiting = chat_column(
                    "video", pipes.video, ui, "video_question_placeholder", editable="user")
                advanced = Advanced(pipes.video, "video")  # under the chat, as in the image chat
        advanced.lock_with(voice.speak)

        send, send_new = send_steps(limit, "no_video", settings.max_audio_seconds)

        @user_errors
        @explained("video", lambda: pipes.video)
        @steered(pipes.video, speak="speak")
        def answer(video, sound, chat, waiting, speak, voice_name, request: gr.Request, steering=None):
            """Answer the waiting questions in turn; the video is decoded once, for the first of them (the later
            ones prepare from the decoded clip, `request.media`)."""
            clip = []

            def prepare(question, pairs):
                asked = pipes.video.prepare(clip[0] if clip else video, question.text, pairs, sound, steering,
                                            spoken=question.clip)
                notify(asked, request)
                clip[:] = [asked.media]
                return asked

            yield from answer_waiting(pipes.video, prepare, chat, waiting, limit, voice, speak, voice_name, request)

        def prepared(question, video, history, sound, spoken_question, request, steering):
            """The API's request, and the conversation to send back (the kept turns, then the question)."""
            turns = pipes.video.kept_turns(to_pairs(shown(history, limit)))
            asked = pipes.video.prepare(video, question, turns, sound, steering, spoken=spoken_question)
            notify(asked, request)
            history = [{"role": role, "content": text} for pair in turns for role, text in zip(ROLES, pair)]
            return asked, history + [user(Question(asked.question, spoken_question))]

        @user_errors
        @explained("video", lambda: pipes.video)
        @steered(pipes.video)
        def video_qa(video, question, history, sound=True, spoken_question=None, request: gr.Request = None,
                     steering=None):
            """Answer a question about a video, hearing its sound track unless `sound` is False; pass the
            returned conversation back for follow-ups. Longer videos are trimmed (a notice says so).

            Args:
                video: the video (an mp4, webm, mov... file path or URL).
                question: what to ask about it.
                history: the conversation so far as returned by the last call ([] to start).
                sound: True to let the model hear the sound track, False for the pictures only.
                spoken_question: the question asked aloud (a recording the model hears), or None.
            Returns:
                the conversation with the new question and its answer, and an empty question box.
            """
            asked, history = prepared(question, video, history, sound, spoken_question, request, steering)
            history.append({"role": "assistant", "content": ""})
            yield history, ""
            for text in pipes.video.answer(asked):
                history[-1] = {"role": "assistant", "content": text}
                yield history, ""

        @user_errors
        @explained("video", lambda: pipes.video)
        @steered(pipes.video, speak=True)
        def video_qa_spoken(video, question, history, voice_name, sound=True, spoken_question=None,
                            request: gr.Request = None, steering=None):
            """Answer a question about a video and say the answer aloud; pass the conversation back for follow-ups.

            Args:
                video: the video (an mp4, webm, mov... file path or URL).
                question: what to ask about it.
                history: the conversation so far as returned by the last call ([] to start).
                voice_name: the voice, "Chelsie" or "Ethan".
                sound: True to let the model hear the sound track, False for the pictures only.
                spoken_question: the question asked aloud (a recording the model hears), or None.
            Returns:
                the conversation, an empty question box, and the spoken answer's 24 kHz wav (None until ready).
            """
            asked, history = prepared(question, video, history, sound, spoken_question, request, steering)
            yield from answer_then_speak(pipes.video, asked, history, voice, voice_name, request)

        queue = model_event(ui, pipes.video)

        sending = dict(fn=send, inputs=[question, spoken, video, chat, waiting], outputs=[chat, question, spoken])
        answering = dict(fn=answer, inputs=[video, sound, chat, waiting, *voice.inputs, *advanced.inputs],
                         outputs=[chat, *voice.outputs], **queue)
        event = ask_chain(controls, [controls.run.click, question.submit, spoken.stop_recording], sending, answering)
        # The API keeps its one-call shape; its hidden buttons are never pressed from the page.
        api = gr.Button(t("ask"), visible=False)
        api_event = api.click(video_qa, [video, question, chat, sound, spoken, *advanced.inputs], [chat, question],
                              api_name="video_qa",
                              **queue)
        spoken_api = gr.Button(t("ask"), visible=False)
        api_spoken = spoken_api.click(video_qa_spoken, [video, question, chat, voice.voice, sound, spoken,
                                                        *advanced.inputs],
                                      [chat, question, voice.wav], api_name="video_qa_spoken", **queue)

        def video_new(video, question, request: gr.Request):
            yield from video_qa(video, question, [], True, request=request)

        examples = add_examples(ui, [[ui.asset("street_en.mp4"), "What happens in the video, and what is said?"],
                                     [ui.asset("street_zh.mp4"), "视频里发生了什么？说话人说了什么？"]],
                                [video, question], [chat, question], video_new,
                                ["example_video_en", "example_video_zh"], pipes.video,
                                chain=lambda loaded: ask_chain(controls, [loaded.then], {**sending, "fn": send_new},
                                                               answering))
        answers = [event, api_event, api_spoken, *examples]

        chat_events(chat, question, spoken, waiting, controls, clear, voice, view, answering, answers, limit,
                    pictures=[video.input], new_talk="new_video_new_talk")
