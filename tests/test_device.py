"""Start-up device checks (pipelines/device.py): a GPU that torch cannot use, or a GPU Space without
CUDA, is said loudly with its fix (log, Status, a banner on the page); models that will not fit are
warned about before loading. What the checks read is passed in, so every case runs on this CPU machine.
"""

from __future__ import annotations

import os
import stat

import gradio as gr
import pytest

from pipelines import device

from .conftest import launch, run_app



def test_a_gpu_torch_cannot_use_is_named_with_the_fix(tmp_path):
    (tmp_path / "nvidia0").touch()
    warning = device.gpu_unused("auto", False, {}, tmp_path, lambda name: None, "2.11.0+cu130", "13.0")
    assert warning.key == "gpu_unused"
    text = warning.text("en")
    assert "NVIDIA GPU is present but PyTorch cannot use it" in text and "CUDA 13.0" in text
    assert "update the NVIDIA driver" in text and "--device cpu" in text
    assert "无法使用" in warning.text("zh")


@pytest.mark.parametrize("cuda, dev_file, tool, wanted", [
    (True, "nvidia0", "/usr/bin/nvidia-smi", "cpu"),   # the GPU works
    (False, None, None, "auto"),                       # no GPU at all
    (False, "nvidia0", None, "cpu"),                   # --device cpu: the CPU is meant
    (False, "nvidiactl", None, "auto"),                # a control file alone is not a GPU
])
def test_no_warning_when_nothing_is_wrong(tmp_path, cuda, dev_file, tool, wanted):
    if dev_file:
        (tmp_path / dev_file).touch()
    assert device.gpu_unused(wanted, cuda, {}, tmp_path, lambda name: tool, "2.11.0", "13.0") is None


def test_nvidia_smi_on_path_counts_as_a_gpu(tmp_path):
    assert device.gpu_unused("auto", False, {}, tmp_path, lambda name: "/usr/bin/nvidia-smi", "2.11.0",
                             None).params["cuda"] == "none (a CPU-only build)"


def test_a_zerogpu_space_without_cuda_names_the_supported_torch(tmp_path):
    env = {"SPACE_ID": "someone/demo", "SPACES_ZERO_GPU": "true"}
    warning = device.gpu_unused("auto", False, env, tmp_path, lambda name: None, "2.14.1", "13.0")
    assert warning.key == "space_gpu_unused"
    assert "2.8.0, 2.9.1, 2.10.0, 2.11.0" in warning.text("en") and "ZeroGPU" in warning.text("en")
    assert device.gpu_unused("auto", True, env, tmp_path, lambda name: None, "2.11.0", "13.0") is None


def test_memory_estimate_is_parameters_times_dtype_bytes(pipes):
    """From the config on the meta device, no weights read: the count the loaded model has."""
    loaded = pipes.caption.model
    params = sum(p.numel() for p in loaded.model.parameters())
    assert device.model_bytes(loaded.model_id, loaded.family, 2) == 2 * params
    assert device.model_bytes(loaded.model_id, loaded.family, 4) == 4 * params


def test_memory_estimate_of_the_real_omni_3b_shapes(tmp_path, tiny_dir):
    """The full-size Qwen2.5-Omni-3B shapes (bench/fullsize.py, published config) as the thinker loads."""
    import json

    from bench.fullsize import OMNI_3B, deep_update
    from pipelines import tiny
    from pipelines.registry import FAMILIES

    config = json.loads((tiny_dir / tiny.OMNI_DIR / "config.json").read_text())
    deep_update(config, OMNI_3B)
    config["thinker_config"]["text_config"].pop("layer_types", None)  # derived from the layer count
    (tmp_path / "config.json").write_text(json.dumps(config))
    gb = device.model_bytes(str(tmp_path), FAMILIES["qwen2_5_omni"], 2) / 2**30
    assert 8 < gb < 12, gb  # about 4.5 B parameters (thinker: text 3 B + vision + audio) in bf16


def test_models_that_do_not_fit_are_warned_about():
    need = {"a/model": 10 * 2**30, "b/model": 4 * 2**30}
    warning = device.memory_short(need, 8 * 2**30, on_gpu=True)
    assert warning.key == "memory_short"
    assert "14.0 GB of GPU" in warning.text("en") and "8.0 GB is free" in warning.text("en")
    assert "a/model 10.0 GB" in warning.text("en")
    assert device.memory_short(need, 20 * 2**30, on_gpu=False) is None
    assert device.memory_short(need, None, on_gpu=False) is None  # unknown: no guess


@pytest.fixture(scope="module")
def warned(tiny_settings, tmp_path_factory):
    """The app on a ZeroGPU Space whose torch has no CUDA, with 1 kB free."""
    from pipelines.tasks import Pipelines

    pipes = Pipelines(tiny_settings())
    env = {"SPACE_ID": "someone/demo", "SPACES_ZERO_GPU": "true"}
    pipes.device_warnings = device.startup_warnings(pipes, environ=env, dev=tmp_path_factory.mktemp("dev"),
                                                    which=lambda name: None, available=1024)
    demo, url = launch(pipes)
    yield pipes, demo, url
    demo.close()


def test_startup_warnings_cover_the_gpu_and_the_memory(warned):
    pipes = warned[0]
    assert [w.key for w in pipes.device_warnings] == ["space_gpu_unused", "memory_short"]
    assert all(m in pipes.device_warnings[1].text() for m in pipes.model_ids())


def test_status_lists_the_warnings_in_the_callers_language(warned):
    from gradio_client import Client

    url = warned[2]
    status = Client(url, analytics_enabled=False, verbose=False).predict(api_name="/status")
    assert len(status["device"]["warnings"]) == 2 and "PyTorch sees no GPU" in status["device"]["warnings"][0]
    zh = Client(url, analytics_enabled=False, verbose=False, headers={"Accept-Language": "zh-CN"})
    assert "检测不到 GPU" in zh.predict(api_name="/status")["device"]["warnings"][0]


def banner_of(demo, language: str):
    fn = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__module__", None) == "components.banner")
    return fn(gr.Request(headers={"accept-language": language}))


def test_the_page_shows_a_banner_only_when_something_is_wrong(warned, pipes):
    from app import build_demo

    shown = banner_of(warned[1], "en")
    assert shown.visible is True and "PyTorch sees no GPU" in shown.value and "--tiny" in shown.value
    assert "检测不到 GPU" in banner_of(warned[1], "zh-CN").value
    assert banner_of(build_demo(pipes), "en").visible is False  # all is well: no banner


def test_python_app_logs_an_unused_gpu_loudly(tiny_dir, tmp_path):
    """`python app.py` on this CPU-only machine, with an `nvidia-smi` on PATH: the log says it, once."""
    tool = tmp_path / "bin" / "nvidia-smi"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\nexit 9\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{tool.parent}{os.pathsep}{os.environ['PATH']}"}
    log = tmp_path / "app.log"
    with run_app("--tiny", "--tiny-dir", str(tiny_dir), env=env, log_path=log):
        pass
    text = log.read_text()
    assert text.count("NVIDIA GPU is present but PyTorch cannot use it") == 1, text[-3000:]
