"""The "Advanced" (高级) accordion of an answering tab: presets, the system prompt and the sampling settings.

A tab builds `Advanced(pipeline, prefix)` where it wants the accordion (and `lock_with(speak switch)`), adds `advanced.inputs` to its
events' inputs, and marks each handler `@steered(pipeline)`: the handler then takes the same seven fields as
keyword parameters (the API's too, each with a default), and gets them checked as one `steering`
(pipelines/sampling.py) to hand to its task's `prepare`. Every field an API caller sends goes to that check as
it came (the widgets below do not coerce or bound it themselves), so a bad one is refused in the caller's
language, naming the field and its range.

While "Speak the answer" is on, the system prompt shows the model's own and cannot be edited, with
the reason under it: Qwen2.5-Omni's talker speaks reliably only under its own system prompt.
"""

from __future__ import annotations

import functools
import inspect

import gradio as gr

from pipelines.errors import UserFacingError
from pipelines.sampling import LIMITS, PRESETS, preset

from .i18n import t

FIELDS = ("system_prompt", "temperature", "top_p", "top_k", "repetition_penalty", "max_new_tokens", "seed")

ARGS_DOC = """system_prompt: replaces the model's system prompt (None or "": the model's own; refused if it differs while the answer is spoken).
temperature: 0 (default) answers greedily, the most likely word each time; up to 2 samples, more varied.
top_p: when sampling, keep the most likely words up to this total probability (0.01 to 1; default 1).
top_k: when sampling, keep this many most likely words (0 to 1000; 0, the default, is off).
repetition_penalty: 1 (default) to 2; above 1 discourages repeating words.
max_new_tokens: the longest answer in tokens (1 to the server's --max-new-tokens, its default).
seed: the seed of a sampled answer (0 to 2147483647): the same seed, the same answer; -1 or None for a random one."""


def passed_as_sent(payload):
    """The value a caller sent, unchanged: Gradio's own check of a Slider or Number answers in English, echoing
    the value, and fails on a string; pipelines/sampling.py checks it instead, in the caller's language."""
    return payload


# Rendered by the stock front-ends (is_template: Gradio names a template by its first base class).
class RawSlider(gr.Slider):
    is_template = True
    preprocess = staticmethod(passed_as_sent)


class RawNumber(gr.Number):
    is_template = True
    preprocess = staticmethod(passed_as_sent)


class RawText(gr.Textbox):
    is_template = True
    preprocess = staticmethod(passed_as_sent)


class Advanced:
    """The accordion, closed by default. A tab with "Speak the answer" calls `lock_with(its switch)`."""

    def __init__(self, pipeline, prefix: str):
        limit = pipeline.settings.max_new_tokens
        try:
            self.default_prompt = pipeline.default_system_prompt or ""
        except UserFacingError:  # the checkpoint cannot be read: the tab says so when asked
            self.default_prompt = ""
        with gr.Accordion(t("advanced"), open=False, elem_id=f"{prefix}-advanced"):
            self.preset = gr.Dropdown([(t(f"preset_{name}"), name) for name in PRESETS], value="default",
                                      label=t("preset"), elem_id=f"{prefix}-preset")
            self.system_prompt = RawText(value=self.default_prompt, label=t("system_prompt"),
                                         info=t("system_prompt_info"), lines=2, max_lines=8,
                                         max_length=pipeline.settings.max_prompt_chars,
                                         elem_id=f"{prefix}-system-prompt")
            self.locked = gr.Markdown(t("system_prompt_locked_info"), visible=False,
                                      elem_id=f"{prefix}-system-prompt-locked")
            with gr.Row():
                self.temperature = self._slider("temperature", 0.05, prefix)
                self.top_p = self._slider("top_p", 0.01, prefix)
            with gr.Row():
                self.top_k = self._slider("top_k", 1, prefix)
                self.repetition_penalty = self._slider("repetition_penalty", 0.01, prefix)
            with gr.Row():
                tokens = dict(value=limit, label=t("max_new_tokens"), elem_id=f"{prefix}-max-new-tokens")
                # A slider needs two ends: --max-new-tokens 1 gets a number box that takes only 1.
                self.max_new_tokens = (RawSlider(1, limit, step=1, **tokens) if limit > 1 else
                                       RawNumber(minimum=1, maximum=1, precision=0, **tokens))
                low, high, default = LIMITS["seed"]
                self.seed = RawNumber(value=default, minimum=low, maximum=high, precision=0,
                                      label=t("answer_seed"), elem_id=f"{prefix}-seed")
        self.speaking = gr.State(False)  # "Speak the answer" is on (lock_with): the system prompt is locked
        fields = self.inputs

        def fill(name, speaking):
            """A preset's values in the fields (the system prompt stays while it is locked)."""
            values = preset(name, limit)
            prompt = values.pop("system_prompt")
            shown = gr.skip() if speaking else (prompt if prompt is not None else self.default_prompt)
            return shown, *(values[f] for f in FIELDS[1:])

        self.preset.input(fill, [self.preset, self.speaking], fields, queue=False, api_visibility="private")

    def lock_with(self, speak) -> None:
        """While the switch `speak` is on, the system prompt is the model's own and cannot be edited; the reason
        shows under it."""
        def lock(on):
            prompt = gr.update(value=self.default_prompt, interactive=False) if on else gr.update(interactive=True)
            return prompt, gr.update(visible=bool(on)), bool(on)

        speak.change(lock, speak, [self.system_prompt, self.locked, self.speaking], queue=False,
                     api_visibility="private")

    def _slider(self, name: str, step: float, prefix: str) -> RawSlider:
        low, high, default = LIMITS[name]
        return RawSlider(low, high, value=default, step=step, label=t(name),
                         elem_id=f"{prefix}-{name.replace('_', '-')}")

    @property
    def inputs(self) -> list:
        """The fields, in FIELDS order: what a `@steered` handler takes after its own inputs."""
        return [self.system_prompt, self.temperature, self.top_p, self.top_k, self.repetition_penalty,
                self.max_new_tokens, self.seed]


def steered(pipeline, speak: str | bool = False):
    """Decorator for a tab's handler `fn(..., steering)`: the handler the event (and the API) sees takes fn's
    parameters but `steering`, then the seven FIELDS as keywords with defaults (None: the default), documented
    in its API description; it checks them (`pipeline.steer`) and calls fn with the Steering. `speak`: True for
    an always-spoken endpoint, or the name of fn's parameter that says whether the answer is spoken."""

    def wrap(fn):
        own = inspect.signature(fn)
        params = [p for name, p in own.parameters.items() if name != "steering"]
        shown = own.replace(parameters=[*params, *(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                                     default=None) for name in FIELDS)])

        def call(args, kwargs):
            bound = shown.bind(*args, **kwargs)
            bound.apply_defaults()
            values = {name: bound.arguments.pop(name) for name in FIELDS}
            speaking = speak if isinstance(speak, bool) else bool(bound.arguments.get(speak))
            return bound.arguments, pipeline.steer(speak=speaking, **values)

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def run(*args, **kwargs):
                arguments, steering = call(args, kwargs)
                yield from fn(**arguments, steering=steering)
        else:
            @functools.wraps(fn)
            def run(*args, **kwargs):
                arguments, steering = call(args, kwargs)
                return fn(**arguments, steering=steering)
        run.__signature__ = shown
        run.__doc__ = with_fields_documented(fn.__doc__ or "")
        return run

    return wrap


def with_fields_documented(doc: str) -> str:
    """`doc` with ARGS_DOC added at the end of its Args section (before Returns:), in its indentation."""
    lines = doc.splitlines()
    at = next((i for i, line in enumerate(lines) if line.strip() == "Returns:"), len(lines))
    indent = next((line[:len(line) - len(line.lstrip())] for line in lines if line.strip() == "Args:"), None)
    if indent is None:
        return doc
    added = [f"{indent}    {line}" for line in ARGS_DOC.splitlines()]
    return "\n".join([*lines[:at], *added, *lines[at:]])
