"""Search by meaning tab: words -> pictures and videos, a picture -> similar ones and the best label, and the
similarity matrix of pictures x words (pipelines/tasks/search.py does the work; this module only lays it out)."""

from __future__ import annotations

import os

import gradio as gr

from .common import RunControls, SafeImage, model_event, notify, uploaded_file, user_errors
from .i18n import t


def _name(path: str) -> str:
    return os.path.basename(path)


def _gallery(hits) -> list[tuple[str, str]]:
    """(file, caption) for gr.Gallery: rank, cosine and the file's name."""
    return [(h.path, f"{i}. {h.score:.3f} · {_name(h.path)}") for i, h in enumerate(hits, 1)]


def _ranking(hits) -> list[dict]:
    return [{"rank": i, "file": _name(h.path), "kind": h.kind, "score": round(h.score, 4)} for i, h in enumerate(hits, 1)]


def _files(files) -> list[str]:
    """Uploaded paths only (an API call naming a server path is refused as every tab refuses it)."""
    return [uploaded_file(str(f)) for f in (files or []) if f]


def _matrix_table(event, names: list[str]) -> str:
    head = "| | " + " | ".join(f"T{j}: {text}" for j, text in enumerate(event.texts, 1)) + " |"
    rule = "|---" * (len(event.texts) + 1) + "|"
    rows = [f"| I{i}: {name} | " + " | ".join(f"{v:.3f}" for v in row) + " |"
            for i, (name, row) in enumerate(zip(names, event.scores), 1)]
    return "\n".join([head, rule, *rows])


def render(pipes, ui) -> None:
    searcher = pipes.search
    queue = model_event(ui, searcher)
    with gr.Tab(t("tab_search"), id="search"):
        gr.Markdown(t("search_gallery_note"), elem_id="search-note")
        uploads = gr.File(file_count="multiple", file_types=["image", "video"], type="filepath",
                          label=t("search_uploads"), elem_id="search-uploads")
        top_k = gr.Slider(1, 48, value=12, step=1, label=t("search_top_k"), elem_id="search-top-k")
        with gr.Tabs(overflow_behavior="wrap"):  # every mode one tap away at 390 px too
            with gr.Tab(t("search_text_mode"), id="search-text"):
                query = gr.Textbox(label=t("search_query"), placeholder=t("search_query_placeholder"), lines=1,
                                   max_length=ui.settings.max_query_chars, elem_id="search-query")
                text_controls = RunControls("search_run", "busy_search", "search-text")
                found = gr.Gallery(label=t("search_results"), columns=4, height="auto", elem_id="search-results")
                ranking = gr.JSON(label=t("search_scores"), elem_id="search-ranking")
            with gr.Tab(t("search_image_mode"), id="search-image"):
                with gr.Row():
                    with gr.Column():
                        image = SafeImage(type="filepath", label=t("search_image"), sources=["upload", "clipboard"],
                                          elem_id="search-image")
                        labels = gr.Textbox(label=t("search_labels"), lines=3, elem_id="search-labels",
                                            value="a street · 街道\na chart · 图表\na cat · 猫")
                        image_controls = RunControls("search_run", "busy_search", "search-image")
                    with gr.Column():
                        fits = gr.Label(label=t("search_label_scores"), elem_id="search-label-scores")
                similar = gr.Gallery(label=t("search_results"), columns=4, height="auto", elem_id="search-similar")
                similar_ranking = gr.JSON(label=t("search_scores"), elem_id="search-similar-ranking")
            with gr.Tab(t("search_matrix_mode"), id="search-matrix"):
                with gr.Row():
                    with gr.Column():
                        pictures = gr.File(file_count="multiple", file_types=["image"], type="filepath",
                                           label=t("search_matrix_images"), elem_id="search-matrix-images")
                        texts = gr.Textbox(label=t("search_matrix_texts"), lines=4, elem_id="search-matrix-texts",
                                           value="a street with a house\n一张柱状图\na cat")
                        matrix_controls = RunControls("search_matrix_run", "busy_search", "search-matrix")
                    with gr.Column():
                        heat = gr.Image(label=t("search_matrix"), type="pil", interactive=False,
                                        elem_id="search-heat-map")
                        table = gr.Markdown(elem_id="search-matrix-table")

        @user_errors
        def search(query, uploads=None, top_k=None, request: gr.Request = None):
            """Search the gallery (the app's sample pictures and videos, the server's folder, your uploads) by
            meaning, with words in English or Chinese.

            Args:
                query: what to look for, e.g. "a red house" or "一栋红房子".
                uploads: extra images or videos to search among (uploaded files), or None.
                top_k: how many results, 1 to 48 (default 12).
            Returns:
                the best matches as a gallery (captioned with rank and cosine similarity), and the ranking as a
                list of {rank, file, kind, score}.
            """
            asked = searcher.prepare_text(query, _files(uploads), top_k)
            notify(asked, request)
            (event,) = searcher.answer(asked)
            return _gallery(event.hits), _ranking(event.hits)

        @user_errors
        def classify(image, labels, uploads=None, top_k=None, request: gr.Request = None):
            """Zero-shot classification and search by picture: which of the labels fits the image (SigLIP: a
            sigmoid probability per label, not shares of 1), and the gallery items most like it.

            Args:
                image: the picture (an uploaded file or URL).
                labels: the candidate labels, one per line or comma-separated (English or Chinese).
                uploads: extra images or videos to search among (uploaded files), or None.
                top_k: how many similar items, 1 to 48 (default 12).
            Returns:
                the labels with their probabilities, the similar items as a gallery, and their ranking.
            """
            asked = searcher.prepare_image(image, labels, _files(uploads), top_k)
            notify(asked, request)
            (event,) = searcher.answer(asked)
            return dict(event.labels), _gallery(event.hits), _ranking(event.hits)

        @user_errors
        def similarity_matrix(pictures, texts, request: gr.Request = None):
            """The contrast a CLIP-style model learns: the cosine similarity of each picture with each text.

            Args:
                pictures: the images (uploaded files), rows I1, I2, ...
                texts: the texts, one per line, columns T1, T2, ...
            Returns:
                the similarity matrix as a heat map, and as a table.
            """
            files = _files(pictures)
            (event,) = searcher.answer(searcher.prepare_matrix(files, texts))
            return event.picture, _matrix_table(event, [_name(f) for f in files])

        text_event = text_controls.around(text_controls.run.click, dict(
            fn=search, inputs=[query, uploads, top_k], outputs=[found, ranking], api_name="search", **queue))
        submit_event = text_controls.around(query.submit, dict(
            fn=search, inputs=[query, uploads, top_k], outputs=[found, ranking], api_visibility="private", **queue))
        text_controls.stop_cancels([text_event, submit_event])
        image_event = image_controls.around(image_controls.run.click, dict(
            fn=classify, inputs=[image, labels, uploads, top_k], outputs=[fits, similar, similar_ranking],
            api_name="classify", **queue))
        image_controls.stop_cancels([image_event])
        matrix_event = matrix_controls.around(matrix_controls.run.click, dict(
            fn=similarity_matrix, inputs=[pictures, texts], outputs=[heat, table], api_name="similarity_matrix",
            **queue))
        matrix_controls.stop_cancels([matrix_event])
