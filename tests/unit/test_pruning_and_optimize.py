"""Document pruning (neural-search's four prune types), the exact head rewrite and the int8
variant of the shipped graph, same-length batching, and the sparse index options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from opensearch_sparse.cli import cli
from opensearch_sparse.encoders import DocumentEncoder
from opensearch_sparse.pruning import PruneError, Pruning
from opensearch_sparse.schema import SPARSE_FIELD, SparseIndex, index_body

WEIGHTS = {"a": 4.0, "b": 2.0, "c": 1.0, "d": 0.5, "e": 0.25}  # total 7.75


@pytest.mark.parametrize(
    ("spec", "kept"),
    [
        ("max_ratio:0.25", {"a", "b", "c"}),  # >= 0.25 * 4
        ("max_ratio:0.6", {"a"}),
        ("top_k:2", {"a", "b"}),
        ("top_k:10", set(WEIGHTS)),
        ("alpha_mass:0.8", {"a", "b"}),  # running sums 4, 6 <= 6.2; 7 > 6.2
        ("alpha_mass:0.95", {"a", "b", "c"}),  # 7 <= 7.3625; 7.5 > it
        ("abs_value:0.5", {"a", "b", "c", "d"}),
    ],
)
def test_prune_types_keep_what_neural_search_keeps(spec: str, kept: set[str]) -> None:
    pruned = Pruning.parse(spec).apply(WEIGHTS)
    assert set(pruned) == kept
    assert all(pruned[t] == WEIGHTS[t] for t in pruned)


@pytest.mark.parametrize(
    "spec", ["max_ratio:1.0", "alpha_mass:-0.1", "top_k:2.5", "top_k:0", "abs_value:-1", "foo:1"]
)
def test_invalid_prune_settings_are_refused_like_the_processor(spec: str) -> None:
    with pytest.raises(PruneError):
        Pruning.parse(spec)


def test_contribution_keeps_weight_times_query_weight_at_or_above_the_threshold() -> None:
    query_weights = np.array([0.1, 2.0, 1.0, 3.0, 0.0], dtype=np.float32)
    rule = Pruning.parse("contribution:1").with_query_weights(query_weights)
    values = np.array([4.0, 2.0, 1.0, 0.5, 9.0], dtype=np.float32)
    # contributions 0.4, 4, 1, 1.5, 0: the largest weight goes (a common token), a small one
    # on a rare token stays, and a token queries never hold goes whatever its weight.
    kept = rule.keep(values, np.arange(5))
    assert kept.tolist() == [False, True, True, True, False]
    with pytest.raises(PruneError, match="needs the IDF table queries use"):
        rule.processor_fields()
    with pytest.raises(PruneError):
        Pruning.parse("contribution:-0.5")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prune", "contribution:1"], "--prune needs --encode local"),
        (["--encode", "local", "--idf", "idf.json"], "--idf is for --prune contribution:T only"),
        (["--encode", "local", "--prune", "top_k:5", "--idf", "x"], "--idf is for --prune"),
    ],
)
def test_ingest_prune_and_idf_misuse_is_a_usage_error_before_any_request(
    args: list[str], message: str, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "1", "text": "x"}\n')
    # Port 9 (discard) has no cluster: reaching it would be a connection error, not exit 2.
    result = CliRunner().invoke(
        cli, ["ingest", "idx", str(corpus), *args, "--url", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 2
    assert message in result.output


def test_prune_processor_fields() -> None:
    fields = Pruning.parse("top_k:64").processor_fields()
    assert fields == {"prune_type": "top_k", "prune_ratio": 64}
    assert Pruning.parse("top_k:64").label == "top_k:64"


def test_sparse_index_options() -> None:
    exact = index_body()
    assert exact["mappings"]["properties"][SPARSE_FIELD] == {"type": "rank_features"}
    assert "_source" not in exact["mappings"]
    bm25 = index_body(sparse=None)
    assert SPARSE_FIELD not in bm25["mappings"]["properties"]
    seismic = index_body(sparse=SparseIndex(kind="seismic", n_postings=100, store_source=False))
    field = seismic["mappings"]["properties"][SPARSE_FIELD]
    assert field["type"] == "sparse_vector" and field["method"]["name"] == "seismic"
    assert field["method"]["parameters"]["n_postings"] == 100
    assert seismic["settings"]["index"]["sparse"] is True
    assert seismic["mappings"]["_source"] == {"excludes": [SPARSE_FIELD]}


def test_seismic_options_without_a_seismic_field_are_refused_before_any_request() -> None:
    result = CliRunner().invoke(
        cli, ["index", "create", "docs", "--n-postings", "5", "--url", "http://127.0.0.1:1"]
    )
    assert result.exit_code == 2
    assert "--summary-prune-ratio and --n-postings need --sparse-field seismic" in result.output


TEXTS = [
    "short",
    "Sparse retrieval expands each document with related vocabulary terms.",
    "another text of a different length, with punctuation; and numbers 1 2 3",
    "short",
    "",
]


@pytest.fixture(scope="module")
def variants(shipped_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("onnx", reason="graph rewriting needs the [train] extra")
    from model_export.optimize import optimize_package

    out = tmp_path_factory.mktemp("variants")
    return {v: optimize_package(shipped_model, out, v) for v in ("fast", "int8")}


def test_head_rewrite_is_bit_identical_on_padded_batches(
    shipped_model: Path, variants: dict[str, Path]
) -> None:
    from model_export.optimize import compare
    from opensearch_sparse.model_package import load_onnx

    parity = compare(load_onnx(shipped_model), load_onnx(variants["fast"]), 30522, seed=3)
    assert parity.max_abs_diff == 0.0 and parity.flipped == 0 and parity.nonzero > 100


def test_variants_keep_the_server_contract(variants: dict[str, Path]) -> None:
    import onnx

    from opensearch_sparse.model_package import load_onnx

    for path in variants.values():
        model = onnx.load_from_string(load_onnx(path))
        assert model.ir_version <= 9
        assert all(o.version <= 17 for o in model.opset_import if o.domain in ("", "ai.onnx"))
        assert [i.name for i in model.graph.input] == ["input1.input_ids", "input1.attention_mask"]
        assert len(model.graph.output) == 1
    int8 = onnx.load_from_string(load_onnx(variants["int8"]))
    assert any(n.op_type == "MatMulInteger" for n in int8.graph.node)


def test_int8_keeps_almost_every_token(shipped_model: Path, variants: dict[str, Path]) -> None:
    full = DocumentEncoder(shipped_model).encode(TEXTS)
    int8 = DocumentEncoder(variants["int8"]).encode(TEXTS)
    for a, b in zip(full, int8, strict=True):
        shared = set(a) & set(b)
        assert len(shared) >= 0.85 * len(a)
        assert max(abs(a[t] - b[t]) for t in shared) < 0.25


def test_same_length_batches_equal_one_text_at_a_time(variants: dict[str, Path]) -> None:
    batched = DocumentEncoder(variants["fast"], max_batch_tokens=4096).encode(TEXTS)
    single = DocumentEncoder(variants["fast"], max_batch_tokens=1)
    for text, weights in zip(TEXTS, batched, strict=True):
        assert single.encode([text])[0] == weights
    assert batched[0] == batched[3]


def test_local_pruning_prunes_each_document(shipped_model: Path) -> None:
    full = DocumentEncoder(shipped_model).encode(TEXTS)
    rule = Pruning.parse("top_k:5")
    pruned = DocumentEncoder(shipped_model, prune=rule).encode(TEXTS)
    for a, b in zip(full, pruned, strict=True):
        assert len(b) == min(5, len(a))
        assert sorted(b.values(), reverse=True) == sorted(a.values(), reverse=True)[:5]
    assert np.isclose(sum(pruned[1].values()), sum(rule.apply(full[1]).values()))
