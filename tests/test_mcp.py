"""Every task called as an LLM agent calls it: a real MCP client over the app's /gradio_api/mcp/ endpoint.

The app runs in-process with `mcp_server=True` (what `--mcp` turns on) on the session's tiny models;
the recorder checks that what the agent sent reached the model. Files travel as data URIs, the
way an agent without a public URL sends them.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re

import httpx
import pytest
from PIL import Image

from .conftest import ASSETS, serve
from .recorder import Recorder
from .requires import require

CJK = re.compile("[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def mcp_app(tiny_settings, pipes):
    require("mcp", "gradio[mcp] from requirements.txt")
    from pipelines.tasks import Pipelines

    with serve(Pipelines(tiny_settings(max_new_tokens=4), registry=pipes.registry), mcp_server=True) as served:
        yield served


def mcp_url(served) -> str:
    return f"{served.url}gradio_api/mcp/"


def data_uri(path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def call(url: str, name: str, arguments: dict, language: str = "en"):
    """One tool call in a fresh MCP session; returns the CallToolResult."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async def run():
        async with streamablehttp_client(url, headers={"Accept-Language": language}) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await session.call_tool(name, arguments)

    return asyncio.run(asyncio.wait_for(run(), 120))


def texts(result) -> list[str]:
    return [c.text for c in result.content if c.type == "text"]


IMAGE = data_uri(ASSETS / "street.png", "image/png")
AUDIO = data_uri(ASSETS / "speech_en.wav", "audio/wav")


def test_caption_tool_describes_the_image_sent(mcp_app):
    pipes, url = mcp_app.pipes, mcp_url(mcp_app)
    with Recorder(pipes.caption.model) as seen:
        result = call(url, "caption", {"image": IMAGE, "language": "zh"})
    assert not result.isError, texts(result)
    assert texts(result) and texts(result)[0]
    (prompt,) = seen.prompts
    assert len(prompt.images) == 1 and CJK.search(prompt.text), "the image and the language reached the model"


def test_vqa_tool_answers_and_returns_the_conversation(mcp_app):
    pipes, url = mcp_app.pipes, mcp_url(mcp_app)
    with Recorder(pipes.vqa.model) as seen:
        result = call(url, "vqa", {"image": IMAGE, "question": "Which colour is the house?", "history": []})
    assert not result.isError, texts(result)
    assert "Which colour is the house?" in texts(result)[0] and "assistant" in texts(result)[0]
    (prompt,) = seen.prompts
    assert len(prompt.images) == 1 and "Which colour is the house?" in prompt.text


def test_audio_tool_hears_the_clip_sent(mcp_app):
    import soundfile

    pipes, url = mcp_app.pipes, mcp_url(mcp_app)
    with Recorder(pipes.audio.model) as seen:
        result = call(url, "audio_qa", {"audio": AUDIO, "question": "What is said?"})
    assert not result.isError, texts(result)
    assert texts(result) and texts(result)[0]
    (seconds,) = seen.last.audio_seconds
    assert abs(seconds - soundfile.info(str(ASSETS / "speech_en.wav")).duration) < 0.05


def test_video_tool_sees_and_hears_the_video_sent(mcp_app):
    pipes, url = mcp_app.pipes, mcp_url(mcp_app)
    video = data_uri(ASSETS / "street_en.mp4", "video/mp4")
    with Recorder(pipes.video.model) as seen:
        result = call(url, "video_qa", {"video": video, "question": "What happens?", "history": [], "sound": True})
    assert not result.isError, texts(result)
    assert "What happens?" in texts(result)[0] and "assistant" in texts(result)[0]
    (prompt,) = seen.prompts
    assert prompt.images and prompt.images[0].grid[0] > 1, "the frames reached the model"
    assert prompt.audio_frames, "the sound track reached the model"


def test_text_to_image_tool_draws_the_images_asked_for(mcp_app):
    url = mcp_url(mcp_app)
    # As the schema says: the size is one of the whole numbers listed (it once said "a string, one of [256, ...]").
    result = call(url, "text_to_image", {"prompt": "a red house", "seed": 3, "count": 2, "size": 256,
                                         "guidance": 5})
    assert not result.isError, texts(result)
    # A gallery comes back as its file list (Gradio sends only single images inline): fetch each image by its URL.
    urls = re.findall(r"'url': '(http[^']+/image\.png)'", texts(result)[0])
    assert len(urls) == 2, texts(result)
    sizes = [Image.open(io.BytesIO(httpx.get(u, timeout=30).content)).size for u in urls]
    assert sizes == [(256, 256)] * 2
    assert "3" in texts(result)[-1], "the seed used comes back"


def test_status_tool_reports_the_loaded_models(mcp_app):
    from components.status import shown_model

    pipes, url = mcp_app.pipes, mcp_url(mcp_app)
    pipes.caption.model  # noqa: B018 - loaded
    result = call(url, "status", {})
    assert not result.isError, texts(result)
    report = " ".join(texts(result))
    assert shown_model(pipes.settings.caption_model) in report and "'loaded': True" in report


@pytest.mark.parametrize("language, text", [("en", "Please type a question."), ("zh-CN", "请输入问题。")])
def test_a_bad_call_is_a_clear_error_in_the_agents_language(mcp_app, language, text):
    url = mcp_url(mcp_app)
    result = call(url, "vqa", {"image": IMAGE, "question": "  ", "history": []}, language)
    assert result.isError and texts(result) == [text], texts(result)
    result = call(url, "audio_qa", {"audio": data_uri(ASSETS / "street.png", "audio/wav"), "question": "what?"},
                  language)
    assert result.isError and "Traceback" not in json.dumps(texts(result)), texts(result)


def test_one_mcp_client_never_reads_another_clients_answer(mcp_app):
    """Gradio sends every queued MCP call through one client of its own, so all agents share its session:
    the session-bound views (/attention, /token_budget) keep and serve nothing over MCP, and an agent asking
    gets a clear "nothing to explain" instead of another agent's picture and answer. (Also the canary for
    the header Gradio marks those calls with, which server.from_mcp reads.)"""
    url = mcp_url(mcp_app)
    first = call(url, "caption", {"image": IMAGE, "language": "en"})
    assert not first.isError, texts(first)
    for name, arguments in (("attention_api", {"task": "caption", "start": 0, "end": 0, "first_layer": -1,
                                               "last_layer": -1, "heads": "mean"}),
                            ("token_budget", {"task": "caption"})):
        other = call(url, name, arguments)
        assert other.isError, f"{name} answered another MCP client: {texts(other)[:1]}"
        assert len(texts(other)) == 1 and "Nothing to explain yet" in texts(other)[0], texts(other)
        assert not [c for c in other.content if c.type == "image"]
