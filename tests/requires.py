"""Optional test dependencies: skipped where missing on a laptop, a failure on CI (CI=true, set by .ci/run).

A skip on CI would let a whole area (the engine, ZeroGPU, MCP, the browser) go untested without
anyone noticing; .ci/run installs everything these need.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

import pytest


def unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: this test must run on CI (.ci/run installs what it needs)", pytrace=False)
    pytest.skip(reason)


def require(module: str, install: str):
    """Import `module`, or skip (fail on CI) saying what to install."""
    if importlib.util.find_spec(module) is None:
        unavailable(f"{module} is not installed ({install})")
    return importlib.import_module(module)
