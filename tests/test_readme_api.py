"""The README's "Use it from code" snippets, run as written against the app on tiny checkpoints."""

import contextlib
import io
import re

import pytest

from .conftest import ROOT

README_URL = "http://127.0.0.1:7860/"


def snippets() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Use it from code\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_every_endpoint_has_a_snippet(client):
    documented = set(re.findall(r'api_name="(/\w+)"', "".join(snippets())))
    endpoints = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert documented == endpoints


def test_snippets_run_as_written(served, monkeypatch):
    monkeypatch.chdir(ROOT)  # the snippets name files under assets/
    blocks = snippets()
    assert README_URL in blocks[0]
    namespace: dict = {}
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                exec(compile(block.replace(README_URL, served.url), "README.md", "exec"), namespace)  # noqa: S102
            except Exception as exc:  # noqa: BLE001 - name the snippet that failed
                pytest.fail(f"README snippet failed with {exc!r}:\n{block}")
        if "print(" in block:
            assert out.getvalue().strip(), f"printed nothing:\n{block}"
    assert namespace["description"] and namespace["seed"] == 42 and len(namespace["gallery"]) == 2
    assert [m["role"] for m in namespace["history"]] == ["user", "assistant"] * 2
