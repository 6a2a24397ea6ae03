"""Caption tab: image in, streamed description out."""

import gradio as gr

from .advanced import Advanced, steered
from .explain import ExplainView, explained
from .common import RunControls, SafeImage, add_examples, lang_of, model_event, user_errors
from .i18n import t


def render(pipes, ui) -> None:
    with gr.Tab(t("tab_caption"), id="caption"):
        with gr.Row():
            with gr.Column():
                image = SafeImage(type="filepath", label=t("image_input"), sources=["upload", "clipboard", "webcam"],
                                  elem_id="caption-image")
                language = gr.Radio([("English", "en"), ("中文", "zh")], value="en", label=t("language"),
                                    elem_id="caption-language")
                with gr.Row():
                    controls = RunControls("describe", "busy_describe", "caption")
                    clear = gr.ClearButton(value=t("clear_inputs"), elem_id="caption-clear")
                advanced = Advanced(pipes.caption, "caption")
            with gr.Column():
                out = gr.Textbox(label=t("description"), lines=10, buttons=["copy"], elem_id="caption-output")
                view = ExplainView("caption", pipes.caption, ui, controls)
        clear.add([image, out])

        @user_errors
        @explained("caption", lambda: pipes.caption)
        @steered(pipes.caption)
        def caption(image, language, request: gr.Request, steering=None):
            """Describe an image; streams the growing description.

            Args:
                image: the picture to describe (a file path or URL).
                language: "en" for English, "zh" for Simplified Chinese.
            Returns:
                the description, growing as it is written.
            """
            yield from pipes.caption.answer(pipes.caption.prepare(image, language, steering))

        event = controls.around(controls.run.click, dict(fn=caption, inputs=[image, language, *advanced.inputs],
                                                         outputs=out,
                                                         api_name="caption", **model_event(ui, pipes.caption)))
        examples = add_examples(ui, [[ui.asset("street.png"), "en"], [ui.asset("chart.png"), "zh"]],
                                [image, language], [out], caption, ["example_street", "example_chart"], pipes.caption,
                                controls)
        controls.stop_cancels([event, *examples])
        # Clear mid-description ends it too: else its words stream back into the emptied box. Like a new picture
        # (below), it empties the box once stopped: words streamed before the cancel landed come after the emptying.
        clear.click(controls.ended, None, [controls.run, controls.stop], cancels=[event, *examples], queue=False,
                    api_visibility="private").then(lambda: "", None, out, queue=False, api_visibility="private")

        # A new picture: the description being written stops, and the last one's goes (once stopped: its
        # last words could land after an emptying sent with the cancel).
        image.upload(controls.ended, None, [controls.run, controls.stop], cancels=[event, *examples], queue=False,
                     api_visibility="private").then(lambda: "", None, out, queue=False, api_visibility="private")
        view.after(event, *examples)
        # The drawing tab's "Describe this drawing" runs the same event (English unless the page says otherwise).
        ui.caption = (image, controls, dict(fn=caption, inputs=[image, language], outputs=out,
                                            api_visibility="private", **model_event(ui, pipes.caption)))
        ui.caption_views = view

        def browser_language(request: gr.Request) -> str:
            """A Chinese browser gets Chinese descriptions by default."""
            return lang_of(request)

        ui.on_load.append((browser_language, language))
