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
from pipelines.errors import ModelError

from .conftest import launch, run_app, serve



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


# The real checkpoints' sizes. Qwen/Qwen2.5-Omni-3B: its config.json (a public copy: github.com/xygu/MusicQnA,
# models/Qwen2.5-Omni-3B/config.json): the thinker's as in bench/fullsize.py; the talker and token2wav below.
# deepseek-community/Janus-Pro-1B: bench/fullsize.py's JANUS_PRO_1B (its published config).
REAL_TALKER_AND_TOKEN2WAV = {
    "talker_config": dict(vocab_size=8448, embedding_size=2048, hidden_size=896, intermediate_size=4864,
                          num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2, head_dim=64,
                          tts_codec_pad_token_id=8292, tts_codec_start_token_id=8293, tts_codec_end_token_id=8294,
                          tts_codec_mask_token_id=8296, max_position_embeddings=32768,
                          rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 16, 0]}),
    "token2wav_config": {
        "dit_config": dict(hidden_size=1024, num_hidden_layers=22, num_attention_heads=16, head_dim=64, ff_mult=2,
                           emb_dim=512, num_embeds=8193, mel_dim=80, repeats=2, block_size=24, enc_emb_dim=192,
                           enc_dim=128, enc_channels=[256, 256, 256, 256, 768], enc_kernel_sizes=[5, 3, 3, 3, 1],
                           enc_dilations=[1, 2, 3, 4, 1], enc_attention_channels=64, enc_res2net_scale=2,
                           enc_se_channels=64, look_ahead_layers=[10], look_backward_layers=[0, 20]),
        "bigvgan_config": dict(mel_dim=80, upsample_initial_channel=1536, resblock_kernel_sizes=[3, 7, 11],
                               resblock_dilation_sizes=[[1, 3, 5]] * 3, upsample_rates=[5, 3, 2, 2, 2, 2],
                               upsample_kernel_sizes=[11, 7, 4, 4, 4, 4])},
}
# Their parameters, counted on the meta device from those configs. The Omni checkpoint's weight index
# (model.safetensors.index.json, same public copy) agrees: its total_size, 11,972,343,936 bytes, is the thinker and
# talker in bf16 and token2wav in float32, to 128 bytes (buffers).
THINKER, TALKER, TOKEN2WAV, JANUS = 4_703_464_448, 384_604_928, 449_051_264, 1_866_921_611
OMNI_INDEX_TOTAL_SIZE = 11_972_343_936
GIB = 2**30


@pytest.fixture(scope="module")
def real_sizes(tiny_dir, tmp_path_factory):
    """Folders with the real checkpoints' configs (the miniatures' files, the real sizes): Pipelines over them."""
    import json

    from bench.fullsize import JANUS_PRO_1B, OMNI_3B, deep_update
    from pipelines import tiny

    root = tmp_path_factory.mktemp("real-sizes")
    for name, sizes in ((tiny.OMNI_DIR, [OMNI_3B, REAL_TALKER_AND_TOKEN2WAV]), (tiny.JANUS_DIR, [JANUS_PRO_1B])):
        config = json.loads((tiny_dir / name / "config.json").read_text())
        for update in sizes:
            deep_update(config, update)
        for text in (config.get("text_config"), config.get("talker_config"),
                     config.get("thinker_config", {}).get("text_config")):
            if text:
                text.pop("layer_types", None)  # derived from the layer count
        (root / name).mkdir()
        (root / name / "config.json").write_text(json.dumps(config))
    return str(root / tiny.OMNI_DIR), str(root / tiny.JANUS_DIR)


def real_pipes(real_sizes, **limits):
    from pipelines.settings import Settings
    from pipelines.tasks import Pipelines

    omni, janus = real_sizes
    return Pipelines(Settings(caption_model=omni, vqa_model=omni, audio_model=omni, video_model=omni,
                              image_model=janus, **limits))


@pytest.mark.parametrize("voice", [False, True])
def test_the_estimate_counts_every_part_in_its_dtype_and_the_largest_request(real_sizes, voice):
    """Thinker, talker (bf16), token2wav (float32) and Janus (bf16), with or without --voice (without it the
    speech parts load on the first spoken answer, and count all the same), plus the largest request's
    activations from the config: with the default limits, the 30 s video with its sound."""
    from transformers import AutoConfig

    pipes = real_pipes(real_sizes)
    plan = device.plan_memory(pipes, voice, None, on_gpu=True)
    omni, janus = real_sizes
    assert [(p.model_id, p.name, p.params, p.dtype_bytes) for p in plan.parts] == [
        (omni, "thinker", THINKER, 2), (omni, "talker", TALKER, 2), (omni, "token2wav", TOKEN2WAV, 4),
        (janus, "model", JANUS, 2)]
    weights = (THINKER + TALKER) * 2 + TOKEN2WAV * 4 + JANUS * 2
    assert abs((THINKER + TALKER) * 2 + TOKEN2WAV * 4 - OMNI_INDEX_TOTAL_SIZE) <= 128
    video = device.largest_requests(pipes.settings)[0]
    assert plan.largest == video.task == "video"
    assert plan.activations == device.activation_bytes(AutoConfig.from_pretrained(omni), video, 2, speech=True)
    assert plan.total == weights + plan.activations
    assert 4 * GIB < plan.activations < 8 * GIB, plan.activations / GIB
    assert ("on the first spoken answer" in plan.summary()) is not voice


@pytest.mark.parametrize("seconds, card_gb", [(15, 18.38), (30, 22.43), (60, 28.22)])
def test_the_estimate_is_near_qwens_model_card(real_sizes, seconds, card_gb):
    """Qwen's model card: the least GPU memory the 3B needs in bf16 for a 15/30/60 s video (its own sampling:
    2 frames a second, up to 768 x 28² pixels each). The estimate, with Omni's weights, is within 15 %."""
    from transformers import AutoConfig

    from pipelines.settings import Settings

    omni = real_sizes[0]
    limits = Settings(max_video_seconds=seconds, max_video_frames=1000, max_video_pixels=768 * 28 * 28,
                      max_prompt_chars=20, max_new_tokens=16)
    estimate = (THINKER + TALKER) * 2 + TOKEN2WAV * 4 + device.activation_bytes(
        AutoConfig.from_pretrained(omni), device.largest_requests(limits)[0], 2)
    assert estimate / GIB == pytest.approx(card_gb, rel=0.15)


def test_a_16gb_gpu_with_voice_and_the_default_video_limits_does_not_fit(real_sizes, tmp_path):
    """What does not fit is said before loading, and the app starts with what does: speech off, and here the
    drawing checkpoint left out too (four 1024 px images to the image chat need more than a short video)."""
    pipes = real_pipes(real_sizes)
    warnings = device.startup_warnings(pipes, environ={}, dev=tmp_path, which=lambda name: None,
                                       available=16 * GIB, voice=True, on_gpu=True)
    plan = pipes.memory_plan
    assert not plan.wanted.fits and plan.wanted.total > 16 * GIB and plan.fits
    assert [w.key for w in warnings] == ["memory_speech_off", "memory_model_off"]
    assert "Spoken answers are off" in warnings[0].text("en") and "朗读回答已关闭" in warnings[0].text("zh")
    assert real_sizes[1] in warnings[1].text("en")
    assert pipes.registry.speech_off and not pipes.vqa.speaks
    with pytest.raises(ModelError) as off:
        pipes.image.model  # noqa: B018
    assert off.value.key == "model_off"
    # On 24 GB all of it fits, with speech.
    pipes = real_pipes(real_sizes)
    assert device.startup_warnings(pipes, environ={}, dev=tmp_path, which=lambda name: None, available=22 * GIB,
                                   voice=True, on_gpu=True) == []
    assert pipes.memory_plan.fits and pipes.memory_plan.speech and pipes.vqa.speaks


def test_on_zerogpu_the_estimate_is_held_against_the_default_slice(real_sizes, tmp_path, monkeypatch):
    """The server process holds no GPU on ZeroGPU: each call gets the default 48 GB slice, which fits it all."""
    from pipelines import zerogpu

    monkeypatch.setattr(zerogpu, "ON_ZEROGPU", True)
    pipes = real_pipes(real_sizes)
    assert device.startup_warnings(pipes, environ={}, dev=tmp_path, which=lambda name: None, voice=True,
                                   on_gpu=True) == []
    assert pipes.memory_plan.available == zerogpu.GPU_BYTES and pipes.memory_plan.fits and pipes.memory_plan.speech


def test_a_gpu_that_fits_a_shorter_video_lowers_the_video_limits(real_sizes, tmp_path):
    """With the images and the clip small, a long video is what does not fit: its limits are lowered."""
    pipes = real_pipes(real_sizes, max_video_seconds=60, max_video_frames=120, max_question_images=1)
    warnings = device.startup_warnings(pipes, environ={}, dev=tmp_path, which=lambda name: None,
                                       available=18 * GIB, voice=False, on_gpu=True)
    lowered, = (w for w in warnings if w.key == "memory_video_lowered")
    assert pipes.settings.max_video_seconds < 60 and pipes.memory_plan.fits
    assert f"at most {pipes.settings.max_video_seconds:g} s" in lowered.text() and "instead of 60 s" in lowered.text()
    assert "视频最多读取" in lowered.text("zh")


def test_a_checkpoint_left_out_answers_its_tab_with_why(tiny_settings, real_sizes, tmp_path):
    """Where the plan leaves the drawing checkpoint out (on 16 GB, above), the app still starts: its tab answers
    that it is off on this machine, in the caller's language, and the banner says why."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from pipelines.tasks import Pipelines

    planned = real_pipes(real_sizes)
    warnings = device.startup_warnings(planned, environ={}, dev=tmp_path, which=lambda name: None,
                                       available=16 * GIB, voice=True, on_gpu=True)
    pipes = Pipelines(tiny_settings())
    pipes.registry.off.add(pipes.image.model_id)  # as apply_plan did for Janus-Pro-1B there
    pipes.registry.speech_off = True
    pipes.device_warnings = warnings
    pipes.check(load=True)  # --preload leaves it out, and does not fail
    assert pipes.image.model_id not in {m.model_id for m in pipes.registry.loaded()}
    served = launch(pipes)
    try:
        with pytest.raises(AppError, match="off on this machine"):
            Client(served.url, analytics_enabled=False, verbose=False).predict(
                "a red house", 1, 1, 256, 5.0, api_name="/text_to_image")
        zh = Client(served.url, analytics_enabled=False, verbose=False, headers={"Accept-Language": "zh-CN"})
        with pytest.raises(AppError, match="此标签页在本机不可用"):
            zh.predict("a red house", 1, 1, 256, 5.0, api_name="/text_to_image")
        shown = banner_of(served.demo, "en").value
        assert "Spoken answers are off" in shown and "is not loaded" in shown
    finally:
        served.close()


@pytest.fixture(scope="module")
def warned(tiny_settings, tmp_path_factory):
    """The app on a ZeroGPU Space whose torch has no CUDA, with 1 kB free."""
    from pipelines.tasks import Pipelines

    pipes = Pipelines(tiny_settings())
    env = {"SPACE_ID": "someone/demo", "SPACES_ZERO_GPU": "true"}
    pipes.device_warnings = device.startup_warnings(pipes, environ=env, dev=tmp_path_factory.mktemp("dev"),
                                                    which=lambda name: None, available=1024)
    with serve(pipes) as served:
        yield served


def test_startup_warnings_cover_the_gpu_and_the_memory(warned):
    pipes = warned.pipes
    assert [w.key for w in pipes.device_warnings] == ["space_gpu_unused", "memory_short"]
    assert all(m in pipes.device_warnings[1].text() for m in pipes.model_ids())


def test_status_lists_the_warnings_in_the_callers_language(warned):
    from gradio_client import Client

    url = warned.url
    status = Client(url, analytics_enabled=False, verbose=False).predict(api_name="/status")
    assert len(status["device"]["warnings"]) == 2 and "PyTorch sees no GPU" in status["device"]["warnings"][0]
    estimate = status["device"]["memory_estimate"]  # what loads, each part in its dtype, and that it does not fit
    assert estimate["fits"] is False and {p["part"] for p in estimate["parts"]} == {"thinker", "talker", "token2wav",
                                                                                   "model"}
    zh = Client(url, analytics_enabled=False, verbose=False, headers={"Accept-Language": "zh-CN"})
    assert "检测不到 GPU" in zh.predict(api_name="/status")["device"]["warnings"][0]


def banner_of(demo, language: str):
    fn = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__module__", None) == "components.banner")
    return fn(gr.Request(headers={"accept-language": language}))


def test_the_page_shows_a_banner_only_when_something_is_wrong(warned, pipes):
    from app import build_demo

    shown = banner_of(warned.demo, "en")
    assert shown.visible is True and "PyTorch sees no GPU" in shown.value and "--tiny" in shown.value
    assert "检测不到 GPU" in banner_of(warned.demo, "zh-CN").value
    assert banner_of(build_demo(pipes), "en").visible is False  # all is well: no banner


@pytest.mark.slow
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
