"""Deploying as a Hugging Face Space: front matter, ZeroGPU, the CLI behind a proxy, MCP tools.

The Space itself cannot be reached from here: these tests check what the Hub reads (README
front matter), what ZeroGPU does to the model calls (with the real `spaces` package), and
the real `python app.py` command on tiny checkpoints.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import re
import subprocess
import sys
import threading
import urllib.request

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from .conftest import ASSETS, ROOT, run_app
from .requires import require

TASKS = {"caption", "vqa", "text_to_image", "audio_qa", "status"}


# --- README front matter (what the Hub reads to build the Space) -------------------------------

@pytest.fixture(scope="module")
def card():
    from huggingface_hub import SpaceCard

    return SpaceCard.load(ROOT / "README.md")


def requirement(name: str) -> Requirement:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    reqs = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return next(r for r in reqs if r.name == name)


def test_front_matter_matches_requirements_and_defaults(card):
    from huggingface_hub import SpaceHardware

    from pipelines import settings

    meta = card.data.to_dict()
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and (ROOT / meta["app_file"]).is_file()
    gradio = requirement("gradio")
    assert str(gradio.specifier) == f"=={meta['sdk_version']}", "sdk_version must be the gradio pinned"
    assert "mcp" in gradio.extras
    import gradio as gr

    assert gr.__version__ == meta["sdk_version"]
    # A string (3.12 unquoted would be a float), and one transformers supports (5.x needs >= 3.11).
    assert isinstance(meta["python_version"], str)
    from importlib.metadata import metadata

    assert meta["python_version"] in SpecifierSet(metadata("transformers")["Requires-Python"])
    defaults = {v for k, v in vars(settings).items() if k.startswith("DEFAULT_") and k.endswith("_MODEL")}
    assert set(meta["models"]) == defaults
    assert meta["suggested_hardware"] in {h.value for h in SpaceHardware}
    colours = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
    assert {meta["colorFrom"], meta["colorTo"]} <= colours
    assert len(meta["short_description"]) <= 60  # the Hub refuses longer ones
    assert card.text.lstrip().startswith("# "), "on GitHub the page should open with its title"


def test_torch_pin_and_python_are_what_zerogpu_builds(card):
    """ZeroGPU (the GPU of free Gradio Spaces) only builds these torch releases and Pythons;
    the list and its source live in pipelines/zerogpu.py."""
    from pipelines.zerogpu import TORCHVISION_FOR, ZEROGPU_PYTHON, ZEROGPU_TORCH

    torch, torchvision = requirement("torch"), requirement("torchvision")
    pinned = str(torch.specifier).removeprefix("==")
    assert str(torch.specifier).startswith("==") and pinned in ZEROGPU_TORCH, \
        f"torch {torch.specifier} is not one ZeroGPU supports ({', '.join(ZEROGPU_TORCH)})"
    assert str(torchvision.specifier) == f"=={TORCHVISION_FOR[pinned]}", "torchvision must be torch's own release"
    assert card.data.to_dict()["python_version"] in ZEROGPU_PYTHON


# --- ZeroGPU ---------------------------------------------------------------------------------

def run_python(code: str, *args, env: dict | None = None):
    """Run `code` in a fresh interpreter (`spaces` patches torch at import); return its last line as JSON."""
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, env={**os.environ, **(env or {})},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


PROBE = """
import inspect, json, sys
from pathlib import Path
from pipelines import tiny, zerogpu
from pipelines.settings import Settings
from pipelines.tasks import Pipelines
from components.status import collect
omni, janus = (str(p) for p in tiny.build(sys.argv[1]).values())
siglip = str(tiny.build_search(Path(sys.argv[1])))
pipes = Pipelines(Settings(caption_model=omni, vqa_model=omni, audio_model=omni, video_model=omni, image_model=janus,
                           search_model=siglip, max_new_tokens=8))
pipes.check(load=True)  # at start-up, as on a Space: in the server process, outside any GPU function
print(json.dumps({
    "spaces": zerogpu.spaces is not None,
    "wrapped": [hasattr(p.generate, "zerogpu") for p in pipes.all()],
    "generators": [inspect.isgeneratorfunction(p.generate) for p in pipes.all()],
    "text_seconds": [pipes.caption.gpu_seconds([], n) for n in (16, 512)],
    "image_seconds": [pipes.image.gpu_seconds("a cat", 1, n, 5.0) for n in (1, 4)],
    "status": collect(pipes),
}, default=str))
"""


@pytest.mark.slow
def test_zerogpu_wraps_every_model_call_with_a_sized_duration(tiny_dir):
    require("spaces", "preinstalled on Spaces; requirements-dev.txt pins it for this test")
    # What a ZeroGPU Space sets; the device API is only called when a request runs.
    env = {"SPACES_ZERO_GPU": "true", "SPACES_ZERO_DEVICE_API_URL": "http://127.0.0.1:9/"}
    got = run_python(PROBE, tiny_dir, env=env)
    assert got["spaces"] and got["wrapped"] == [True] * 5
    assert got["generators"] == [True] * 5, "streaming needs generator functions under spaces.GPU"
    short, long = got["text_seconds"]
    assert 0 < short < long <= 180
    one, four = got["image_seconds"]
    assert 0 < one < four <= 180
    # Weights loaded under ZeroGPU's CUDA emulation, and the Status tab reads it without touching CUDA.
    assert {m["device"] for m in got["status"]["models"].values()} == {"cuda:0"}
    assert got["status"]["device"]["cuda"] is True


@pytest.mark.slow
def test_without_spaces_the_same_code_runs_unchanged(tiny_dir):
    code = "import sys; sys.modules['spaces'] = None  # as where `spaces` is not installed\n" + PROBE + f"""
print(json.dumps(list(pipes.caption({str(ASSETS / "street.png")!r}))))
"""
    got = run_python(code, tiny_dir)
    assert isinstance(got, list) and len(got) > 1 and all(isinstance(c, str) for c in got)


@pytest.mark.slow
def test_on_zerogpu_the_speech_parts_load_at_startup(tiny_dir):
    """ZeroGPU's docs: load models at start-up, outside the GPU function. The speech parts too, without --voice,
    where the checkpoint can speak (else each spoken answer's GPU call could load them again). app.py's start-up
    step, run as on a ZeroGPU Space (launching the server would call ZeroGPU's device API, absent here)."""
    require("spaces", "preinstalled on Spaces; requirements-dev.txt pins it for this test")
    code = """
import json, sys
from app import start_models
from pipelines import tiny, zerogpu
from pipelines.settings import Settings
from pipelines.tasks import Pipelines
omni, janus = (str(p) for p in tiny.build(sys.argv[1]).values())
pipes = Pipelines(Settings(caption_model=omni, vqa_model=omni, audio_model=omni, video_model=omni, image_model=janus))
start_models(pipes, preload=True, voice=False)
print(json.dumps({"zerogpu": zerogpu.ON_ZEROGPU, "speech": pipes.registry.speech_loaded(omni) is not None}))
"""
    env = {"SPACES_ZERO_GPU": "true", "SPACES_ZERO_DEVICE_API_URL": "http://127.0.0.1:9/"}
    assert run_python(code, tiny_dir, env=env) == {"zerogpu": True, "speech": True}
    assert run_python(code, tiny_dir) == {"zerogpu": False, "speech": False}  # elsewhere: on the first spoken answer


def crossing(generate):
    """What ZeroGPU does around a spaces.GPU generator: arguments and each item pass through pickle."""
    def run(*args, **kwargs):
        args, kwargs = pickle.loads(pickle.dumps((args, kwargs)))
        for item in generate(*args, **kwargs):
            yield pickle.loads(pickle.dumps(item))
    return run


def test_model_calls_take_and_give_only_what_pickles(tiny_settings, pipes):
    """Each task called as its tab calls it; what would cross to the ZeroGPU worker must pickle."""
    from pipelines.inputs import load_audio
    from pipelines.tasks import Pipelines

    p = Pipelines(tiny_settings(), registry=pipes.registry)
    for task in p.all():
        task.generate = crossing(task.generate)
    assert list(p.caption(str(ASSETS / "street.png"), "en"))[-1]
    assert list(p.vqa(str(ASSETS / "chart.png"), "And the lowest?", [("Which bar?", "the red one")]))[-1]
    assert list(p.audio(load_audio(str(ASSETS / "speech_en.wav"), 30), "What is said?"))[-1]
    assert list(p.video(p.video.load(str(ASSETS / "street_en.mp4")), "What happens?", [("Where?", "a street")]))[-1]
    steps = []
    images, seed = p.image("a red house", 3, 2, 256, 5.0, on_step=lambda i, n: steps.append(i),
                           stop=threading.Event())
    assert len(images) == 2 and images[0].size == (256, 256) and seed == 3 and steps


def test_a_spoken_answer_crosses_to_the_worker_with_the_thinkers_tokens(tiny_settings):
    """Speech on ZeroGPU: what crosses pickles, and the thinker's own tokens cross beside the text (an
    Answer arrives there as a plain str), so the talker reads them as generate() would hand them over."""
    from pipelines import speech
    from pipelines.tasks import Pipelines

    p = Pipelines(tiny_settings(max_speech_seconds=1))  # its own registry: speech loads into it
    crossed = []

    def record(say):
        def run(*args, **kwargs):
            crossed.append(pickle.loads(pickle.dumps((args, kwargs))))
            return crossing(say)(*args, **kwargs)
        return run

    p.vqa._say = record(p.vqa._say)
    messages = p.vqa.prepare(str(ASSETS / "street.png"), "What?")
    *_, answer = p.vqa.answer(messages, 4)
    items = list(p.vqa.say(messages, answer, "Chelsie"))
    assert isinstance(items[-1], speech.Said) and items[0].size > 0
    (args, _), = crossed
    assert args[1] == str(answer) and type(args[1]) is str and args[2] == answer.usage.tokens


def test_on_zerogpu_a_long_spoken_answer_is_spoken_whole_in_several_gpu_calls(tiny_settings, monkeypatch):
    """A spoken answer needing more GPU time than one call may ask for is cut into parts, each spoken in its own
    GPU call (what crosses pickles) within the per-call limit, one after the other, to the end of the answer."""
    from pipelines import speech, zerogpu
    from pipelines.tasks import Pipelines

    monkeypatch.setattr(zerogpu, "ON_ZEROGPU", True)
    # One call may speak (MAX_S - SPEECH_BASE_S) / SPEECH_RTF seconds: here 1 s, 2 tokens at 0.5 s a token.
    monkeypatch.setattr(zerogpu, "SPEECH_RTF", zerogpu.MAX_S - zerogpu.SPEECH_BASE_S)
    p = Pipelines(tiny_settings(max_speech_seconds=60))
    calls = []

    def record(say):
        def run(*args, **kwargs):
            calls.append(dict(args=pickle.loads(pickle.dumps(args)), seconds=p.vqa.say_seconds(*args), items=[]))
            for item in crossing(say)(*args, **kwargs):
                calls[-1]["items"].append(item)
                yield item
        return run

    p.vqa._say = record(p.vqa._say)
    messages = p.vqa.prepare(str(ASSETS / "street.png"), "What?")
    *_, answer = p.vqa.answer(messages, 6)
    tokens = answer.usage.tokens
    assert len(tokens) > 4, "the answer must need more than two calls' budget"
    items = list(p.vqa.say(messages, answer, "Chelsie"))
    assert len(calls) >= 3
    spoken = 0
    for call in calls:
        messages_, text, part, voice, stop, start, most = call["args"]
        assert start == spoken and part == tokens[:len(part)] and len(part) > start  # the next part, in order
        assert most <= zerogpu.speech_call_seconds() and call["seconds"] <= zerogpu.MAX_S
        said = call["items"][-1]
        assert isinstance(said, speech.Said) and not said.cut and call["items"][0].size > 0
        spoken = len(part)
    assert spoken == len(tokens), "every token of the answer is spoken"
    whole = items[-1]
    assert isinstance(whole, speech.Said) and not whole.cut
    assert whole.seconds == pytest.approx(sum(c["items"][-1].seconds for c in calls))
    assert not any(isinstance(i, speech.Said) for i in items[:-1])


# --- python app.py behind a reverse proxy, with MCP ------------------------------------------

def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


@pytest.fixture(scope="module")
def proxied(tiny_dir):
    """The real command line: `python app.py --tiny --mcp --root-path /demo --port P`."""
    mcp = ["--mcp"] if importlib.util.find_spec("mcp") else []  # gradio[mcp] from requirements.txt
    env = {**os.environ, "MMDEMO_TINY_DIR": str(tiny_dir), "GRADIO_ANALYTICS_ENABLED": "False"}
    with run_app("--tiny", *mcp, "--root-path", "/demo", env=env) as url:
        yield url.rstrip("/")


def test_root_path_makes_every_link_go_through_the_proxy_prefix(proxied):
    # Behind a proxy that maps https://host/demo/ to this server, the page must link back under /demo.
    for prefix in ("", "/demo"):  # the server answers whether the proxy strips the prefix or not
        config = json.loads(get(proxied + prefix + "/config"))
        assert config["root"] == proxied + "/demo"
    assert b"<html" in get(proxied + "/demo/")


def test_mcp_lists_every_task_as_a_tool(proxied):
    require("mcp", "gradio[mcp] from requirements.txt")
    import asyncio

    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    mcp_url = proxied + "/demo/gradio_api/mcp/"  # as an agent reaches it through the proxy

    async def list_tools():
        async with streamablehttp_client(mcp_url) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return (await session.list_tools()).tools

    tools = {t.name: t for t in asyncio.run(asyncio.wait_for(list_tools(), 60))}
    assert TASKS <= set(tools), sorted(tools)
    assert all(tools[name].description for name in TASKS)
    assert {"image", "language"} <= set(tools["caption"].inputSchema["properties"])
    for name in TASKS:  # each argument explained to the agent (from the handlers' docstrings)
        assert all(p.get("description") for p in tools[name].inputSchema.get("properties", {}).values()), name
    schema = json.loads(get(mcp_url + "schema"))  # what the Hub reads to list an MCP Space's tools
    assert TASKS <= {tool["name"] for tool in schema}


# --- Dockerfile (no Docker engine here: check what it says against the app and the README) ----

def test_dockerfile_installs_the_requirements_and_serves_on_all_interfaces(card, monkeypatch):
    from app import parse_args

    docker = (ROOT / "Dockerfile").read_text()
    assert f"FROM python:{card.data.python_version}-" in docker, "same Python as the Space"
    assert "-r requirements.txt" in docker and 'CMD ["python", "app.py"]' in docker
    assert re.search(r"^USER (?!root)\w+", docker, re.M), "Spaces run containers as a non-root user"
    env = dict(re.findall(r"(MMDEMO_\w+)=(\S+)", docker))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = parse_args([])
    assert (args.host, args.port) == ("0.0.0.0", 7860) and "EXPOSE 7860" in docker
    assert "docker build" in card.text and "-p 7860:7860" in card.text


def test_clear_messages_survive_the_zerogpu_worker(monkeypatch):
    """ZeroGPU hands back only a gr.Error, pickled; the UserFacingError must come out again."""
    require("spaces", "preinstalled on Spaces; requirements-dev.txt pins it for this test")
    from components.zerogpu import CarriedError
    from pipelines import zerogpu
    from pipelines.errors import ModelError
    from pipelines.zerogpu import carry_errors, restore_errors

    monkeypatch.setattr(zerogpu, "carrier", CarriedError)  # as build_demo sets it (components.zerogpu.use)

    def out_of_memory():
        raise ModelError("oom")
        yield

    import gradio as gr

    with pytest.raises(gr.Error) as crossed:
        list(carry_errors(out_of_memory)())
    sent_back = pickle.loads(pickle.dumps(crossed.value))

    def worker_result():
        raise sent_back
        yield

    with pytest.raises(ModelError) as restored:
        list(restore_errors(worker_result)())
    assert restored.value.key == "oom" and str(restored.value) == str(ModelError("oom"))


def test_every_model_call_sees_the_visitors_request(tiny_settings, pipes):
    """ZeroGPU bills the visitor's quota from the request in gradio's context: every tab must pass it on."""
    from gradio.context import LocalContext
    from gradio_client import Client, handle_file

    from pipelines.tasks import Pipelines

    from .conftest import launch

    p = Pipelines(tiny_settings(), registry=pipes.registry)
    seen = {}

    def watch(task):
        generate = task.generate

        def run(*args, **kwargs):
            seen[task.task] = LocalContext.request.get(None)
            yield from generate(*args, **kwargs)
        task.generate = run

    for task in p.all():
        watch(task)
    served = launch(p)
    try:
        client = Client(served.url, analytics_enabled=False, verbose=False)
        client.predict(handle_file(str(ASSETS / "street.png")), "en", api_name="/caption")
        client.predict(handle_file(str(ASSETS / "street.png")), "What is it?", [], api_name="/vqa")
        client.predict(handle_file(str(ASSETS / "speech_en.wav")), "What is said?", api_name="/audio_qa")
        client.predict("a red house", 1, 1, 256, 5.0, api_name="/text_to_image")
    finally:
        served.close()
    assert set(seen) == {"caption", "vqa", "audio", "image"}
    assert all(request is not None for request in seen.values()), seen
