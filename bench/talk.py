"""Talk tab (issue 28): from the end of speech to the first answer token and to the first sound, and what the app
adds to the model's own time.

    python -m bench.talk              # the Omni miniature (CPU, or the GPU if there is one)
    python -m bench.talk --no-page    # without chromium: the in-process part only

In process (the app's own pipelines/listening.py and Pipelines.talk): a spoken question made with espeak-ng is fed
to a Conversation in chunks of components/talk.py STREAM_EVERY, each at the moment the microphone would have
finished recording it. Measured from the end of speech (the wall time at which its last sample was "recorded"):
  - the turn decision: the silence the listener waits for (END_SILENCE_SECONDS, a setting: a pause within a
    sentence must not end the turn), plus the chunk's granularity and the detector's compute;
  - the model's own time: prepare (the processor) and answer to the first token; say to the first piece of sound;
  - encoding: the first piece as wav (what the player gets), and the question's clip as wav (what the chat shows).
In the page (chromium with a fake microphone fed from the same question, looped; the app in this process, so one
clock): from the server's first text and first sound (components/talk.py notes them) to their appearance in the
page (the answer's text in the conversation; the first piece's start in the page's Web Audio player): transport,
base64 and the browser's decoding.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import ROOT  # noqa: F401 - sets HF_HUB_OFFLINE and the path


def question(root: Path, tail: float = 2.5) -> tuple[Path, float, float]:
    """1 s quiet + a spoken question + `tail` s quiet at 48 kHz; returns (wav, lead seconds, speech seconds)."""
    fmt = ["-r", "48000", "-c", "1", "-b", "16"]
    subprocess.run(["espeak-ng", "-w", str(root / "raw.wav"), "What do you see in this picture?"], check=True)
    subprocess.run(["sox", str(root / "raw.wav"), *fmt, str(root / "speech.wav"), "silence", "1", "0.01", "0.5%",
                    "reverse", "silence", "1", "0.01", "0.5%", "reverse"], check=True)  # no quiet at its ends
    subprocess.run(["sox", "-n", *fmt, str(root / "lead.wav"), "trim", "0", "1"], check=True)
    subprocess.run(["sox", "-n", *fmt, str(root / "tail.wav"), "trim", "0", str(tail)], check=True)
    name = f"question-{tail:g}.wav"
    subprocess.run(["sox", str(root / "lead.wav"), str(root / "speech.wav"), str(root / "tail.wav"),
                    str(root / name)], check=True)
    import soundfile as sf

    return root / name, 1.0, sf.info(str(root / "speech.wav")).duration


def in_process(pipes, wav: Path, lead: float, spoken: float, runs: int, speak: bool) -> list[dict]:
    import soundfile as sf

    from components.talk import STREAM_EVERY
    from pipelines import speech
    from pipelines.listening import Conversation

    data, rate = sf.read(str(wav), dtype="int16")
    step = int(STREAM_EVERY * rate)
    rows = []
    for _ in range(runs):
        talk = Conversation(pipes.settings.max_audio_seconds, 4)
        talk.hear(rate, data[:step])  # the detector's first calls compile its TorchScript: not a chunk's cost
        talk.listener.pending = talk.listener.pending[:0]
        talk.listener._reset()
        start = time.monotonic()
        turn, computes = None, []
        for i in range(0, len(data), step):
            due = start + (i + step) / rate  # the chunk is complete when its last sample is recorded
            time.sleep(max(0.0, due - time.monotonic()))
            t0 = time.monotonic()
            heard = talk.hear(rate, data[i:i + step])
            computes.append(time.monotonic() - t0)
            if heard.turns:
                turn = heard.turns[0]
                break
        assert turn is not None, "the question was not heard"
        speech_end = start + lead + spoken
        row = dict(decision=turn.ended_at - speech_end, vad_ms=statistics.median(computes) * 1000)
        t0 = time.monotonic()
        asked = pipes.talk.prepare(turn.samples, None, [])
        first, text = None, ""
        for text in pipes.talk.answer(asked):
            first = first or time.monotonic()
        row["first_token"] = first - t0
        t1 = time.monotonic()
        e0 = time.perf_counter()
        speech.to_wav(turn.samples, 16_000)
        row["clip_wav_ms"] = (time.perf_counter() - e0) * 1000
        if speak and str(text).strip():
            for piece in pipes.talk.say(asked, text, "Chelsie"):
                if not isinstance(piece, speech.Said):
                    row["first_sound"] = time.monotonic() - t1
                    e0 = time.perf_counter()
                    speech.to_wav(piece)
                    row["piece_wav_ms"] = (time.perf_counter() - e0) * 1000
                    break
        rows.append(row)
    return rows


def in_page(pipes, wav: Path) -> list[dict]:
    """The app in this process, chromium with a fake microphone: from the server's first text / first sound of each
    answer to the page showing / playing it (seconds)."""
    from app import build_demo, launch_options
    from playwright.sync_api import sync_playwright

    from bench.common import free_port
    from components.talk import CONVERSATIONS

    CONVERSATIONS.held.clear()  # this run's page only
    demo = build_demo(pipes)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(pipes.settings))
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless=new", "--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}",
                "--autoplay-policy=no-user-gesture-required"])
            page = browser.new_context(permissions=["microphone"]).new_page()
            page.set_default_timeout(300_000)
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#caption-image")
            page.get_by_role("tab", name="Talk", exact=True).click()
            page.wait_for_selector("#talk-mic .record-button")
            page.evaluate("""() => { window.seen = {text: [], sound: []};
              new MutationObserver(() => { const bots = document.querySelectorAll('#talk-chat [data-testid=bot]');
                  const n = [...bots].filter(b => b.innerText.trim()).length;
                  while (seen.text.length < n) seen.text.push(performance.now()); })
                .observe(document.body, {childList: true, subtree: true, characterData: true}); }""")
            # the page's clock against this process's: performance.now() at a known monotonic time
            t0 = time.monotonic()
            page_now = page.evaluate("performance.now()")
            offset = (t0 + time.monotonic()) / 2 - page_now / 1000
            page.click("#talk-mic .record-button")
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not page.evaluate("window.mmdemoTalk.started.length"):
                time.sleep(0.2)
            seen = page.evaluate("window.seen")
            seen["sound"] = page.evaluate("window.mmdemoTalk.started")  # each piece's start (components/talk.py)
            events = [e for _, t in CONVERSATIONS.held.values() for e in t.events]
            first = {kind: min((at for k, at in events if k == kind), default=None)
                     for kind in ("turn", "answer", "text", "sound")}
            # the first answer of a fresh page only: later ones overlap (the question loops, answers are cut in on)
            if first["turn"] and first["answer"]:
                rows.append(dict(kind="queue", server=first["turn"], page=first["answer"]))
            if first["text"] and seen["text"]:
                rows.append(dict(kind="text", server=first["text"], page=offset + seen["text"][0] / 1000))
            if first["sound"] and seen["sound"]:
                rows.append(dict(kind="sound", server=first["sound"], page=offset + seen["sound"][0] / 1000))
            browser.close()
    finally:
        demo.close()
    return rows


def main(argv=None) -> int:
    from pipelines import tiny
    from pipelines.settings import Settings
    from pipelines.tasks import Pipelines
    from pipelines.listening import END_SILENCE_SECONDS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="an Omni checkpoint (default: the miniature)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--no-page", dest="page", action="store_false")
    args = parser.parse_args(argv)
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found")
    model = args.model or str(tiny.build()[tiny.OMNI_DIR])
    pipes = Pipelines(Settings(caption_model=model, vqa_model=model, audio_model=model, video_model=model,
                               image_model=str(tiny.build()[tiny.JANUS_DIR]), max_new_tokens=args.tokens,
                               max_speech_seconds=4.0))
    root = Path(tempfile.mkdtemp(prefix="bench-talk-"))
    wav, lead, spoken = question(root)
    list(pipes.talk.answer(pipes.talk.prepare(__import__("numpy").zeros(16_000, "float32")), 2))  # loads
    pipes.registry.speech(pipes.talk.model_id)
    rows = in_process(pipes, wav, lead, spoken, args.runs, speak=True)
    med = {k: statistics.median(r[k] for r in rows if k in r) for k in rows[0]}
    print(f"model: {model if args.model else 'Omni miniature'} on {pipes.talk.model.device}; question {spoken:.2f} s;"
          f" medians of {len(rows)}\n")
    print("| part | seconds | who |\n|---|---|---|")
    print(f"| end of speech -> turn decided | {med['decision']:.3f} | app: {END_SILENCE_SECONDS} s of silence waited"
          f" + chunk granularity + VAD ({med['vad_ms']:.1f} ms a chunk) |")
    print(f"| turn -> first answer token (prepare + generate) | {med['first_token']:.3f} | model |")
    if "first_sound" in med:
        print(f"| text done -> first piece of sound | {med['first_sound']:.3f} | model (talker + token2wav) |")
        print(f"| first piece as wav | {med['piece_wav_ms'] / 1000:.4f} | app |")
    print(f"| question clip as wav (the chat's copy) | {med['clip_wav_ms'] / 1000:.4f} | app |")
    if args.page:
        page = [row for _ in range(args.runs) for row in in_page(pipes, question(root, tail=12.0)[0])]
        for kind, what in (("text", "first text: server -> shown in the page"),
                           ("sound", "first sound: server's wav piece -> page's player playing"),
                           ("queue", "turn decided -> its answer starts (event, queue)")):
            gaps = [r["page"] - r["server"] for r in page if r["kind"] == kind]
            if gaps:
                print(f"| {what} | {statistics.median(gaps):.3f} (n={len(gaps)}) | app + Gradio + browser |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
