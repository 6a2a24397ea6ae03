"""Multimodal LLM demo: caption, ask about an image, create an image, ask about audio.

    python app.py                 # real checkpoints (downloaded on first use)
    python app.py --tiny          # tiny random-weight checkpoints, built offline in seconds
    python app.py --help          # every flag; each also has an environment variable
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ASSETS = ROOT / "assets"

# Spaces set SYSTEM=spaces; ZeroGPU hardware needs `spaces` imported before CUDA is touched.
ON_SPACE = bool(os.environ.get("SPACE_ID"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from pipelines.settings import Settings

    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    models = p.add_argument_group("models (each flag also reads the environment variable named)")
    for f in fields(Settings):
        if f.name.endswith("_model") or f.name == "device":
            models.add_argument(f"--{f.name.replace('_', '-')}", default=None,
                                help=f"{f.metadata['env']}; default {f.default}")
    models.add_argument("--single-model", default=env("MMDEMO_SINGLE_MODEL"),
                        help="serve every tab from this one checkpoint, e.g. deepseek-community/Janus-Pro-1B "
                             "(image tabs only: Janus does not hear audio). MMDEMO_SINGLE_MODEL")
    models.add_argument("--tiny", action="store_true", default=env("MMDEMO_TINY") == "1",
                        help="use tiny random-weight checkpoints built offline (tests, no network). MMDEMO_TINY=1")
    models.add_argument("--tiny-dir", default=env("MMDEMO_TINY_DIR"), help="where --tiny builds them")
    models.add_argument("--preload", action="store_true", default=env("MMDEMO_PRELOAD") == "1" or ON_SPACE,
                        help="load the weights at start-up instead of on the first request. MMDEMO_PRELOAD=1")
    limits = p.add_argument_group("limits (environment variables in README)")
    for f in fields(Settings):
        if f.name.startswith(("max_", "queue_")):
            limits.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=None,
                                help=f"{f.metadata['env']}; default {f.default}")
    serve = p.add_argument_group("serving")
    serve.add_argument("--host", default=env("MMDEMO_HOST", "0.0.0.0" if ON_SPACE else "127.0.0.1"),
                       help="address to bind; 0.0.0.0 exposes the demo to your network. MMDEMO_HOST")
    serve.add_argument("--port", type=int, default=int(env("MMDEMO_PORT", env("GRADIO_SERVER_PORT", "7860"))),
                       help="MMDEMO_PORT")
    serve.add_argument("--root-path", default=env("MMDEMO_ROOT_PATH", ""),
                       help="URL prefix when served behind a reverse proxy. MMDEMO_ROOT_PATH")
    serve.add_argument("--share", action="store_true", default=env("MMDEMO_SHARE") == "1",
                       help="create a public *.gradio.live link (needs internet). MMDEMO_SHARE=1")
    serve.add_argument("--auth", default=env("MMDEMO_AUTH"),
                       help="require a login, as user:password. MMDEMO_AUTH")
    serve.add_argument("--concurrency", type=int, default=int(env("MMDEMO_CONCURRENCY", "1")),
                       help="model requests run at once (all tabs share them). MMDEMO_CONCURRENCY")
    serve.add_argument("--mcp", action="store_true", default=env("MMDEMO_MCP") == "1",
                       help="also expose the tasks as MCP tools for LLM agents. MMDEMO_MCP=1")
    serve.add_argument("--cache-examples", action="store_true", default=ON_SPACE,
                       help="cache example results lazily (default on a Space)")
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace):
    """Flags over environment over defaults; --tiny swaps every model for its miniature."""
    from pipelines.settings import Settings

    overrides = {f.name: getattr(args, f.name, None) for f in fields(Settings)}
    settings = Settings.from_env(**overrides)
    if args.single_model:
        settings.use_single_checkpoint(args.single_model)
    if args.tiny:
        from pipelines import tiny

        os.environ["HF_HUB_OFFLINE"] = "1"
        paths = tiny.build(Path(args.tiny_dir) if args.tiny_dir else tiny.DEFAULT_DIR)
        omni, janus = str(paths[tiny.OMNI_DIR]), str(paths[tiny.JANUS_DIR])
        if args.single_model:
            settings.use_single_checkpoint(janus)
        else:
            settings.caption_model = settings.vqa_model = settings.audio_model = omni
            settings.image_model = janus
    return settings


@dataclass
class UI:
    """What the tabs need besides the pipelines."""

    settings: object
    concurrency: int = 1
    cache_examples: bool = False
    demo: object = None
    on_load: list = field(default_factory=list)

    @staticmethod
    def asset(name: str) -> str:
        return str(ASSETS / name)


def build_demo(pipes, *, concurrency: int = 1, cache_examples: bool = False):
    """The Gradio app: one tab per task, each a named API endpoint, all on one model queue."""
    import gradio as gr

    from components import audio, caption, status, text_to_image, vqa
    from components.i18n import t

    # Batched requests must reach the model together: let as many through the queue as fit a batch.
    concurrency = max(concurrency, pipes.settings.max_batch_size)
    ui = UI(pipes.settings, concurrency, cache_examples)
    with gr.Blocks(title="Multimodal LLM demo", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(t("title"), elem_id="title")
        gr.Markdown(t("subtitle"))
        with gr.Tabs():
            tabs = [caption, vqa, text_to_image]
            if pipes.audio_available():
                tabs.append(audio)
            for tab in tabs + [status]:
                tab.render(pipes, ui)
        for fn, output in ui.on_load:
            demo.load(fn, None, output, api_visibility="private", queue=False)
    ui.demo = demo
    demo.queue(max_size=pipes.settings.queue_size, default_concurrency_limit=concurrency)
    return demo


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    from pipelines.errors import ModelError
    from pipelines.tasks import Pipelines

    try:
        pipes = Pipelines(settings_from(args))
        pipes.check(load=args.preload)  # wrong id / no network / no cache: fail now, in one line
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    demo = build_demo(pipes, concurrency=args.concurrency, cache_examples=args.cache_examples)
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    if args.auth and len(auth) != 2:
        print("error: --auth must look like user:password", file=sys.stderr)
        return 2
    from components.i18n import I18N

    demo.launch(server_name=args.host, server_port=args.port, root_path=args.root_path or None,
                share=args.share, auth=auth, mcp_server=args.mcp, i18n=I18N,
                max_file_size=f"{pipes.settings.max_file_mb}mb", footer_links=["api", "gradio", "settings"], run_history=False,
                allowed_paths=[str(ASSETS)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
