"""Multimodal LLM demo: caption, ask about an image, create an image, ask about audio or a video.

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

# Hugging Face Spaces set SPACE_ID: there the app binds 0.0.0.0, preloads, caches examples and serves MCP.
ON_SPACE = bool(os.environ.get("SPACE_ID"))
# On a Space every request comes through the platform's proxy: trusted (uvicorn then takes the client from the
# right of X-Forwarded-For, skipping trusted hops, so entries a client writes itself are not used), or else all
# visitors would share one address for the per-client limits.
SPACE_PROXIES = "127.0.0.1,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"


def at_least_one(text: str) -> int:
    """argparse type for --concurrency / MMDEMO_CONCURRENCY: 0 would leave every request waiting forever."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1 (flag or MMDEMO_CONCURRENCY), "
                                         f"not {text!r}")
    return int(text)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" only where the help does not say it already and X says something
    (not for None, "" or an off switch)."""

    def _get_help_string(self, action):
        if action.default in (None, "", False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from pipelines.settings import Settings

    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=HelpFormatter)
    models = p.add_argument_group("models (each flag also reads the environment variable named)")
    for f in fields(Settings):
        if f.name.endswith("_model") or f.name in ("device", "quantize"):
            default = f.default or ("none" if f.name == "compare_model" else "the task's own model")
            models.add_argument(f"--{f.name.replace('_', '-')}", default=None, choices=f.metadata.get("choices"),
                                help=f"{f.metadata['env']}; default {default}")
    models.add_argument("--single-model", default=env("MMDEMO_SINGLE_MODEL"),
                        help="serve every tab from this one checkpoint, e.g. deepseek-community/Janus-Pro-1B "
                             "(image tabs only: Janus does not hear audio). MMDEMO_SINGLE_MODEL")
    models.add_argument("--tiny", action="store_true", default=env("MMDEMO_TINY") == "1",
                        help="use tiny random-weight checkpoints built offline (tests, no network). MMDEMO_TINY=1")
    models.add_argument("--tiny-dir", default=env("MMDEMO_TINY_DIR"), help="where --tiny builds them")
    models.add_argument("--preload", action="store_true", default=env("MMDEMO_PRELOAD") == "1" or ON_SPACE,
                        help="load the weights at start-up instead of on the first request. MMDEMO_PRELOAD=1")
    models.add_argument("--voice", action="store_true", default=env("MMDEMO_VOICE") == "1",
                        help="load the talker and token2wav (spoken answers) at start-up instead of on the first "
                             "spoken request. MMDEMO_VOICE=1")
    search = p.add_argument_group("search by meaning (README \"Search by meaning\")")
    search.add_argument("--gallery", default=None,
                        help="a server folder of images and videos the Search tab searches besides the samples "
                             "(served to visitors as results). MMDEMO_GALLERY")
    search.add_argument("--search-cache", default=None,
                        help="where gallery embeddings are cached by content; default ~/.cache/mmdemo/search. "
                             "MMDEMO_SEARCH_CACHE")
    backend = p.add_argument_group("backend: where caption, VQA and audio Q&A run (README \"Scaling out\")")
    backend.add_argument("--backend", choices=["local", "openai"], default=None,
                         help="local: in this process; openai: an OpenAI-compatible engine (vLLM, SGLang, "
                              "transformers serve). Text-to-image always runs here. MMDEMO_BACKEND; default local")
    backend.add_argument("--endpoint", default=None,
                         help="the engine's base URL, e.g. http://127.0.0.1:8000/v1. MMDEMO_ENDPOINT")
    backend.add_argument("--api-key", default=None,
                         help="bearer token for the engine (prefer the variable: flags show in `ps`). MMDEMO_API_KEY")
    backend.add_argument("--remote-timeout", type=float, default=None,
                         help="seconds to wait for the engine's next bytes. MMDEMO_REMOTE_TIMEOUT; default 60")
    backend.add_argument("--remote-concurrency", type=int, default=None,
                         help="requests sent to the engine at once (it batches them; --concurrency stays the limit "
                              "of the models run here). MMDEMO_REMOTE_CONCURRENCY; default 16")
    limits = p.add_argument_group("limits (environment variables in README)")
    for f in fields(Settings):
        if f.name.startswith(("max_", "queue_")):
            limits.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=None,
                                help=f"{f.metadata['env']}; default {f.default}")
    serve = p.add_argument_group("serving")
    serve.add_argument("--host", default=env("MMDEMO_HOST", "0.0.0.0" if ON_SPACE else "127.0.0.1"),
                       help="address to bind; 0.0.0.0 exposes the demo to your network. MMDEMO_HOST")
    serve.add_argument("--port", type=int, default=env("MMDEMO_PORT", env("GRADIO_SERVER_PORT", "7860")),
                       help="MMDEMO_PORT")
    serve.add_argument("--root-path", default=env("MMDEMO_ROOT_PATH", ""),
                       help="URL prefix when served behind a reverse proxy. MMDEMO_ROOT_PATH")
    serve.add_argument("--share", action="store_true", default=env("MMDEMO_SHARE") == "1",
                       help="create a public *.gradio.live link (needs internet). MMDEMO_SHARE=1")
    serve.add_argument("--auth", default=env("MMDEMO_AUTH"),
                       help="require a login, as user:password. MMDEMO_AUTH")
    serve.add_argument("--trusted-proxies", default=env("MMDEMO_TRUSTED_PROXIES", SPACE_PROXIES if ON_SPACE else ""),
                       help="addresses or networks of reverse proxies whose X-Forwarded-For names the client "
                            "(comma-separated, e.g. 127.0.0.1); the login and rate limits key on that client. Without "
                            "it they key on the connecting address and the header is ignored (on a Space: the "
                            "private networks, where the platform's proxy connects from). MMDEMO_TRUSTED_PROXIES")
    serve.add_argument("--concurrency", type=at_least_one, default=env("MMDEMO_CONCURRENCY", "1"),
                       help="model requests run at once (all tabs share them). MMDEMO_CONCURRENCY")
    serve.add_argument("--mcp", action="store_true", default=env("MMDEMO_MCP", "1" if ON_SPACE else "0") == "1",
                       help="also expose the tasks as MCP tools for LLM agents at /gradio_api/mcp/ "
                            "(default on a Space). MMDEMO_MCP=1")
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
            settings.caption_model = settings.vqa_model = settings.audio_model = settings.video_model = omni
            settings.image_model = janus
        settings.search_model = str(tiny.build_search(Path(args.tiny_dir) if args.tiny_dir else tiny.DEFAULT_DIR))
    return settings


@dataclass
class UI:
    """What the tabs need besides the pipelines."""

    settings: object
    concurrency: int = 1
    cache_examples: bool = False
    demo: object = None
    on_load: list = field(default_factory=list)
    on_unload: list = field(default_factory=list)  # fn(request) when a page closes or loses its connection
    tabs: object = None  # the gr.Tabs, for a tab that sends its result to another (components/text_to_image.py)
    caption: tuple | None = None  # the Caption tab's image, controls and run, for the same
    caption_views: object = None

    @staticmethod
    def asset(name: str) -> str:
        return str(ASSETS / name)


def build_demo(pipes, *, concurrency: int = 1, cache_examples: bool = False):
    """The Gradio app: one tab per task, each a named API endpoint, all on one model queue
    (with batching on, drawings get a queue of their own: components/common.py model_event)."""
    import gradio as gr

    from components import (api_page, audio, banner, caption, compare, explain, header, language, search, status,
                            talk, text_to_image, video, vqa, zerogpu)
    from components.common import render_file_refusal
    from components.i18n import t
    from components.server import Demo
    from server.sessions import bound_sessions

    bound_sessions()
    zerogpu.use()  # a pipeline's error crosses back from the ZeroGPU worker as a gr.Error
    ui = UI(pipes.settings, concurrency, cache_examples)
    with Demo(title="Multimodal LLM demo · 多模态大模型演示", delete_cache=(3600, 3600)) as demo:
        with gr.Row(equal_height=True, elem_id="page-head"):
            with gr.Column(scale=4):
                gr.Markdown(t("title"), elem_id="title")
            with gr.Column(scale=1, min_width=200):
                language.render(ui)
        gr.Markdown(t("subtitle"), elem_id="subtitle")
        header.render(pipes, ui)
        banner.render(pipes, ui)
        with gr.Tabs(overflow_behavior="wrap") as ui.tabs:  # every tab one tap away, also at 390 px
            tabs = [caption, vqa, text_to_image]
            if pipes.audio_available():
                tabs.append(audio)
            if pipes.video_available():
                tabs.append(video)
            if pipes.audio_available():  # a spoken conversation, camera optional, on the audio tab's checkpoint
                tabs.append(talk)
            tabs.append(search)
            if compare.available(pipes):  # --compare-model
                tabs.append(compare)
            for tab in tabs + [status]:
                tab.render(pipes, ui)
        render_file_refusal()
        explain.render_api(pipes, ui, ui.caption[1])  # /token_budget, /attention (Stop: the Caption tab's)
        for fn, output in ui.on_load:
            demo.load(fn, None, output, api_visibility="private", queue=False)
        for fn in ui.on_unload:
            demo.unload(fn)
    ui.demo = demo
    api_page.polish(demo)  # English labels, our sample files, integer sizes on "Use via API"
    # api_open=False: /gradio_api/run/<api> would run a queued event beside the queue, past its limits.
    demo.queue(max_size=pipes.settings.queue_size, default_concurrency_limit=concurrency, api_open=False)
    return demo


def launch_options(settings, trusted_proxies: str = "") -> dict:
    """Launch settings every server shares (main() and the tests): upload limit, translations,
    no upload history kept in the browser, only assets/ served from disk, the cache within
    --max-cache-mb and a bounded memory per session (components/resources.py). show_error=False: every
    message a person sees is one of ours, translated (handlers and components/server.py's Demo turn
    every refusal into one); Gradio's raw exception text, which can name server paths, is never sent.
    app_kwargs: the login wall, failed-login limit, nosniff and 4xx answers (components/server.py), the
    page's language switch (components/language.py) and the disk budget after each upload.
    `trusted_proxies` (--trusted-proxies) becomes uvicorn's FORWARDED_ALLOW_IPS, read when launch() starts
    the server: uvicorn's default trusts X-Forwarded-For from any loopback peer, so a client next to the
    app (or behind a proxy on it that passes the header on) chose its own address for the login limit."""
    from gradio.utils import get_upload_folder
    from starlette.middleware import Middleware

    from components.common import FILE_TYPE_SCRIPT
    from components.header import CSS as HEADER_CSS
    from components.header import HEAD as HEADER_HEAD
    from components.i18n import I18N
    from components.language import TOAST_CSS, PageLanguage
    from components.resources import CACHE_SHARES, DISK, SESSION_CAPACITY, CacheBudgetMiddleware
    from components.server import app_kwargs
    from components.speech import SPOKEN_SCRIPT
    from components.talk import TALK_SCRIPT

    os.environ["FORWARDED_ALLOW_IPS"] = trusted_proxies
    DISK.configure(get_upload_folder(), settings.max_cache_mb * 2**20,
                   share=max(settings.max_cache_mb * 2**20 / CACHE_SHARES, (settings.max_question_images + 1) *
                             settings.max_file_mb * 2**20))
    app = app_kwargs(settings)
    app["middleware"] = [*app.get("middleware", []), Middleware(PageLanguage), Middleware(CacheBudgetMiddleware)]
    # No "settings" in the footer: its language menu offers 33 languages this app does not have,
    # and switches only part of the page; the page's own switch (components/language.py) does it all.
    # enable_monitoring=False: "Use via API" showed each endpoint's share of successful calls, where every Stop
    # counts as a failure ("57 % successful"); no /monitoring dashboard either.
    return dict(i18n=I18N, max_file_size=f"{settings.max_file_mb}mb", run_history=False, show_error=False,
                enable_monitoring=False,
                allowed_paths=[str(ASSETS)] + ([settings.gallery] if settings.gallery else []),  # search results
                footer_links=["api", "gradio"], css=TOAST_CSS + HEADER_CSS,
                head=FILE_TYPE_SCRIPT + SPOKEN_SCRIPT + TALK_SCRIPT + HEADER_HEAD, state_session_capacity=SESSION_CAPACITY, app_kwargs=app)


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """'user:password' -> (user, password); ValueError if either part is missing."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not (user and sep and password):
        raise ValueError(value)
    return user, password


def start_models(pipes, *, preload: bool, voice: bool) -> None:
    """Before the page is served: the device and memory checks (a GPU torch cannot use, what will not fit and
    what is turned off so that the rest does: logged, shown on the page and in Status), then the weights
    asked for. On ZeroGPU the speech parts load now too, outside the GPU function (ZeroGPU's docs: load
    models at start-up), rather than in the GPU call of a spoken answer; there a checkpoint whose speech
    fails to load still answers in text, where --voice makes it an error."""
    from pipelines import zerogpu
    from pipelines.device import startup_warnings

    speech_now = voice or zerogpu.ON_ZEROGPU
    pipes.device_warnings = startup_warnings(pipes, voice=speech_now)
    if preload:
        pipes.check(load=True)
    if speech_now:
        pipes.load_speech(required=voice)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # huggingface_hub prints its warnings with a handler of its own: passed on to ours too, each showed twice.
    logging.getLogger("huggingface_hub").propagate = False
    args = parse_args(argv)
    from pipelines import zerogpu  # noqa: F401 - imports `spaces` (ZeroGPU) before anything touches CUDA

    try:
        auth = parse_auth(args.auth)
    except ValueError:
        print("error: --auth (or MMDEMO_AUTH) must look like user:password", file=sys.stderr)
        return 2
    from pipelines.errors import ModelError
    from pipelines.tasks import Pipelines

    try:
        pipes = Pipelines(settings_from(args))
        pipes.check()  # wrong id / no network / no cache: fail now, in one line
        start_models(pipes, preload=args.preload, voice=args.voice)
    except (ModelError, ValueError) as exc:  # ValueError: a limit out of range (Settings says which)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if (args.share or args.host not in ("127.0.0.1", "localhost", "::1")) and not auth and not ON_SPACE:
        logging.warning("the demo is reachable beyond this machine without a login; consider --auth user:password")
    demo = build_demo(pipes, concurrency=args.concurrency, cache_examples=args.cache_examples)
    # quiet: Gradio's start-up lines advise `share=True` in launch(); this app's switch is --share.
    demo.launch(server_name=args.host, server_port=args.port, root_path=args.root_path or None,
                share=args.share, auth=auth, mcp_server=args.mcp, quiet=True, prevent_thread_lock=True,
                **launch_options(pipes.settings, args.trusted_proxies))
    print(f"* Running on local URL:  {demo.local_url}", flush=True)
    if demo.share_url:
        print(f"* Running on public URL: {demo.share_url}", flush=True)
    else:
        print("* To create a public link, run with --share (or MMDEMO_SHARE=1).", flush=True)
    demo.block_thread()
    return 0


if __name__ == "__main__":
    from server.memory import return_big_frees

    return_big_frees()  # starts this process again with glibc's MALLOC_MMAP_THRESHOLD_ set, unless it is
    sys.exit(main())
