"""One canary per override of an upstream internal (server/ for Gradio and Starlette, pipelines/compat.py for
transformers and huggingface_hub): each fails when the name, signature or call it relies on changes, or when a
request through the served app no longer reaches it (each override counts its calls in HITS).

Named after what the override relies on; a failure here means: read server/__init__.py (or pipelines/compat.py)
and see what the upstream package changed.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap

import httpx
import pytest

from .conftest import ASSETS, ROOT, free_port, serve

STREET = ASSETS / "street.png"


@pytest.fixture(scope="module")
def served(apps):
    """The app with short answers (shared with other modules asking for the same settings)."""
    return apps(max_new_tokens=2)


def hits(name: str) -> int:
    from server import HITS

    return HITS[name]


def call(url: str, api: str, data: list, language: str = "en") -> str:
    """One plain-HTTP API call through the queue; the stream's text."""
    headers = {"Accept-Language": language}
    event = httpx.post(f"{url}gradio_api/call/{api}", json={"data": data}, headers=headers).json()["event_id"]
    return httpx.get(f"{url}gradio_api/call/{api}/{event}", headers=headers, timeout=60).text


def error_of(answer: str) -> str:
    """The message of an API call that ended in an error ("" if it did not)."""
    if not answer.startswith("event: error"):
        return ""
    return json.loads(answer.split("data:", 1)[1])["error"] or ""


def uploaded(url: str, path=STREET) -> dict:
    (name,) = httpx.post(f"{url}gradio_api/upload", files={"files": (path.name, path.read_bytes())}).json()
    return {"path": name, "meta": {"_type": "gradio.FileData"}}


def test_server_imports_no_model_code_and_no_components():
    """server/ sits under components/ and beside pipelines/: Gradio and Starlette only."""
    code = ("import sys, server.blocks, server.middleware, server.queue, server.sessions, server.memory; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'components', "
            "'pipelines'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


# --- Gradio: the request check and the calls around it ---------------------------------------------------

def test_a_renamed_upstream_method_stops_the_app_at_start_up():
    """server.expect: an override of a method Gradio renamed would never be called (the request check off in
    silence); the app stops at import with the reason instead."""
    from server import expect

    class Upstream:
        def preprocess(self, block_fn, inputs, state, explicit_call=False): ...

    expect(Upstream, "preprocess", ["self", "block_fn", "inputs", "state", "explicit_call"])
    with pytest.raises(RuntimeError, match="preprocess_data"):
        expect(Upstream, "preprocess_data", ["self", "block_fn", "inputs", "state", "explicit_call"])
    with pytest.raises(RuntimeError, match="expected parameters"):
        expect(Upstream, "preprocess", ["self", "block_fn", "inputs", "session"])


def test_no_subclass_of_server_blocks_replaces_its_hooks():
    """The request check is Demo.check, run from server.blocks.Blocks.preprocess_data: a subclass that
    overrode preprocess_data or process_api itself would skip it, so defining one fails."""
    from server.blocks import Blocks

    from components.server import Demo

    for name in ("preprocess_data", "process_api", "validate_inputs", "queue"):
        assert getattr(Demo, name) is getattr(Blocks, name), name
    with pytest.raises(TypeError, match="preprocess_data"):
        type("Bypass", (Blocks,), {"preprocess_data": lambda self, *a, **k: None})


def test_gradio_still_preprocesses_every_request_through_blocks_preprocess_data(served):
    """The security check (server files, chat parts, strings) rides on Blocks.preprocess_data: a request
    through the served app reaches it, and a path that was not uploaded here is refused there, in the
    caller's language (process_api hands the request over)."""
    demo, url = served.demo, served.url
    before = {name: hits(name) for name in ("process_api", "preprocess_data")}
    answer = call(url, "caption", [{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}, "en"], "zh-CN")
    assert "在本应用的上传文件中找不到" in error_of(answer), answer[:300]
    for name, count in before.items():
        assert hits(name) > count, f"Gradio no longer calls Blocks.{name}: server/blocks.py's hook is off"


def test_a_left_out_trailing_parameter_still_gets_its_default(served):
    """Blocks.validate_inputs: a /vqa client written before more_images leaves it out, and is answered."""
    url = served.url
    before = hits("validate_inputs")
    answer = call(url, "vqa", [uploaded(url), "What is this?", []])
    assert "event: complete" in answer, answer[:300]
    assert hits("validate_inputs") > before


def test_gradio_still_builds_its_queue_in_blocks_queue_and_pushes_through_queue_push(served):
    from gradio import queueing

    from components.server import FairQueue

    demo, url = served.demo, served.url
    assert type(demo._queue) is FairQueue and issubclass(FairQueue, queueing.Queue)
    before = hits("push")
    assert "event: complete" in call(url, "status", [])
    assert hits("push") > before, "Gradio no longer admits events through Queue.push: FairQueue bounds nothing"


def test_status_still_reads_gradios_queue_counts(served):
    from server.queue import queue_size, waiting

    demo, url = served.demo, served.url
    assert set(waiting(demo, "model")) == {"waiting", "running", "limit"}
    assert queue_size(demo) == demo._queue.max_size is not None
    before = hits("waiting")
    answer = call(url, "status", [])
    status = json.loads(answer.split("data:", 1)[1])[0]
    assert status["queue"]["max_size"] == queue_size(demo) and "waiting" in status["queue"], status["queue"]
    assert hits("waiting") > before


def test_gradio_still_builds_sessions_and_their_holder_by_module_level_name(served):
    from server.sessions import KeepingStateHolder, LeanSessionState

    demo, url = served.demo, served.url
    holder = demo.state_holder
    assert type(holder) is KeepingStateHolder
    before = (hits("holder_update"), hits("session_state"))
    assert "event: complete" in call(url, "status", [])
    assert hits("holder_update") > before[0] and hits("session_state") > before[1]
    assert all(type(s) is LeanSessionState for s in holder.session_data.values())


def test_a_cached_example_still_names_its_event_by_id():
    """gr.Examples takes no concurrency_id: server.blocks.examples_run finds the event that fills its cache,
    for the model queue to be set on it."""
    import gradio as gr

    from server.blocks import examples_run

    with gr.Blocks() as demo:
        box, out = gr.Textbox(), gr.Textbox()
        ex = gr.Examples([["a"]], [box], [out], fn=lambda s: s, cache_examples=True, cache_mode="lazy")
        run = examples_run(ex)
    assert run is demo.fns[ex.cache_event["id"]]
    assert out in run.outputs and run.queue is not False


def test_api_info_edits_still_reach_the_api_page(pipes):
    """/gradio_api/info (the page, the clients, MCP) is built by Blocks.get_api_info, where our edits run.
    An app of its own: Gradio builds the info once per app, so the shared one's may have been built already."""
    with serve(pipes) as served:
        before = hits("api_info")
        info = httpx.get(f"{served.url}gradio_api/info").json()
        assert hits("api_info") > before
    labels = [p["label"] for e in info["named_endpoints"].values() for p in e["parameters"]]
    assert labels and all(isinstance(label, str) and "__i18n__" not in label for label in labels), labels


def test_rooted_api_info_edits_still_reach_the_snippets(served):
    """gradio.routes.generate_code_snippets (wrapped by server.blocks.rooted_api_info) still writes each endpoint's
    snippets from the info our edit gave the request's root: the sample file is a URL of this app."""
    info = httpx.get(f"{served.url}gradio_api/info").json()["named_endpoints"]["/caption"]
    assert hits("rooted_api_info")  # (Gradio builds the info once per app, at its first request)
    assert f"handle_file('{served.url.rstrip('/')}/gradio_api/file=" in info["code_snippets"]["python"]


def test_a_handler_still_finds_its_app_in_gradios_context(served):
    """server.blocks.running_app (LocalContext.blocks) gives a handler its app's max_file_size: a `data:` image
    over it is refused before it is decoded (counted only when the context held the app)."""
    import base64

    demo, url = served.demo, served.url
    limit = demo.max_file_size
    assert limit
    big = "data:image/png;base64," + base64.b64encode(b"\0" * (int(limit) + 1024)).decode()
    before = hits("running_app")
    answer = call(url, "caption", [{"url": big, "meta": {"_type": "gradio.FileData"}}, "en"])
    assert "MB" in error_of(answer), answer[:300]
    assert hits("running_app") > before


def test_gradios_mcp_server_still_marks_its_calls_with_the_header_from_mcp_reads():
    from gradio import mcp

    from server.blocks import MCP_HEADER

    name, value = MCP_HEADER
    assert f'"{name}": "{value}"' in inspect.getsource(mcp), "gradio/mcp.py no longer marks its calls this way"


def test_gradio_helpers_the_app_calls_as_they_are_still_there():
    """Not overridden, but not Gradio's documented API either: module-level helpers the components and
    server/ call directly (saving a file in the cache, the upload folder, walking a request's file entries,
    InvalidPathError for Gradio's own "not uploaded" refusal)."""
    import gradio as gr
    from gradio import exceptions, processing_utils, utils
    from gradio_client import utils as client_utils

    from server import expect

    expect(processing_utils, "save_bytes_to_cache", ["data", "file_name", "cache_dir"])
    expect(processing_utils, "ffmpeg_installed", [])
    expect(utils, "get_upload_folder", [])
    expect(client_utils, "traverse", ["json_obj", "func", "is_root"])
    expect(client_utils, "is_file_obj", ["d"])
    expect(client_utils, "is_http_url_like", ["possible_url"])
    assert issubclass(exceptions.InvalidPathError, Exception)
    assert gr.Image().GRADIO_CACHE == gr.Audio().GRADIO_CACHE == utils.get_upload_folder()


# --- Gradio: what the middleware knows of its routes -------------------------------------------------------

@pytest.fixture(scope="module")
def behind_login(tiny_settings):
    from app import build_demo, launch_options
    from pipelines.tasks import Pipelines

    pipes = Pipelines(tiny_settings(max_new_tokens=2))
    demo = build_demo(pipes)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                auth=("demo", "s3cret"), **launch_options(pipes.settings))
    yield demo, f"http://127.0.0.1:{port}/"
    demo.close()


def test_the_login_wall_still_reads_gradios_login_cookies(behind_login):
    """Guard lets a request past the login wall by the cookie Gradio's /login sets: if Gradio renamed it, a
    logged-in page would get 401 everywhere, or (worse, if the check were dropped) everyone would get in."""
    from server.middleware import TOKEN_COOKIES

    demo, url = behind_login
    with httpx.Client(base_url=url) as session:
        assert session.post("gradio_api/reset", json={"event_id": "e"}).status_code == 401
        before = hits("logged_in")
        login = session.post("login", data={"username": "demo", "password": "s3cret"})
        assert login.status_code == 200
        names = {cookie.name for cookie in session.cookies.jar}
        assert names and names <= {n.format(demo.server_app.cookie_id) for n in TOKEN_COOKIES}, names
        assert session.post("gradio_api/reset", json={"event_id": "e"}).status_code == 200
        assert hits("logged_in") > before


def test_the_switched_off_route_is_still_gradios_recording_route(served):
    from server.middleware import PROCESS_RECORDING

    demo, url = served.demo, served.url
    assert str(demo.server_app.url_path_for("process_recording")) == PROCESS_RECORDING
    assert httpx.post(f"{url}{PROCESS_RECORDING.lstrip('/')}").status_code == 404


def test_gradio_still_raises_these_for_an_endpoint_it_does_not_have(served):
    from gradio import route_utils

    from server.middleware import UNKNOWN_ENDPOINT

    assert route_utils.FnIndexInferError in UNKNOWN_ENDPOINT
    url = served.url
    for path, body in (("queue/join", {"data": [], "fn_index": 999, "session_hash": "x"}),
                       ("call/no_such_api", {"data": []})):
        r = httpx.post(f"{url}gradio_api/{path}", json=body)
        assert r.status_code == 404, (path, r.status_code, r.text[:200])


def test_gradios_page_still_has_a_head_for_the_language_script_to_go_first(served):
    from components.language import PAGE_SCRIPT

    url = served.url
    before = hits("head_first")
    page = httpx.get(url).content
    assert page.index(PAGE_SCRIPT) == page.index(b"<head>") + len(b"<head>") < page.index(b"<script", 1 + page.index(
        PAGE_SCRIPT)), page[:500]
    assert hits("head_first") > before


# --- glibc -------------------------------------------------------------------------------------------------

MMAP_PROBE = textwrap.dedent("""
    import ctypes, os
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.free(libc.malloc(16 << 20))  # glibc raises its threshold past this, unless it was fixed
    q = libc.malloc(8 << 20)
    heap = [l for l in open("/proc/self/maps") if l.rstrip().endswith("[heap]")]
    lo, hi = (int(x, 16) for x in heap[0].split()[0].split("-")) if heap else (0, 0)
    print("heap" if lo <= q < hi else "own mapping")
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's tunable")
def test_malloc_mmap_threshold_still_gives_big_frees_back():
    """MALLOC_MMAP_THRESHOLD_ fixes glibc's threshold: after a big free, an 8 MB buffer still gets its own
    mapping (given back when freed), where without it it comes from the heap (and stays)."""
    from server.memory import BIG_BUFFER, THRESHOLD_ENV

    def probe(extra):
        env = {k: v for k, v in os.environ.items() if k != THRESHOLD_ENV} | extra
        return subprocess.run([sys.executable, "-c", MMAP_PROBE], env=env, capture_output=True, text=True,
                              check=True).stdout.strip()

    assert probe({}) == "heap"  # the behaviour the variable is there for
    assert probe({THRESHOLD_ENV: str(BIG_BUFFER)}) == "own mapping"


def test_app_py_starts_itself_with_the_threshold_set():
    from server.memory import BIG_BUFFER, THRESHOLD_ENV

    code = "from server.memory import return_big_frees; import os; return_big_frees(); print(os.environ['%s'])"
    env = {k: v for k, v in os.environ.items() if k != THRESHOLD_ENV}
    out = subprocess.run([sys.executable, "-c", code % THRESHOLD_ENV], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == [str(BIG_BUFFER)]  # printed once: by the process started again, with the variable
    assert f"{THRESHOLD_ENV}={BIG_BUFFER}" in (ROOT / "Dockerfile").read_text()
    assert "return_big_frees()" in (ROOT / "app.py").read_text().split('if __name__ == "__main__":')[1]


# --- transformers and huggingface_hub (pipelines/compat.py) -----------------------------------------------

def compat_hits(name: str) -> int:
    from pipelines.compat import HITS

    return HITS[name]


def test_omni_still_has_its_own_loader_that_the_registry_steps_past(tiny_settings, tiny_dir):
    """compat.load_without_voices skips Qwen2.5-Omni's own from_pretrained (it needs spk_dict.pt, which only
    speech reads): the registry's load goes through it, PreTrainedModel's loader must still be a classmethod
    underneath, and Omni's loader still its own (when it is not, the override can go)."""
    import transformers

    from pipelines import tiny
    from pipelines.tasks import Pipelines

    omni = transformers.Qwen2_5OmniForConditionalGeneration
    assert "from_pretrained" in vars(omni), "Omni no longer has its own loader: compat.load_without_voices can go"
    assert inspect.ismethod(transformers.PreTrainedModel.from_pretrained)
    before = compat_hits("load_without_voices")
    loaded = Pipelines(tiny_settings()).registry.get(str(tiny_dir / tiny.OMNI_DIR))
    assert type(loaded.model) is omni
    assert compat_hits("load_without_voices") == before + 1


def test_optional_file_finds_a_file_or_none(tmp_path, monkeypatch):
    """try_to_load_from_cache: a path for a cached file, a non-str marker for a file the hub said is absent,
    None when the cache knows nothing (then hf_hub_download, here offline: it raises)."""
    from huggingface_hub import constants

    from pipelines import compat

    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "spk_dict.pt").write_bytes(b"x")
    assert compat.optional_file(str(tmp_path / "folder"), "spk_dict.pt") == str(tmp_path / "folder" / "spk_dict.pt")
    assert compat.optional_file(str(tmp_path / "folder"), "nothing.pt") is None
    repo = tmp_path / "hub" / "models--org--name"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc")
    (repo / "snapshots" / "abc").mkdir(parents=True)
    (repo / "snapshots" / "abc" / "spk_dict.pt").write_bytes(b"x")
    (repo / ".no_exist" / "abc").mkdir(parents=True)
    (repo / ".no_exist" / "abc" / "absent.pt").write_bytes(b"")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert compat.optional_file("org/name", "spk_dict.pt") == str(repo / "snapshots" / "abc" / "spk_dict.pt")
    assert compat.optional_file("org/name", "absent.pt") is None
    with pytest.raises(Exception):  # noqa: B017 - offline and not cached: huggingface_hub says so
        compat.optional_file("org/name", "unknown.pt")


def test_go_offline_still_switches_huggingface_hub_and_transformers_offline(monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants
    from transformers.utils import hub

    from pipelines import compat

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not huggingface_hub.is_offline_mode() and not hub.is_offline_mode()
    compat.go_offline()
    assert huggingface_hub.is_offline_mode() and hub.is_offline_mode()


def test_attention_of_still_reads_what_set_attn_implementation_set(tiny_dir):
    import transformers

    from pipelines import compat, tiny

    config = transformers.AutoConfig.from_pretrained(str(tiny_dir / tiny.OMNI_DIR)).thinker_config
    model = transformers.Qwen2_5OmniThinkerForConditionalGeneration(config)
    model.set_attn_implementation({"text_config": "eager"})
    assert compat.attention_of(model.config.text_config) == "eager"
    model.set_attn_implementation({"text_config": "sdpa"})
    assert compat.attention_of(model.config.text_config) == "sdpa"


def test_smart_resize_still_sizes_frames_as_the_video_processor_does():
    from pipelines import compat

    h, w = compat.smart_resize(100, 200, factor=28, min_pixels=56 * 56, max_pixels=200 * 200)
    assert h % 28 == 0 and w % 28 == 0 and 56 * 56 <= h * w <= 200 * 200 and w > h
    assert compat_hits("smart_resize") > 0


def test_our_attention_still_gets_transformers_sdpa_mask():
    from transformers import AttentionMaskInterface

    from pipelines import compat
    from pipelines.explain import ROWS

    assert AttentionMaskInterface()[ROWS] is compat.sdpa_mask()


def test_generate_still_drops_the_talkers_all_ones_mask_that_compat_gives_back(tiny_settings):
    """compat.talker_mask: generate() drops an attention mask of all ones before the talker's first step, and
    the talker computes its rope positions only when it gets one. Every talker step gets one from the hook and
    its decoder then gets positions; when generate() keeps the mask, the override can go."""
    from pipelines.tasks import Pipelines

    pipes = Pipelines(tiny_settings(max_new_tokens=2, max_speech_seconds=1))
    vqa = pipes.vqa
    talker = pipes.registry.speech(vqa.model_id).talker
    arrived, positions = [], []  # the mask as generate() hands it over; the positions the decoder then gets
    handles = [talker.register_forward_pre_hook(lambda m, a, k: arrived.append(k.get("attention_mask")),
                                                with_kwargs=True, prepend=True),
               talker.model.register_forward_pre_hook(lambda m, a, k: positions.append(k.get("position_ids")),
                                                      with_kwargs=True)]
    before = compat_hits("talker_mask")
    try:
        asked = vqa.prepare(str(STREET), "What?")
        *_, answer = vqa.answer(asked)
        list(vqa.say(asked, answer, "Chelsie"))
    finally:
        for handle in handles:
            handle.remove()
    assert arrived, "the talker never ran"
    assert all(m is None for m in arrived), "generate() keeps the talker's mask now: compat.talker_mask can go"
    assert len(positions) == len(arrived) and all(p is not None for p in positions)
    assert compat_hits("talker_mask") == before + len(arrived)


def test_bitsandbytes_linear4bit_still_repacks_on_cpu_by_its_own_switch(tiny_settings):
    """compat.unpackable_4bit_on_cpu turns off Linear4bit's packed CPU path per module, through the attribute its
    forward reads; a miniature loaded with nf4 on the CPU answers (its layers are too narrow to pack)."""
    import inspect

    from bitsandbytes.nn import Linear4bit

    from pipelines import compat
    from pipelines.tasks import Pipelines

    assert "support_avx512bf16_for_cpu" in inspect.getsource(Linear4bit.__init__)
    assert "self.support_avx512bf16_for_cpu" in inspect.getsource(Linear4bit.forward)
    before = compat_hits("unpackable_4bit_on_cpu")
    pipes = Pipelines(tiny_settings(quantize="nf4", max_new_tokens=2))
    model = pipes.caption.model.model
    assert compat_hits("unpackable_4bit_on_cpu") == before + 1
    assert not any(getattr(m, "support_avx512bf16_for_cpu", False) for m in model.modules()
                   if isinstance(m, Linear4bit) and m.weight.quant_state.shape[1] % 64)
