"""The search tab's index: one embedding per file, computed once and cached on disk by CONTENT, searched by a
matrix product.

- Cache: `<folder>/<model key>/<sha256 of the bytes>.npy`, one normalized float32 vector per file. The key is the
  file's bytes and the model id, not its name: a renamed copy is not embedded again, a changed file is (its bytes
  hash differently). Within a process the hash itself is kept per (path, size, mtime), so a second search over a
  10,000-file gallery reads no file again.
- Search: the gallery's vectors stacked in one normalized float32 matrix; the cosine of every item with a query is
  one matrix-vector product, and the top k come from argpartition (bench/search.py: well under a second at 10k on
  a CPU, and the brute-force baseline it is measured against).
- Beyond one machine's memory: FaissStore keeps the vectors in a faiss index on disk (faiss-cpu, optional,
  requirements-dev.txt); the default path needs only numpy.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mov", ".mkv", ".avi")
DEFAULT_CACHE = Path(os.path.expanduser("~/.cache/mmdemo/search"))


def kind_of(path: str) -> str | None:
    """"image", "video" or None (not a gallery file), by the name's extension."""
    ext = os.path.splitext(path)[1].lower()
    return "image" if ext in IMAGE_EXTENSIONS else "video" if ext in VIDEO_EXTENSIONS else None


def normalized(vectors: np.ndarray) -> np.ndarray:
    """Rows of unit length, float32 (a zero row stays zero rather than NaN)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def content_hash(path: str) -> str:
    """sha256 of the file's bytes, read in blocks (a video need not fit in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class EmbeddingCache:
    """Vectors on disk keyed by (model id, content hash); written atomically (a crash leaves no half file)."""

    def __init__(self, folder: str | os.PathLike, model_id: str):
        self.folder = Path(folder) / hashlib.sha256(model_id.encode()).hexdigest()[:16]
        self.folder.mkdir(parents=True, exist_ok=True)
        self._hashes: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> content hash
        self._guard = threading.Lock()

    def key_of(self, path: str) -> str:
        st = os.stat(path)
        stamp = (os.fspath(path), st.st_size, st.st_mtime_ns)
        key = self._hashes.get(stamp)
        if key is None:
            key = content_hash(path)
            with self._guard:
                if len(self._hashes) > 1_000_000:  # bounded: a server folder that keeps changing
                    self._hashes.clear()
                self._hashes[stamp] = key
        return key

    def _file(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        try:
            return np.load(self._file(key), allow_pickle=False)
        except (OSError, ValueError):
            return None

    def put(self, key: str, vector: np.ndarray) -> None:
        target = self._file(key)
        target.parent.mkdir(exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(vector, dtype=np.float32), allow_pickle=False)
        os.replace(tmp, target)


@dataclass
class Hit:
    """One ranked gallery item: its file, "image" or "video", and its cosine similarity with the query."""

    path: str
    kind: str
    score: float


class NumpyStore:
    """Every vector in one normalized float32 matrix in memory: exact cosine ranking by one product."""

    def __init__(self, vectors: np.ndarray):
        self.vectors = normalized(vectors)

    def __len__(self) -> int:
        return len(self.vectors)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores) of the k best rows, best first."""
        scores = self.vectors @ normalized(query).reshape(-1)
        k = min(k, len(scores))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return top, scores[top]


class FaissStore:
    """The same ranking through faiss (pip install faiss-cpu): an exact inner-product index, written to and
    memory-mapped from disk, so a gallery larger than memory is searched from its file. Swap IndexFlatIP for an
    IVF/PQ index to trade exactness for speed at millions of items (faiss's own docs)."""

    def __init__(self, vectors: np.ndarray, path: str | os.PathLike | None = None):
        import faiss

        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(normalized(vectors))
        if path is not None:
            faiss.write_index(self.index, os.fspath(path))
            self.index = faiss.read_index(os.fspath(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)

    def __len__(self) -> int:
        return self.index.ntotal

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self))
        scores, ids = self.index.search(normalized(query).reshape(1, -1), k)
        return ids[0].astype(np.int64), scores[0]


class GalleryIndex:
    """Files -> their vectors (from the cache, else `embed`, which is called once per new content) -> a store.

    `embed(paths)` returns one vector per path (the search pipeline's image and video encoder); `calls` counts the
    files it was asked to embed, which the tests read to see the cache at work."""

    def __init__(self, cache: EmbeddingCache, embed: Callable[[list[str]], np.ndarray]):
        self.cache, self.embed = cache, embed
        self.embedded = 0  # files embedded by the model since start-up (not read from the cache)
        self._lock = threading.Lock()
        self._store: tuple | None = None  # (file keys, items, store, all vectors) of the last gallery

    def vectors(self, paths: list[str], keys: list[str] | None = None) -> tuple[list[str], np.ndarray]:
        """(content key, normalized vector) of each path: from the last gallery's matrix, else the disk cache, else
        embedded (only what neither has)."""
        keys = [self.cache.key_of(p) for p in paths] if keys is None else keys
        found: dict[str, np.ndarray | None] = {}
        last = self._store
        if last is not None:  # a gallery that grew by one file reads one vector, not 10,000
            rows = {key: i for i, (_, key) in enumerate(last[0])}
            found = {k: last[3][rows[k]] for k in keys if k in rows}
        for k in dict.fromkeys(keys):
            if k not in found:
                found[k] = self.cache.get(k)
        missing = [(k, p) for k, p in dict(zip(keys, paths)).items() if found[k] is None]
        if missing:
            fresh = normalized(self.embed([p for _, p in missing]))
            self.embedded += len(missing)
            for (key, _), vector in zip(missing, fresh):
                self.cache.put(key, vector)
                found[key] = vector
        return keys, np.stack([found[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)

    def store(self, paths: list[str]) -> tuple[list[tuple[str, str]], NumpyStore]:
        """The (path, kind) items and the store of this gallery; the same store again while no file changed (each
        file's key is then a stat and a dictionary look-up: nothing is read)."""
        keys = [self.cache.key_of(p) for p in paths]
        stamp = tuple(zip(paths, keys))
        last = self._store
        if last is not None and last[0] == stamp:
            return last[1], last[2]
        keys, vectors = self.vectors(paths, keys)
        readable = np.linalg.norm(vectors, axis=1) > 0 if len(vectors) else np.zeros(0, bool)  # unreadable: zero
        items = [(p, kind_of(p) or "image") for p, ok in zip(paths, readable) if ok]
        store = NumpyStore(vectors[readable] if len(vectors) else vectors)
        with self._lock:
            self._store = (stamp, items, store, vectors)  # every file's vector, unreadable ones (zero) included
        return items, store

    def search(self, paths: list[str], query: np.ndarray, k: int) -> list[Hit]:
        items, store = self.store(paths)
        if not items:
            return []
        top, scores = store.search(query, k)
        return [Hit(items[i][0], items[i][1], float(s)) for i, s in zip(top, scores)]


def gallery_files(folders: Iterable[str | os.PathLike], limit: int) -> tuple[list[str], bool]:
    """The image and video files under `folders` (sorted, symlinks not followed out of them), at most `limit`;
    and whether more were left out."""
    found: list[str] = []
    for folder in folders:
        root = os.path.realpath(folder)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                if name.startswith(".") or not kind_of(name) or os.path.islink(path):
                    continue
                if len(found) >= limit:
                    return found, True
                found.append(path)
    return found, False
