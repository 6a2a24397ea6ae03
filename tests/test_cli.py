"""`python app.py` itself: start-up failures in one line, safe serving defaults, limits as settings.

The end-to-end test starts the real command (`app.py --tiny ...`) as a subprocess and talks to
it over HTTP, so what is checked is what a user of the command gets.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import fields

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AuthenticationError

from .conftest import ASSETS, ROOT, free_port, run_app
from .requires import unavailable

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("MMDEMO_", "SPACE_", "GRADIO_SERVER"))}


def app_command(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "app.py"), *args]


@pytest.mark.slow
def test_model_that_fails_to_load_stops_startup_in_one_line():
    r = subprocess.run(app_command("--caption-model", "does/not-exist"), capture_output=True, text=True,
                       env={**CLEAN_ENV, "HF_HUB_OFFLINE": "1"}, cwd=ROOT, timeout=180)
    assert r.returncode != 0
    err = r.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1 and len(err) < 700, err
    assert err.startswith("error: Could not load model 'does/not-exist'")
    assert "--caption-model" in err


def no_network_env(hf_home) -> dict:
    """HF_HUB_OFFLINE unset, but the Hub unreachable (a closed local port refuses at once), an own cache."""
    env = {k: v for k, v in CLEAN_ENV.items() if k != "HF_HUB_OFFLINE"}
    return {**env, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(hf_home)}


def no_line_twice(text: str) -> None:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == len(set(lines)), f"a line printed twice:\n{text[-3000:]}"


@pytest.mark.slow
def test_without_network_startup_fails_at_once_and_names_the_fixes(tmp_path):
    r = subprocess.run(app_command(), capture_output=True, text=True, env=no_network_env(tmp_path), cwd=ROOT,
                       timeout=180)
    out = r.stdout + r.stderr
    assert r.returncode == 2
    assert "Retry" not in out, out[-3000:]  # huggingface_hub's ~30 s of retries are not waited for
    err = r.stderr.strip().splitlines()[-1]
    assert err.startswith("error: Could not load model 'Qwen/Qwen2.5-Omni-3B': the Hugging Face Hub "
                          "(http://127.0.0.1:9) cannot be reached"), err
    assert all(fix in err for fix in ("HF_HUB_OFFLINE", "--tiny", "--caption-model / --vqa-model / --audio-model"))
    assert out.count("Could not load model") == 1
    no_line_twice(out)


@pytest.mark.slow
def test_a_missing_local_folder_is_called_that(tmp_path):
    r = subprocess.run(app_command("--caption-model", "./missing-folder"), capture_output=True, text=True,
                       env=no_network_env(tmp_path), cwd=ROOT, timeout=180)
    assert r.returncode == 2
    assert r.stderr.strip() == ("error: Could not load model './missing-folder': the local folder does not exist. "
                                "Fix: check the path given to --caption-model.")


def fake_hub_cache(hf_home, tiny_dir) -> None:
    """The miniatures stored in a Hugging Face cache under the default ids, as a download would leave them."""
    import shutil

    from pipelines import settings, tiny

    for model_id, folder in ((settings.DEFAULT_UNDERSTANDING_MODEL, tiny.OMNI_DIR),
                             (settings.DEFAULT_IMAGE_MODEL, tiny.JANUS_DIR)):
        repo = hf_home / "hub" / f"models--{model_id.replace('/', '--')}"
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text("0" * 40)
        shutil.copytree(tiny_dir / folder, repo / "snapshots" / ("0" * 40))


@pytest.mark.slow
def test_without_network_cached_models_start_offline_with_one_warning(tmp_path, tiny_dir):
    fake_hub_cache(tmp_path / "hf", tiny_dir)
    log = tmp_path / "app.log"
    with run_app("--max-new-tokens", "4", env=no_network_env(tmp_path / "hf"), log_path=log) as url:
        answer = Client(url, analytics_enabled=False, verbose=False).predict(
            handle_file(str(ASSETS / "street.png")), "en", api_name="/caption")
    assert isinstance(answer, str)
    text = log.read_text()
    assert text.count("is not reachable: using the local cache") == 1, text[-3000:]
    assert "Retry" not in text
    no_line_twice("\n".join(line for line in text.splitlines() if line.startswith(("WARNING", "ERROR"))))


@pytest.mark.slow
@pytest.mark.parametrize("value", ["alice", "alice:", ":secret"])
def test_malformed_auth_is_refused_before_anything_loads(value):
    r = subprocess.run(app_command("--auth", value), capture_output=True, text=True, env=CLEAN_ENV, cwd=ROOT,
                       timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip() == "error: --auth (or MMDEMO_AUTH) must look like user:password"


def test_safe_defaults(monkeypatch):
    from app import parse_args, parse_auth

    for key in [k for k in os.environ if k.startswith(("MMDEMO_", "SPACE_"))]:
        monkeypatch.delenv(key)
    args = parse_args([])
    assert args.host == "127.0.0.1"  # loopback unless asked
    assert args.share is False  # no public link unless --share
    assert args.auth is None
    monkeypatch.setenv("MMDEMO_AUTH", "alice:wonder:land")
    assert parse_auth(parse_args([]).auth) == ("alice", "wonder:land")
    assert parse_auth(parse_args(["--auth", "bob:pw"]).auth) == ("bob", "pw")  # the flag wins


@pytest.mark.parametrize("argv, env, text", [
    (["--max-new-tokens", "0"], {}, "--max-new-tokens (MMDEMO_MAX_NEW_TOKENS) must be at least 1, not 0"),
    ([], {"MMDEMO_QUEUE_SIZE": "-1"}, "--queue-size (MMDEMO_QUEUE_SIZE) must be at least 1, not -1"),
    ([], {"MMDEMO_MAX_AUDIO_SECONDS": "abc"}, "MMDEMO_MAX_AUDIO_SECONDS='abc' is not a float"),
])
def test_a_limit_out_of_range_stops_startup_in_one_line(monkeypatch, capsys, argv, env, text):
    from app import main

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == f"error: {text}"


@pytest.mark.slow
def test_cuda_without_a_gpu_stops_startup_in_one_line(tiny_dir):
    """Run where no GPU is visible (CUDA_VISIBLE_DEVICES empty), so the test means the same on a GPU machine."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "app.py", "--tiny", "--tiny-dir", str(tiny_dir), "--device", "cuda"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    err = out.stderr.strip().splitlines()[-1]
    assert err.startswith("error: ") and "no CUDA GPU is visible; use --device cpu" in err, out.stderr[-2000:]
    assert "Traceback" not in out.stderr


def test_zero_concurrency_is_refused(monkeypatch, capsys):
    from app import parse_args

    monkeypatch.setenv("MMDEMO_CONCURRENCY", "0")
    with pytest.raises(SystemExit):
        parse_args([])
    assert "MMDEMO_CONCURRENCY" in capsys.readouterr().err.splitlines()[-1]


def test_no_remote_code_is_ever_trusted():
    sources = [p for d in ("pipelines", "components", "server") for p in (ROOT / d).glob("*.py")] + [ROOT / "app.py"]
    assert not [p.name for p in sources if "trust_remote_code" in p.read_text()]


def test_limits_are_settings_with_flags_env_vars_and_a_true_readme(monkeypatch):
    from app import parse_args, settings_from
    from pipelines.settings import Settings

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Limits"):]
    table = table[: table.index("\n## ")]
    rows = {m[0]: (m[1], m[2]) for m in re.findall(r"^\| `(--[\w-]+)` \| `(\w+)` \| ([^|]+) \|$", table, re.M)}
    limits = [f for f in fields(Settings) if f.name.startswith(("max_", "queue_"))]
    for f in limits:
        flag = f"--{f.name.replace('_', '-')}"
        assert flag in rows, f"README Limits table lacks {flag}"
        env, default = rows[flag]
        assert env == f.metadata["env"]
        shown = {f"{f.default:g}"} if isinstance(f.default, float) else {str(f.default), f"{f.default:,}"}
        assert re.match(r"[\d,.]+", default)[0] in shown, f"README says {default!r} for {flag}"
        # flag over environment over default
        # 70 and 90: above every other limit's default that one must not exceed (--max-file-mb <= --max-cache-mb)
        monkeypatch.setenv(env, "70")
        assert getattr(settings_from(parse_args([])), f.name) == 70
        assert getattr(settings_from(parse_args([flag, "90"])), f.name) == 90
        monkeypatch.delenv(env)
        assert getattr(settings_from(parse_args([])), f.name) == f.default


@pytest.fixture(scope="module")
def started(tiny_dir):
    """`python app.py --tiny --auth ...` as a user would start it; yields its port and URL."""
    port = free_port()
    env = {**CLEAN_ENV, "HF_HUB_OFFLINE": "1", "MMDEMO_AUTH": "demo:s3cret", "MMDEMO_MAX_FILE_MB": "1"}
    with run_app("--tiny", "--tiny-dir", str(tiny_dir), "--max-new-tokens", "4", env=env, port=port) as url:
        yield port, url


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on `port` (Linux /proc/net/tcp*)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in open(table).read().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found


def test_binds_loopback_only(started):
    port, _ = started
    if not os.path.exists("/proc/net/tcp"):
        unavailable("needs Linux /proc/net/tcp")
    assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else


def test_auth_from_environment_is_enforced(started):
    _, url = started
    with pytest.raises(AuthenticationError):
        Client(url, analytics_enabled=False, verbose=False)
    assert httpx.post(url + "gradio_api/queue/join", json={}).status_code == 401
    client = Client(url, auth=("demo", "s3cret"), analytics_enabled=False, verbose=False)
    assert isinstance(client.predict(handle_file(str(ASSETS / "street.png")), "en", api_name="/caption"), str)


def logged_in(url: str) -> httpx.Client:
    session = httpx.Client(base_url=url)
    assert session.post("login", data={"username": "demo", "password": "s3cret"}).status_code == 200
    return session


def test_upload_size_limit_is_enforced_by_the_server(started, tmp_path):
    _, url = started
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (2 * 1024 * 1024))
    r = logged_in(url).post("gradio_api/upload", files={"files": ("big.png", big.read_bytes())})
    assert r.status_code == 413 and "maximum allowed size" in r.text


def test_uploaded_files_are_not_served_to_other_users(started):
    _, url = started
    alice = logged_in(url)
    mine = {"files": ("mine.png", (ASSETS / "street.png").read_bytes())}
    (path,) = alice.post("gradio_api/upload", files=mine).json()
    assert alice.get(f"gradio_api/file={path}").status_code == 200  # the uploader sees her own file
    upload_dir = os.path.dirname(os.path.dirname(path))
    name = os.path.basename(path)
    assert httpx.get(f"{url}gradio_api/file={path}").status_code in (401, 403)  # not logged in
    bob = logged_in(url)
    # The folder is a keyed hash of the content: it cannot be listed, guessed or walked out of.
    for probe in (upload_dir, os.path.dirname(path), f"{upload_dir}/{'0' * 64}/{name}",
                  str(ROOT / "app.py"), "/etc/passwd", f"{upload_dir}/../../etc/passwd"):
        assert bob.get(f"gradio_api/file={probe}").status_code == 403, probe
    status = bob.get("gradio_api/info").text + str(Client(url, auth=("demo", "s3cret"), verbose=False,
                                                          analytics_enabled=False).predict(api_name="/status"))
    assert upload_dir not in status and name not in status


def test_uploads_are_swept_hourly(pipes):
    from app import build_demo

    assert build_demo(pipes).delete_cache == (3600, 3600)


def test_help_says_each_default_once(capsys):
    """`--help` says "default X" once, never "(default: None)" after it."""
    from app import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--help"])
    out = capsys.readouterr().out
    assert "(default: None)" not in out and "(default: False)" not in out and "(default: )" not in out
    assert "default Qwen" in out
