"""Ask-about-audio tab: upload or record a clip, ask a question, streamed answer."""

import gradio as gr

from .advanced import Advanced, steered
from .explain import ExplainView, explained
from .common import RunControls, SafeAudio, add_examples, model_event, notify, user_errors
from .i18n import t
from .speech import SpeakControls


def render(pipes, ui) -> None:
    settings = ui.settings
    with gr.Tab(t("tab_audio"), id="audio"):
        with gr.Row():
            with gr.Column():
                audio = SafeAudio(sources=["upload", "microphone"], type="filepath", label=t("audio_input"),
                                 elem_id="audio-input")
                # lines=1 (growing to 6): Enter sends, Shift+Enter adds a line (Gradio's rule for one-line boxes)
                question = gr.Textbox(label=t("question"), placeholder=t("audio_question_placeholder"), lines=1,
                                      max_lines=6, max_length=settings.max_prompt_chars, elem_id="audio-question")
                with gr.Row():
                    controls = RunControls("ask", "busy_answer", "audio")
                    clear = gr.ClearButton(value=t("clear_inputs"), elem_id="audio-clear")
                advanced = Advanced(pipes.audio, "audio")
            with gr.Column():
                out = gr.Textbox(label=t("answer"), lines=10, buttons=["copy"], elem_id="audio-output")
                voice = SpeakControls(pipes.audio, "audio")
                view = ExplainView("audio", pipes.audio, ui, controls)
        advanced.lock_with(voice.speak)
        clear.add([audio, question, out])

        def answer_and_speak(audio, question, speak, voice_name, request, page: bool, steering=None):
            """The answer streams, then (if `speak`) its speech follows. Yields (text, player, wav) for
            the page, (text, wav file) for the API."""
            asked = pipes.audio.prepare(audio, question, steering)
            stream = pipes.audio.answer(asked)
            notify(asked, request)
            # The page's player and wav are cleared once, at the start; the API says None until the wav.
            text, spoken = "", voice.cleared() if page else (None,)
            for text in stream:
                yield text, *spoken
                spoken = (gr.skip(), gr.skip()) if page else spoken
            args = (asked, text, speak, voice_name, request)
            for spoken in voice.spoken(*args) if page else ((wav,) for wav in voice.spoken_file(*args)):
                yield text, *spoken

        @user_errors
        @explained("audio", lambda: pipes.audio)
        @steered(pipes.audio)
        def audio_qa(audio, question, request: gr.Request, steering=None):
            """Answer a question about an audio clip (speech, music, sounds); streams the answer.

            Args:
                audio: the clip (a wav, mp3 or flac file path or URL); longer clips are trimmed.
                question: what to ask about it.
            Returns:
                the answer, growing as it is written.
            """
            for text, _ in answer_and_speak(audio, question, False, None, request, page=False, steering=steering):
                yield text

        @user_errors
        @explained("audio", lambda: pipes.audio)
        @steered(pipes.audio, speak="speak")
        def audio_qa_page(audio, question, speak, voice_name, request: gr.Request, steering=None):
            """The page's Ask: the answer, then its speech played piece by piece and its wav."""
            yield from answer_and_speak(audio, question, speak, voice_name, request, page=True, steering=steering)

        @user_errors
        @explained("audio", lambda: pipes.audio)
        @steered(pipes.audio, speak="speak")
        def audio_qa_spoken(audio, question, speak, voice_name, request: gr.Request, steering=None):
            """Answer a question about an audio clip, then (if `speak`) say the answer aloud.

            Args:
                audio: the clip (a wav, mp3 or flac file path or URL); longer clips are trimmed.
                question: what to ask about it.
                speak: also return the answer spoken (a 24 kHz wav); False: text only.
                voice_name: the voice, "Chelsie" or "Ethan".
            Returns:
                the answer, growing as it is written, and the spoken answer's wav (None until it is ready).
            """
            yield from answer_and_speak(audio, question, speak, voice_name, request, page=False, steering=steering)

        queue = model_event(ui, pipes.audio)
        page = dict(fn=audio_qa_page, inputs=[audio, question, *voice.inputs, *advanced.inputs],
                    outputs=[out, *voice.outputs],
                    api_visibility="private", **queue)
        event = controls.around(controls.run.click, page)
        submit = controls.around(question.submit, page)
        # The API's two shapes, never triggered from the page: text only, and text then the wav.
        api = gr.Button(t("ask"), visible=False).click(audio_qa, [audio, question, *advanced.inputs], out,
                                                       api_name="audio_qa", **queue)
        api_spoken = gr.Button(t("ask"), visible=False).click(
            audio_qa_spoken, [audio, question, *voice.inputs, *advanced.inputs], [out, voice.wav],
            api_name="audio_qa_spoken", **queue)
        examples = add_examples(ui, [[ui.asset("speech_en.wav"), "What is the speaker talking about?"],
                                     [ui.asset("speech_zh.wav"), "说话人说了什么？"]], [audio, question], [out],
                                audio_qa, ["example_en_speech", "example_zh_speech"], pipes.audio, controls)
        controls.stop_cancels([event, submit, api, api_spoken, *examples])
        # Clear mid-answer ends it (and its speech) too: else the answer streams back into the cleared tab.
        # It empties the answer and its speech once more after the cancel: a piece streamed before the cancel
        # landed could otherwise refill the box the click had just emptied.
        clear.click(lambda: (*controls.ended(), "", *voice.cleared()), None,
                    [controls.run, controls.stop, out, *voice.outputs], cancels=[event, submit, *examples],
                    queue=False, api_visibility="private")
        view.after(event, submit, *examples)
