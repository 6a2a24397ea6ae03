"""Freed memory goes back to the system: glibc's MALLOC_MMAP_THRESHOLD_ (its documented tunable), set for the
app's process before it starts."""

from __future__ import annotations

import os
import platform
import sys

THRESHOLD_ENV = "MALLOC_MMAP_THRESHOLD_"
BIG_BUFFER = 4 * 2**20


def return_big_frees() -> None:
    """Buffers of 4 MB or more get their own mapping, unmapped when freed (glibc only).

    glibc raises its mapping threshold after each big free, so later buffers of that size come from the heap
    and stay with the process once freed (an audio question's Whisper features and the encoder's work on them:
    bench/RESULTS.md, the soak). A fixed threshold keeps RSS what the app really holds; an mmap per big buffer
    costs microseconds. glibc reads the variable once, as the process starts: when it is not set (the
    Dockerfile sets it), the process starts itself again with it, same interpreter and arguments. Only for
    `python app.py` (never inside a test run or another program that imports the app).
    """
    if os.environ.get(THRESHOLD_ENV) is not None or platform.libc_ver()[0] != "glibc":
        return
    os.environ[THRESHOLD_ENV] = str(BIG_BUFFER)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
