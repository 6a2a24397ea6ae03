"""How an answer is steered: the system prompt and the sampling settings, checked once, carried on the Request.

`steering(...)` turns raw fields (from the page's Advanced accordion or an API call: anything at all) into a
`Steering`, or refuses with a clear InputError naming the field and its range. `Steering.generate_kwargs()` is
what generate() gets (do_sample, temperature, top_p, top_k, repetition_penalty); max_new_tokens is the row's own
limit. A sampled answer draws each token with its row's own torch.Generator (generation.RowDraws), seeded with
the asked seed: the same seed gives the same answer whatever else runs at the time, in its batch or beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InputError, Text

# field -> (lowest, highest, default). temperature 0 = greedy (the other sampling fields then do nothing);
# top_k 0 = off; seed -1 = a fresh random seed each time.
LIMITS = {
    "temperature": (0.0, 2.0, 0.0),
    "top_p": (0.01, 1.0, 1.0),
    "top_k": (0, 1000, 0),
    "repetition_penalty": (1.0, 2.0, 1.0),
    "seed": (-1, 2**31 - 1, -1),
}
INTEGERS = ("top_k", "seed", "max_new_tokens")

# Presets fill the Advanced fields (components/advanced.py); each names its label in the catalogue
# (preset_<name>). A preset's system prompt is None where it keeps the model's own.
PRESETS = {
    "default": dict(system_prompt=None, temperature=0.0, top_p=1.0, top_k=0, repetition_penalty=1.0, max_new_tokens=None,
                    seed=-1),
    "short": dict(system_prompt="Answer in one or two short sentences. Answer in the language of the question.",
                  temperature=0.0, top_p=1.0, top_k=0, repetition_penalty=1.0, max_new_tokens=64, seed=-1),
    "detailed": dict(system_prompt="Answer thoroughly and in detail, step by step where it helps. "
                                   "Answer in the language of the question.",
                     temperature=0.0, top_p=1.0, top_k=0, repetition_penalty=1.05, max_new_tokens=None, seed=-1),
    "blind": dict(system_prompt="You describe images and sounds for a blind or low-vision reader: say what is "
                                "where, the people, text, colours and anything that matters for safety, plainly "
                                "and in order, without saying 'the image shows'. Answer in the language of the "
                                "question.",
                  temperature=0.0, top_p=1.0, top_k=0, repetition_penalty=1.05, max_new_tokens=None, seed=-1),
    "creative": dict(system_prompt=None, temperature=0.9, top_p=0.9, top_k=50, repetition_penalty=1.05,
                     max_new_tokens=None, seed=-1),
}


def preset(name: str, max_tokens_limit: int) -> dict:
    """A preset's fields (the default for an unknown name), its answer length within this server's limit (None:
    the limit itself)."""
    values = dict(PRESETS.get(name, PRESETS["default"]))
    values["max_new_tokens"] = min(values["max_new_tokens"] or max_tokens_limit, max_tokens_limit)
    return values


@dataclass(frozen=True)
class Steering:
    """One request's system prompt (None: the model family's own) and sampling settings, already checked.
    Frozen and plain: it crosses to ZeroGPU's worker and keys the batcher (rows with equal `batch_key` share
    one generate())."""

    system_prompt: str | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    max_new_tokens: int | None = None  # None: the server's limit (--max-new-tokens)
    seed: int | None = None  # None: a fresh one per answer (sampled answers only)

    @property
    def sampled(self) -> bool:
        return self.temperature > 0

    def generate_kwargs(self) -> dict:
        """What generate() is given. Greedy rows get no temperature/top-p/top-k (they would do nothing, and
        transformers warns); a repetition penalty of 1 is left out, so the model's own generation config stands."""
        kwargs: dict = {"do_sample": self.sampled}
        if self.repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = self.repetition_penalty
        if self.sampled:
            kwargs.update(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k)
        return kwargs

    @property
    def batch_key(self) -> tuple:
        """Rows whose generate() arguments are equal batch together: one generate() takes one set of them. The
        seed is not in it: each row draws with its own generator."""
        return tuple(sorted(self.generate_kwargs().items()))


GREEDY = Steering()


def _number(name: str, value, low, high, default):
    """`value` as a number within [low, high]: None or "" is the default; NaN, inf, bools, strings, lists and
    fractions for an integer field are refused."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError("bad_setting", field=Text(f"field_{name}"), low=low, high=high)
    if isinstance(value, float) and not math.isfinite(value) or not low <= value <= high:  # exact for huge ints
        raise InputError("bad_setting", field=Text(f"field_{name}"), low=low, high=high)
    if name in INTEGERS:
        if value != int(value):
            raise InputError("bad_setting_integer", field=Text(f"field_{name}"), low=low, high=high)
        return int(value)
    return float(value)


def steering(*, system_prompt=None, temperature=None, top_p=None, top_k=None, repetition_penalty=None,
             max_new_tokens=None, seed=None, max_tokens_limit: int, prompt_limit: int,
             default_prompt: str | None = None, speak: bool = False) -> Steering:
    """Raw fields -> a checked Steering. An empty system prompt, or the family's own (`default_prompt`), means the
    model's own. With `speak` the system prompt cannot change: Qwen2.5-Omni's talker speaks reliably only under
    the system prompt it was trained with (its model card), so another one is refused, saying why."""
    values = {name: _number(name, value, *LIMITS[name]) for name, value in
              (("temperature", temperature), ("top_p", top_p), ("top_k", top_k),
               ("repetition_penalty", repetition_penalty), ("seed", seed))}
    tokens = _number("max_new_tokens", max_new_tokens, 1, max_tokens_limit, None)
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise InputError("bad_system_prompt")
    prompt = (system_prompt or "").strip() or None
    if prompt is not None and len(prompt) > prompt_limit:
        raise InputError("system_prompt_too_long", chars=len(prompt), limit=prompt_limit)
    if prompt is not None and prompt == (default_prompt or "").strip():
        prompt = None
    if speak and prompt is not None:
        raise InputError("system_prompt_locked")
    seed = values.pop("seed")
    return Steering(system_prompt=prompt, max_new_tokens=tokens, seed=None if seed < 0 else seed, **values)
