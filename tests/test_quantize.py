"""--quantize on the miniatures: each mode loads through transformers' BitsAndBytesConfig (bitsandbytes' CPU
backend here), answers every tab, stores the decoder linears in less memory by the expected ratio while the
kept modules stay float; a checkpoint with its own quantization_config loads with it; what this machine
cannot run is refused before loading, in English and Chinese."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from PIL import Image

from pipelines import quantize
from pipelines.errors import ModelError
from pipelines.settings import Settings
from pipelines.tasks import Pipelines

from .conftest import ASSETS, ROOT

pytest.importorskip("bitsandbytes")

MODES = ("none", "int8", "nf4")
# Weight memory of the quantized linears against float32 (their scales included): int8 is 1 byte a weight and a
# float32 scale a row, nf4 half a byte and a float32 scale per 64 weights.
MOST = {"int8": 0.3, "nf4": 0.2}


@pytest.fixture(scope="module")
def by_mode(tiny_settings):
    """Pipelines for each mode, models loaded (on the CPU: float32 compute)."""
    out = {}
    for mode in MODES:
        pipes = Pipelines(tiny_settings(quantize=mode, device="cpu", max_new_tokens=6))
        pipes.check(load=True)
        out[mode] = pipes
    return out


def models(pipes):
    return [pipes.registry.get(pipes.caption.model_id), pipes.registry.get(pipes.image.model_id)]


def quantized_bytes(loaded) -> int:
    return sum(quantize.weight_bytes(m) for _, m in quantize.quantized_linears(loaded.model, loaded.family))


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_answers_every_tab(by_mode, mode):
    pipes = by_mode[mode]
    caption = list(pipes.caption(str(ASSETS / "street.png")))
    vqa = list(pipes.vqa(Image.open(ASSETS / "chart.png"), "Which bar is highest?"))
    audio = list(pipes.audio(str(ASSETS / "speech_en.wav"), "What is said?"))
    video = list(pipes.video(str(ASSETS / "street_en.mp4"), "What happens?"))
    for answer in (caption, vqa, audio, video):
        assert answer and all(isinstance(chunk, str) for chunk in answer)
        assert all(b.startswith(a) for a, b in zip(answer, answer[1:]))
    images, seed = pipes.image("a red house", seed=3, size=256)
    assert seed == 3 and [im.size for im in images] == [(256, 256)]
    assert all(loaded.quantization == quantize.describe(mode, False) for loaded in models(pipes))


@pytest.mark.parametrize("mode", ["int8", "nf4"])
def test_quantized_layers_take_the_expected_share_of_float32(by_mode, mode):
    import bitsandbytes as bnb

    kind = {"int8": bnb.nn.Linear8bitLt, "nf4": bnb.nn.Linear4bit}[mode]
    for full, small in zip(models(by_mode["none"]), models(by_mode[mode])):
        linears = dict(quantize.quantized_linears(small.model, small.family))
        assert linears and all(isinstance(m, kind) for m in linears.values()), small.model_id
        assert all(name.split(".layers.")[0].endswith("language_model") for name in linears)  # decoder only
        ratio = quantized_bytes(small) / quantized_bytes(full)
        assert ratio <= MOST[mode], (small.model_id, ratio)
        whole = lambda m: sum(t.numel() * t.element_size() for t in (*m.parameters(), *m.buffers()))  # noqa: E731
        assert whole(small.model) < whole(full.model)


# What must keep its precision, by module name in transformers 5.23's classes (the talker and token2wav load on
# the first spoken answer, unquantized: speech.load_speech passes no quantization_config).
KEPT = {"qwen2_5_omni": ("thinker.model.audio_tower", "thinker.model.visual", "thinker.lm_head"),
        "janus": ("model.vision_model", "model.aligner", "model.vqmodel", "model.generation_embeddings",
                  "model.generation_aligner", "model.generation_head", "lm_head")}


@pytest.mark.parametrize("mode", ["int8", "nf4"])
def test_kept_modules_stay_float(by_mode, mode):
    for loaded in models(by_mode[mode]):
        model = loaded.model
        for name in KEPT[model.config.model_type]:
            module = model.get_submodule(name)
            for sub in module.modules():
                if isinstance(sub, torch.nn.Linear):
                    assert type(sub) is torch.nn.Linear, (name, type(sub))
            assert all(p.dtype == torch.float32 for p in module.parameters()), name
        assert loaded.generator.get_input_embeddings().weight.dtype == torch.float32


def test_memory_estimate_and_status_show_the_quantized_figures(by_mode):
    from components.status import collect
    from pipelines.device import plan_memory

    plans = {mode: plan_memory(by_mode[mode], False, None, on_gpu=False) for mode in MODES}
    weights = {mode: sum(p.bytes for p in plan.parts) for mode, plan in plans.items()}
    assert weights["nf4"] < weights["int8"] < weights["none"]
    thinker = {mode: next(p for p in plans[mode].parts if p.name == "thinker") for mode in MODES}
    assert thinker["int8"].quantized > 0 and thinker["int8"].quantized == thinker["nf4"].quantized
    assert thinker["none"].bytes - thinker["int8"].bytes == thinker["int8"].quantized * 3  # 4 bytes -> 1
    assert "--quantize int8" in plans["int8"].summary() and "decoder layers int8" in plans["int8"].summary()
    estimate = plans["nf4"].as_dict()
    assert estimate["quantize"] == "nf4" and {p["quantized"] for p in estimate["parts"]} >= {"nf4", "none"}
    status = {mode: collect(by_mode[mode]) for mode in MODES}
    for mode in MODES:
        entries = [m for m in status[mode]["models"].values() if m.get("loaded")]
        assert entries and all(m["quantization"] == quantize.describe(mode, False) for m in entries)
    mb = {mode: sum(m["weights_mb"] for m in status[mode]["models"].values() if m.get("loaded")) for mode in MODES}
    assert mb["nf4"] < mb["int8"] < mb["none"]
    from components.status_panel import readable

    assert "quantized int8 (bitsandbytes)" in readable(status["int8"], "en")
    assert "量化 nf4 (bitsandbytes)" in readable(status["nf4"], "zh")
    assert "quantized" not in readable(status["none"], "en")


def test_a_checkpoint_saved_quantized_loads_with_its_own_config(by_mode, tiny_settings, tmp_path):
    """A bitsandbytes-saved miniature loads by path as it was saved; --quantize nf4 is not applied on top."""
    import bitsandbytes as bnb

    saved = tmp_path / "janus-int8"
    janus = by_mode["int8"].registry.get(by_mode["int8"].image.model_id)
    janus.model.save_pretrained(saved)
    janus.processor.save_pretrained(saved)
    pipes = Pipelines(tiny_settings(image_model=str(saved), quantize="nf4", device="cpu"))
    pipes.check()
    loaded = pipes.registry.get(str(saved))
    assert loaded.quantization == "int8 (the checkpoint's own)"
    linears = dict(quantize.quantized_linears(loaded.model, loaded.family))
    assert all(isinstance(m, bnb.nn.Linear8bitLt) for m in linears.values())
    images, _ = pipes.image("a red house", seed=3, size=256)
    assert images[0].size == (256, 256)


def test_a_pre_quantized_checkpoint_without_its_backend_is_refused_before_loading(tiny_settings, tiny_dir, tmp_path):
    """A GPTQ release needs gptqmodel: refused by Pipelines.check, naming what to install, nothing loaded."""
    if quantize.installed("gptqmodel"):
        pytest.skip("gptqmodel is installed here")
    folder = tmp_path / "janus-gptq"
    shutil.copytree(tiny_dir / "janus", folder)
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gptq", "bits": 4, "group_size": 128}
    (folder / "config.json").write_text(json.dumps(config))
    pipes = Pipelines(tiny_settings(image_model=str(folder)))
    with pytest.raises(ModelError) as caught:
        pipes.check()
    assert caught.value.key == "quantized_checkpoint_missing"
    assert "pip install gptqmodel" in caught.value.message("en") and "gptq" in caught.value.message("en")
    assert "pip install gptqmodel" in caught.value.message("zh") and "已经量化" in caught.value.message("zh")
    assert pipes.registry.loaded() == []
    # `python app.py` with it: one line, before anything loads
    omni = str(tiny_dir / "qwen2_5_omni")
    out = subprocess.run([sys.executable, "app.py", *(f"--{task}-model={omni}" for task in ("caption", "vqa", "audio",
                                                                                           "video")),
                          f"--image-model={folder}", "--quantize", "int8"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: The checkpoint") and "`pip install gptqmodel optimum`" in last, out.stderr[-2000:]
    assert "Traceback" not in out.stderr


def test_bitsandbytes_missing_is_refused_with_what_to_install():
    with pytest.raises(ModelError) as caught:
        quantize.check("int8", "cpu", find_spec=lambda name: None)
    assert caught.value.key == "quantize_missing"
    for lang in ("en", "zh"):
        assert "pip install bitsandbytes==0.50.2" in caught.value.message(lang)
    assert "not installed" in caught.value.message("en") and "没有安装" in caught.value.message("zh")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("mode", ["int8", "nf4"])
def test_a_mode_the_backend_cannot_run_on_the_device_is_refused(mode):
    """bitsandbytes' own op on the device is tried first: without a GPU, 'cuda' is refused, with the fix."""
    with pytest.raises(ModelError) as caught:
        quantize.check(mode, "cuda")
    assert caught.value.key == "quantize_device"
    assert "--quantize none" in caught.value.message("en") and "--quantize none" in caught.value.message("zh")
    assert "cuda" in caught.value.message("en") and "无法在此设备" in caught.value.message("zh")


def test_an_unknown_mode_is_refused_by_the_settings_and_the_flag(monkeypatch, capsys):
    import app

    with pytest.raises(ValueError, match="--quantize .*none, int8, nf4"):
        Settings(quantize="int4")
    monkeypatch.setenv("MMDEMO_QUANTIZE", "fp8")
    with pytest.raises(ValueError, match="MMDEMO_QUANTIZE"):
        Settings.from_env()
    monkeypatch.delenv("MMDEMO_QUANTIZE")
    with pytest.raises(SystemExit):
        app.parse_args(["--quantize", "int4"])
    assert "invalid choice" in capsys.readouterr().err
    monkeypatch.setenv("MMDEMO_QUANTIZE", "nf4")
    assert app.settings_from(app.parse_args([])).quantize == "nf4"


@pytest.mark.parametrize("mode", ["int8", "nf4"])
def test_a_quantized_thinker_still_speaks_through_a_float_talker(by_mode, mode):
    from pipelines.speech import Said

    pipes = by_mode[mode]
    request = pipes.vqa.prepare(Image.open(ASSETS / "chart.png"), "Which bar is highest?")
    answer = list(pipes.vqa.answer(request))[-1]
    items = list(pipes.vqa.say(request, answer, "Chelsie"))
    assert isinstance(items[-1], Said) and len(items) > 1
    model = pipes.registry.get(pipes.vqa.model_id).model
    for name in ("talker", "token2wav"):
        module = model.get_submodule(name)
        assert all(type(m) is torch.nn.Linear for m in module.modules() if isinstance(m, torch.nn.Linear)), name
        assert all(p.dtype == torch.float32 for p in module.parameters()), name


def test_the_bench_prints_its_table(tiny_dir):
    """bench/quantize.py end to end with tiny counts (its numbers are bench/RESULTS.md's, not checked here)."""
    out = subprocess.run([sys.executable, "-m", "bench.quantize", "--tiny-dir", str(tiny_dir), "--modes", "none,nf4",
                          "--tokens", "2", "--repeats", "1", "--device", "cpu"], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "### --quantize side by side" in out.stdout
    assert "| Omni thinker, caption | nf4 |" in out.stdout and "| Janus, image question | none |" in out.stdout


def test_the_served_app_started_with_the_flag_answers_and_says_so_in_status(tiny_dir):
    """`python app.py --tiny --quantize int8`: the flag reaches the registry; the API answers; /status names it."""
    from gradio_client import Client, handle_file

    from .conftest import run_app

    env = dict(os.environ, MMDEMO_MAX_NEW_TOKENS="4", HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    with run_app("--tiny", "--tiny-dir", str(tiny_dir), "--quantize", "int8", "--device", "cpu", env=env) as url:
        client = Client(url, verbose=False)
        caption = client.predict(handle_file(str(ASSETS / "street.png")), "en", api_name="/caption")
        assert isinstance(caption, str)
        gallery, seed = client.predict("a red house", 11, 1, 256, 5, api_name="/text_to_image")
        assert seed == 11 and len(gallery) == 1
        status = client.predict(api_name="/status")
    loaded = [m for m in status["models"].values() if m.get("loaded")]
    assert len(loaded) == 2 and all(m["quantization"] == "int8 (bitsandbytes)" for m in loaded)
    estimate = status["device"]["memory_estimate"]
    assert estimate["quantize"] == "int8" and "int8" in {p["quantized"] for p in estimate["parts"]}


def test_int8_says_its_float16_cast_once_not_at_every_layer_and_token(by_mode, caplog):
    import logging

    with caplog.at_level(logging.WARNING, logger="bitsandbytes"):
        list(by_mode["int8"].caption(str(ASSETS / "street.png")))
        list(by_mode["int8"].caption(str(ASSETS / "street.png")))
    said = [r for r in caplog.records if r.getMessage().startswith("MatMul8bitLt")]
    assert len(said) <= 1
