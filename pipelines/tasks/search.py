"""Search by meaning: a contrastive image-text model (SigLIP 2 by default) puts pictures, videos and words in one
space, where the cosine of two vectors says how well they match (the "contrast" CLIP and SigLIP are trained on).

Three requests, each `prepare(...) -> Request`, then `answer(request)` yields one event:
- text -> gallery (images and videos), ranked with their cosine scores (Ranked);
- image -> similar gallery items, and which typed label fits best (Ranked with labels: SigLIP's sigmoid per label,
  each a probability of its own, not a share of 1 as CLIP's softmax);
- images x texts -> the similarity matrix, drawn as a heat map (Matrix).

A video is embedded from 8 evenly spaced frames of those pipelines/video_input.py samples (2 a second within
--max-video-seconds): the mean of the normalized frame vectors, normalized again. Gallery vectors are cached on
disk by content (pipelines/search_index.py): a file is embedded once per model.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..errors import InputError
from ..inputs import check_text, load_image
from ..search_index import DEFAULT_CACHE, EmbeddingCache, GalleryIndex, Hit, gallery_files, kind_of, normalized
from ..video_input import load_video
from ..zerogpu import gpu
from .base import Pipeline, Request

ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "assets")
VIDEO_FRAMES = 8  # frames a gallery video is embedded from
TEXT_POSITIONS = 64  # SigLIP's text tower: trained on text padded to 64 tokens
BATCH = 16  # images per forward pass
TOP_K = 12  # results shown


@dataclass
class Ranked:
    """Gallery items best first, with their cosine similarity; for an image query also the labels' probabilities."""

    hits: list[Hit]
    labels: list[tuple[str, float]] = field(default_factory=list)
    scoring: str = "sigmoid"  # how label probabilities are made: "sigmoid" (per label) or "softmax" (shares of 1)


@dataclass
class Matrix:
    """Cosine similarity of each image (rows) with each text (columns), and its heat map."""

    scores: np.ndarray
    texts: list[str]
    picture: Image.Image


class SearchPipeline(Pipeline):
    task = "search"
    needs = "embed"

    def __init__(self, registry, model_id, settings):
        super().__init__(registry, model_id, settings)
        cache = settings.search_cache or DEFAULT_CACHE
        self._index: GalleryIndex | None = None
        self._cache_folder = cache
        # On ZeroGPU each model call runs in spaces.GPU, as the other tasks' do: plain data in (texts, PIL images),
        # numpy out.
        self._encode = gpu(lambda *args, **kwargs: 30)(self._encode)

    @property
    def index(self) -> GalleryIndex:
        """The gallery index of this model (its cache folder made on first use, not at start-up)."""
        if self._index is None:
            self._index = GalleryIndex(EmbeddingCache(self._cache_folder, self.model_id), self.embed_files)
        return self._index

    # --- the model -------------------------------------------------------------------------------------------
    def _run(self, fn, **inputs) -> np.ndarray:
        import torch

        loaded = self.model
        with loaded.lock.shared(), torch.inference_mode():
            inputs = {k: v.to(loaded.device) if hasattr(v, "to") else v for k, v in inputs.items()}
            if "pixel_values" in inputs:
                inputs["pixel_values"] = inputs["pixel_values"].to(loaded.dtype)
            out = fn(loaded.model, **inputs)
        out = getattr(out, "pooler_output", out)  # transformers 5: get_*_features return a ModelOutput
        return normalized(out.float().cpu().numpy())

    def _encode(self, kind: str, items: list) -> Iterator:
        """The GPU part: yields the normalized vectors of `items` (texts or PIL images), and for texts the model's
        learned logit scale and bias (label_scores), read where the weights live."""
        if kind == "text":
            tokens = self.model.processor.tokenizer([t.lower() for t in items], padding="max_length",
                                                    max_length=TEXT_POSITIONS, truncation=True, return_tensors="pt")
            model = self.model.model
            yield (self._run(lambda m, **kw: m.get_text_features(**kw), **tokens),
                   float(model.logit_scale.float().exp().item()), float(model.logit_bias.float().item()))
            return
        processor = self.model.processor.image_processor
        parts = [self._run(lambda m, **kw: m.get_image_features(**kw),
                           **processor(images=items[i:i + BATCH], return_tensors="pt"))
                 for i in range(0, len(items), BATCH)]
        yield np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

    def _texts(self, texts: list[str]) -> tuple[np.ndarray, float, float]:
        (out,) = list(self._encode("text", list(texts)))
        return out

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Normalized text vectors. Lowercased and padded to 64 tokens, as SigLIP 2 was trained."""
        return self._texts(texts)[0]

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        """Normalized image vectors, BATCH images per forward pass."""
        (out,) = list(self._encode("image", list(images)))
        return out

    def embed_files(self, paths: list[str]) -> np.ndarray:
        """One vector per gallery file: an image's own; a video's, the normalized mean of its frames' vectors.
        Images are read BATCH at a time (10,000 new files never sit decoded in memory at once). A file that cannot
        be read (corrupt, too large, not what its name says) gets a zero vector: the index leaves it out of every
        ranking, and its content key keeps it from being tried again."""
        s = self.settings
        out: list[np.ndarray | None] = [None] * len(paths)
        images = [(i, p) for i, p in enumerate(paths) if kind_of(p) != "video"]
        for start in range(0, len(images), BATCH):
            readable = []
            for i, path in images[start:start + BATCH]:
                try:
                    readable.append((i, load_image(path, s.max_image_side, s.max_image_pixels)))
                except InputError:
                    out[i] = np.zeros(0, np.float32)
            if readable:
                for (i, _), vector in zip(readable, self.embed_images([img for _, img in readable])):
                    out[i] = vector
        for i, path in enumerate(paths):
            if out[i] is None:
                try:
                    out[i] = self.video_vector(path)
                except InputError:
                    out[i] = np.zeros(0, np.float32)
        width = next((len(v) for v in out if len(v)), None)
        if width is None:  # nothing readable: the width from one blank picture
            width = self.embed_images([Image.new("RGB", (8, 8))]).shape[1]
        return np.stack([v if len(v) else np.zeros(width, np.float32) for v in out])

    def video_vector(self, path: str) -> np.ndarray:
        s = self.settings
        clip = load_video(path, max_seconds=s.max_video_seconds, max_frames=s.max_video_frames,
                          max_pixels=s.max_video_pixels, max_mb=s.max_video_mb, with_audio=False)
        picks = np.linspace(0, len(clip.frames) - 1, min(VIDEO_FRAMES, len(clip.frames))).round().astype(int)
        frames = self.embed_images([Image.fromarray(clip.frames[i]) for i in picks])
        return normalized(frames.mean(axis=0))

    # --- the gallery -----------------------------------------------------------------------------------------
    def gallery(self, uploads=None) -> tuple[list[str], list[tuple[str, dict]]]:
        """The files searched: the bundled assets, --gallery's folder, then the uploads; and notices."""
        s = self.settings
        uploads = [os.fspath(u) for u in (uploads or []) if u]
        for path in uploads:
            if not kind_of(path):
                raise InputError("search_not_media")
            if not os.path.isfile(path):
                raise InputError("file_missing")
        if len(uploads) > s.max_gallery_items:
            raise InputError("gallery_too_big", count=len(uploads), limit=s.max_gallery_items)
        folders = [ASSETS] + ([s.gallery] if s.gallery else [])
        files, cut = gallery_files(folders, s.max_gallery_items - len(uploads))
        notices = [("gallery_cut", dict(limit=s.max_gallery_items))] if cut else []
        return list(dict.fromkeys(files + uploads)), notices

    # --- the three requests ----------------------------------------------------------------------------------
    def _top_k(self, top_k) -> int:
        if top_k is None:
            return min(TOP_K, self.settings.max_gallery_items)
        try:
            k = int(top_k)
        except (TypeError, ValueError):
            raise InputError("bad_top_k", limit=self.settings.max_gallery_items) from None
        if not 1 <= k <= self.settings.max_gallery_items:
            raise InputError("bad_top_k", limit=self.settings.max_gallery_items)
        return k

    def labels_of(self, labels) -> list[str]:
        """Labels as typed: a list, or one per line / comma (either script's comma); at most --max-labels."""
        if isinstance(labels, str):
            labels = labels.replace("，", ",").replace("\n", ",").split(",")
        labels = list(dict.fromkeys(check_text(t, "label", self.settings.max_query_chars, required=False)
                                    for t in (labels or [])))
        labels = [t for t in labels if t]
        if len(labels) > self.settings.max_labels:
            raise InputError("too_many_labels", count=len(labels), limit=self.settings.max_labels)
        return labels

    def prepare_text(self, query: str, uploads=None, top_k=None) -> Request:
        """Text -> gallery: the query checked, the gallery listed (nothing embedded yet)."""
        query = (query or "").strip() if isinstance(query, str) or query is None else str(query)
        if not query:
            raise InputError("no_query")
        query = check_text(query, "query", self.settings.max_query_chars)
        k = self._top_k(top_k)
        files, notices = self.gallery(uploads)
        return Request([], media=dict(mode="text", query=query, files=files, k=k), notices=notices, question=query)

    def prepare_image(self, image, labels=None, uploads=None, top_k=None) -> Request:
        """Image -> similar gallery items and the best of the typed labels."""
        labels = self.labels_of(labels)
        k = self._top_k(top_k)
        img = load_image(image, self.settings.max_image_side, self.settings.max_image_pixels)
        files, notices = self.gallery(uploads)
        return Request([], media=dict(mode="image", image=img, labels=labels, files=files, k=k), notices=notices)

    def prepare_matrix(self, images, texts) -> Request:
        """Images x texts: each image loaded within the limits, each text checked."""
        images = [i for i in (images or []) if i]
        if not images:
            raise InputError("no_image")
        if len(images) > self.settings.max_matrix_images:
            raise InputError("too_many_images", count=len(images), limit=self.settings.max_matrix_images)
        texts = self.labels_of(texts)
        if not texts:
            raise InputError("no_labels")
        s = self.settings
        loaded = [load_image(i, s.max_image_side, s.max_image_pixels) for i in images]
        return Request([], media=dict(mode="matrix", images=loaded, texts=texts))

    def answer(self, request: Request, max_new_tokens=None, stop=None) -> Iterator[Ranked | Matrix]:
        """The one event of a prepared request (the model runs here, not in prepare)."""
        media = request.media
        if media["mode"] == "text":
            query = self.embed_texts([media["query"]])[0]
            yield Ranked(self.index.search(media["files"], query, media["k"]))
        elif media["mode"] == "image":
            vector = self.embed_images([media["image"]])[0]
            hits = self.index.search(media["files"], vector, media["k"])
            yield Ranked(hits, self.label_scores(vector, media["labels"]))
        else:
            scores = self.embed_images(media["images"]) @ self.embed_texts(media["texts"]).T
            yield Matrix(scores, media["texts"], heat_map(scores, media["texts"]))

    def label_scores(self, image_vector: np.ndarray, labels: list[str]) -> list[tuple[str, float]]:
        """Each label's probability of fitting the image, best first: SigLIP's sigmoid(scale * cos + bias), one
        probability per label (they need not add up to 1)."""
        if not labels:
            return []
        texts, scale, bias = self._texts(labels)
        cos = texts @ image_vector
        probs = 1 / (1 + np.exp(-(scale * cos + bias)))
        return sorted(zip(labels, (float(p) for p in probs)), key=lambda x: -x[1])

    def gpu_seconds(self, *args, **kwargs) -> int:
        return 30


def heat_map(scores: np.ndarray, texts: list[str], cell: int = 64) -> Image.Image:
    """The similarity matrix as a picture: one cell per image (row) x text (column), darker = more alike, each
    cell with its cosine; column n is text n (the page lists them), as the articles' CLIP figures draw it."""
    from PIL import ImageDraw

    rows, cols = scores.shape
    pad = 28
    top = 48  # below the label gr.Image draws over a picture's top-left corner
    picture = Image.new("RGB", (pad + cols * cell + 1, top + rows * cell + 1), "white")
    draw = ImageDraw.Draw(picture)
    low, high = float(scores.min()), float(scores.max())
    span = high - low or 1.0
    for c in range(cols):
        draw.text((pad + c * cell + cell // 2 - 4, top - 18), f"T{c + 1}", fill="black")
    for r in range(rows):
        draw.text((6, top + r * cell + cell // 2 - 6), f"I{r + 1}", fill="black")
        for c in range(cols):
            level = (float(scores[r, c]) - low) / span  # 0 (least alike here) .. 1 (most)
            colour = (int(255 - 205 * level), int(255 - 140 * level), int(255 - 40 * level))
            box = (pad + c * cell, top + r * cell, pad + (c + 1) * cell, top + (r + 1) * cell)
            draw.rectangle(box, fill=colour, outline="grey")
            draw.text((box[0] + 8, box[1] + cell // 2 - 6), f"{scores[r, c]:.2f}",
                      fill="white" if level > 0.6 else "black")
    return picture
