"""A Gradio app that does no work: the floor under any request through Gradio and gradio_client.

Same shape as a text tab (a file upload and a text in, a streamed text out, queued), so that
its latency is what Gradio, HTTP and the client cost before the app does anything.

    python bench/noop_app.py --port 7870
"""

import argparse

import gradio as gr


def echo(file, text):
    yield "x"
    yield "xy"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7870)
    args = p.parse_args()
    with gr.Blocks() as demo:
        file, text, out = gr.File(type="filepath"), gr.Textbox(), gr.Textbox()
        gr.Button().click(echo, [file, text], out, api_name="echo")
    demo.queue().launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
