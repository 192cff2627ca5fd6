"""What a command imports is what it costs: `--help` and the query path stay light.

Each check runs in a fresh interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "onnxruntime", "opensearchpy", "transformers", "sentence_transformers")


def _imported_after(code: str) -> list[str]:
    probe = (
        f"import sys\n{code}\n"
        f"import json; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_help_imports_no_heavy_library() -> None:
    code = (
        "from opensearch_sparse.cli import cli\n"
        "try:\n    cli.main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass"
    )
    assert _imported_after(code) == []


@pytest.mark.parametrize("module", ["opensearch_sparse.search", "opensearch_sparse.query_encoder"])
def test_query_path_needs_no_model_runtime(module: str) -> None:
    assert not {"torch", "onnxruntime", "transformers"} & set(_imported_after(f"import {module}"))
