"""The benchmark script runs end to end with tiny counts (numbers are not checked: bench/ reports them)."""

import subprocess
import sys

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow  # each test runs a benchmark in a process of its own


def test_bench_runs_and_prints_tables(tmp_path):
    out = tmp_path / "results.md"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--sections", "overhead,scale,memory,decode", "--repeats", "1", "--tokens", "4",
         "--no-stock-client", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    for title in ("### Overhead", "### Where the API's time goes", "### Streaming", "### Real input scale", "### Memory", "### Decode"):
        assert title in text


def test_soak_runs_and_reports_memory_and_cache():
    """bench/soak.py end to end with 28 requests (every kind of the mix, four times): its table prints,
    no request fails and the cache stays within its budget (the memory target needs the long run)."""
    proc = subprocess.run([sys.executable, "-m", "bench.soak", "--requests", "28", "--every", "14",
                           "--max-cache-mb", "20", "--timeout", "240"], cwd=ROOT, capture_output=True, text=True,
                          timeout=400)
    assert "| 28 | 0 |" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "(met); 0 of 28 requests failed" in proc.stdout, proc.stdout[-2000:]


def test_explain_bench_runs_and_prints_its_tables():
    """bench/explain.py end to end with tiny counts and one row of its second table: both tables print."""
    proc = subprocess.run([sys.executable, "-m", "bench.explain", "--repeats", "1", "--tokens", "2",
                           "--inputs", "audio-30s", "--map-runs", "1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "### Answer latency with the explain feature unused" in proc.stdout
    assert "### One attention map" in proc.stdout and "| audio 30 s (audio Q&A) |" in proc.stdout


def test_search_bench_prints_its_tables():
    """bench/search.py with tiny counts: both tables print and the three rankings agree."""
    proc = subprocess.run([sys.executable, "-m", "bench.search", "--repeats", "1", "--sizes", "1000", "--files", "20"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| 1,000 |" in proc.stdout and "| yes |" in proc.stdout and "| 20 |" in proc.stdout
