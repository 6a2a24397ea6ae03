"""Ask-about-a-video tab: upload or record a video, ask about it (and its sound), follow up; answers stream.

The conversation works as the image chat's does (the video rides in the first kept turn); the sound
switch decides whether the model hears the soundtrack. The page and the API share one handler.
"""

import gradio as gr

from pipelines.inputs import check_text

from .explain import ExplainView, explained
from .common import RunControls, SafeVideo, add_examples, model_event, user_errors, warn
from .i18n import t
from .vqa import ROLES, shown, to_pairs, user


def render(pipes, ui) -> None:
    settings = ui.settings
    limit = settings.max_prompt_chars
    with gr.Tab(t("tab_video"), id="video"):
        with gr.Row():
            with gr.Column():
                video = SafeVideo(sources=["upload", "webcam"], include_audio=True, label=t("video_input"),
                                  elem_id="video-input")
                sound = gr.Checkbox(value=True, label=t("video_sound"), elem_id="video-sound")
            with gr.Column():
                chat = gr.Chatbot(label=t("conversation"), height=360, buttons=["copy", "copy_all"],
                                  elem_id="video-chat")
                # lines=1 (growing to 6): Enter sends, Shift+Enter adds a line (Gradio's rule for one-line boxes)
                question = gr.Textbox(label=t("question"), placeholder=t("video_question_placeholder"), lines=1,
                                      max_lines=6, max_length=limit, elem_id="video-question")
                with gr.Row():
                    controls = RunControls("ask", "busy_answer", "video")
                    clear = gr.Button(t("clear"), elem_id="video-clear")
                view = ExplainView("video", pipes.video, ui, controls)

        @user_errors
        @explained("video", lambda: pipes.video)
        def video_qa(video, question, history, sound=True, request: gr.Request = None):
            """Answer a question about a video, hearing its sound track unless `sound` is False; pass the
            returned conversation back for follow-ups. Longer videos are trimmed (a notice says so).

            Args:
                video: the video (an mp4, webm, mov... file path or URL).
                question: what to ask about it.
                history: the conversation so far as returned by the last call ([] to start).
                sound: True to let the model hear the sound track, False for the pictures only.
            Returns:
                the conversation with the new question and its answer, and an empty question box.
            """
            # The question first: a missing one is said at once, not after seconds of decoding.
            question = check_text(question, "question", limit)
            clip = pipes.video.load(video, bool(sound))
            turns = pipes.video.kept_turns(to_pairs(shown(history, limit)))
            stream = pipes.video(clip, question, turns)
            if clip.trimmed:
                warn("video_trimmed", request, seconds=clip.original_seconds, used=clip.seconds,
                     frames=len(clip.frames))
            if sound and not clip.has_soundtrack:
                warn("video_no_sound", request)
            history = [{"role": role, "content": text} for pair in turns for role, text in zip(ROLES, pair)]
            history += [user(question), {"role": "assistant", "content": ""}]
            yield history, ""
            for text in stream:
                history[-1] = {"role": "assistant", "content": text}
                yield history, ""

        def video_new(video, question, request: gr.Request):
            yield from video_qa(video, question, [], True, request)

        queue = model_event(ui, pipes.video)
        args = dict(fn=video_qa, inputs=[video, question, chat, sound], outputs=[chat, question], **queue)
        event = controls.around(controls.run.click, dict(**args, api_name="video_qa"))
        submit = controls.around(question.submit, dict(**args, api_visibility="private"))
        examples = add_examples(ui, [[ui.asset("street_en.mp4"), "What happens in the video, and what is said?"],
                                     [ui.asset("street_zh.mp4"), "视频里发生了什么？说话人说了什么？"]],
                                [video, question], [chat, question], video_new,
                                ["example_video_en", "example_video_zh"], pipes.video, controls)
        answers = [event, submit, *examples]
        clear.click(lambda: ([], ""), None, [chat, question], cancels=answers, api_visibility="private", queue=False)
        video.change(lambda: [], None, chat, api_visibility="private", queue=False)  # new video, new talk
        controls.stop_cancels(answers)
        view.after(*answers)
