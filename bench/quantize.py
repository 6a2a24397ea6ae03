"""--quantize side by side (issue 31): weight memory, decode speed and answer agreement for none / int8 / nf4.

    python -m bench.quantize                       # the miniatures, on this machine's device (CPU here)
    python -m bench.quantize --omni Qwen/Qwen2.5-Omni-3B --janus deepseek-community/Janus-Pro-1B   # real ones (GPU)

For each mode, in one run: the app's Pipelines load both checkpoints with that --quantize; then per model
  - weights MB: every parameter and buffer as stored (quantization scales included), and the quantized
    linears' share of what they take in `none` (the decoder layers only: Family.keep_full stays float);
  - tokens/s: a greedy answer of --tokens new tokens (no early end) to the caption request (Omni) and to a
    text question about an image (Janus), median of --repeats, after one warm-up;
  - agreement: the share of those greedy tokens equal, position by position, to `none`'s.
The miniatures' random weights make agreement a stress test (flat logits flip on small errors); on real
checkpoints it measures what quantization changes in the answer.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.common import ASSETS  # noqa: F401 - sets HF_HUB_OFFLINE and the path

MODES = ("none", "int8", "nf4")


def stored_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


def greedy(loaded, inputs: dict, tokens: int) -> tuple[list[int], float]:
    """The new token ids of a greedy answer of exactly `tokens`, and the seconds it took."""
    import torch

    inputs = {k: (v.to(loaded.device) if hasattr(v, "to") else v) for k, v in inputs.items()}
    start = time.perf_counter()
    with torch.inference_mode():
        out = loaded.generator.generate(**inputs, **loaded.family.text_generate_kwargs, max_new_tokens=tokens,
                                        min_new_tokens=tokens, do_sample=False)
    if loaded.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return out[0, inputs["input_ids"].shape[1]:].tolist(), seconds


def requests(pipes):
    """(label, loaded model, processor output) per checkpoint: what each one is timed on."""
    from PIL import Image

    from pipelines.generation import model_inputs

    omni = pipes.registry.get(pipes.caption.model_id)
    janus = pipes.registry.get(pipes.image.model_id)
    caption = pipes.caption.prepare(str(ASSETS / "street.png"))
    question = [{"role": "user", "content": [{"type": "image", "image": Image.open(ASSETS / "chart.png")},
                                             {"type": "text", "text": "Which bar is highest?"}]}]
    return [("Omni thinker, caption", omni, dict(caption.inputs)),
            ("Janus, image question", janus, dict(model_inputs(janus, question)))]


def main(argv=None) -> int:
    import torch

    from pipelines import quantize, tiny
    from pipelines.settings import Settings
    from pipelines.tasks import Pipelines

    p = argparse.ArgumentParser(prog="python -m bench.quantize", description=__doc__.splitlines()[0])
    p.add_argument("--omni", help="the Omni checkpoint (default: the miniature)")
    p.add_argument("--janus", help="the Janus checkpoint (default: the miniature)")
    p.add_argument("--tiny-dir", default=str(tiny.DEFAULT_DIR))
    p.add_argument("--device", default="auto")
    p.add_argument("--tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--modes", default=",".join(MODES))
    args = p.parse_args(argv)
    if not (args.omni and args.janus):
        paths = tiny.build(args.tiny_dir)
        args.omni = args.omni or str(paths[tiny.OMNI_DIR])
        args.janus = args.janus or str(paths[tiny.JANUS_DIR])
    modes = args.modes.split(",")
    rows, base = [], {}
    device = None
    for mode in modes:
        pipes = Pipelines(Settings(caption_model=args.omni, vqa_model=args.omni, audio_model=args.omni,
                                   video_model=args.omni, image_model=args.janus, device=args.device, quantize=mode))
        pipes.check(load=True)
        for label, loaded, inputs in requests(pipes):
            device = loaded.device
            linears = sum(quantize.weight_bytes(m) for _, m in quantize.quantized_linears(loaded.model, loaded.family))
            greedy(loaded, inputs, 2)  # warm-up
            runs = [greedy(loaded, inputs, args.tokens) for _ in range(args.repeats)]
            ids, seconds = runs[0][0], statistics.median(s for _, s in runs)
            if mode == "none":
                base[label] = (ids, linears)
            ref_ids, ref_linears = base.get(label, (ids, linears))
            agree = sum(a == b for a, b in zip(ids, ref_ids)) / max(1, len(ref_ids))
            rows.append((label, mode, stored_bytes(loaded.model) / 2**20, linears / ref_linears,
                         args.tokens / seconds, agree))
        del pipes
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    where = torch.cuda.get_device_name(0) if device is not None and device.type == "cuda" else \
        f"CPU, {torch.get_num_threads()} threads"
    print(f"### --quantize side by side ({where}; {args.tokens} greedy tokens, median of {args.repeats})\n")
    print("| model, request | mode | weights MB (as stored) | quantized linears / none | tokens/s | "
          "agreement with none |")
    print("|---|---|---|---|---|---|")
    for label, mode, mb, share, speed, agree in sorted(rows, key=lambda r: (r[0], modes.index(r[1]))):
        print(f"| {label} | {mode} | {mb:.3f} | {share:.3f} | {speed:.1f} | {agree:.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
