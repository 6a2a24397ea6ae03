"""See what the real model is given: the prompt's token ids, the images' pixels and grids, the audio's length.

A test wraps real requests (through the launched app or the pipelines) in `Recorder(loaded)`; forward
pre-hooks on the real modules write down what reaches them, and are removed on exit. Nothing is
replaced: the model still runs and answers. Hooks rather than a debug field in the results: the
product carries no test-only output, and the hooks see the tensors after the processor, which is
where a prompt that lost a turn or an image that was never downscaled shows.

For the Qwen2.5-Omni thinker (caption, VQA, audio): in transformers 5.23, generate() encodes images
before its first forward (the thinker then gets `mm_encoder_outputs`, not pixels), so images are read
at the vision encoder, the prompt and the audio features at the thinker's first forward.

generate() itself is wrapped while the block runs (an instance attribute over the real method, which it calls):
each call's sampling arguments and its batch size are written down as a GenerateCall.

For spoken answers (once the talker is loaded): the talker's first step (its text ids, with the voice's
start token, `use_audio_in_video`, the embeddings it reads and the rope positions it computed), the time of
each of its steps, and the thinker pass that made those embeddings (its input and last hidden states; its
positions are its Prompt's).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import torch


@dataclass
class Image:
    """One image as the vision encoder gets it."""

    grid: tuple[int, int, int]  # (t, h, w) in patches
    side: tuple[int, int]       # (height, width) in pixels: grid x patch size
    rgb: torch.Tensor = field(repr=False)  # (h, w, 3): each patch's mean colour, 0..255, where it sits in the picture


@dataclass
class Prompt:
    """What one generate() call put in front of the model (row 0 of a batch)."""

    ids: list[int] = field(repr=False)
    text: str                                         # the ids decoded, special tokens kept
    images: list[Image] = field(default_factory=list)
    audio_frames: list[int] = field(default_factory=list)   # mel frames per clip (the mask's ones)
    audio_seconds: list[float] = field(default_factory=list)  # frames x hop / the rate the extractor assumes
    use_audio_in_video: bool | None = None  # as the thinker's forward was told
    positions: torch.Tensor | None = field(default=None, repr=False)  # position_ids, row 0: (rope axes, seq)

    def count(self, token_id: int) -> int:
        return self.ids.count(token_id)


@dataclass
class GenerateCall:
    """The arguments one generate() call of the text generator got (no tensors): its sampling settings."""

    rows: int
    kwargs: dict = field(repr=False)  # do_sample, temperature, top_p, top_k, repetition_penalty, max_new_tokens...
    processors: list = field(default_factory=list, repr=False)  # the custom logits processors (generation.RowDraws)

    def get(self, key, default=None):
        return self.kwargs.get(key, default)


@dataclass
class TalkerStart:
    """What the talker's first step read (row 0)."""

    text_ids: list[int] = field(repr=False)  # input_text_ids: prompt, the voice's start token, the first answer token
    use_audio_in_video: bool | None
    embeds: torch.Tensor = field(repr=False)  # inputs_embeds (sequence, hidden)
    positions: torch.Tensor | None = field(default=None, repr=False)  # the rope positions it computed: (axes, seq)


@dataclass
class ThinkerPass:
    """A thinker forward pass asked for its hidden states (the one that feeds the talker), row 0."""

    ids: list[int] = field(repr=False)
    first: torch.Tensor = field(repr=False)  # hidden_states[0]: the embedding layer's output
    last: torch.Tensor = field(repr=False)   # hidden_states[-1]


class Recorder:
    """Records one Prompt per generate() of `loaded` (a registry LoadedModel) while the `with` block runs."""

    def __init__(self, loaded):
        self.loaded = loaded
        self.prompts: list[Prompt] = []
        self.talker_starts: list[TalkerStart] = []
        self.talker_steps: list[float] = []  # time.monotonic() at the start of each talker forward
        self.thinker_passes: list[ThinkerPass] = []
        self.generate_calls: list[GenerateCall] = []
        self._images: list[Image] = []  # encoded before the prompt's first forward; joined to it there
        self._lock = threading.Lock()
        self._handles = []
        processor = loaded.processor
        self.patch = processor.image_processor.patch_size
        self.merge = processor.image_processor.merge_size
        self.mean = torch.tensor(processor.image_processor.image_mean)
        self.std = torch.tensor(processor.image_processor.image_std)
        extractor = processor.feature_extractor
        self.seconds_per_frame = extractor.hop_length / extractor.sampling_rate

    def __enter__(self) -> "Recorder":
        generator = self.loaded.generator
        visual = generator.model.visual  # Qwen2_5OmniThinkerModel's vision encoder
        self._handles = [generator.register_forward_pre_hook(self._on_forward, with_kwargs=True),
                         generator.register_forward_hook(self._on_hidden, with_kwargs=True),
                         visual.register_forward_pre_hook(self._on_image, with_kwargs=True)]
        talker = getattr(self.loaded.model, "talker", None)  # hooked only if the speech parts are loaded
        if talker is not None:
            self._handles.append(talker.register_forward_pre_hook(self._on_talker, with_kwargs=True))
            # The talker computes its positions itself (from its text ids and `use_audio_in_video`) and hands
            # them to its decoder: read there, at the first step.
            self._handles.append(talker.model.register_forward_pre_hook(self._on_talker_decoder, with_kwargs=True))
        real = generator.generate

        def generate(*args, **kwargs):
            ids = kwargs.get("input_ids")
            plain = {k: v for k, v in kwargs.items() if not isinstance(v, torch.Tensor)
                     and k not in ("logits_processor", "streamer", "stopping_criteria")}
            with self._lock:
                self.generate_calls.append(GenerateCall(0 if ids is None else ids.shape[0], plain,
                                                        list(kwargs.get("logits_processor") or [])))
            return real(*args, **kwargs)

        generator.generate = generate
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self.loaded.generator.__dict__.pop("generate", None)  # the class's own method again

    @property
    def last(self) -> Prompt:
        assert self.prompts, "no request reached the model"
        return self.prompts[-1]

    def token_id(self, token: str) -> int:
        return self.loaded.tokenizer.convert_tokens_to_ids(token)

    def _on_image(self, module, args, kwargs):
        pixels = (args[0] if args else kwargs["hidden_states"]).detach().float().cpu()
        grids = kwargs.get("grid_thw")
        if grids is None:
            grids = args[1]
        start = 0
        for t, h, w in grids.tolist():
            n = t * h * w
            patches = pixels[start:start + n].reshape(n, 3, -1).mean(-1)  # a row is C x T x P x P, channel first
            m = self.merge  # rows come in merge x merge blocks: back to the picture's layout
            rgb = patches.reshape(t, h // m, w // m, m, m, 3).permute(0, 1, 3, 2, 4, 5).reshape(t, h, w, 3)[0]
            rgb = (rgb * self.std + self.mean) * 255
            with self._lock:
                self._images.append(Image((t, h, w), (h * self.patch, w * self.patch), rgb))
            start += n

    def _on_forward(self, module, args, kwargs):
        cache = kwargs.get("past_key_values")
        if cache is not None and cache.get_seq_length() > 0:
            return  # a decoding step, not a new prompt
        ids = kwargs.get("input_ids")
        if ids is None:
            ids = args[0]
        ids = ids[0].tolist()
        mask = kwargs.get("feature_attention_mask")
        frames = [] if mask is None else mask.sum(-1).tolist()
        positions = kwargs.get("position_ids")
        positions = None if positions is None else positions[:, 0].detach().cpu().clone()
        with self._lock:
            images, self._images = self._images, []
            self.prompts.append(Prompt(
                ids, self.loaded.tokenizer.decode(ids, skip_special_tokens=False), images, frames,
                [f * self.seconds_per_frame for f in frames], kwargs.get("use_audio_in_video"), positions))

    def _on_hidden(self, module, args, kwargs, output):
        hidden = getattr(output, "hidden_states", None)
        if not kwargs.get("output_hidden_states") or hidden is None:
            return
        with self._lock:
            self.thinker_passes.append(ThinkerPass(kwargs["input_ids"][0].tolist(), hidden[0][0].detach().float().cpu(),
                                                   hidden[-1][0].detach().float().cpu()))

    def _on_talker(self, module, args, kwargs):
        now = time.monotonic()
        with self._lock:
            self.talker_steps.append(now)
            embeds = kwargs.get("inputs_embeds")
            if embeds is not None:  # the first step; later ones pass codec ids only
                self.talker_starts.append(TalkerStart(kwargs["input_text_ids"][0].tolist(),
                                                      kwargs.get("use_audio_in_video"),
                                                      embeds[0].detach().float().cpu().clone()))

    def _on_talker_decoder(self, module, args, kwargs):
        positions = kwargs.get("position_ids")
        with self._lock:
            if positions is not None and self.talker_starts and self.talker_starts[-1].positions is None:
                self.talker_starts[-1].positions = positions[:, 0].detach().cpu().clone()
