"""What carries a run to the GPU machine and back within its limits (64 MiB out, 16 MiB a file
back): a large start's int8 word embeddings, and a large model's weights in parts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="bundles hold torch weights (the train extra)")

from safetensors.torch import load_file  # noqa: E402

from benchmarks.training_bundle import EMBEDDINGS, copy_student, unpack_models  # noqa: E402
from benchmarks.training_device import shards  # noqa: E402
from opensearch_sparse.training.student import SparseScorer, build_student  # noqa: E402


def test_int8_embeddings_travel_smaller_and_come_back_within_half_a_step(
    tiny_mlm: Path, tmp_path: Path
) -> None:
    start = shutil.copytree(tiny_mlm, tmp_path / "start")
    original = load_file(start / "model.safetensors")[EMBEDDINGS]
    copy_student(start, tmp_path / "bundle", int8_embeddings=True)
    travelled = tmp_path / "bundle" / "models" / "start" / "model.safetensors"
    assert load_file(travelled)[EMBEDDINGS].dtype == torch.int8
    copy_student(start, tmp_path / "half")
    half = tmp_path / "half" / "models" / "start" / "model.safetensors"
    assert travelled.stat().st_size < half.stat().st_size

    assert unpack_models(tmp_path / "bundle") == [travelled.parent]
    restored = load_file(travelled)[EMBEDDINGS]
    assert restored.dtype == torch.float32
    step = original.abs().amax(dim=1, keepdim=True) / 127
    assert torch.all((restored - original).abs() <= step / 2 + 1e-6)
    assert not torch.equal(restored, original)  # it did go through int8
    assert unpack_models(tmp_path / "bundle") == []  # nothing left to unpack
    scorer = SparseScorer(build_student(travelled.parent, idf=None, max_len=64)).eval()
    with torch.no_grad():
        assert scorer.documents(["a restored start still encodes"]).shape[1] == 30522


def test_a_tensor_over_the_limit_travels_in_row_blocks_and_joins_back_exactly() -> None:
    from benchmarks.training_device import join_rows

    generator = torch.Generator().manual_seed(0)
    state = {
        "embeddings": torch.randn(1000, 8, generator=generator).half(),  # 16,000 bytes
        "bias": torch.randn(8, generator=generator).half(),
    }
    parts = shards(state, limit=5000)
    assert all(sum(v.numel() * 2 for v in p.values()) <= 5000 for p in parts)
    pieces = {k: v for part in parts for k, v in part.items()}
    assert len([k for k in pieces if k.startswith("embeddings::rows")]) == 4
    joined = join_rows(pieces)
    assert set(joined) == set(state)
    assert all(torch.equal(joined[k], state[k]) for k in state)


def test_shards_stay_under_the_limit_and_keep_every_tensor_in_order() -> None:
    state = {f"t{i}": torch.zeros(n, dtype=torch.float16) for i, n in enumerate([10, 30, 5, 50, 1])}
    parts = shards(state, limit=60)  # bytes: 20, 60, 10, 100 (cut into 60 + 40), 2
    assert [list(p) for p in parts] == [
        ["t0"],
        ["t1"],
        ["t2"],
        ["t3::rows0"],
        ["t3::rows1", "t4"],
    ]
    assert all(sum(v.numel() * 2 for v in p.values()) <= 60 for p in parts)
    merged = shards(state, limit=1000)
    assert [list(p) for p in merged] == [list(state)]
