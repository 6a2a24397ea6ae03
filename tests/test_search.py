"""Search by meaning on the SigLIP 2 miniature (pipelines/tiny.py build_siglip): the real code path, random weights.

The ranking is checked against a brute-force cosine ranking of the same embeddings, the cache is watched through
the index's own count of files the model embedded, and every bound is refused with its message."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.errors import InputError
from pipelines.search_index import FaissStore, NumpyStore, gallery_files, normalized
from pipelines.tasks.search import ASSETS, Matrix, Ranked


@pytest.fixture()
def search(tiny_settings, tmp_path):
    """A search pipeline with a cache folder of its own and a server gallery of three coloured squares."""
    from pipelines.tasks import Pipelines

    gallery = tmp_path / "gallery"
    gallery.mkdir()
    for name, colour in (("red.png", "red"), ("green.jpg", "green"), ("blue.webp", "blue")):
        Image.new("RGB", (64, 48), colour).save(gallery / name)
    (gallery / "notes.txt").write_text("not media")
    pipes = Pipelines(tiny_settings(search_cache=str(tmp_path / "cache"), gallery=str(gallery)))
    return pipes.search


def brute_force(pipeline, files, query_vector):
    """Cosine of every file's vector, computed here from the model one file at a time, best first."""
    vectors = np.stack([normalized(pipeline.embed_files([f]))[0] for f in files])
    scores = vectors @ normalized(query_vector)
    order = np.argsort(-scores, kind="stable")
    return [files[i] for i in order], scores[order]


def test_text_search_ranks_as_brute_force(search):
    request = search.prepare_text("A Red House · 一栋红房子", top_k=50)
    files = request.media["files"]
    assert len(files) == 7  # 4 bundled (2 images, 2 videos) + 3 in --gallery; the .txt is not media
    (event,) = list(search.answer(request))
    assert isinstance(event, Ranked)
    expected, scores = brute_force(search, files, search.embed_texts(["a red house · 一栋红房子"])[0])
    assert [h.path for h in event.hits] == expected
    np.testing.assert_allclose([h.score for h in event.hits], scores, rtol=1e-4, atol=1e-5)
    assert {h.kind for h in event.hits} == {"image", "video"}


def test_top_k_and_image_query_with_labels(search):
    request = search.prepare_image(os.path.join(ASSETS, "street.png"), "a street, 一条街\na chart", top_k=3)
    (event,) = list(search.answer(request))
    assert len(event.hits) == 3 and event.scoring == "sigmoid"
    assert [label for label, _ in event.labels] and {lab for lab, _ in event.labels} == {"a street", "一条街", "a chart"}
    assert all(0 < p < 1 for _, p in event.labels)
    assert [p for _, p in event.labels] == sorted((p for _, p in event.labels), reverse=True)
    # the query picture itself is in the gallery: it is its own best match, cosine 1
    assert event.hits[0].path.endswith("street.png") and event.hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_each_file_embedded_once_and_a_changed_file_again(search, tmp_path):
    upload = tmp_path / "mine.png"
    Image.new("RGB", (40, 40), "yellow").save(upload)
    index = search.index
    list(search.answer(search.prepare_text("yellow", [str(upload)])))
    first = index.embedded
    assert first == 8  # every gallery file, the upload included, once
    list(search.answer(search.prepare_text("something else", [str(upload)])))
    assert index.embedded == first  # the second search reads the cache
    copy = tmp_path / "renamed copy.png"
    shutil.copy(upload, copy)
    list(search.answer(search.prepare_text("yellow", [str(copy)])))
    assert index.embedded == first  # same bytes under another name: the cache's key is the content
    Image.new("RGB", (40, 40), "purple").save(upload)  # changed content
    list(search.answer(search.prepare_text("yellow", [str(upload)])))
    assert index.embedded == first + 1  # only the changed file is embedded again


def test_cache_survives_a_restart(search, tiny_settings, tmp_path):
    from pipelines.tasks import Pipelines

    list(search.answer(search.prepare_text("red")))
    again = Pipelines(tiny_settings(search_cache=search.settings.search_cache, gallery=search.settings.gallery)).search
    again.registry = search.registry  # the same loaded model; a new index over the same disk cache
    list(again.answer(again.prepare_text("red")))
    assert again.index.embedded == 0


def test_matrix(search):
    images = [os.path.join(ASSETS, "street.png"), os.path.join(ASSETS, "chart.png")]
    (event,) = list(search.answer(search.prepare_matrix(images, "a street\n一张图表\na cat")))
    assert isinstance(event, Matrix) and event.scores.shape == (2, 3)
    assert np.all(np.abs(event.scores) <= 1 + 1e-5)
    assert event.picture.size[0] > event.picture.size[1]  # 3 columns, 2 rows
    texts = search.embed_texts(["a street", "一张图表", "a cat"])
    pictures = search.embed_images([Image.open(p).convert("RGB") for p in images])
    np.testing.assert_allclose(event.scores, pictures @ texts.T, atol=1e-4)


def test_bounds_refused_with_their_message(search, tiny_settings, tmp_path):
    from pipelines.tasks import Pipelines

    s = search.settings

    def refused(key, fn, *args, **kwargs):
        with pytest.raises(InputError) as err:
            fn(*args, **kwargs)
        assert err.value.key == key, err.value.key
        assert err.value.message("zh") != err.value.message("en")

    refused("no_query", search.prepare_text, "   ")
    refused("text_too_long", search.prepare_text, "x" * (s.max_query_chars + 1))
    refused("bad_top_k", search.prepare_text, "red", top_k=0)
    refused("bad_top_k", search.prepare_text, "red", top_k="many")
    refused("too_many_labels", search.prepare_image, os.path.join(ASSETS, "street.png"),
            [f"label {i}" for i in range(s.max_labels + 1)])
    refused("no_image", search.prepare_image, None)
    refused("no_image", search.prepare_matrix, [], "a")
    refused("no_labels", search.prepare_matrix, [os.path.join(ASSETS, "street.png")], " , ")
    refused("too_many_images", search.prepare_matrix, [os.path.join(ASSETS, "street.png")] * (s.max_matrix_images + 1),
            "a")
    refused("search_not_media", search.prepare_text, "red", [__file__])
    small = Pipelines(tiny_settings(search_cache=str(tmp_path / "c"), gallery=s.gallery, max_gallery_items=2)).search
    refused("gallery_too_big", small.prepare_text, "red", [os.path.join(ASSETS, "street.png")] * 3)
    request = small.prepare_text("red")  # the server's folder is cut to the limit, with a notice
    assert len(request.media["files"]) == 2 and request.notices[0][0] == "gallery_cut"


def test_stores_rank_alike(tmp_path):
    """The in-memory matrix and faiss's on-disk index give the same top 10 (exact inner product both)."""
    rng = np.random.default_rng(0)
    vectors, query = rng.standard_normal((2000, 32)), rng.standard_normal(32)
    exact = np.argsort(-(normalized(vectors) @ normalized(query)))[:10]
    numpy_top, _ = NumpyStore(vectors).search(query, 10)
    faiss_top, _ = FaissStore(vectors, tmp_path / "index.faiss").search(query, 10)
    assert list(numpy_top) == list(exact) == list(faiss_top)


def test_gallery_files_bounded_and_no_links(tmp_path):
    for i in range(5):
        Image.new("RGB", (4, 4)).save(tmp_path / f"{i}.png")
    os.symlink("/etc/passwd", tmp_path / "link.png")
    files, cut = gallery_files([tmp_path], 3)
    assert len(files) == 3 and cut
    files, cut = gallery_files([tmp_path], 10)
    assert len(files) == 5 and not cut


def test_api_endpoints(served):
    """The three named endpoints on the real app; a refused bound comes back as its message, not a traceback."""
    from gradio_client import handle_file

    client = served.new_client()
    street, chart = os.path.join(ASSETS, "street.png"), os.path.join(ASSETS, "chart.png")
    gallery, ranking = client.predict("a red house · 一栋红房子", None, api_name="/search")
    assert len(gallery) == len(ranking) == 4 and [r["rank"] for r in ranking] == [1, 2, 3, 4]
    assert {r["kind"] for r in ranking} == {"image", "video"}
    assert ranking == sorted(ranking, key=lambda r: -r["score"])
    fits, similar, similar_ranking = client.predict(handle_file(street), "a street\n一张图表", None,
                                                    api_name="/classify")
    assert {c["label"] for c in fits["confidences"]} == {"a street", "一张图表"}
    assert similar_ranking[0]["file"] == "street.png"
    heat, table = client.predict([handle_file(street), handle_file(chart)], "a street\n一张图表\na cat",
                                 api_name="/similarity_matrix")
    assert os.path.exists(heat) and table.count("\n") == 3 and "T3: a cat" in table
    # an upload that is no picture or video: refused before the handler, by gr.File's file_types (as in the image chat)
    with pytest.raises(Exception, match="Invalid file type"):
        client.predict("red", [handle_file(__file__)], api_name="/search")
    _, two = client.predict("red", None, 2, api_name="/search")
    assert len(two) == 2
    with pytest.raises(Exception, match="less than minimum value 1"):  # the slider's own bound (the pipeline's: above)
        client.predict("red", None, 0, api_name="/search")
    status = client.predict(api_name="/status")  # the search model is listed, loaded, with its task
    (entry,) = [m for name, m in status["models"].items() if "siglip2" in name]
    assert entry["loaded"] and entry["tasks"] == ["search"]
    with pytest.raises(Exception, match="Please type what to search for"):
        client.predict("  ", None, api_name="/search")
    with pytest.raises(Exception, match="labels or texts; the limit is"):
        client.predict([handle_file(street)], "\n".join(f"t{i}" for i in range(40)), api_name="/similarity_matrix")


def test_mcp_tools(tiny_settings, pipes, tmp_path):
    """search and classify as an agent calls them (files as data URIs), and a refusal in the
    agent's language; a server folder given by --gallery is searched and its results are served."""
    from pipelines.tasks import Pipelines

    from .conftest import serve
    from .requires import require
    from .test_mcp import call, data_uri, texts

    require("mcp", "gradio[mcp] from requirements.txt")
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    Image.new("RGB", (32, 32), "red").save(gallery / "red.png")
    settings = tiny_settings(gallery=str(gallery), search_cache=str(tmp_path / "cache"))
    image = data_uri(Path(ASSETS) / "street.png", "image/png")
    with serve(Pipelines(settings, registry=pipes.registry), mcp_server=True) as served:
        url = f"{served.url}gradio_api/mcp/"
        result = call(url, "search", {"query": "a red square · 红色方块"})
        assert not result.isError, texts(result)
        assert "red.png" in json.dumps(texts(result)) and "street.png" in json.dumps(texts(result))
        result = call(url, "classify", {"image": image, "labels": "a street, 图表"})
        assert not result.isError and "图表" in json.dumps(texts(result), ensure_ascii=False), texts(result)
        result = call(url, "search", {"query": " "}, "zh-CN")
        assert result.isError and texts(result) == ["请输入要搜索的内容。"], texts(result)
        client = served.new_client()  # the folder's files come back as files this app serves
        found, _ = client.predict("red", None, api_name="/search")
        assert any(os.path.basename(item["image"]) == "red.png" for item in found)


def test_a_video_is_the_mean_of_8_evenly_spaced_frames(search):
    """A gallery video's vector: 8 evenly spaced frames of those video_input samples, their normalized vectors
    averaged and normalized again."""
    from pipelines.video_input import load_video

    path = os.path.join(ASSETS, "street_en.mp4")
    s = search.settings
    clip = load_video(path, max_seconds=s.max_video_seconds, max_frames=s.max_video_frames,
                      max_pixels=s.max_video_pixels, max_mb=s.max_video_mb, with_audio=False)
    assert len(clip.frames) > 8
    picks = np.linspace(0, len(clip.frames) - 1, 8).round().astype(int)
    frames = search.embed_images([Image.fromarray(clip.frames[i]) for i in picks])
    expected = normalized(frames.mean(axis=0))
    np.testing.assert_allclose(search.embed_files([path])[0], expected, atol=1e-5)
    assert np.linalg.norm(expected) == pytest.approx(1.0, abs=1e-5)


def test_flags_and_environment(monkeypatch, tmp_path):
    from app import parse_args, settings_from

    monkeypatch.setenv("MMDEMO_GALLERY", str(tmp_path))
    monkeypatch.setenv("MMDEMO_SEARCH_MODEL", "org/from-env")
    settings = settings_from(parse_args(["--search-cache", str(tmp_path / "c")]))
    assert (settings.gallery, settings.search_model, settings.search_cache) == (str(tmp_path), "org/from-env",
                                                                                 str(tmp_path / "c"))
    assert settings_from(parse_args(["--search-model", "org/flag", "--gallery", "/g"])).search_model == "org/flag"


def test_label_probabilities_are_the_models_own_sigmoid(search):
    """classify's probabilities equal sigmoid(logits_per_image) of SiglipModel's own forward on the same inputs."""
    import torch

    labels = ["a street", "一张图表", "a cat"]
    image = Image.open(os.path.join(ASSETS, "street.png")).convert("RGB")
    (event,) = list(search.answer(search.prepare_image(image, labels)))
    loaded = search.model
    inputs = loaded.processor(text=[t.lower() for t in labels], images=[image], padding="max_length", max_length=64,
                              return_tensors="pt")
    with torch.inference_mode():
        expected = torch.sigmoid(loaded.model(**inputs).logits_per_image)[0].tolist()
    assert dict(event.labels) == pytest.approx(dict(zip(labels, expected)), abs=1e-5)


def test_an_unreadable_gallery_file_is_left_out_once(search):
    """A corrupt file in the server's folder does not fail the search: it is ranked nowhere, and not read again."""
    broken = Path(search.settings.gallery) / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    request = search.prepare_text("red", top_k=50)
    assert str(broken) in request.media["files"]
    (event,) = list(search.answer(request))
    assert len(event.hits) == 7 and str(broken) not in [h.path for h in event.hits]
    embedded = search.index.embedded
    list(search.answer(search.prepare_text("blue", top_k=50)))
    assert search.index.embedded == embedded
