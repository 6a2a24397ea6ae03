"""Spoken answers (issue 16): time to first sound, real-time factor, and what speech adds to memory.

    python -m bench.speech            # the Omni miniature (CPU, or the GPU if there is one)
    python -m bench.speech --model Qwen/Qwen2.5-Omni-3B   # the real one, where it is cached (GPU)

Runs the app's own pipeline (Pipelines.vqa: answer, then say) in this process. Time to first sound: from
the moment the text answer is complete to the first piece of samples. Real-time factor: seconds spent
speaking / seconds of speech (below 1: faster than it plays). Memory: the model's weights and buffers
before and after the speech parts load (and, on CUDA, the allocator's count).
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.common import ASSETS, ROOT  # noqa: F401 - sets HF_HUB_OFFLINE and the path


def main(argv=None) -> int:
    import numpy as np
    import torch

    from pipelines import speech, tiny
    from pipelines.settings import Settings
    from pipelines.tasks import Pipelines

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="an Omni checkpoint (default: the miniature)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", default="16,64", help="answer lengths (new tokens) to speak")
    args = parser.parse_args(argv)
    model = args.model or str(tiny.build()[tiny.OMNI_DIR])
    pipes = Pipelines(Settings(caption_model=model, vqa_model=model, audio_model=model,
                               image_model=str(tiny.build()[tiny.JANUS_DIR]), max_new_tokens=1024))
    vqa = pipes.vqa
    messages = vqa.request(str(ASSETS / "street.png"), "Describe this picture.")
    list(vqa.answer(messages, 4))  # the thinker loads

    def weights(m) -> float:
        return sum(t.numel() * t.element_size() for t in (*m.parameters(), *m.buffers())) / 2**20

    loaded = vqa.model
    cuda = torch.cuda.is_available()
    before = weights(loaded.model), (torch.cuda.memory_allocated() / 2**20 if cuda else None)
    start = time.perf_counter()
    spoken = pipes.registry.speech(vqa.model_id)
    load_s = time.perf_counter() - start
    after = weights(loaded.model), (torch.cuda.memory_allocated() / 2**20 if cuda else None)

    print(f"model: {model if args.model else 'Omni miniature'} on {loaded.device} ({torch.get_num_threads()} CPU threads)")
    print(f"speech parts load: {load_s:.2f} s, voices: {', '.join(spoken.voices)}\n")
    print("| memory | thinker only | with speech | speech adds |")
    print("|---|---|---|---|")
    print(f"| weights + buffers (MB) | {before[0]:.1f} | {after[0]:.1f} | {after[0] - before[0]:.1f} |")
    if cuda:
        print(f"| CUDA allocated (MB) | {before[1]:.1f} | {after[1]:.1f} | {after[1] - before[1]:.1f} |")
    print()
    print("| answer tokens | speech (s) | time to first sound (s) | whole speech (s) | real-time factor |")
    print("|---|---|---|---|---|")
    for n in (int(x) for x in args.tokens.split(",")):
        *_, answer = vqa.answer(messages, n)
        firsts, totals, lengths = [], [], []
        for run in range(args.runs + 1):  # the first run warms up
            torch.manual_seed(run)
            t0 = time.perf_counter()
            first, samples = None, 0
            for item in vqa.say(messages, answer, "Chelsie"):
                if isinstance(item, np.ndarray):
                    first = first if first is not None else time.perf_counter() - t0
                    samples += item.size
            if run:
                firsts.append(first)
                totals.append(time.perf_counter() - t0)
                lengths.append(samples / speech.SAMPLE_RATE)
        sec, tot = statistics.median(lengths), statistics.median(totals)
        print(f"| {n} | {sec:.2f} | {statistics.median(firsts):.2f} | {tot:.2f} | {tot / sec:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
