"""Ask-about-an-image tab: a short conversation about one image, answers streamed."""

import gradio as gr

from .common import SafeImage, add_examples, model_event, user_errors
from .i18n import t


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


def to_pairs(history) -> list[tuple[str, str]]:
    """Chatbot messages -> (question, answer) pairs for the pipeline."""
    pairs, question = [], None
    for msg in history or []:
        role = msg.get("role") if isinstance(msg, dict) else getattr(msg, "role", None)
        content = msg.get("content") if isinstance(msg, dict) else getattr(msg, "content", None)
        if role == "user":
            question = text_of(content)
        elif role == "assistant" and question is not None:
            pairs.append((question, text_of(content)))
            question = None
    return pairs


def render(pipes, ui) -> None:
    with gr.Tab(t("tab_vqa"), id="vqa"):
        with gr.Row():
            with gr.Column():
                image = SafeImage(type="filepath", label=t("image_input"), sources=["upload", "clipboard", "webcam"],
                                  elem_id="vqa-image")
            with gr.Column():
                chat = gr.Chatbot(label=t("conversation"), height=360, elem_id="vqa-chat")
                question = gr.Textbox(label=t("question"), placeholder=t("question_placeholder"), lines=2,
                                      max_length=ui.settings.max_prompt_chars, elem_id="vqa-question")
                with gr.Row():
                    send = gr.Button(t("ask"), variant="primary", elem_id="vqa-run")
                    stop = gr.Button(t("stop"), variant="stop", elem_id="vqa-stop")
                    clear = gr.Button(t("clear"), elem_id="vqa-clear")

        @user_errors
        def vqa(image, question, history, request: gr.Request):
            """Answer a question about an image; pass the returned conversation back for follow-ups.

            Args:
                image: the picture the conversation is about (a file path or URL).
                question: what to ask about it.
                history: the conversation so far as returned by the last call ([] to start).
            Returns:
                the conversation with the new question and its answer, and an empty question box.
            """
            # Only the kept turns travel on, to the model and back to the caller (bounded, see kept_turns).
            turns = pipes.vqa.kept_turns(to_pairs(history))
            stream = pipes.vqa(image, question, turns)
            history = [{"role": role, "content": text} for pair in turns for role, text in zip(ROLES, pair)]
            history += [{"role": "user", "content": question.strip()}, {"role": "assistant", "content": ""}]
            for text in stream:
                history[-1] = {"role": "assistant", "content": text}
                yield history, ""

        args = dict(fn=vqa, inputs=[image, question, chat], outputs=[chat, question])
        event = send.click(**args, api_name="vqa", **model_event(ui, pipes.vqa))
        submit = question.submit(**args, api_visibility="private", **model_event(ui, pipes.vqa))
        clear.click(lambda: ([], ""), None, [chat, question], api_visibility="private", queue=False)
        image.change(lambda: [], None, chat, api_visibility="private", queue=False)  # new image, new talk

        def vqa_new(image, question, request: gr.Request):
            yield from vqa(image, question, [], request)

        examples = add_examples(ui, [[ui.asset("street.png"), "What colour is the house?"],
                                     [ui.asset("chart.png"), "哪个柱子最高？"]], [image, question], [chat, question],
                                vqa_new, ["example_house_colour", "example_highest_bar"], pipes.vqa)
        stop.click(None, cancels=[event, submit, *examples])
