"""Which of the project's files one request crosses: a caption, and a spoken video answer with its attention
view asked for, each sent to the real app (miniature checkpoints) through its API, with a profiler on every
server thread recording the source file of each Python call. Counted after a warm-up request of the same
kind, so loading (registry, device, miniature) is not counted: only what every request runs.

    python -m bench.request_path     # the files, in the order first entered, their count and the hand-offs
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWN = tuple(str(ROOT / d) + os.sep for d in ("pipelines", "components")) + (str(ROOT / "app.py"),)

seen: dict[str, None] = {}
edges: set[tuple[str, str]] = set()  # (calling file, called file): the hand-offs between the project's modules
recording = threading.Event()


def profile(frame, event, arg):
    if event == "call" and recording.is_set():
        name = frame.f_code.co_filename
        if name.startswith(OWN):
            seen.setdefault(name)
            caller = frame.f_back.f_code.co_filename if frame.f_back is not None else ""
            if caller != name and caller.startswith(OWN):
                edges.add((caller, name))


def crossed(run) -> list[str]:
    run()  # warm-up: loads, first-use imports
    seen.clear()
    edges.clear()
    recording.set()
    try:
        run()
    finally:
        recording.clear()
    return [str(Path(f).relative_to(ROOT)) for f in seen]


def main() -> None:
    from gradio_client import Client, handle_file

    from pipelines import tiny
    from pipelines.settings import Settings
    from pipelines.tasks import Pipelines
    from tests.conftest import launch

    root = Path(os.environ.get("MMDEMO_TINY_DIR") or tempfile.mkdtemp(prefix="tiny-"))
    tiny.build(root)
    omni, janus = str(root / tiny.OMNI_DIR), str(root / tiny.JANUS_DIR)
    pipes = Pipelines(Settings(caption_model=omni, vqa_model=omni, audio_model=omni, video_model=omni,
                               image_model=janus, max_new_tokens=8, max_speech_seconds=1))
    threading.setprofile(profile)  # every server thread started from here on
    sys.setprofile(profile)
    demo, url = launch(pipes)
    try:
        client = Client(url, analytics_enabled=False, verbose=False)
        assets = ROOT / "assets"

        def caption():
            client.predict(handle_file(str(assets / "street.png")), "en", api_name="/caption")

        def spoken_video():
            client.predict(handle_file(str(assets / "street_en.mp4")), "What?", [], "Chelsie", True,
                           api_name="/video_qa_spoken")
            client.predict("video", 0, 0, -1, -1, "mean", api_name="/attention")

        for name, run in (("caption", caption), ("spoken video answer + attention", spoken_video)):
            files = crossed(run)
            print(f"{name}: {len(files)} files, {len(edges)} hand-offs between them (calling file, called file)")
            for f in files:
                print("   ", f)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
        demo.close()


if __name__ == "__main__":
    main()
