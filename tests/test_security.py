"""What a hostile client tries with nothing but plain HTTP, and what it gets: no file of the server read,
no model run beside the queue, no way past the login, no sniffed uploads, no paths shown, and a clear
4xx or message (in the caller's language) instead of Gradio's raw text or a bare 500.

Each test is named after the attack; every request goes through the real launched app.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import secrets
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from .conftest import ASSETS, ROOT, free_port, launch
from .page import PageSession, failed, outputs

STREET = ASSETS / "street.png"
NOT_UPLOADED = "The file is not among this app's uploads (or has expired); please upload it again."


@pytest.fixture(scope="module")
def served(apps):
    """The app with short answers."""
    return apps(max_new_tokens=2)


def upload(app: str, name: str, data: bytes, session: httpx.Client | None = None) -> str:
    (path,) = (session or httpx).post(f"{app}gradio_api/upload", files={"files": (name, data)}).json()
    return path


def run_fn(app: str, fn_index: int, data: list, language: str = "en") -> dict:
    """Any event, public or private, by its index, as the page's own JavaScript calls it; the last message."""
    session = secrets.token_hex(8)
    headers = {"Accept-Language": language}
    joined = httpx.post(f"{app}gradio_api/queue/join", headers=headers,
                        json={"data": data, "fn_index": fn_index, "session_hash": session})
    assert joined.status_code == 200, joined.text
    with httpx.stream("GET", f"{app}gradio_api/queue/data", params={"session_hash": session}, headers=headers,
                      timeout=60) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    return msg
    raise AssertionError("no answer")


def file_inputs() -> tuple:
    import gradio as gr

    return (gr.Image, gr.Audio, gr.Video)


FILE_INPUTS = file_inputs()


def file_taking_events(demo) -> dict[int, list]:
    """Every event (tabs, Enter in a text box, example runs) with an image, audio or video input, and a request
    body for it with the file slot left as None."""
    import gradio as gr

    fill = {gr.Textbox: "what is this?", gr.Radio: "en", gr.Chatbot: [], gr.Checkbox: True}
    events = {}
    for index, fn in demo.fns.items():
        if fn.fn is None or not any(isinstance(b, FILE_INPUTS) for b in fn.inputs):
            continue
        events[index] = [next((v for cls, v in fill.items() if isinstance(b, cls)), None) for b in fn.inputs]
    return events


def with_file(demo, index: int, body: list, entry) -> list:
    import gradio as gr

    return [entry if isinstance(b, FILE_INPUTS) else v for b, v in zip(demo.fns[index].inputs, body)]


# --- 1. no file read that the client names --------------------------------------------------------

@pytest.fixture(scope="module")
def private_files(tmp_path_factory) -> dict[str, str]:
    """Files of the server that were never uploaded: a real picture, a real clip, a missing one, and links
    that lead out of the upload folder (a symlink planted inside it, a `..` walk)."""
    from gradio.utils import get_upload_folder

    d = tmp_path_factory.mktemp("private")
    shutil.copy(STREET, d / "secret.png")
    shutil.copy(ASSETS / "speech_en.wav", d / "secret.wav")
    cache = Path(get_upload_folder())
    cache.mkdir(parents=True, exist_ok=True)
    planted = cache / f"planted-{secrets.token_hex(4)}.png"
    os.symlink(d / "secret.png", planted)
    return {"picture": str(d / "secret.png"), "clip": str(d / "secret.wav"), "missing": str(d / "missing.png"),
            "code": str(ROOT / "app.py"), "passwd": "/etc/passwd", "symlink out of the cache": str(planted),
            "walk out of the cache": f"{cache}/../../{d.relative_to('/')}/secret.png",
            "relative": os.path.relpath(d / "secret.png")}


@pytest.mark.parametrize("meta", [False, True], ids=["without meta", "with meta"])
def test_naming_a_server_file_reads_nothing_on_any_endpoint(served, private_files, meta):
    """POST /gradio_api/call/caption {"data":[{"path":"/some/picture.png"},"en"]} used to caption that file.
    Now every file-taking event (public, private, example runs) refuses every such path with one message,
    the same whether the file exists or not (no oracle), and no model runs."""
    demo, app = served.demo, served.url
    answers = {}
    for index, body in file_taking_events(demo).items():
        for name, path in private_files.items():
            entry = {"path": path, **({"meta": {"_type": "gradio.FileData"}} if meta else {})}
            msg = run_fn(app, index, with_file(demo, index, body, entry))
            answers[(demo.fns[index].name, name)] = (msg["success"], msg["output"].get("error"))
    # caption, vqa (+Enter), audio (+Enter), video (+Enter), their example runs
    assert len(file_taking_events(demo)) >= 10
    assert any(any(isinstance(b, FILE_INPUTS[2]) for b in demo.fns[i].inputs) for i in file_taking_events(demo))  # video
    assert set(answers.values()) == {(False, NOT_UPLOADED)}, answers


def test_a_refused_path_answers_in_the_callers_language(served, private_files):
    for language, words in (("en", "not among this app's uploads"), ("zh-CN", "在本应用的上传文件中找不到")):
        for api in ("caption", "audio_qa"):
            answer = call(served.url, api, [{"path": private_files["picture"]}, "en" if api == "caption" else "what?"],
                          language)
            assert answer.startswith("event: error") and words in json.loads(answer.split("data:", 1)[1])["error"]


def test_uploaded_files_and_base64_images_are_still_read(served):
    path = upload(served.url, "street.png", STREET.read_bytes())
    assert "event: complete" in call(served.url, "caption", [{"path": path, "meta": {"_type": "gradio.FileData"}}, "en"])
    assert "event: complete" in call(served.url, "caption", [{"path": path}, "en"])  # no meta, but really uploaded
    clip = upload(served.url, "clip.wav", (ASSETS / "speech_en.wav").read_bytes())
    assert "event: complete" in call(served.url, "audio_qa", [{"path": clip, "meta": {"_type": "gradio.FileData"}}, "hi?"])


def call(app: str, api: str, data: list, language: str = "en") -> str:
    from .test_bad_input import call_rest

    return call_rest(app, api, data, language)


# --- 2. every model run goes through the one queue --------------------------------------------------

def test_run_route_cannot_run_a_model_beside_the_queue(served):
    """/gradio_api/run/<api> (and /api/<api>, or any event by fn_index) ran the model directly: 40 calls
    ran at once past --queue-size. Now it refuses every queued event; only /call and the queue run them."""
    demo, app = served.demo, served.url
    path = upload(app, "street.png", STREET.read_bytes())
    image = {"path": path, "meta": {"_type": "gradio.FileData"}}
    for route in ("run/caption", "api/caption"):
        r = httpx.post(f"{app}gradio_api/{route}", json={"data": [image, "en"]}, timeout=60)
        assert r.status_code == 404 and "join the queue" in r.text, (route, r.status_code, r.text[:200])
    model_events = [i for i, fn in demo.fns.items() if fn.concurrency_id in ("model", "draw")]
    assert len(model_events) >= 9
    for index in model_events:  # private ones (Enter, example runs) included
        r = httpx.post(f"{app}gradio_api/run/predict", json={"data": [], "fn_index": index}, timeout=60)
        assert r.status_code == 404, (demo.fns[index].name, r.status_code, r.text[:200])
    assert not any(fn.queue is False for fn in demo.fns.values() if fn.concurrency_id in ("model", "draw"))


# --- 3. the login ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def behind_login(tiny_settings):
    from app import build_demo, launch_options
    from pipelines.tasks import Pipelines

    pipes = Pipelines(tiny_settings(max_new_tokens=2))
    demo = build_demo(pipes)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                auth=("demo", "s3cret"), **launch_options(pipes.settings))
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_routes_without_their_own_login_check_need_the_login(behind_login):
    """/cancel and /reset (and other Gradio routes) answered without the login."""
    url = behind_login
    probes = [("POST", "gradio_api/cancel", {"session_hash": "x", "fn_index": 0, "event_id": "e"}),
              ("POST", "gradio_api/reset", {"event_id": "e"}), ("GET", "gradio_api/heartbeat/x", None),
              ("POST", "gradio_api/stream/e", None),
              ("GET", "gradio_api/upload_progress?upload_id=x", None), ("GET", "monitoring/x", None),
              ("GET", "gradio_api/queue/data?session_hash=x", None), ("POST", "gradio_api/upload", None),
              ("GET", f"gradio_api/file={STREET}", None), ("POST", "gradio_api/mcp/", {}),
              ("POST", "gradio_api/call/caption", {"data": [None, "en"]})]
    for method, path, body in probes:
        r = httpx.request(method, url + path, json=body, timeout=10)
        assert r.status_code == 401, (path, r.status_code, r.text[:200])
    assert httpx.get(url).status_code == 200  # the login page itself
    with httpx.Client(base_url=url) as session:
        assert session.post("login", data={"username": "demo", "password": "s3cret"}).status_code == 200
        assert session.post("gradio_api/reset", json={"event_id": "e"}).status_code == 200
        assert session.get("gradio_api/info").status_code == 200


def test_guessing_passwords_is_limited_per_client(behind_login):
    """Failed logins were unlimited. Now a client gets 5 per minute, then 429 with Retry-After (the right
    password included, so guessing cannot go on), in its language."""
    url = behind_login
    for _ in range(5):
        assert httpx.post(url + "login", data={"username": "demo", "password": "guess"}).status_code == 400
    for password, language, words in (("guess", "en", "Too many failed logins"), ("s3cret", "zh-CN", "登录失败次数过多")):
        r = httpx.post(url + "login", data={"username": "demo", "password": password},
                       headers={"Accept-Language": language})
        assert r.status_code == 429 and words in r.json()["detail"] and 0 < int(r.headers["retry-after"]) <= 61


# --- 4. headers and /status -----------------------------------------------------------------------

def test_html_uploaded_as_png_is_not_sniffed(served):
    """A browser that sniffed the served file would run its script as a page of this app."""
    path = upload(served.url, "innocent.png", b"<html><body><script>alert(document.cookie)</script></body></html>")
    r = httpx.get(f"{served.url}gradio_api/file={path}")
    assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-type"].startswith("image/png")
    assert httpx.get(served.url).headers["x-content-type-options"] == "nosniff"


def test_status_shows_no_filesystem_paths(served, tiny_dir):
    """/status showed the local model folders (where the server keeps its files)."""
    r = httpx.post(f"{served.url}gradio_api/run/status", json={"data": []})
    status = r.json()["data"][0]
    assert str(tiny_dir) not in r.text and "/" not in "".join(status["models"]), status["models"]
    assert {entry["source"] for entry in status["models"].values()} == {"local folder"}


# --- 5. clear answers instead of raw text or a bare 500 ---------------------------------------------

@pytest.mark.parametrize("api, data, language, words", [
    ("caption", [5, "en"], "en", "The image must be a file uploaded to this app"),
    ("caption", ["hello", "en"], "zh-CN", "图片必须是上传到本应用的文件"),
    ("audio_qa", [5, "what?"], "en", "The audio must be a file uploaded to this app"),
    ("video_qa", [5, "what?", [], True], "en", "The video must be a file uploaded to this app"),
    ("video_qa", ["hello", "what?", [], True], "zh-CN", "视频必须是上传到本应用的文件"),
    ("vqa", [None, "what?", "not a list"], "en", "The history must be a list of messages"),
    ("vqa", [None, "what?", [{"role": "wizard", "content": "hi"}]], "zh-CN", "对话历史必须是消息列表"),
    ("caption", [{"path": "http://127.0.0.1:9/x.png", "meta": {"_type": "gradio.FileData"}}, "en"], "en",
     "The link could not be fetched"),
    ("audio_qa", [{"url": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}, "what?"], "en",
     "The audio must be a file uploaded to this app"),
])
def test_wrong_type_value_gets_a_clear_message_not_gradios_validation_text(served, api, data, language, words):
    answer = call(served.url, api, data, language)
    error = json.loads(answer.split("data:", 1)[1])["error"]
    assert answer.startswith("event: error") and words in error, error
    assert "validation error" not in error and "pydantic" not in error and "Hostname" not in error


@pytest.mark.parametrize("path, body", [
    ("queue/join", {"data": [], "fn_index": 999, "session_hash": "x"}),
    ("queue/join", {"data": [], "fn_index": -1, "session_hash": "x"}),
    ("call/no_such_api", {"data": []}),
    ("call/v2/no_such_api", {}),
    ("run/no_such_api", {"data": []}),
])
def test_unknown_endpoint_or_fn_index_gets_404_not_500(served, path, body):
    r = httpx.post(f"{served.url}gradio_api/{path}", json=body, headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 404 and "本应用没有这个接口" in r.json()["detail"], (r.status_code, r.text[:200])


def test_upload_without_a_file_name_gets_400_not_500(served):
    r = httpx.post(f"{served.url}gradio_api/upload", files={"files": ("", b"abc")})
    assert r.status_code == 400 and r.json()["detail"] == "Every uploaded file needs a file name."


def _page_send(demo) -> int:
    """fn_index of the image chat's `send` (the page's own, private event)."""
    return min(i for i, fn in demo.fns.items() if getattr(fn.fn, "__name__", "") == "send")


def test_huge_page_conversation_is_not_echoed(served):
    """The page's private events take the whole conversation from the client and echo it: a hostile
    5,000-turn, 5 MB chat comes back as the bounded window only: the last 100 messages (README, written here so
    that a changed bound shows), and the question just sent."""
    shown_messages = 100
    demo, app = served.demo, served.url
    chat = [{"role": role, "content": [{"type": "text", "text": role[0] * 500}]} for role in ("user", "assistant")] * 5000
    page = PageSession(app)
    try:  # (sending checks that there is an image; it does not open it)
        messages = page.wait(page.join(_page_send(demo), ["hello", None, page.upload(STREET), chat, None]))
    finally:
        page.close()
    assert not failed(messages), failed(messages)
    done = json.dumps(messages[-1])
    shown = outputs(messages)[0]
    assert len(shown) == shown_messages + 1 and len(done) < 200_000, (len(shown), len(done))


def test_questions_waiting_in_one_session_are_bounded(served):
    """Each waiting question is answered in the same model event: a client piling them up is refused (past 5,
    the bound components/vqa.py sets; written here, so a changed bound shows)."""
    demo, app = served.demo, served.url
    MAX_WAITING = 5
    page = PageSession(app)
    try:
        picture = page.upload(STREET)
        answers = [page.wait(page.join(_page_send(demo), [f"q{i}", None, picture, [], None]))
                   for i in range(MAX_WAITING + 1)]
    finally:
        page.close()
    assert [failed(a) for a in answers[:MAX_WAITING]] == [[]] * MAX_WAITING
    assert "already waiting" in failed(answers[-1])[0]["output"]["error"], answers[-1]


# --- 6. nothing freezes, fills or kills the server (issue 23) ----------------------------------------

def timed_get(url: str, out: dict, key: str) -> None:
    start = time.monotonic()
    try:
        out[key] = (httpx.get(url, timeout=30).status_code, time.monotonic() - start)
    except httpx.HTTPError as exc:
        out[key] = (type(exc).__name__, time.monotonic() - start)


def while_sent(app: str, send) -> tuple[object, float, tuple]:
    """Run `send()` (a hostile request) and, once it is on its way, time a small unrelated request.
    Returns (send's result, send's seconds, (the small request's status, its seconds))."""
    out = {}
    start = time.monotonic()
    worker = threading.Thread(target=lambda: out.update(result=send(), seconds=time.monotonic() - start),
                              daemon=True)
    worker.start()
    time.sleep(1.0)  # the hostile body is on the server
    timed_get(f"{app}gradio_api/info", out, "small")
    worker.join(60)
    return out.get("result"), out.get("seconds", float("inf")), out["small"]


@pytest.mark.parametrize("meta", [False, True], ids=["without meta", "with meta"])
def test_a_huge_path_string_is_refused_at_once_and_freezes_nobody(served, meta):
    """The attack: a file entry whose `path` is a multi-megabyte `data:` URL. readable_path called realpath on
    it on the event loop, which walks every `/` of the base64 text (1 MB: 2.2 s; 24 MB: twenty minutes of no
    answer to anyone). Now a path longer than the OS allows is refused before it is walked: a small request
    answers meanwhile, and the hostile one gets the "not among the uploads" message within seconds, on the
    API route and on the page's own queue route."""
    demo, app = served.demo, served.url
    entry = {"path": "data:image/png;base64," + "QUFB/" * (1 << 20), **({"meta": {"_type": "gradio.FileData"}}
                                                                    if meta else {})}
    caption = next(i for i, fn in demo.fns.items() if fn.api_name == "caption")
    for send in (lambda: call(app, "caption", [entry, "en"]),
                 lambda: json.dumps(run_fn(app, caption, [entry, "en"]))):
        answer, seconds, (status, small) = while_sent(app, send)
        assert status == 200 and small <= 2.0, (status, small)
        assert answer is not None and seconds < 15 and "not among this app" in answer, (seconds, str(answer)[:300])


def post_body(url: str, body, **kw):
    try:
        return httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=60, **kw)
    except httpx.HTTPError as exc:
        return exc


@pytest.mark.parametrize("route", ["call/vqa", "queue/join", "run/predict"])
def test_a_body_over_the_limit_gets_413_before_it_is_parsed(served, route):
    """A 100 MB chat sent to the page's `send` cost +500 MB for 14 s before the app trimmed anything. Now
    a JSON body over the limit derived from --max-file-mb and --max-prompt-chars (components/server.py
    body_limits) is answered 413 from its Content-Length, before a byte is parsed, and one without a
    length (chunked) as soon as it passes the limit; a small request answers meanwhile."""
    from components.server import body_limits
    from pipelines.settings import Settings

    demo, app = served.demo, served.url
    limit, _ = body_limits(Settings())  # the served app's limits are the defaults
    chat = [{"role": "user", "content": [{"type": "text", "text": "q" * 1000}]}] * (int(limit) // 1000 + 10)
    body = json.dumps({"data": ["hello", chat, None], "fn_index": _page_send(demo), "session_hash": "big"}).encode()
    assert len(body) > limit
    answer, seconds, (status, small) = while_sent(app, lambda: post_body(f"{app}gradio_api/{route}", body))
    assert status == 200 and small <= 2.0, (status, small)
    assert isinstance(answer, httpx.Response) and answer.status_code == 413, answer
    assert "the limit is" in answer.json()["detail"] and seconds < 20, (answer.text[:200], seconds)

    def chunked():
        for at in range(0, len(body), 1 << 20):
            yield body[at:at + (1 << 20)]

    answer = post_body(f"{app}gradio_api/{route}", chunked())
    assert isinstance(answer, httpx.Response) and answer.status_code == 413, answer


def test_component_messages_in_a_chat_build_nothing(served, private_files):
    """Gradio's Chatbot preprocessing built whatever component a "component" message named, with the
    client's constructor arguments: Chatbot(avatar_images=[path]) copied a server file into the upload cache
    (and an audio component decoded a whole clip). Now a chat holds text only before Gradio sees it, on the
    API route and the page's unqueued send, and the text still arrives."""
    from gradio.utils import get_upload_folder

    demo, app = served.demo, served.url
    secret = Path(private_files["picture"]).read_bytes()

    def copies() -> int:
        return sum(1 for root, _, names in os.walk(get_upload_folder()) for name in names
                   if os.path.getsize(os.path.join(root, name)) == len(secret)
                   and Path(root, name).read_bytes() == secret)

    before = copies()
    component = {"type": "component", "component": "chatbot", "value": [],
                 "constructor_args": {"avatar_images": [private_files["picture"], private_files["picture"]]},
                 "props": {}}
    chat = [{"role": "user", "content": [{"type": "text", "text": "earlier"}, component]},
            {"role": "assistant", "content": [component, {"type": "text", "text": "answer"}]}]
    path = upload(app, "street.png", STREET.read_bytes())
    answer = call(app, "vqa", [{"path": path, "meta": {"_type": "gradio.FileData"}}, "what?", chat])
    assert "event: complete" in answer, answer[:300]
    page = PageSession(app)
    try:
        messages = page.wait(page.join(_page_send(demo), ["hello", None, page.upload(STREET), chat, None]))
    finally:
        page.close()
    assert not failed(messages), failed(messages)
    from components.vqa import text_of

    assert [text_of(m["content"]) for m in outputs(messages)[0]] == ["earlier", "answer", "hello"]
    assert copies() == before, "a server file was copied into the upload cache"


def test_recording_post_processing_is_switched_off(served):
    """Gradio's POST /gradio_api/process_recording re-encoded any client's video with ffmpeg outside the queue
    (88 CPU-seconds for 8.5 KB) and left each upload in the system temp folder. The page does not use it
    (its recorder sits in the settings panel, which the app does not show): 404."""
    demo, app = served.demo, served.url
    r = httpx.post(f"{app}gradio_api/process_recording", files={"video": ("recording.mp4", b"\0" * 1000)})
    assert r.status_code == 404, (r.status_code, r.text[:200])


def test_canary_gradio_still_serves_process_recording(served):
    """Canary: Guard switches the route off by its path; if Gradio renames it, this says the list is stale."""
    from components.server import SWITCHED_OFF

    demo = served.demo
    assert SWITCHED_OFF == {str(demo.server_app.url_path_for("process_recording"))}


def from_address(address: str, **kw) -> httpx.Client:
    """A client connecting from another loopback address (another machine, as far as the server can tell)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=60, **kw)


def test_a_cheap_route_flood_gets_429_and_others_are_served(apps):
    """A /status flood at 112 requests a second made a caption 4-6 times slower. Now the cheap routes (the
    page's unqueued events, /status, /info, /config, starting an API call) take a burst, then a steady rate
    per client: the flood's excess gets 429 with Retry-After, while another client is served. At 2 a second
    (a burst of 30): a loaded machine serving fewer than the default 20 a second never sent an excess."""
    from components.server import CHEAP_BURST_SECONDS

    served = apps(max_new_tokens=2, max_requests_per_second=2)
    burst = 2 * CHEAP_BURST_SECONDS

    codes = []
    with from_address("127.0.0.3") as flood, concurrent.futures.ThreadPoolExecutor(8) as pool:
        def status(_):
            r = flood.post(f"{served.url}gradio_api/run/status", json={"data": []})
            return r.status_code, r.headers.get("retry-after")

        codes = list(pool.map(status, range(3 * burst)))
    refused = [retry for code, retry in codes if code == 429]
    assert refused and all(retry and int(retry) >= 1 for retry in refused), codes
    assert {code for code, _ in codes} == {200, 429}, codes
    with from_address("127.0.0.4") as other:
        assert other.post(f"{served.url}gradio_api/run/status", json={"data": []}).status_code == 200


def test_forwarded_for_does_not_choose_the_login_limits_client(behind_login):
    """uvicorn trusts X-Forwarded-For from loopback peers by default: 200 guesses, each "from" another address,
    never met the failed-login limit. Now the limit keys on the real peer unless --trusted-proxies names it."""
    url = behind_login
    codes = [httpx.post(url + "login", data={"username": "demo", "password": f"guess{i}"},
                        headers={"X-Forwarded-For": f"10.0.{i // 250}.{i % 250}"}).status_code for i in range(200)]
    assert 429 in codes and codes.count(429) >= 190, codes


def test_trusted_proxies_flag_sets_uvicorns_forwarded_allow_ips(tiny_settings):
    from app import launch_options, parse_args

    assert parse_args(["--trusted-proxies", "10.0.0.7"]).trusted_proxies == "10.0.0.7"
    assert parse_args([]).trusted_proxies == ""
    before = os.environ.get("FORWARDED_ALLOW_IPS")
    try:
        launch_options(tiny_settings(), "10.0.0.7")
        assert os.environ["FORWARDED_ALLOW_IPS"] == "10.0.0.7"
        launch_options(tiny_settings())
        assert os.environ["FORWARDED_ALLOW_IPS"] == ""
    finally:
        os.environ["FORWARDED_ALLOW_IPS"] = before or ""


@pytest.fixture(scope="module")
def small_cache(tiny_settings):
    """An app with a 24 MB cache and 2 MB files: a client's share is one question's files (10 MB)."""
    from pipelines.tasks import Pipelines

    served = launch(Pipelines(tiny_settings(max_new_tokens=2, max_cache_mb=24, max_file_mb=2)))
    yield served.url
    served.close()


def test_one_clients_uploads_cannot_push_out_anothers(small_cache):
    """A single 1.1 GB multi-file upload pushed a victim's picture out of the cache; their follow-up failed
    with "not among this app's uploads". Now one upload holds at most one question's files (413 beyond),
    and a client past its share of the cache loses its own oldest uploads first: the victim's stays."""
    app = small_cache
    with from_address("127.0.0.5") as victim:
        picture = upload(app, "mine.png", STREET.read_bytes(), victim)
    with from_address("127.0.0.6") as attacker:
        for n in range(5):
            files = [("files", (f"f{n}-{i}.bin", secrets.token_bytes(1_900_000))) for i in range(5)]
            assert attacker.post(f"{app}gradio_api/upload", files=files).status_code == 200
    with from_address("127.0.0.5") as victim:
        event = victim.post(f"{app}gradio_api/call/caption",
                            json={"data": [{"path": picture, "meta": {"_type": "gradio.FileData"}}, "en"]})
        answer = victim.get(f"{app}gradio_api/call/caption/{event.json()['event_id']}").text
    assert "event: complete" in answer, answer[:300]
    with from_address("127.0.0.6") as attacker:
        files = [("files", (f"g{i}.bin", secrets.token_bytes(1_900_000))) for i in range(7)]
        r = attacker.post(f"{app}gradio_api/upload", files=files)
        assert r.status_code == 413 and "one upload may be at most" in r.json()["detail"], r.text[:200]


def test_a_request_naming_many_files_is_refused_before_any_is_looked_up(served):
    """Each named file is a walk of the filesystem (realpath, up to PATH_MAX characters): a request holds at most
    MAX_FILES of them, checked in a worker thread, never on the event loop."""
    from components.server import MAX_FILES, PATH_MAX

    deep = "/" + "a/" * (PATH_MAX // 2 - 1)
    more = [{"path": deep, "meta": {"_type": "gradio.FileData"}}] * (MAX_FILES + 1)
    answer = call(served.url, "vqa", [None, "what?", [], more])
    assert f"the limit is {MAX_FILES}" in answer, answer[:300]
