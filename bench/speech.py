"""Spoken answers (issue 16): time to first sound, real-time factor, and what speech adds to memory.

    python -m bench.speech            # the Omni miniature (CPU, or the GPU if there is one)
    python -m bench.speech --model Qwen/Qwen2.5-Omni-3B   # the real one, where it is cached (GPU)

Runs the app's own pipeline (Pipelines.vqa: answer, then say) in this process. Time to first sound: from
the moment the text answer is complete to the first piece of samples. Real-time factor: seconds spent
speaking / seconds of speech (below 1: faster than it plays). Memory: the model's weights and buffers
before and after the speech parts load (and, on CUDA, the allocator's count).

In the page (`--page`, on by default; needs chromium and playwright): `python app.py` in its own process,
the audio tab asked with "Speak the answer" on, in headless chromium. Side by side in each run, from the
click: the first sound the page plays (the streaming player's currentTime moves) and the moment the whole
wav is ready (its download button shows; before streaming, that is when the page's player got its file).
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
    parser.add_argument("--page-tokens", type=int, default=128, help="answer length for the page's timings")
    parser.add_argument("--no-page", dest="page", action="store_false", help="skip the timings in the page")
    args = parser.parse_args(argv)
    model = args.model or str(tiny.build()[tiny.OMNI_DIR])
    pipes = Pipelines(Settings(caption_model=model, vqa_model=model, audio_model=model,
                               image_model=str(tiny.build()[tiny.JANUS_DIR]), max_new_tokens=1024))
    vqa = pipes.vqa
    messages = vqa.prepare(str(ASSETS / "street.png"), "Describe this picture.")
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
    if args.page:
        print()
        page_timings(args.model, args.page_tokens, args.runs)
    return 0


def page_timings(model: str | None, tokens: int, runs: int) -> None:
    """First sound heard in the page against the whole wav being ready, both from the click."""
    from bench.common import app_server
    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, tab, upload

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("page timings skipped: playwright is not installed (requirements-dev.txt)")
        return
    flags = ["--tiny"] if model is None else ["--audio-model", model]
    firsts, wholes = [], []
    with app_server(*flags, env={"MMDEMO_MAX_NEW_TOKENS": str(tokens)}) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for run in range(runs + 1):  # the first run loads the model and the speech parts
            page = browser.new_page()
            page.set_default_timeout(600_000)
            page.goto(server.url)
            page.wait_for_selector("[role=tab]")
            tab(page, "tab_audio")
            upload(page, "audio-input", "speech_en.wav", "audio")
            page.fill("#audio-question textarea", "What is the speaker talking about?")
            page.check("#audio-speak input[type=checkbox]")
            page.evaluate("""() => { window.marks = {};
                const seen = () => { const a = document.querySelector('#audio-spoken audio');
                    const w = document.querySelector('#audio-spoken-wav');
                    if (!window.marks.sound && a && a.currentTime > 0) window.marks.sound = performance.now();
                    if (!window.marks.wav && w && w.offsetParent !== null) window.marks.wav = performance.now();
                    if (!(window.marks.sound && window.marks.wav)) requestAnimationFrame(seen); };
                window.marks.click = performance.now(); requestAnimationFrame(seen); }""")
            page.click("#audio-run")
            page.wait_for_function("window.marks.sound && window.marks.wav")
            marks = page.evaluate("window.marks")
            if run:
                firsts.append((marks["sound"] - marks["click"]) / 1000)
                wholes.append((marks["wav"] - marks["click"]) / 1000)
            page.close()
        browser.close()
    first, whole = statistics.median(firsts), statistics.median(wholes)
    print(f"in the page (chromium, audio tab, {tokens} new tokens, median of {runs}; seconds from the click):")
    print("| first sound heard | whole wav ready | first / whole |")
    print("|---|---|---|")
    print(f"| {first:.2f} | {whole:.2f} | {first / whole:.2f} |")


if __name__ == "__main__":
    raise SystemExit(main())
