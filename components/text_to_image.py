"""Create-an-image tab: prompt in, images out, with a progress bar and a working Stop."""

import contextlib

import gradio as gr

from catalogue import message
from pipelines.tasks import Drawn, Preview, TextToImagePipeline

from .common import RunControls, add_examples, lang_of, model_event, user_errors
from .i18n import t


class SizeDropdown(gr.Dropdown):
    """A dropdown of whole numbers that says so in the API schema. Gradio declares every dropdown a string
    with an enum of the choices (here ints): an MCP agent checking its call against that schema could
    send neither 256 nor "256"."""

    is_template = True  # rendered by the stock Dropdown front-end

    def api_info(self) -> dict:
        return {"type": "integer", "enum": [value for _, value in self.choices]}


def render(pipes, ui) -> None:
    settings = ui.settings
    with gr.Tab(t("tab_image"), id="image"):
        with gr.Row():
            with gr.Column():
                # lines=1 (growing to 6): Enter draws, Shift+Enter adds a line (Gradio's rule for one-line boxes)
                prompt = gr.Textbox(label=t("prompt"), placeholder=t("prompt_placeholder"), lines=1, max_lines=6,
                                    max_length=settings.max_prompt_chars, elem_id="image-prompt")
                with gr.Accordion(t("settings"), open=False) as options:
                    seed = gr.Number(-1, label=t("seed"), precision=0, elem_id="image-seed")
                    count = gr.Slider(1, settings.max_images, value=1, step=1, label=t("num_images"))
                    size = SizeDropdown(list(TextToImagePipeline.sizes), value=384, label=t("size"))
                    guidance = gr.Slider(*TextToImagePipeline.guidance_range, value=5, step=0.5, label=t("guidance"))
                with gr.Row():
                    controls = RunControls("generate", "busy_draw", "image", quiet_stop=True)
                    clear = gr.ClearButton(value=t("clear_inputs"), elem_id="image-clear")
            with gr.Column():
                gallery = gr.Gallery(label=t("images"), columns=2, height=420, format="png", elem_id="image-gallery")
                # Shown once there is a seed to show (an empty Number reads "0").
                with gr.Row(equal_height=True, visible=False) as seed_row:
                    seed_used = gr.Number(None, label=t("seed_used"), precision=0, interactive=False,
                                          elem_id="image-seed-used", scale=3)
                    reuse = gr.Button(t("reuse_seed"), elem_id="image-reuse-seed", scale=1)
                describe = gr.Button(t("describe_drawing"), visible=False, elem_id="image-describe")
        clear.add([prompt, gallery, seed_used])

        @user_errors
        def text_to_image(prompt, seed, count, size, guidance, stopping: dict | None = None,
                          request: gr.Request = None, progress=gr.Progress()):
            """Draw images for a prompt; returns the images and the seed used (reuse it to redraw).

            Args:
                prompt: what the image should show.
                seed: a number for a reproducible result; -1 picks one at random.
                count: how many images to draw (1 to the server's limit).
                size: width and height in pixels: 256, 384, 512, 768 or 1024.
                guidance: how closely to follow the prompt (1 to 10; 5 is a good start).
            Returns:
                the images, and the seed used.
            """
            desc = message("drawing", lang_of(request))
            progress(0, desc=desc)
            asked = pipes.image.prepare(prompt, seed, count, size, guidance)
            with contextlib.closing(pipes.image.answer(asked)) as items:
                for item in items:  # closing us (Stop, client gone) closes the drawing: it ends at the next token
                    if stopping and stopping.get("stop"):  # the page's Stop: end quietly
                        return
                    if isinstance(item, Drawn):
                        yield item.images, item.seed
                    elif isinstance(item, Preview):  # the rows drawn so far
                        yield item.images, gr.skip()
                    else:  # a Progress (step, total)
                        progress(item, desc=desc)
                        yield gr.skip(), gr.skip()  # a point where Stop / a cancelled job can close us

        # preprocess=False: the pipeline checks every option itself, so an API caller's "abc" seed or
        # 99 images gets its clear message instead of a component's generic refusal.
        args = dict(fn=text_to_image, inputs=[prompt, seed, count, size, guidance, controls.stopping],
                    outputs=[gallery, seed_used],
                    preprocess=False, show_progress_on=[gallery], **model_event(ui, pipes.image))
        event = controls.around(controls.run.click, dict(**args, api_name="text_to_image"))
        submit = controls.around(prompt.submit, dict(**args, api_visibility="private"))

        def generate_default(prompt, seed, request: gr.Request, progress=gr.Progress()):
            yield from text_to_image(prompt, seed, 1, 384, 5.0, None, request, progress)

        examples = add_examples(ui, [["A red house on a quiet street, watercolor", 42],
                                     ["一只在雨中奔跑的小狗，油画风格", 7]], [prompt, seed], [gallery, seed_used],
                                generate_default, ["example_watercolour", "example_dog"], pipes.image, controls)
        controls.stop_cancels(examples)  # the page's own runs stop quietly (quiet_stop)

        # The seed of the last drawing goes back into Settings (opened), to redraw or vary it.
        seed_used.change(lambda s: (gr.Row(visible=s is not None), gr.Button(visible=s is not None)), seed_used,
                         [seed_row, describe], queue=False, api_visibility="private")
        round_trip(ui, gallery, describe)
        reuse.click(lambda s: (s, gr.Accordion(open=True)), seed_used, [seed, options], queue=False,
                    api_visibility="private")


def round_trip(ui, gallery, describe) -> None:
    """One click sends the drawing (the one selected in the gallery, else the first) to the Caption tab
    and describes it there: what the understanding model makes of what the drawing model drew."""
    caption = ui.caption
    if caption is None or ui.tabs is None:
        return
    image, controls, run = caption
    picked = gr.State(0)

    def select(evt: gr.SelectData):
        return evt.index if isinstance(evt.index, int) else 0

    def send(gallery, picked):
        items = list(gallery or [])
        if not items:
            return gr.skip(), gr.skip()
        item = items[picked] if 0 <= picked < len(items) else items[0]
        path = item[0] if isinstance(item, (list, tuple)) else item
        return path, gr.Tabs(selected="caption")

    gallery.select(select, None, picked, queue=False, api_visibility="private")
    gallery.change(lambda: 0, None, picked, queue=False, api_visibility="private")
    sent = describe.click(send, [gallery, picked], [image, ui.tabs], queue=False, api_visibility="private")
    event = controls.around(sent.then, run)
    controls.stop_cancels([event])
    if ui.caption_views is not None:
        ui.caption_views.after(event)
