"""Pure logic of search requests and model packages (no cluster needed)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from opensearch_sparse.model_package import (
    ModelPackage,
    ModelPackageError,
    package_tokenizer_model,
    write_zip,
)
from opensearch_sparse.schema import hybrid_pipeline_body
from opensearch_sparse.search import (
    AnnParams,
    SearchError,
    SparseSearch,
    ann_query,
    clean_text,
    server_encoded_query,
    sparse_query,
)
from opensearch_sparse.sparse_field import kinds_in


def test_clean_text_drops_control_characters_and_collapses_space() -> None:
    assert clean_text(" wing\x00\x07 stall \n\t at  mach ") == "wing stall at mach"
    assert clean_text("\x01\x02") == ""


def test_sparse_query_shape() -> None:
    assert sparse_query({"wing": 2.0}) == {
        "neural_sparse": {"text_sparse": {"query_tokens": {"wing": 2.0}}}
    }


def test_seismic_queries_carry_the_method_parameters() -> None:
    ann = AnnParams(top_n=7, heap_factor=1.5)
    expected = {"top_n": 7, "heap_factor": 1.5, "k": 20}
    assert ann_query({"2140": 1.5}, ann, 20) == {
        "neural_sparse": {
            "text_sparse": {"query_tokens": {"2140": 1.5}, "method_parameters": expected}
        }
    }
    server = server_encoded_query("wing", "m1", ann, 20)["neural_sparse"]["text_sparse"]
    assert server == {"query_text": "wing", "model_id": "m1", "method_parameters": expected}
    assert (
        "method_parameters"
        not in server_encoded_query("wing", "m1")["neural_sparse"]["text_sparse"]
    )


def _field_mapping(field_type: str | None) -> dict:
    if field_type is None:
        return {"mappings": {}}
    mapping = {"text_sparse": {"type": field_type}}
    return {"mappings": {"text_sparse": {"full_name": "text_sparse", "mapping": mapping}}}


def test_sparse_field_kind_is_read_from_the_field_mapping() -> None:
    assert kinds_in({"a": _field_mapping("sparse_vector")}) == {"seismic"}
    assert kinds_in({"a": _field_mapping("rank_features")}) == {"rank_features"}
    # A BM25-only index, or a field of another type, has no sparse kind.
    assert kinds_in({"a": _field_mapping(None), "b": _field_mapping("keyword")}) == set()
    # An alias over both kinds names both (search and ingest then refuse it).
    both = {"a": _field_mapping("sparse_vector"), "b": _field_mapping("rank_features")}
    assert kinds_in(both) == {"seismic", "rank_features"}


def test_hybrid_pipeline_weights_sum_to_one() -> None:
    processor = hybrid_pipeline_body(0.3)["phase_results_processors"][0]["normalization-processor"]
    assert processor["normalization"] == {"technique": "min_max"}
    assert processor["combination"]["parameters"]["weights"] == pytest.approx([0.3, 0.7])


def test_invalid_mode_and_k_are_refused_before_any_request() -> None:
    searcher = SparseSearch(client=None, index="x", encoder=None)  # type: ignore[arg-type]
    with pytest.raises(SearchError, match="unknown mode"):
        searcher.search("wing", "dense")
    with pytest.raises(SearchError, match="out of range"):
        searcher.search("wing", "bm25", k=0)
    with pytest.raises(SearchError, match="need the query encoder"):
        searcher.search("wing", "sparse")
    assert searcher.search("", "sparse").reason == "the query is empty"


class _BusyNode:
    """A client whose node refuses the first ``busy`` searches with ``status`` (429: its
    real-memory circuit breaker, TRANSIENT), then answers."""

    def __init__(self, busy: int, status: int = 429) -> None:
        self.busy, self.status, self.calls = busy, status, 0

    def search(self, **_: Any) -> dict[str, Any]:
        from opensearchpy.exceptions import TransportError

        self.calls += 1
        if self.calls <= self.busy:
            reason = "[parent] Data too large, data for [<http_request>] would be [1009mb]"
            cause = {"type": "circuit_breaking_exception", "reason": reason}
            raise TransportError(self.status, "circuit_breaking_exception", {"error": cause})
        hit = {"_id": "d1", "_score": 2.0, "_source": {"title": "t", "text": "wing"}}
        return {"took": 1, "hits": {"hits": [hit]}}


def test_a_busy_node_is_asked_again_before_a_search_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("opensearch_sparse.search.SEARCH_RETRY_PAUSES_S", (0.0, 0.0, 0.0))
    node = _BusyNode(busy=2)
    result = SparseSearch(client=node, index="x", encoder=None).search("wing", "bm25")  # type: ignore[arg-type]
    assert [h.doc_id for h in result.hits] == ["d1"] and node.calls == 3
    node = _BusyNode(busy=10)  # busy throughout: reported after the last retry
    with pytest.raises(SearchError, match=r"rejected the bm25 query: \[parent\] Data too large"):
        SparseSearch(client=node, index="x", encoder=None).search("wing", "bm25")  # type: ignore[arg-type]
    assert node.calls == 4
    node = _BusyNode(busy=10, status=400)  # a refusal waiting cannot fix: at once
    with pytest.raises(SearchError, match="rejected the bm25 query"):
        SparseSearch(client=node, index="x", encoder=None).search("wing", "bm25")  # type: ignore[arg-type]
    assert node.calls == 1


def test_model_package_detects_format_and_function(tmp_path: Path) -> None:
    tok = b'{"version": "1.0"}'
    onnx = ModelPackage.open(
        write_zip(tmp_path / "a.zip", {"model.onnx": b"x", "tokenizer.json": tok})
    )
    assert (onnx.model_format, onnx.function_name) == ("ONNX", "SPARSE_ENCODING")
    pt = ModelPackage.open(write_zip(tmp_path / "b.zip", {"model.pt": b"x", "tokenizer.json": tok}))
    assert pt.model_format == "TORCH_SCRIPT"
    with pytest.raises(ModelPackageError, match=r"no tokenizer\.json"):
        ModelPackage.open(write_zip(tmp_path / "c.zip", {"model.onnx": b"x"}))
    with pytest.raises(ModelPackageError, match="neither"):
        ModelPackage.open(write_zip(tmp_path / "d.zip", {"tokenizer.json": tok}))
    (tmp_path / "e.zip").write_bytes(b"not a zip")
    with pytest.raises(ModelPackageError, match="not a zip"):
        ModelPackage.open(tmp_path / "e.zip")


def test_tokenizer_package_is_reproducible(tmp_path: Path, shipped_model: Path) -> None:
    model = shipped_model
    idf = tmp_path / "idf.json"
    idf.write_text('{"wing": 2.5}')
    first = package_tokenizer_model(model, idf, tmp_path / "1.zip").read_bytes()
    second = package_tokenizer_model(model, idf, tmp_path / "2.zip").read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "1.zip") as archive:
        assert sorted(archive.namelist()) == ["idf.json", "tokenizer.json"]
    pkg = ModelPackage.open(tmp_path / "1.zip")
    assert (pkg.model_format, pkg.function_name) == ("TORCH_SCRIPT", "SPARSE_TOKENIZE")
