"""How the model saw and heard: token budgets, and attention computed on request.

Token budget: what each input became in tokens (an image's grid, an audio clip's seconds), the
context used of the model's maximum, tokens generated and time per token, read from the exact
processor output an answer used (generation.Usage).

Attention: one extra forward pass over the finished conversation (the same preprocessed prompt,
then the answer's own token ids). The decoder's attention runs as eager attention does (the same
arithmetic, the only kind that yields weights), but a chunk of query rows at a time, and returns the
weights of the answer's rows only: memory grows with the conversation's length, not its square. A
hook per decoder layer reduces those rows over heads at once and adds them up; the pass stops after
the last layer asked for. The pass refuses a conversation longer than the free memory allows
(`token_limit`), and holds its model's lock alone (registry.ModelLock): it switches the decoder's
attention implementation for the pass, which no other request may see.

Token positions map to image cells through the model's own grid (`image_grid_thw`, the vision
config's spatial merge size) and to audio time through its audio token rate
(`position_id_per_seconds` of the thinker config), never through constants.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from . import compat
from .errors import InputError
from .generation import Usage, as_model_error, prepared, replay_positions
from .loaded import LoadedModel
from .video_input import Video

HEADS = ("mean", "max")


@dataclass
class Segment:
    """One image, video or audio clip in the token sequence: its token positions, in order.

    Most inputs sit in one run [start, stop). A video heard with its sound does not: the processor
    interleaves its frames' tokens and its soundtrack's tokens in chunks of `seconds_per_chunk`
    (2 s), so such a video and its sound each carry their own `positions` (`in_video` marks the sound).
    """

    kind: str  # "image", "video" or "audio"
    start: int
    stop: int  # one past the last position
    grid: tuple[int, int, int] | None = None  # (temporal patches, rows, columns) of tokens, after the merge
    seconds_per_token: float | None = None  # audio
    positions: np.ndarray | None = None  # where not one run: each token's position, in order
    in_video: bool = False  # the soundtrack of the video segment before it

    @property
    def index(self) -> np.ndarray:
        return self.positions if self.positions is not None else np.arange(self.start, self.stop)

    @property
    def tokens(self) -> int:
        return len(self.index)

    @classmethod
    def at(cls, kind: str, positions, **kw) -> "Segment":
        positions = np.asarray(positions, dtype=np.int64)
        return cls(kind, int(positions[0]), int(positions[-1]) + 1, positions=positions, **kw)


def _config(loaded: LoadedModel):
    return loaded.generator.config


def _token_id(loaded: LoadedModel, name: str) -> int | None:
    token = getattr(loaded.processor, f"{name}_token", None)
    return loaded.tokenizer.convert_tokens_to_ids(token) if token else None


def placeholder_ids(loaded: LoadedModel) -> set[int]:
    """The ids that stand for an image, video or audio clip in a prompt: an answer that holds one cannot
    be replayed for its attention (the model would look for media that is not there)."""
    return {i for i in (_token_id(loaded, k) for k in ("image", "video", "audio")) if i is not None}


def merge_size(config) -> int:
    """Patches per token side: the vision config's spatial merge (2 on Qwen2.5-Omni), 1 where none."""
    vision = getattr(config, "vision_config", None)
    return int(getattr(vision, "spatial_merge_size", 1) or 1)


def audio_rate(config) -> float | None:
    """Audio tokens per second: the rate the model's positions give audio (25 on Qwen2.5-Omni)."""
    rate = getattr(config, "position_id_per_seconds", None)
    return float(rate) if rate else None


def _runs(ids: list[int], token: int | None) -> list[tuple[int, int]]:
    """[start, stop) of each run of `token` in `ids`."""
    runs, start = [], None
    for i, t in enumerate([*ids, None]):
        if t == token and token is not None:
            start = i if start is None else start
        elif start is not None:
            runs.append((start, i))
            start = None
    return runs


def segments(loaded: LoadedModel, inputs: dict) -> list[Segment]:
    """Where each image, video and audio clip sits in `inputs["input_ids"]`, with its grid or rate."""
    return layout(inputs["input_ids"][0].tolist(), {k: _token_id(loaded, k) for k in ("image", "video", "audio")},
                  {k: inputs.get(f"{k}_grid_thw") for k in ("image", "video")}, merge_size(_config(loaded)),
                  audio_rate(_config(loaded)))


def layout(ids: list[int], token: dict, grids: dict, merge: int, rate: float | None) -> list[Segment]:
    """segments() on plain ids: `token` is each kind's placeholder id, `grids` the processor's
    (t, h, w) per image and video (in patches), `merge` patches per token side, `rate` audio tokens a second.

    A video's tokens are its grid's count of video tokens, taken in order (a video heard with its sound
    has them in chunks, its sound's tokens between); its sound is the audio tokens in the same unbroken
    stretch of video and audio tokens (the processor brackets that stretch, and every lone clip, apart).
    """
    ids_arr = np.asarray(ids)
    found: list[Segment] = []
    seconds = 1 / rate if rate else None
    claimed = np.zeros(len(ids), dtype=bool)  # audio tokens that are a video's sound
    for kind in ("image", "video"):
        g = grids.get(kind)
        g = [tuple(int(x) for x in row) for row in g.tolist()] if g is not None else []
        positions = np.flatnonzero(ids_arr == token[kind]) if token[kind] is not None else np.zeros(0, int)
        at = 0
        for t, h, w in g:  # images may sit side by side: split by each one's size
            size = t * h * w // merge ** 2
            grid = (1 if kind == "image" else t, h // merge, w // merge)  # an image's temporal patch is one frame
            own = positions[at:at + size]
            at += size
            found.append(Segment.at(kind, own, grid=grid))
            if kind == "video" and token["audio"] is not None:
                end = int(own[0])
                while end < len(ids) and ids[end] in (token["video"], token["audio"]):
                    end += 1
                sound = np.arange(int(own[0]), end)
                sound = sound[ids_arr[sound] == token["audio"]]
                if len(sound):
                    claimed[sound] = True
                    found.append(Segment.at("audio", sound, seconds_per_token=seconds, in_video=True))
        if not g:  # a fixed-size image (Janus: 576 tokens, 24 x 24)
            for a, b in _runs(ids, token[kind]):
                side = math.isqrt(b - a)
                found.append(Segment(kind, a, b, (1, side, (b - a) // max(side, 1))))
    for a, b in _runs(ids, token["audio"]):
        if not claimed[a]:
            found.append(Segment("audio", a, b, seconds_per_token=seconds))
    return sorted(found, key=lambda s: s.start)


# -- mapping: one row of attention (over the sequence) -> image cells / audio time ---------------

def image_cells(weights: torch.Tensor, segment: Segment) -> np.ndarray:
    """Attention over the sequence -> (frames, rows, columns) over an image's or video's tokens,
    which the processor lays out frame by frame, row by row."""
    return weights[torch.as_tensor(segment.index)].float().cpu().numpy().reshape(segment.grid)


def audio_times(weights: torch.Tensor, segment: Segment) -> tuple[np.ndarray, np.ndarray]:
    """Attention over the sequence -> (start second of each audio token, its weight)."""
    values = weights[torch.as_tensor(segment.index)].float().cpu().numpy()
    step = segment.seconds_per_token or 0.0
    return np.arange(len(values)) * step, values


# -- the extra forward pass --------------------------------------------------------------------

def _attention_modules(model) -> list[torch.nn.Module]:
    """The decoder's self-attention modules, in layer order (not the vision or audio encoders')."""
    pattern = re.compile(r"(?:^|\.)language_model\.(?:model\.)?layers\.(\d+)\.self_attn$")
    found = [(int(m.group(1)), module) for name, module in model.named_modules() if (m := pattern.search(name))]
    return [module for _, module in sorted(found, key=lambda x: x[0])]


def layer_count(loaded: LoadedModel) -> int:
    return len(_attention_modules(loaded.generator))


def default_layers(loaded: LoadedModel) -> tuple[int, int]:
    """The later half of the decoder: where answers attend to what they describe (early layers
    mostly attend to nearby text and the first tokens)."""
    n = layer_count(loaded)
    return n // 2, n - 1


def check_view(loaded: LoadedModel, layers, heads: str) -> tuple[int, int]:
    n = layer_count(loaded)
    try:
        first, last = (int(x) for x in layers)
    except (TypeError, ValueError):
        raise InputError("bad_layers", last=n - 1) from None
    if not 0 <= first <= last < n:
        raise InputError("bad_layers", last=n - 1)
    if heads not in HEADS:
        raise InputError("bad_heads", choices=", ".join(HEADS))
    return first, last


def conversation(loaded: LoadedModel, messages: list[dict], answer_ids: list[int], inputs=None) -> tuple[dict, dict]:
    """The finished conversation as model inputs: the prompt exactly as the answer got it (`inputs`, the
    request's processor output, where kept; else the same processing again), then the answer's own token ids.
    Returns (conversation, the prompt's inputs)."""
    inputs = prepared(loaded, messages, inputs)
    answer = torch.tensor([answer_ids], dtype=inputs["input_ids"].dtype, device=inputs["input_ids"].device)
    full = dict(inputs)
    full["input_ids"] = torch.cat([inputs["input_ids"], answer], dim=-1)
    if "attention_mask" in full:
        full["attention_mask"] = torch.cat([inputs["attention_mask"], torch.ones_like(answer)], dim=-1)
    return full, inputs


# The decoder's attention during the pass (transformers' attention interface, a public registry): eager's
# arithmetic, a chunk of query rows at a time, returning only the answer's rows of weights.
ROWS = "mmdemo_answer_rows"
CHUNK_BYTES = 64 * 2**20  # what one chunk of attention scores may take
MEMORY_SHARE = 0.5  # of the free memory, what a pass may plan to use (the rest: what runs beside it)
_pass = threading.local()  # the running pass's answer rows [start, stop), read on the thread that runs it


def _rows_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """transformers' eager_attention_forward, computed `CHUNK_BYTES` of scores at a time; the weights it
    returns are the rows [start, stop) of the running pass only (batch 1, no cache: row i is position i)."""
    groups = getattr(module, "num_key_value_groups", 1)
    keys = key.repeat_interleave(groups, dim=1) if groups > 1 else key
    values = value.repeat_interleave(groups, dim=1) if groups > 1 else value
    heads, length, width = query.shape[1], query.shape[2], keys.shape[2]
    start, stop = getattr(_pass, "rows", (length, length))
    chunk = max(1, CHUNK_BYTES // (query.shape[0] * heads * width * 4 * 3))
    out = torch.empty_like(query[..., :values.shape[-1]])
    kept = []
    low_value = torch.finfo(query.dtype).min
    for lo in range(0, length, chunk):
        hi = min(length, lo + chunk)
        scores = torch.matmul(query[:, :, lo:hi], keys.transpose(2, 3)) * scaling
        if attention_mask is None:  # causal, nothing padded (the mask function left it out)
            later = torch.arange(width, device=query.device)[None, :] > torch.arange(lo, hi, device=query.device)[:, None]
            scores = scores.masked_fill(later, low_value)
        elif attention_mask.dtype == torch.bool:  # True: may attend
            scores = scores.masked_fill(~attention_mask[:, :, lo:hi, :width], low_value)
        else:
            scores = scores + attention_mask[:, :, lo:hi, :width]
        weights = torch.nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
        del scores
        out[:, :, lo:hi] = torch.matmul(weights, values)
        a, b = max(lo, start), min(hi, stop)
        if a < b:
            kept.append(weights[:, :, a - lo:b - lo])
    return out.transpose(1, 2).contiguous(), (torch.cat(kept, dim=2) if kept else None)


def _register() -> None:
    from transformers import AttentionInterface, AttentionMaskInterface

    AttentionInterface.register(ROWS, _rows_attention)
    # no mask where causal order says it all: no n x n tensor
    AttentionMaskInterface.register(ROWS, compat.sdpa_mask())


_register()


def pass_bytes(loaded: LoadedModel, tokens: int, answer: int) -> int:
    """Memory the pass may take at its peak for a conversation of `tokens` with an `answer` of that many: one
    decoder layer's activations and its query, key and value (each growing with the length), the answer's rows
    of weights per head, and one chunk of scores. Read from the model's own sizes: heads, widths, dtype."""
    text = getattr(_config(loaded), "text_config", None) or _config(loaded)
    heads, hidden = text.num_attention_heads, text.hidden_size
    kv = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or hidden // heads
    inter = getattr(text, "intermediate_size", 4 * hidden)
    item = torch.tensor([], dtype=loaded.dtype).element_size()
    per_token = item * (6 * hidden + 3 * inter + 3 * (heads + kv) * head_dim) + 4 * (heads + 2) * answer
    return tokens * per_token + CHUNK_BYTES


def free_bytes(device) -> int:
    """Memory free for the pass: the GPU's free memory (and what torch holds unused), or the system's."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    import psutil

    return int(psutil.virtual_memory().available)


def token_limit(loaded: LoadedModel, answer: int, free: int | None = None) -> int:
    """The longest conversation (in tokens) whose pass fits in MEMORY_SHARE of the free memory."""
    free = free_bytes(loaded.device) if free is None else free
    per_token = pass_bytes(loaded, 1, answer) - CHUNK_BYTES
    return max(0, int((free * MEMORY_SHARE - CHUNK_BYTES) // per_token))


class _Done(Exception):
    """Raised by the last layer asked for: the layers after it, and the logits, are not needed."""


def answer_attention(loaded: LoadedModel, messages: list[dict], answer_ids: list[int],
                     layers: tuple[int, int], heads: str = "mean", inputs=None) -> tuple[torch.Tensor, dict]:
    """Rows of attention, one per answer token, over the whole sequence (prompt then answer):
    averaged over the layers in `layers` (inclusive), heads reduced by `heads` ("mean" or "max").
    Returns (rows [answer tokens, sequence] float32 on the CPU, the prompt's processor output).
    A conversation longer than the free memory allows is refused (InputError "attention_too_long")."""
    full, inputs = conversation(loaded, messages, answer_ids, inputs)
    prompt = inputs["input_ids"].shape[-1]
    positions = replay_positions(loaded.generator, inputs, full["input_ids"], full.get("attention_mask"))
    if positions is not None:
        full["position_ids"] = positions
    length = full["input_ids"].shape[-1]
    limit = token_limit(loaded, len(answer_ids))
    if length > limit:
        raise InputError("attention_too_long", tokens=length, limit=limit)
    model = loaded.generator
    modules = _attention_modules(model)
    first, last = layers
    total: dict[str, torch.Tensor] = {}

    def keep(module, args, output):
        weights, index = output[1], modules.index(module)
        if weights is not None and first <= index <= last:
            rows = weights[0].float()  # the step that wrote each answer token, per head
            rows = rows.mean(0) if heads == "mean" else rows.amax(0)
            total["sum"] = rows if "sum" not in total else total["sum"] + rows
        if index >= last:
            raise _Done
        return output[0], None  # the layer's weights go now, not at the end of the pass

    # Only the decoder's attention changes (the one whose weights are read): the vision and audio
    # encoders keep their fast kernels (an image of 4,000 patches costs seconds in eager).
    text = getattr(model.config, "text_config", None)
    switch = (lambda impl: {"text_config": impl}) if text is not None else (lambda impl: impl)
    with loaded.lock.alone():
        previous = compat.attention_of(text or model.config)
        hooks = [m.register_forward_hook(keep) for m in modules]
        _pass.rows = (prompt - 1, length - 1)
        try:
            model.set_attn_implementation(switch(ROWS))
            with torch.inference_mode():
                model(**full, use_cache=False)
        except _Done:
            pass
        except (torch.cuda.OutOfMemoryError, MemoryError) as exc:
            raise as_model_error(exc) from exc
        finally:
            del _pass.rows
            for h in hooks:
                h.remove()
            model.set_attn_implementation(switch(previous))
    rows = (total["sum"] / (last - first + 1)).cpu()
    return rows, inputs


# -- token budget ------------------------------------------------------------------------------

def budget(loaded: LoadedModel, usage: Usage) -> dict:
    """What each input became in tokens, the context used of the model's maximum, tokens generated
    and time per token; from the processor output the answer used (counts, not estimates)."""
    inputs = usage.inputs
    prompt = int(inputs["input_ids"].shape[-1])
    parts = []
    for seg in segments(loaded, inputs):
        part = {"kind": seg.kind, "tokens": seg.tokens}
        if seg.in_video:
            part["in_video"] = True  # the soundtrack of the video before it
        if seg.grid:
            merge = merge_size(_config(loaded))
            part["grid"] = list(seg.grid)  # tokens: frames x rows x columns
            part["patches"] = [seg.grid[0], seg.grid[1] * merge, seg.grid[2] * merge]
        if seg.seconds_per_token:
            part["seconds"] = round(seg.tokens * seg.seconds_per_token, 2)
            part["tokens_per_second"] = round(1 / seg.seconds_per_token, 2)
        parts.append(part)
    media = sum(p["tokens"] for p in parts)
    parts.append({"kind": "text", "tokens": prompt - media})
    generated = len(usage.tokens)
    timed = usage.first_token is not None and usage.ended is not None and generated > 1
    per_token = (usage.ended - usage.first_token) / (generated - 1) if timed else None
    text_config = getattr(_config(loaded), "text_config", _config(loaded))
    context_max = getattr(text_config, "max_position_embeddings", None)
    return {
        "inputs": parts,
        "prompt_tokens": prompt,
        "generated_tokens": generated,
        "context_used": prompt + generated,
        "context_max": context_max,
        "seconds_per_token": round(per_token, 4) if per_token is not None else None,
        "seconds_total": round(usage.ended - usage.started, 3) if usage.ended else None,
    }


# -- pictures ----------------------------------------------------------------------------------

def _colours(values: np.ndarray) -> np.ndarray:
    """0..1 -> RGB, dark blue through red to yellow (a heat scale readable on photos)."""
    v = np.clip(values, 0, 1)[..., None]
    stops = np.array([[20, 20, 120], [200, 30, 40], [255, 230, 60]], dtype=np.float32)
    low = stops[0] + (stops[1] - stops[0]) * np.clip(v * 2, 0, 1)
    high = stops[1] + (stops[2] - stops[1]) * np.clip(v * 2 - 1, 0, 1)
    return np.where(v < 0.5, low, high).astype(np.uint8)


def _unit(values: np.ndarray) -> np.ndarray:
    top = float(values.max()) if values.size else 0.0
    return values / top if top > 0 else values


def image_overlay(image: Image.Image, cells: np.ndarray, alpha: float = 0.55, top: float | None = None) -> Image.Image:
    """The (rows, columns) cell weights as a heat map over the image (scaled to it, cells kept sharp);
    `top` is the weight drawn hottest (the cells' own maximum unless given, e.g. a whole video's)."""
    image = image.convert("RGB")
    scaled = _unit(cells) if top is None else (cells / top if top > 0 else cells)
    heat = Image.fromarray(_colours(scaled)).resize(image.size, Image.Resampling.NEAREST)
    return Image.blend(image, heat, alpha)


def frames_overlay(frames: np.ndarray, cells: np.ndarray, fps: float, columns: int = 4,
                   tile_width: int = 240) -> Image.Image:
    """Every sampled frame (T, H, W, 3) under its heat map, as one sheet in time order, labelled with its
    second. `cells` is (temporal patches, rows, columns): a patch covers T / patches frames (2 on
    Qwen2.5-Omni), which share its cells. One scale for the whole video, so frames compare."""
    patches = cells.shape[0]
    per_patch = max(1, math.ceil(len(frames) / patches))
    top = float(cells.max()) if cells.size else 0.0
    h, w = frames.shape[1:3]
    tile = (min(tile_width, w), max(1, round(h * min(tile_width, w) / w)))
    columns = max(1, min(columns, len(frames)))
    sheet = Image.new("RGB", (tile[0] * columns, tile[1] * math.ceil(len(frames) / columns)), (250, 250, 250))
    draw = ImageDraw.Draw(sheet)
    for i, frame in enumerate(frames):
        shown = image_overlay(Image.fromarray(frame), cells[min(i // per_patch, patches - 1)], top=top)
        x, y = (i % columns) * tile[0], (i // columns) * tile[1]
        sheet.paste(shown.resize(tile), (x, y))
        label = f"{i / fps:.1f}s"  # on a dark box: white text alone vanished on a bright frame
        font = _font(max(10, tile[1] // 12))
        box = draw.textbbox((x + 4, y + 2), label, font=font)
        draw.rectangle([box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1], fill=(20, 20, 20))
        draw.text((x + 4, y + 2), label, fill=(255, 255, 255), font=font)
    return sheet


def audio_overlay(samples: np.ndarray, starts: np.ndarray, weights: np.ndarray, seconds: float,
                  size: tuple[int, int] = (800, 200)) -> Image.Image:
    """The clip's waveform over a heat strip: each audio token's weight across its moment; under it a time
    axis in seconds (`size` is the waveform's; the axis adds AXIS_HEIGHT)."""
    width, height = size
    canvas = Image.new("RGB", (width, height + AXIS_HEIGHT), (250, 250, 250))
    draw = ImageDraw.Draw(canvas)
    seconds = max(seconds, 1e-6)
    colours = _colours(_unit(weights))
    step = starts[1] - starts[0] if len(starts) > 1 else seconds
    for start, colour in zip(starts, colours):
        x0, x1 = int(start / seconds * width), int((start + step) / seconds * width)
        draw.rectangle([x0, 0, max(x0, x1 - 1), height], fill=tuple(int(c) for c in colour))
    if len(samples):
        columns = np.array_split(np.asarray(samples, dtype=np.float32), width)
        scale = float(np.abs(samples).max()) or 1.0
        for x, col in enumerate(columns):
            if len(col):
                top, bottom = float(col.max()) / scale, float(col.min()) / scale
                draw.line([x, height / 2 - top * height / 2.2, x, height / 2 - bottom * height / 2.2],
                          fill=(30, 30, 30))
    time_axis(draw, seconds, (0, height, width, height + AXIS_HEIGHT))
    return canvas


AXIS_HEIGHT = 26  # the time axis under a waveform
TICK_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600)  # seconds between ticks: the first giving
MAX_TICKS = 10  # at most this many


def tick_step(seconds: float) -> float:
    return next((s for s in TICK_STEPS if seconds / s <= MAX_TICKS), TICK_STEPS[-1])


def time_axis(draw: ImageDraw.ImageDraw, seconds: float, box: tuple[int, int, int, int]) -> None:
    """Ticks at a round step of seconds along the box's top edge, each labelled ("1.5s")."""
    left, top, right, bottom = box
    width, step = right - left, tick_step(seconds)
    font = _font(12)
    draw.line([left, top, right, top], fill=(90, 90, 90))
    for k in range(int(seconds / step + 1e-9) + 1):
        x = left + min(round(k * step / seconds * width), width - 1)
        draw.line([x, top, x, top + 6], fill=(30, 30, 30), width=2)
        label = f"{k * step:g}s"
        anchor = "la" if k == 0 else "ra" if x > right - 30 else "ma"
        draw.text((x, top + 8), label, fill=(30, 30, 30), font=font, anchor=anchor)


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


KEY_MIN_WIDTH = 320  # a narrower picture is scaled up (cells kept sharp) for its key to be readable


def colour_key(picture: Image.Image, top: float) -> Image.Image:
    """The picture above a band that reads its colours: the heat scale from 0 to `top` (the weight drawn
    hottest, as a share of the words' attention: "0%" to "3.1%")."""
    if picture.width < KEY_MIN_WIDTH:
        picture = picture.resize((KEY_MIN_WIDTH, max(1, round(picture.height * KEY_MIN_WIDTH / picture.width))),
                                 Image.Resampling.NEAREST)
    width, height = picture.size
    size = int(np.clip(width / 45, 12, 32))
    band = round(size * 2.4)
    out = Image.new("RGB", (width, height + band), (250, 250, 250))
    out.paste(picture.convert("RGB"), (0, 0))
    draw, font, pad = ImageDraw.Draw(out), _font(size), size // 2
    low, high = "0%", f"{top:.1%}"
    x0 = round(pad + draw.textlength(low, font=font) + pad)
    x1 = round(width - pad - draw.textlength(high, font=font) - pad)
    y0, y1 = height + band // 4, height + band - band // 4
    ramp = _colours(np.linspace(0, 1, max(1, x1 - x0)))
    out.paste(Image.fromarray(np.ascontiguousarray(np.repeat(ramp[None], y1 - y0, axis=0))), (x0, y0))
    middle = height + band / 2
    draw.text((pad, middle), low, fill=(30, 30, 30), font=font, anchor="lm")
    draw.text((width - pad, middle), high, fill=(30, 30, 30), font=font, anchor="rm")
    return out


# -- the view: one call from a finished answer to its pictures --------------------------------------

def pieces_of(tokenizer, ids: list[int]) -> list[tuple[str, int, int]]:
    """The answer as clickable pieces, one per token, except that tokens which only together make a
    character (a Chinese character split in bytes) stay together."""
    out, start = [], 0
    for end in range(1, len(ids) + 1):
        piece = tokenizer.decode(ids[start:end], skip_special_tokens=True)
        if piece.endswith("\ufffd") and end < len(ids):
            continue
        out.append((piece, start, end))
        start = end
    return out


def _or_default(value, default):
    try:
        return default if int(value) == -1 else value
    except (TypeError, ValueError, OverflowError):
        return value  # check_view says what a layer is


def view(loaded: LoadedModel, messages: list[dict], tokens: list[int], start, end, first=-1, last=-1,
         heads: str = "mean", *, inputs=None, pieces: list | None = None, kept: dict | None = None,
         keep=None, keyed: bool = False) -> tuple[list[Image.Image], dict]:
    """Heat maps (PIL images) and the raw weights (JSON) of answer pieces [start, end] of an answer to `messages`.
    `keyed`: each picture above its colour key (colour_key), for a person; without, the pictures keep their media's
    size (an API caller reads the weights themselves from the JSON).

    `inputs`: the request's processor output, reused (no second processor run); `pieces`: pieces_of(tokens) if
    already decoded; `kept`: rows of earlier passes by (first, last, heads), and `keep(key, value)` stores a new
    pass's (the caller decides how long they live). Layers -1: the model's default range."""
    default = default_layers(loaded)
    first, last = _or_default(first, default[0]), _or_default(last, default[1])
    first, last = check_view(loaded, (first, last), heads)
    if not placeholder_ids(loaded).isdisjoint(tokens):
        raise InputError("explain_placeholder")
    pieces = pieces if pieces is not None else pieces_of(loaded.tokenizer, tokens)
    count = len(pieces)
    try:
        start, end = int(start), int(end)
    except (TypeError, ValueError):
        raise InputError("bad_span", count=count, last=max(count - 1, 0)) from None
    start, end = min(start, end), max(start, end)
    if not pieces or not 0 <= start <= end < count:
        raise InputError("bad_span", count=count, last=max(count - 1, 0))
    key = (first, last, heads)
    if kept is None or key not in kept:
        rows, used = answer_attention(loaded, messages, tokens, (first, last), heads, inputs)
        kept = {key: (rows, segments(loaded, used))}
        if keep is not None:
            keep(key, kept[key])
    rows, segs = kept[key]
    weights = rows[pieces[start][1]:pieces[end][2]].mean(0)
    media = [p for turn in messages if not isinstance(turn["content"], str) for p in turn["content"]
             if p.get("type") in ("image", "audio", "video")]
    pictures, raw, tops = [], [], []
    parts, part = iter(media), None
    for seg in segs:  # in sequence order, as the parts are in the chat; a video's sound follows its frames
        if not seg.in_video:
            part = next(parts, None)
        if part is None:
            break
        if seg.kind == "audio":
            starts, values = audio_times(weights, seg)
            samples = np.asarray(part["video"].audio if seg.in_video else part["audio"])
            rate = loaded.processor.feature_extractor.sampling_rate
            pictures.append(audio_overlay(samples, starts, values, len(samples) / rate))
            tops.append(float(values.max()) if values.size else 0.0)
            raw.append({"kind": "audio", "seconds_per_token": seg.seconds_per_token, "in_video": seg.in_video,
                        "weights": [round(float(v), 6) for v in values]})
        else:
            cells = image_cells(weights, seg)
            if seg.kind == "image":
                pictures.append(image_overlay(part["image"], cells[0]))
                tops.append(float(cells[0].max()) if cells.size else 0.0)
            elif isinstance(part.get("video"), Video):
                pictures.append(frames_overlay(part["video"].frames, cells, part["video"].fps))
                tops.append(float(cells.max()) if cells.size else 0.0)
            raw.append({"kind": seg.kind, "grid": list(seg.grid),
                        "weights": np.round(cells.astype(np.float64), 6).tolist()})
    if keyed:
        pictures = [colour_key(picture, top) for picture, top in zip(pictures, tops)]
    text = "".join(p[0] for p in pieces[start:end + 1])
    on_media = sum(float(weights[torch.as_tensor(s.index)].sum()) for s in segs)
    return pictures, {"text": text, "pieces": [start, end], "tokens": [pieces[start][1], pieces[end][2]],
                      "layers": [first, last], "heads": heads, "share_on_inputs": round(on_media, 6),
                      "inputs": raw}
