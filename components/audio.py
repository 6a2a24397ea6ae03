"""Ask-about-audio tab: upload or record a clip, ask a question, streamed answer."""

import gradio as gr

from pipelines.inputs import load_audio

from .common import SafeAudio, add_examples, model_event, user_errors, warn
from .i18n import t


def render(pipes, ui) -> None:
    settings = ui.settings
    with gr.Tab(t("tab_audio"), id="audio"):
        with gr.Row():
            with gr.Column():
                audio = SafeAudio(sources=["upload", "microphone"], type="filepath", label=t("audio_input"),
                                 elem_id="audio-input")
                question = gr.Textbox(label=t("question"), placeholder=t("question_placeholder"), lines=2,
                                      max_length=settings.max_prompt_chars, elem_id="audio-question")
                with gr.Row():
                    run = gr.Button(t("ask"), variant="primary", elem_id="audio-run")
                    stop = gr.Button(t("stop"), variant="stop", elem_id="audio-stop")
            with gr.Column():
                out = gr.Textbox(label=t("answer"), lines=10, buttons=["copy"], elem_id="audio-output")

        @user_errors
        def audio_qa(audio, question, request: gr.Request):
            """Answer a question about an audio clip (speech, music, sounds); streams the answer.

            Args:
                audio: the clip (a wav, mp3 or flac file path or URL); longer clips are trimmed.
                question: what to ask about it.
            Returns:
                the answer, growing as it is written.
            """
            clip = load_audio(audio, settings.max_audio_seconds)
            stream = pipes.audio(clip, question)
            if clip.trimmed:
                warn("audio_trimmed", request, seconds=clip.original_seconds, limit=settings.max_audio_seconds)
            yield from stream

        args = dict(fn=audio_qa, inputs=[audio, question], outputs=out)
        event = run.click(**args, api_name="audio_qa", **model_event(ui, pipes.audio))
        submit = question.submit(**args, api_visibility="private", **model_event(ui, pipes.audio))
        examples = add_examples(ui, [[ui.asset("speech_en.wav"), "What is the speaker talking about?"],
                                     [ui.asset("speech_zh.wav"), "说话人说了什么？"]], [audio, question], [out],
                                audio_qa, ["example_en_speech", "example_zh_speech"], pipes.audio)
        stop.click(None, cancels=[event, submit, *examples])
