"""Spoken answers (issue 16): the Omni miniature's own talker, token2wav and voices, through the real code.

One registry and one in-process app for the module (speech on a 2-core CPU takes seconds per answer),
kept apart from the session's `pipes`; the test of what loading speech adds has an app of its own.
"""

from __future__ import annotations

import io
import json
import shutil
import threading
import time
import wave

import numpy as np
import pytest
import torch

from pipelines import speech
from tests.browser import NARROW, WIDE, tab, upload, wait_text
from tests.conftest import ASSETS, launch, serve


@pytest.fixture(scope="module")
def served(tiny_settings):
    """The app in this process, so a test can see its threads and its registry; of this module's own (not
    `apps`): its speech parts are loaded by this module's tests only."""
    from pipelines.tasks import Pipelines

    with serve(Pipelines(tiny_settings(max_new_tokens=48))) as served:
        yield served


@pytest.fixture(scope="module")
def pipes(served):
    return served.pipes


@pytest.fixture(scope="module")
def server(served):
    return served.url


@pytest.fixture(scope="module")
def client(served):
    return served.client


def model_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


def said(pipeline, messages, answer: str, voice: str, seed: int = 0) -> np.ndarray:
    torch.manual_seed(seed)  # the talker samples and the DiT starts from noise: same seed, same sound
    items = list(pipeline.say(messages, answer, voice))
    assert isinstance(items[-1], speech.Said) and not items[-1].cut
    return np.concatenate(items[:-1])


def test_speech_off_loads_nothing_more_then_speech_adds_to_the_same_model(tiny_settings):
    """Speech off: the thinker-only model, byte for byte. Speech on: talker and token2wav join that
    same model object (the thinker is not loaded again), and the API returns a valid 24 kHz wav. On an app
    of its own, so that what the module's other tests loaded before it (in any order) does not count."""
    from pipelines.tasks import Pipelines

    with serve(Pipelines(tiny_settings(max_new_tokens=48))) as served:
        spoken_on_a_fresh_app(served.pipes, served.client)


def spoken_on_a_fresh_app(pipes, client):
    from gradio_client import handle_file

    model_id = pipes.audio.model_id
    clip = handle_file(str(ASSETS / "speech_en.wav"))
    text, wav = client.predict(clip, "What is said?", False, "Chelsie", api_name="/audio_qa_spoken")
    loaded = pipes.registry.get(model_id)
    assert text and wav is None
    assert pipes.registry.speech_loaded(model_id) is None and not hasattr(loaded.model, "talker")
    thinker_only = model_bytes(loaded.model)
    status = client.predict(api_name="/status")
    assert [m["speech"] for m in status["models"].values() if "speech" in m] == [{"loaded": False}]
    assert thinker_only == model_bytes(loaded.model.thinker)

    text, wav = client.predict(clip, "What is said?", True, "Ethan", api_name="/audio_qa_spoken")
    assert text and wav
    with wave.open(wav) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (speech.SAMPLE_RATE, 1, 2)
        samples = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert samples.size > 0 and np.abs(samples).max() > 0  # sound, not silence
    spoken = pipes.registry.speech_loaded(model_id)
    assert spoken is not None and pipes.registry.load_counts[model_id] == 1
    assert loaded.model.talker is spoken.talker and model_bytes(loaded.model.thinker) == thinker_only
    assert spoken.bytes > 0
    status = client.predict(api_name="/status")
    (entry,) = [m["speech"] for m in status["models"].values() if "speech" in m]
    assert entry["loaded"] and entry["mb"] == round(spoken.bytes / 2**20, 1) and entry["voices"] == ["Chelsie", "Ethan"]


def test_a_video_answer_is_spoken_too(client):
    """The video tab speaks as the others do; with the soundtrack on, the talker is told the sound is
    interleaved with the frames (use_audio_in_video), as the checkpoint's own generate() tells it."""
    from gradio_client import handle_file

    chat, box, wav = client.predict(handle_file(str(ASSETS / "street_en.mp4")), "What is said?", [],
                                    "Chelsie", True, api_name="/video_qa_spoken")
    assert [m["role"] for m in chat] == ["user", "assistant"] and chat[-1]["content"] and box == ""
    with wave.open(wav) as w:
        assert (w.getframerate(), w.getnchannels()) == (speech.SAMPLE_RATE, 1) and w.getnframes() > 0


def test_length_grows_with_the_text_and_the_voice_changes_the_sound(pipes):
    vqa = pipes.vqa
    messages = vqa.prepare(str(ASSETS / "street.png"), "What colour is the house?")
    *_, long_answer = vqa.answer(messages, 40)
    *_, short_answer = vqa.answer(messages, 4)
    assert len(long_answer) > len(short_answer)
    short = said(vqa, messages, short_answer, "Chelsie")
    long = said(vqa, messages, long_answer, "Chelsie")
    assert long.size > short.size  # about one codec code (20 ms) per text token
    again = said(vqa, messages, short_answer, "Chelsie")
    other = said(vqa, messages, short_answer, "Ethan")
    np.testing.assert_array_equal(again, short)  # same seed, same voice: the same sound...
    assert not np.array_equal(other, short)      # ...so the difference is the voice's


def test_spoken_length_limit_cuts_the_speech_not_the_text(pipes, monkeypatch):
    vqa = pipes.vqa
    messages = vqa.prepare(str(ASSETS / "street.png"), "Describe it.")
    *_, answer = vqa.answer(messages, 40)
    monkeypatch.setattr(vqa.settings, "max_speech_seconds", 0.1)  # 5 codes of 20 ms
    items = list(vqa.say(messages, answer, "Chelsie"))
    assert items[-1].cut and sum(piece.size for piece in items[:-1]) == 5 * 480


def talker_running() -> bool:
    return any(t.name == "talker" and t.is_alive() for t in threading.enumerate())


def test_stop_ends_speech_at_the_next_piece(pipes):
    """Stop (the tab's Stop, a closed stream) during speech: no more pieces, and the talker's thread is over."""
    vqa = pipes.vqa
    messages = vqa.prepare(str(ASSETS / "street.png"), "Describe it.")
    *_, answer = vqa.answer(messages, 48)
    stop = threading.Event()
    pieces = vqa.say(messages, answer * 4, "Chelsie", stop)  # ~200 codes: a first piece of 24, then more
    first = next(pieces)
    assert isinstance(first, np.ndarray) and first.size == 24 * 480  # 24 codes, ~0.5 s (README)
    stop.set()
    assert list(pieces) == []  # neither another piece nor the end-of-speech record
    assert not talker_running()


def test_stop_during_speech_ends_the_talker(heard, pipes, tiny_settings, monkeypatch):
    """A cancelled job (the page's Stop cancels the same way) ends the talker's generate() too: a long answer
    (1,200 tokens, about as many codes to say) is cut soon after its first step, not said to its end (the
    steps run while the cancel travels to the server are counted too, hence a third); the talker is gone once
    the cancel is answered."""
    from gradio_client import Client, handle_file

    from pipelines.tasks import Pipelines

    monkeypatch.setattr(pipes.audio.settings, "max_speech_seconds", 60)
    long = Pipelines(tiny_settings(max_new_tokens=1200, max_speech_seconds=60), registry=pipes.registry)
    served = launch(long)
    try:
        client = Client(served.url, analytics_enabled=False, verbose=False, httpx_kwargs={"timeout": 60})
        job = client.submit(handle_file(str(ASSETS / "street.png")), "Describe it.", [], "Chelsie", None,
                            api_name="/vqa_spoken")
        deadline = time.monotonic() + 300
        while not heard.talker_steps:
            assert time.monotonic() < deadline and not job.done(), "speech never started"
            time.sleep(0.02)
        job.cancel()
        deadline = time.monotonic() + 60
        while talker_running():
            assert time.monotonic() < deadline, "the talker kept generating after Stop"
            time.sleep(0.1)
        steps = len(heard.talker_steps)
        answer = len(heard.thinker_passes[-1].ids) - len(heard.talker_starts[-1].text_ids) + 2
        assert answer > 1000 and steps < answer / 3, (steps, answer)
    finally:
        served.close()


def test_missing_voices_keep_the_text_answer(tiny_dir, tmp_path, tiny_settings):
    """A checkpoint whose voices file is empty: the text answer comes, the speech says why it cannot."""
    from pipelines.errors import ModelError
    from pipelines.tasks import Pipelines

    folder = shutil.copytree(tiny_dir / "qwen2_5_omni", tmp_path / "omni")
    torch.save({}, folder / "spk_dict.pt")
    pipes = Pipelines(tiny_settings(audio_model=str(folder), vqa_model=str(folder), caption_model=str(folder)))
    messages = pipes.vqa.prepare(str(ASSETS / "street.png"), "What?")
    *_, text = pipes.vqa.answer(messages, 4)
    assert text
    with pytest.raises(ModelError) as err:
        list(pipes.vqa.say(messages, text, "Chelsie"))
    assert err.value.key == "voice_file_missing" and "spk_dict.pt" in err.value.message("en")


def test_openai_backend_is_text_only(tiny_settings):
    from pipelines.tasks import Pipelines

    remote = Pipelines(tiny_settings(backend="openai", endpoint="http://127.0.0.1:9/v1"))
    assert not remote.audio.speaks and not remote.vqa.speaks


def test_the_page_gets_each_piece_of_speech_as_it_is_made_then_the_exact_wav(pipes):
    """The page's player is Gradio's streaming audio and gets every piece as a 24 kHz wav the moment
    token2wav has made it; the wav to download, last, is those same samples. Without ffmpeg (which
    Gradio's stream encoder needs) the player gets that whole wav at the end instead."""
    import gradio as gr

    from components.speech import SpeakControls

    vqa = pipes.vqa
    messages = vqa.prepare(str(ASSETS / "street.png"), "Describe it.")
    *_, answer = vqa.answer(messages, 48)
    with gr.Blocks():
        voice = SpeakControls(vqa, "t")
    assert voice.streams and voice.player.streaming  # ffmpeg is installed here (README, .ci/run)
    torch.manual_seed(0)
    *pieces, (player, download) = voice.spoken(messages, answer * 2, True, "Chelsie", None)
    assert len(pieces) >= 2  # ~100 codes: a first piece of 24, then the rest
    samples = []
    for piece, wav in pieces:
        assert wav == gr.skip()
        with wave.open(io.BytesIO(piece)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (speech.SAMPLE_RATE, 1, 2)
            samples.append(np.frombuffer(w.readframes(w.getnframes()), "<i2"))
    assert samples[0].size == 24 * 480  # 24 codes, ~0.5 s (README)
    assert player == gr.skip() and download["visible"] and download["value"].endswith("spoken-answer.wav")
    with wave.open(download["value"]) as w:
        np.testing.assert_array_equal(np.frombuffer(w.readframes(w.getnframes()), "<i2"), np.concatenate(samples))

    voice.streams = False  # a machine without ffmpeg: one whole wav, to the player and to download
    torch.manual_seed(0)
    *pieces, (player, download) = voice.spoken(messages, answer, True, "Chelsie", None)
    assert all(piece == (gr.skip(), gr.skip()) for piece in pieces)
    assert player == download["value"] and player.endswith(".wav")


def test_questions_answered_in_one_run_speak_one_after_the_other_in_one_stream(pipes):
    """Two questions waiting (the second sent while the first was answered): the first answer clears the
    player, the second's speech follows the first's in the same stream (clearing the player then would
    cut the first answer off mid-word), and the download button holds each answer's wav in turn."""
    import gradio as gr

    from components.speech import SpeakControls
    from components.vqa import Question, Waiting, answer_waiting, user

    vqa = pipes.vqa
    with gr.Blocks():
        voice = SpeakControls(vqa, "t2")
    waiting = Waiting()
    waiting.questions = [Question("Which bar is tallest?"), Question("And the lowest?")]
    updates = list(answer_waiting(vqa, lambda q, pairs: vqa.prepare(str(ASSETS / "chart.png"), q.text, pairs),
                                  [user(q) for q in waiting.questions], waiting, 500, voice, True, "Chelsie", None))
    players = [player for _, player, _ in updates]
    assert players.count(gr.update(value=None)) == 1 and players[0] == gr.update(value=None)
    wavs = [wav["value"] for _, _, wav in updates if isinstance(wav, dict) and wav.get("value")]
    assert len(wavs) == 2 and all(w.endswith("spoken-answer.wav") for w in wavs)
    assert sum(isinstance(p, bytes) for p in players) >= 2 and waiting.questions == []


# Qwen2.5-Omni-3B: the thinker's text embedding has 151936 rows (config.json), its tokenizer names ids up to
# 151664 (added_tokens.json), and the talker's tts_text_pad/start/end ids are 151859-151861.
REAL_NAMED, REAL_ROWS, REAL_TTS = 151665, 151936, (151859, 151860, 151861)
TTS_KEYS = ("tts_text_pad_token_id", "tts_text_start_token_id", "tts_text_end_token_id")


def read_talker_ids(folder) -> tuple[dict, dict]:
    """(tts ids, each voice's text start token) as the checkpoint's config.json and spk_dict.pt give them."""
    talker = json.loads((folder / "config.json").read_text())["talker_config"]
    voices = torch.load(folder / "spk_dict.pt", weights_only=True)
    return {k: talker[k] for k in TTS_KEYS}, {name: v["bos_token"] for name, v in voices.items()}


def test_the_talkers_text_ids_are_spare_rows_of_the_thinker(pipes, tiny_dir):
    """As in the real checkpoint, the ids the talker reads are rows of the thinker's embedding that no token
    names: as many rows past the tokenizer as the real one has, each id at its real offset past the tokenizer.
    The thinker can write such an id too (the real one as well): it streams as no text, but counts as a token."""
    from pipelines.generation import TokenStreamer

    loaded = pipes.vqa.model
    tok, named = loaded.tokenizer, len(loaded.tokenizer)
    rows = loaded.model.thinker.get_input_embeddings().num_embeddings
    assert rows - named == REAL_ROWS - REAL_NAMED
    tts, voices = read_talker_ids(tiny_dir / "qwen2_5_omni")
    assert [tts[k] - named for k in TTS_KEYS] == [i - REAL_NAMED for i in REAL_TTS]
    spare = [*tts.values(), *voices.values()]
    assert len(set(spare)) == len(spare) and all(named <= i < rows for i in spare), (named, rows, tts, voices)
    assert tok.convert_ids_to_tokens(spare) == [None] * len(spare)  # the tokenizer names none of them
    assert tok.decode(spare, skip_special_tokens=False) == ""

    hello = tok("hello", add_special_tokens=False)["input_ids"]
    stream = TokenStreamer(tok)
    for token in [hello[0], spare[0], *hello[1:], spare[-1]]:
        stream.add([token])
    stream.end()
    assert "".join(stream.chunks(0)) == "hello" and len(stream.tokens) == len(hello) + 2


def test_the_talker_reads_the_voices_start_token_and_the_tts_ids(pipes, tiny_dir, monkeypatch):
    """What reaches the real talker in a spoken answer (its first step, seen by a hook on the loaded talker):
    the chosen voice's start token among its text ids and, as the thinker's embeddings, that token before
    the answer and the tts end and pad tokens after it; all spare rows, as in the real checkpoint. The
    answer comes as the thinker's own tokens, as generate() hands them over, not its text tokenized again
    (the miniature writes tokens that are parts of characters: tokenized again, they would be more)."""
    vqa = pipes.vqa
    messages = vqa.prepare(str(ASSETS / "street.png"), "What?")
    *_, answer = vqa.answer(messages, 4)
    written = answer.usage.tokens
    assert vqa.model.tokenizer(answer, add_special_tokens=False)["input_ids"] != written  # this case tells
    monkeypatch.setattr(vqa.settings, "max_speech_seconds", 0.1)  # the first step is what is looked at
    talker = pipes.registry.speech(vqa.model_id).talker
    embed = vqa.model.model.thinker.get_input_embeddings().weight
    named = len(vqa.model.tokenizer)
    seen = []

    def look(module, args, kwargs):
        if kwargs.get("inputs_embeds") is not None:  # the first step; later ones pass codec ids only
            seen.append((kwargs["input_text_ids"].clone(), kwargs["inputs_embeds"].clone(),
                         kwargs["thinker_reply_part"].clone()))

    def row_of(vector) -> list[int]:
        return (embed == vector).all(1).nonzero().flatten().tolist()

    handle = talker.register_forward_pre_hook(look, with_kwargs=True)
    try:
        for voice in ("Chelsie", "Ethan"):
            list(vqa.say(messages, answer, voice))
    finally:
        handle.remove()
    tts, voices = read_talker_ids(tiny_dir / "qwen2_5_omni")
    assert len(seen) == 2 and voices["Chelsie"] != voices["Ethan"]
    for (text_ids, embeds, reply), voice in zip(seen, ("Chelsie", "Ethan")):
        bos = voices[voice]
        assert text_ids[0, -2].item() == bos and row_of(embeds[0, -2]) == [bos]
        assert text_ids[0, -1].item() == written[0] and reply.shape[1] == len(written) - 1 + 2
        assert [row_of(reply[0, -2]), row_of(reply[0, -1])] == [[tts["tts_text_end_token_id"]],
                                                                [tts["tts_text_pad_token_id"]]]
        assert min(bos, tts["tts_text_end_token_id"], tts["tts_text_pad_token_id"]) >= named


@pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["390", "1280"])
def test_browser_streams_the_spoken_answer_and_offers_its_wav(open_page, viewport):
    """Speak the answer on: the player shows, plays a stream (Gradio's HLS pieces into a MediaSource),
    and the wav's download button appears with the exact wav; nothing of it spills off a phone."""
    page = open_page(viewport=viewport)
    page.set_default_timeout(300_000)
    segments = []
    page.on("response", lambda r: segments.append(r.url) if "/stream/" in r.url and r.url.endswith(".aac") else None)
    tab(page, "tab_audio")
    assert not page.locator("#audio-spoken").is_visible()  # speech off: no empty player in the way
    upload(page, "audio-input", "speech_en.wav", "audio")
    page.fill("#audio-question textarea", "What is said?")
    page.check("#audio-speak input[type=checkbox]")
    page.wait_for_selector("#audio-spoken", state="visible")
    page.click("#audio-run")
    assert wait_text(page, "audio-output").strip()
    page.wait_for_selector("#audio-spoken audio[src^='blob:']", state="attached")
    page.wait_for_function("document.querySelector('#audio-spoken audio').currentTime > 0")  # it plays
    assert segments, "the player fetched no piece of the stream"
    with page.expect_download() as download:
        page.click("#audio-spoken-wav")
    assert download.value.suggested_filename == "spoken-answer.wav"
    with wave.open(str(download.value.path())) as w:
        assert w.getframerate() == speech.SAMPLE_RATE and w.getnframes() > 0
    width = viewport["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "page scrolls sideways"
    for part in ("#audio-spoken", "#audio-spoken-wav"):
        box = page.locator(part).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width


def test_speech_streams_whatever_thread_resumes_it(pipes):
    """Gradio resumes a streaming handler on any worker thread: each piece here is asked for on a thread of its
    own, and every piece still comes, and no thread is left in torch's inference (no-grad) mode."""
    vqa = pipes.vqa
    messages = vqa.prepare(str(ASSETS / "street.png"), "Describe it.")
    *_, answer = vqa.answer(messages, 48)
    items = vqa.say(messages, answer * 4, "Chelsie")  # a first piece of 24 codes, then more
    got, modes = [], []

    def step():
        got.append(next(items, None))
        modes.append((torch.is_inference_mode_enabled(), torch.is_grad_enabled()))

    while not got or got[-1] is not None:
        worker = threading.Thread(target=step)
        worker.start()
        worker.join(120)
        assert not worker.is_alive()
    assert len(got) >= 3 and isinstance(got[-2], speech.Said), got[-3:]
    assert all(isinstance(p, np.ndarray) and p.size for p in got[:-2])
    assert set(modes) == {(False, True)}, "a thread was left in inference mode, or without grad mode"
    assert not torch.is_inference_mode_enabled()


def test_twenty_spoken_answers_while_other_threads_serve_status(pipes, tiny_settings):
    """Spoken answers under ordinary load: while other threads call /status, each answer's pieces are
    resumed on whatever worker thread Gradio has free, and every one of 20 is spoken."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client, handle_file
    from pipelines.tasks import Pipelines

    short = Pipelines(tiny_settings(max_new_tokens=8, max_speech_seconds=1.0, max_requests_per_second=1000), registry=pipes.registry)
    # answers side by side: their pieces resumed on any worker; /status callers and askers share one address
    # here, so the cheap routes' rate is raised (the flood is other users', not one client's)
    served = launch(short, concurrency=4)
    clip = handle_file(str(ASSETS / "speech_en.wav"))
    done = threading.Event()

    def status_calls():
        c = Client(served.url, analytics_enabled=False, verbose=False)
        n = 0
        while not done.is_set() and n < 500:
            c.predict(api_name="/status")
            n += 1
        return n

    def spoken(_):
        c = Client(served.url, analytics_enabled=False, verbose=False)
        return c.predict(clip, "What is said?", True, "Chelsie", api_name="/audio_qa_spoken")

    try:
        with ThreadPoolExecutor(8) as pool:
            busy = [pool.submit(status_calls) for _ in range(4)]
            try:
                answers = list(pool.map(spoken, range(20)))
            finally:
                done.set()
            assert all(b.result(timeout=60) > 0 for b in busy)
    finally:
        served.close()
    for text, wav in answers:
        assert text and wav, "an answer was not spoken"
        with wave.open(wav) as w:
            assert w.getnframes() > 0
# -- what reaches the talker, per endpoint (tests/recorder.py: hooks on the real thinker and talker) -------

@pytest.fixture()
def heard(pipes, monkeypatch):
    """A Recorder on the module's Omni model with its speech parts loaded (so the talker is watched too);
    spoken answers cut at 0.2 s: the talker's first steps are what is looked at."""
    from tests.recorder import Recorder

    pipes.registry.speech(pipes.audio.model_id)
    monkeypatch.setattr(pipes.audio.settings, "max_speech_seconds", 0.2)
    with Recorder(pipes.audio.model) as recorder:
        yield recorder


def spoken_request(endpoint: str, voice: str, sound: bool = True) -> tuple:
    from gradio_client import handle_file

    if endpoint == "/audio_qa_spoken":
        return handle_file(str(ASSETS / "speech_en.wav")), "What is said?", True, voice
    if endpoint == "/vqa_spoken":
        return handle_file(str(ASSETS / "street.png")), "What?", [], voice, None
    return handle_file(str(ASSETS / "street_en.mp4")), "What?", [], voice, sound


@pytest.mark.parametrize("endpoint", ["/audio_qa_spoken", "/vqa_spoken", "/video_qa_spoken"])
def test_each_spoken_endpoint_speaks_in_the_chosen_voice(pipes, client, heard, endpoint):
    """The voice's start token is what the talker reads before the answer (each voice has its own)."""
    voices = pipes.registry.speech(pipes.audio.model_id).voices
    assert voices["Ethan"]["bos_token"] != voices["Chelsie"]["bos_token"]
    for voice in ("Ethan", "Chelsie"):
        client.predict(*spoken_request(endpoint, voice), api_name=endpoint)
        assert heard.talker_starts, "the talker never ran"
        assert heard.talker_starts[-1].text_ids[-2] == voices[voice]["bos_token"], voice
    assert len(heard.talker_starts) == 2


def test_the_talker_reads_no_media_embeddings_and_follows_a_heard_videos_layout(pipes, client, heard):
    """At the talker's first step, as generate() builds it: over the prompt, the thinker's last hidden state
    plus its input embedding, except at image, video and audio positions, where the embedding is left out;
    for a video heard with its sound the talker is told the sound is interleaved (`use_audio_in_video`),
    and not told when the sound is off."""
    client.predict(*spoken_request("/video_qa_spoken", "Chelsie", sound=True), api_name="/video_qa_spoken")
    start, thought = heard.talker_starts[-1], heard.thinker_passes[-1]
    assert start.use_audio_in_video is True
    n = len(start.text_ids) - 2  # the prompt; then the voice's start token and the first answer token
    assert thought.ids[:n] == start.text_ids[:n]
    cfg = pipes.video.model.model.config.thinker_config
    media = torch.isin(torch.tensor(thought.ids[:n]),
                       torch.tensor([cfg.audio_token_index, cfg.image_token_index, cfg.video_token_index]))
    assert 0 < int(media.sum()) < n
    read, last, first = start.embeds[:n], thought.last[:n], thought.first[:n]
    assert torch.allclose(read[media], last[media], atol=1e-5)
    assert torch.allclose(read[~media], last[~media] + first[~media], atol=1e-5)
    assert not torch.allclose(read[media], last[media] + first[media], atol=1e-3)  # this case tells

    client.predict(*spoken_request("/video_qa_spoken", "Chelsie", sound=False), api_name="/video_qa_spoken")
    assert not heard.talker_starts[-1].use_audio_in_video


def test_closing_the_speech_stops_the_talker_within_a_step(pipes, heard, monkeypatch):
    """Closing the stream of pieces (what Stop and a cancelled job do to it) ends the talker's generate():
    at most the step under way when it closed runs after it, not the rest of the answer's codes."""
    monkeypatch.setattr(pipes.audio.settings, "max_speech_seconds", 60)
    vqa = pipes.vqa
    messages = vqa.prepare(str(ASSETS / "street.png"), "Describe it.")
    *_, answer = vqa.answer(messages, 48)
    torch.manual_seed(0)
    pieces = vqa.say(messages, answer * 20, "Chelsie")  # ~1,000 codes to say: a first piece of 24, then more
    assert isinstance(next(pieces), np.ndarray)
    assert talker_running(), "the talker ended before the close: nothing to observe"
    closed = time.monotonic()
    pieces.close()
    after = [t for t in heard.talker_steps if t > closed]
    assert len(after) <= 1, f"{len(after)} talker steps after the close"
    assert not talker_running()


def choose_voice(page, prefix: str, name: str) -> None:
    page.click(f"#{prefix}-voice input")
    page.locator(f"#{prefix}-voice [role=option][aria-label={name}]").click()


@pytest.mark.parametrize("prefix, field, file, shown", [
    ("audio", "audio-input", "speech_en.wav", "audio"),
    ("vqa", "vqa-image", "street.png", "img"),
    ("video", "video-input", "street_en.mp4", "video"),
], ids=["audio", "vqa", "video"])
def test_each_page_speaks_in_the_chosen_voice(open_page, pipes, heard, prefix, field, file, shown):
    """Each tab's page event: the voice picked on the page is the one whose start token the talker reads;
    on the video tab with the sound switched off, the model gets the frames only (no sound tokens, no
    sound features) and the talker is not told of an interleaved sound."""
    voices = pipes.registry.speech(pipes.audio.model_id).voices
    page = open_page()
    page.set_default_timeout(300_000)
    tab(page, f"tab_{prefix}")
    upload(page, field, file, shown)
    if prefix == "video":
        page.uncheck("#video-sound input[type=checkbox]")
    page.check(f"#{prefix}-speak input[type=checkbox]")
    choose_voice(page, prefix, "Ethan")
    page.fill(f"#{prefix}-question textarea", "What is it?")
    page.click(f"#{prefix}-run")
    page.wait_for_selector(f"#{prefix}-spoken-wav", state="visible")  # the speech has ended
    assert len(heard.talker_starts) == 1
    assert heard.talker_starts[0].text_ids[-2] == voices["Ethan"]["bos_token"]
    if prefix == "video":
        asked = heard.prompts[0]
        assert asked.count(heard.token_id("<|VIDEO|>")) > 0
        assert asked.count(heard.token_id("<|AUDIO|>")) == 0 and not asked.audio_frames
        assert not heard.talker_starts[0].use_audio_in_video


def test_the_audio_page_says_nothing_with_speak_off(open_page, heard):
    """"Speak the answer" off (the default): the answer is written, the talker never runs."""
    page = open_page()
    tab(page, "tab_audio")
    upload(page, "audio-input", "speech_en.wav", "audio")
    assert not page.locator("#audio-speak input[type=checkbox]").is_checked()
    page.fill("#audio-question textarea", "What is said?")
    page.click("#audio-run")
    assert wait_text(page, "audio-output").strip()
    assert heard.prompts and not heard.talker_starts
    assert not page.locator("#audio-spoken-wav").is_visible()


def test_a_spoken_video_answer_and_its_attention_run_the_processor_once(pipes, client, monkeypatch):
    """One video question through the app's endpoints, answered aloud, then its attention view: the processor
    reads the video once (the task's prepare), and the answer, its speech and the attention pass all use that
    one output. Counted on the real processor object (its calls pass through unchanged)."""
    processor = pipes.video.model.processor
    real = type(processor).__call__
    calls = []

    def counted(self, *args, **kwargs):
        if self is processor:
            calls.append(kwargs.get("videos") is not None)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(processor), "__call__", counted)
    history, _, wav = client.predict(*spoken_request("/video_qa_spoken", "Chelsie"), api_name="/video_qa_spoken")
    assert history[-1]["role"] == "assistant" and history[-1]["content"] and wav
    pictures, raw = client.predict("video", 0, 0, -1, -1, "mean", api_name="/attention")
    assert pictures and [part["kind"] for part in raw["inputs"]] == ["video", "audio"]
    assert calls == [True], f"the processor ran {len(calls)} times"


class _Captured(Exception):
    """Raised in place of the real talker's generate(), once its inputs are seen."""


def real_talker_inputs(model, inputs: dict, voice: str, tokens: int) -> tuple[dict, list[int]]:
    """What the checkpoint's own Qwen2_5OmniForConditionalGeneration.generate(speaker=voice) hands its talker for
    this processor output (greedy, `tokens` answer tokens), and the thinker's answer tokens: both taken on the way
    (the talker does not run: for an image it would refuse the `pixel_values` transformers passes it too)."""
    thinker, talker = model.thinker, model.talker
    made, seen = [], {}

    def thinker_generate(*args, **kwargs):
        made.append(type(thinker).generate(thinker, *args, **kwargs))
        return made[-1]

    def talker_generate(**kwargs):
        seen.update(kwargs)
        raise _Captured

    thinker.generate, talker.generate = thinker_generate, talker_generate
    try:
        with torch.inference_mode(), pytest.raises(_Captured):
            model.generate(**inputs, speaker=voice, thinker_max_new_tokens=tokens, thinker_min_new_tokens=tokens,
                           thinker_do_sample=False)
    finally:
        del thinker.generate, talker.generate
    return seen, made[0].sequences[0, inputs["input_ids"].shape[1]:].tolist()


@pytest.mark.parametrize("kind", ["image", "audio", "video heard"])
def test_the_talker_gets_what_the_checkpoints_own_generate_gives_it(pipes, kind):
    """For one request of each kind, the talker's inputs (its prompt embeddings with no image, audio or video
    embedding in them, the voice's start token, the answer's part, the media layout and `use_audio_in_video`)
    are the ones the real model's own generate(speaker=...) builds from the same processor output and answer.
    The real one never runs the thinker over its last token (the end token when the answer ends by itself),
    so its answer here is the tokens written but the last, as ours is its answer without the end token."""
    if kind == "image":
        asked = pipes.vqa.prepare(str(ASSETS / "street.png"), "What?")
    elif kind == "audio":
        asked = pipes.audio.prepare(str(ASSETS / "speech_en.wav"), "What is said?")
    else:
        asked = pipes.video.prepare(str(ASSETS / "street_en.mp4"), "What?", sound=True)
    loaded = pipes.vqa.model
    spoken = pipes.registry.speech(pipes.vqa.model_id)
    real, written = real_talker_inputs(loaded.model, dict(asked.inputs), "Ethan", 6)
    with torch.inference_mode():
        ours = speech.talker_inputs(spoken, loaded, asked.messages, "", "Ethan", written[:-1], inputs=asked.inputs)
    media = {"image": ("image_grid_thw",), "audio": ("audio_feature_lengths",),
             "video heard": ("video_grid_thw", "video_second_per_grid", "audio_feature_lengths")}[kind]
    for key in ("input_ids", "input_text_ids", "attention_mask", *media):
        assert torch.equal(ours[key].cpu(), real[key].cpu()), key
    for key in ("inputs_embeds", "thinker_reply_part"):
        assert ours[key].shape == real[key].shape, key
        torch.testing.assert_close(ours[key].float(), real[key].float(), atol=1e-5, rtol=1e-4, msg=key)
    assert bool(ours.get("use_audio_in_video")) == bool(real["use_audio_in_video"]) == (kind == "video heard")
    assert ours["input_text_ids"][0, -2] == spoken.voices["Ethan"]["bos_token"]
