"""The benchmark script runs end to end with tiny counts (numbers are not checked: bench/ reports them)."""

import subprocess
import sys

from .conftest import ROOT


def test_bench_runs_and_prints_tables(tmp_path):
    out = tmp_path / "results.md"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--sections", "overhead,scale,memory,decode", "--repeats", "1", "--tokens", "4",
         "--no-stock-client", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    for title in ("### Overhead", "### Where the API's time goes", "### Streaming", "### Real input scale", "### Memory", "### Decode"):
        assert title in text
