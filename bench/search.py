"""Search by meaning: indexing rate, search latency and memory of the gallery index (pipelines/search_index.py) at
1k, 10k and 100k synthetic embeddings, side by side with a brute-force numpy baseline (full product, full sort) and
faiss (exact flat index, memory-mapped from disk), in one run.

    python -m bench.search [--dim 768] [--repeats 20] [--sizes 1000,10000,100000] [--files 1000,10000]

Embeddings are random unit vectors of SigLIP 2 base's width (768): the ranking's cost depends on the count and width,
not on what the vectors mean. "App path" is what a search costs the tab on a warm cache: list the gallery folder, stat
every file, find each vector by its content key, rank; measured on real files (one small file and its cached vector
each), the model replaced by a table lookup so that only the index is timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import ROOT  # noqa: F401 - puts the project on sys.path


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """The baseline: normalize everything, score everything, sort everything."""
    v = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = v @ (query / np.linalg.norm(query))
    return np.argsort(-scores)[:k]


def stores(sizes: list[int], dim: int, repeats: int, k: int, folder: Path) -> list[dict]:
    from pipelines.search_index import FaissStore, NumpyStore

    rows = []
    rng = np.random.default_rng(0)
    for n in sizes:
        vectors = rng.standard_normal((n, dim), dtype=np.float32)
        query = rng.standard_normal(dim, dtype=np.float32)
        start = time.perf_counter()
        store = NumpyStore(vectors)
        build_numpy = time.perf_counter() - start
        start = time.perf_counter()
        index_file = folder / f"{n}.faiss"
        flat = FaissStore(vectors, index_file)
        build_faiss = time.perf_counter() - start
        ours = median_ms(lambda: store.search(query, k), repeats)
        base = median_ms(lambda: brute_force(vectors, query, k), repeats)
        faiss_ms = median_ms(lambda: flat.search(query, k), repeats)
        same = list(store.search(query, k)[0]) == list(brute_force(vectors, query, k)) == list(flat.search(query, k)[0])
        rows.append(dict(n=n, build_numpy=n / build_numpy, build_faiss=n / build_faiss, ours=ours, base=base,
                         faiss=faiss_ms, mb=store.vectors.nbytes / 2**20, faiss_mb=index_file.stat().st_size / 2**20,
                         same=same))
    return rows


def app_path(counts: list[int], dim: int, repeats: int, k: int, folder: Path) -> list[dict]:
    """Index real files through the content-keyed cache, then time a warm search over the folder."""
    from pipelines.search_index import EmbeddingCache, GalleryIndex, content_hash, gallery_files

    rows = []
    rng = np.random.default_rng(1)
    for n in counts:
        gallery = folder / f"gallery-{n}"
        gallery.mkdir()
        table = {}
        for i in range(n):
            path = gallery / f"{i:06d}.png"
            path.write_bytes(i.to_bytes(8, "little") * 4)  # distinct content; never decoded here
        vectors = rng.standard_normal((n, dim), dtype=np.float32)
        for i, path in enumerate(sorted(gallery.iterdir())):
            table[content_hash(str(path))] = vectors[i]

        def embed(paths):
            return np.stack([table[content_hash(p)] for p in paths])

        index = GalleryIndex(EmbeddingCache(folder / f"cache-{n}", "bench"), embed)
        files, _ = gallery_files([gallery], n)
        start = time.perf_counter()
        index.store(files)  # cold: hash, embed (a lookup here), write each vector
        cold = time.perf_counter() - start
        fresh = GalleryIndex(EmbeddingCache(folder / f"cache-{n}", "bench"), embed)  # a restart: reads the cache
        start = time.perf_counter()
        fresh.store(files)
        restart = time.perf_counter() - start
        query = rng.standard_normal(dim, dtype=np.float32)
        warm = median_ms(lambda: fresh.search(gallery_files([gallery], n)[0], query, k), repeats)
        rows.append(dict(n=n, cold=n / cold, restart=n / restart, warm=warm, embedded=fresh.embedded))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--k", type=int, default=12)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--files", default="1000,10000")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    files = [int(s) for s in args.files.split(",") if s]
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        rows = stores(sizes, args.dim, args.repeats, args.k, Path(tmp))
        app = app_path(files, args.dim, max(3, args.repeats // 4), args.k, Path(tmp)) if files else []
    print(f"## Search by meaning (`bench/search.py`), dim {args.dim}, top {args.k}, median of {args.repeats}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n")
    print("| items | index build, numpy (items/s) | index build, faiss flat on disk (items/s) | search, ours (ms) | "
          "search, brute-force numpy baseline (ms) | search, faiss (ms) | ours vs baseline | vectors in memory (MB) | "
          "faiss file (MB) | same top k |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['n']:,} | {r['build_numpy']:,.0f} | {r['build_faiss']:,.0f} | {r['ours']:.2f} | {r['base']:.2f} | "
              f"{r['faiss']:.2f} | {r['base'] / r['ours']:.1f}x faster | {r['mb']:.1f} | {r['faiss_mb']:.1f} | "
              f"{'yes' if r['same'] else 'NO'} |")
    if app:
        print("\nApp path on real files (warm = list the folder, stat each file, look up its content key, rank):\n")
        print("| files | first indexing: hash + embed + cache write (files/s) | after a restart: from the cache "
              "(files/s) | warm search (ms) | files embedded after the restart |")
        print("|---:|---:|---:|---:|---:|")
        for r in app:
            print(f"| {r['n']:,} | {r['cold']:,.0f} | {r['restart']:,.0f} | {r['warm']:.1f} | {r['embedded']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
