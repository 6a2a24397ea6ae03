"""Spoken answers: Qwen2.5-Omni's talker and token2wav turn an answer's text into a voice, in pieces.

The app loads only the thinker (text). The first spoken request (or `--voice` at start-up) has the
registry add the talker, token2wav and the voices file (`spk_dict.pt`) of the same checkpoint to the
model already in memory (`ModelRegistry.speech`): the thinker is never loaded twice.

How an answer becomes sound, as `Qwen2_5OmniForConditionalGeneration.generate` does it (transformers
5.23), except that the text is streamed first, like any answer, and the sound comes in pieces:
1. One thinker forward pass over prompt + answer (batch 1, explicit positions so a running batch's
   rope state is left alone) gives the hidden states the talker reads: the embedding layer (media
   positions zeroed) and the last layer, for the prompt and for each answer token.
2. The talker turns them into codec codes, about one per text token, 50 a second of speech, until its
   end code or the spoken-length limit (--max-speech-seconds).
3. token2wav (a DiT to a mel spectrogram, then BigVGAN) turns codes into 24 kHz samples. It runs on
   windows of codes while the talker is still writing, with context on both sides (the DiT looks one
   24-frame block ahead and two back) cut off again, so the first piece is ready after ~1 s of codes.

Speech runs one request at a time per model (a lock): the talker keeps per-call state and is not batched.
Its thinker pass (step 1) also holds the model's lock beside other answers (registry.ModelLock), so it never
runs inside the attention view's pass.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from . import compat
from .errors import ModelError, UserFacingError
from .generation import as_model_error, in_background, prepared, replay_positions

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000  # Qwen2.5-Omni speaks at 24 kHz (model card; BigVGAN: 240 samples per mel frame)
DEFAULT_VOICE = "Chelsie"
FIRST_PIECE_CODES = 24  # ~0.5 s of speech, and two DiT blocks: the first sound waits for no more
PIECE_CODES = 100       # then ~2 s at a time
LEFT_CODES, RIGHT_CODES = 24, 12  # context each window decodes and cuts off (two blocks back, one ahead)
# The real talker's sampling (Qwen2_5OmniForConditionalGeneration.generate defaults).
TALKER_SAMPLING = dict(do_sample=True, top_k=40, top_p=0.8, temperature=0.9, repetition_penalty=1.05)


@dataclass
class Speech:
    """The speech parts of one checkpoint, loaded once, attached to the same model object as the thinker."""

    model: object        # Qwen2_5OmniForConditionalGeneration, now with .talker and .token2wav
    voices: dict         # name -> {"cond", "ref_mel", "bos_token"} from spk_dict.pt
    load_seconds: float
    lock: threading.Lock

    @property
    def talker(self):
        return self.model.talker

    @property
    def token2wav(self):
        return self.model.token2wav

    @property
    def samples_per_code(self) -> int:
        dit, vocoder = self.token2wav.config.dit_config, self.token2wav.config.bigvgan_config
        return dit.repeats * int(np.prod(vocoder.upsample_rates))

    @property
    def codes_per_second(self) -> float:
        return SAMPLE_RATE / self.samples_per_code

    @property
    def bytes(self) -> int:
        """Memory the speech parts add (weights and buffers)."""
        return sum(t.numel() * t.element_size() for m in (self.talker, self.token2wav)
                   for t in (*m.parameters(), *m.buffers()))


def load_speech(loaded, device_map) -> Speech:
    """Talker, token2wav and voices from `loaded`'s checkpoint, added to its model (thinker untouched).

    The weights are the checkpoint's `talker.*` and `token2wav.*` tensors, read with their prefixes
    mapped off; the thinker's tensors in the same files are skipped. token2wav runs in float32, as
    transformers requires.
    """
    from transformers import Qwen2_5OmniTalkerForConditionalGeneration, Qwen2_5OmniToken2WavModel

    model, model_id = loaded.model, loaded.model_id
    start = time.perf_counter()
    try:
        voices_file = compat.optional_file(model_id, "spk_dict.pt")
    except Exception:  # noqa: BLE001 - not cached, no network: the same answer
        voices_file = None
    if voices_file is None:
        raise ModelError("voice_file_missing", model=model_id)
    voices = torch.load(voices_file, weights_only=True, map_location="cpu")
    if not voices:
        raise ModelError("voice_file_missing", model=model_id)
    config = model.config
    talker = Qwen2_5OmniTalkerForConditionalGeneration.from_pretrained(
        model_id, config=config.talker_config, key_mapping={r"^talker\.": ""}, dtype=loaded.dtype,
        device_map=device_map).eval()
    token2wav = Qwen2_5OmniToken2WavModel.from_pretrained(
        model_id, config=config.token2wav_config, key_mapping={r"^token2wav\.": ""}, dtype=torch.float32,
        device_map=device_map).eval()
    compat.talker_mask(talker)  # its positions follow the media (and a video's sound) only with a mask
    model.talker, model.token2wav, model.has_talker = talker, token2wav, True
    model.speaker_map.update(voices)
    seconds = time.perf_counter() - start
    log.info("speech parts of %s loaded in %.1f s (%s)", model_id, seconds, ", ".join(voices))
    return Speech(model, voices, seconds, threading.Lock())


class _Codes(BaseStreamer):
    """The talker's codes as they come (the first put is the prompt)."""

    def __init__(self, emit):
        self.emit, self.prompt_seen = emit, False

    def put(self, value):
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        self.emit(value.reshape(-1).tolist())

    def end(self):
        pass


class _Stop(StoppingCriteria):
    def __init__(self, *events):
        self.events = events

    def __call__(self, input_ids, scores, **kwargs):
        stop = any(e is not None and e.is_set() for e in self.events)
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


def talker_inputs(speech: Speech, loaded, messages: list[dict], answer: str, voice: str,
                  tokens: list[int] | None = None, start: int = 0, inputs=None) -> dict:
    """What generate() hands the talker, built from the prompt and the answer (see module doc).

    `start`: the answer tokens already spoken (ZeroGPU speaks a long answer in several GPU calls): they
    join the prompt, which the talker reads but does not say, and it speaks the tokens after them.
    `inputs`: the request's processor output (the one its answer was written from), reused as it is."""
    thinker, talker = loaded.model.thinker, speech.talker
    inputs = prepared(loaded, messages, inputs)
    prompt = inputs["input_ids"]
    # The thinker's own `tokens`, as generate() hands them over (its end token left out, as there):
    # decoded text tokenized again can differ (a token that is half a character comes back as three).
    # Without them (an answer from elsewhere), the text is tokenized.
    said_ids = tokens or loaded.tokenizer(answer, add_special_tokens=False)["input_ids"]
    reply = torch.tensor([said_ids], dtype=prompt.dtype, device=prompt.device)
    ids = torch.cat([prompt, reply], dim=1)
    mask = torch.cat([inputs["attention_mask"], torch.ones_like(reply)], dim=1)
    feature_mask = inputs.get("feature_attention_mask")
    audio_lengths = feature_mask.sum(1) if feature_mask is not None else None
    media = {k: inputs[k] for k in ("image_grid_thw", "video_grid_thw", "video_second_per_grid") if k in inputs}
    positions = replay_positions(thinker, inputs, ids, mask)  # the reply's control tokens read as text
    extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    out = thinker(input_ids=ids, attention_mask=mask, position_ids=positions, output_hidden_states=True,
                  use_cache=False, **extra)
    embeds, last = out.hidden_states[0].clone(), out.hidden_states[-1]
    cfg = loaded.model.config.thinker_config
    media_ids = torch.tensor([cfg.audio_token_index, cfg.image_token_index, cfg.video_token_index],
                             device=ids.device)
    embeds[torch.isin(ids, media_ids)] = 0  # as generate() does: the talker reads no media embeddings
    n = prompt.shape[1] + start
    said = last[:, n:] + embeds[:, n:]
    embed = thinker.get_input_embeddings()

    def token(i):
        return embed(torch.tensor([[i]], device=ids.device))

    bos = speech.voices[voice]["bos_token"]
    one = torch.ones((1, 1), dtype=torch.long, device=ids.device)
    return dict(
        input_ids=torch.cat([torch.full_like(ids[:, :n], talker.codec_mask_token), one * talker.codec_pad_token,
                             one * talker.codec_bos_token], dim=1),
        input_text_ids=torch.cat([ids[:, :n], one * bos, ids[:, n:n + 1]], dim=1),
        inputs_embeds=torch.cat([last[:, :n] + embeds[:, :n], token(bos), said[:, :1]], dim=1),
        thinker_reply_part=torch.cat([said[:, 1:], token(talker.text_eos_token), token(talker.text_pad_token)],
                                     dim=1),
        attention_mask=torch.cat([mask[:, :n], torch.ones((1, 2), dtype=mask.dtype,
                                                                        device=mask.device)], dim=1),
        audio_feature_lengths=audio_lengths, **media,
        # a video's sound interleaved with its frames: the talker's positions follow it too, as in generate()
        **({"use_audio_in_video": True} if inputs.get("use_audio_in_video") else {}))


def pieces(speech: Speech, loaded, messages: list[dict], answer: str, voice: str, max_seconds: float,
           stop: threading.Event | None = None, tokens: list[int] | None = None,
           start: int = 0, inputs=None) -> Iterator[np.ndarray]:
    """Speak `answer` (the thinker's answer to `messages`, written as `tokens` where known): float32
    pieces of samples at SAMPLE_RATE; from answer token `start` on (see talker_inputs).

    Stops within one talker step when `stop` is set or the iterator is closed. The last item, after the
    pieces, is a `Said` (duration, whether the limit cut it). Errors come out as clear ModelErrors.
    """
    if not isinstance(voice, str) or voice not in speech.voices:
        raise ModelError("no_such_voice", voice=voice, voices=", ".join(speech.voices))
    talker = speech.talker
    max_codes = max(1, int(max_seconds * speech.codes_per_second))
    ends = [talker.codec_pad_token, talker.codec_eos_token]  # the real generate()'s talker_eos_token_id
    # torch's grad mode is per thread, and a generator may be resumed on any thread (Gradio's workers):
    # no mode is held across a yield; each step that computes enters it on the thread it runs on.
    with speech.lock:
        try:
            with loaded.lock.shared(), torch.inference_mode():  # the thinker's pass, beside other answers
                kwargs = talker_inputs(speech, loaded, messages, answer, voice, tokens, start, inputs)
        except UserFacingError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise as_model_error(exc) from exc

        def work(emit, closed):  # generate() runs in no-grad mode on its own thread
            talker.generate(**kwargs, max_new_tokens=max_codes, **TALKER_SAMPLING, eos_token_id=ends,
                            pad_token_id=talker.codec_pad_token, suppress_tokens=[talker.codec_bos_token],
                            streamer=_Codes(emit), stopping_criteria=StoppingCriteriaList([_Stop(stop, closed)]))

        params = speech.voices[voice]
        cond = params["cond"].to(loaded.device).float()
        ref_mel = params["ref_mel"].to(loaded.device).float()
        codes: list[int] = []
        done = spoken = 0  # codes turned into sound; samples given out
        ended = False
        stream = in_background(work, name="talker")
        try:
            while True:
                batch = next(stream, None)
                if isinstance(batch, list):
                    for code in batch:
                        if code in ends:
                            ended = True
                            break
                        codes.append(code)
                else:
                    ended = True
                if stop is not None and stop.is_set():
                    return
                want = FIRST_PIECE_CODES if done == 0 else PIECE_CODES
                while len(codes) - done >= (want + RIGHT_CODES) or (ended and len(codes) > done):
                    end = len(codes) if ended else done + want
                    with torch.inference_mode():
                        piece = _decode(speech, codes, done, end, cond, ref_mel)
                    done, spoken = end, spoken + len(piece)
                    yield piece
                    want = PIECE_CODES
                if ended:
                    break
        except (torch.cuda.OutOfMemoryError, MemoryError, RuntimeError) as exc:
            raise as_model_error(exc) from exc
        finally:
            stream.close()
        yield Said(seconds=spoken / SAMPLE_RATE, cut=len(codes) >= max_codes)


@dataclass
class Said:
    """How a spoken answer ended."""

    seconds: float
    cut: bool  # the spoken-length limit ended it


def _decode(speech: Speech, codes: list[int], start: int, end: int, cond, ref_mel) -> np.ndarray:
    """Samples of codes[start:end], decoded with up to LEFT/RIGHT_CODES of context that is then cut off."""
    lo, hi = max(0, start - LEFT_CODES), min(len(codes), end + RIGHT_CODES)
    window = torch.tensor([codes[lo:hi]], device=cond.device)
    wav = speech.token2wav(window, conditioning=cond, reference_mel=ref_mel).reshape(-1).float()
    per = speech.samples_per_code
    return wav[(start - lo) * per:(end - lo) * per].cpu().numpy()


def to_wav(samples: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """16-bit mono PCM wav bytes (what every browser plays)."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()
