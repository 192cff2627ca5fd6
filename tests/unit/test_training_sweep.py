"""The GPU session's plan and the evaluation it does away from ranx (issue 10, item 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")

from benchmarks.training_device import run_config
from benchmarks.training_eval import BeirSet, ndcg_at_10

ROOT = Path(__file__).resolve().parents[2]


def _sweep(name: str = "sweep.yaml") -> tuple[dict, dict]:
    sweep = yaml.safe_load((ROOT / "configs" / "gpu" / name).read_text())
    return sweep, yaml.safe_load((ROOT / sweep["base"]).read_text())


def _plans(sweep: dict, chosen_lambda: float) -> list[dict]:
    """Every run a sweep can start: each lambda with each side, then the at_chosen runs."""
    plans = [{**s, "flops_lambda": v} for v in sweep["lambdas"] for s in sweep["sides"].values()]
    return plans + [{**run, "flops_lambda": chosen_lambda} for run in sweep["at_chosen"].values()]


def test_every_planned_run_is_a_valid_config(tmp_path: Path) -> None:
    """A misspelt key would only surface on the GPU machine, minutes into its 15."""
    sweep, base = _sweep()
    configs = [run_config(base, plan, tmp_path / "run") for plan in _plans(sweep, 0.01)]
    assert {c.idf_aware for c in configs} == {True, False}
    assert sorted({c.flops_lambda for c in configs}) == sorted({*sweep["lambdas"], 0.01})
    assert {len(c.teachers) for c in configs} == {1, 2}
    assert all(c.student_temperature == "auto" for c in configs)


def test_gpu_teachers_are_found_in_the_cpu_runs_cache() -> None:
    """Teacher scores travel as the CPU run's cache, keyed by the teacher folder's name: a
    renamed folder would send the GPU machine (which has no ONNX teacher) off to score."""
    from opensearch_sparse.training.config import TrainConfig

    sweep, base = _sweep()
    cpu = TrainConfig.load(ROOT / "configs" / "train-cpu.yaml")
    cpu_names = {(t.kind, Path(t.path).name) for t in cpu.teachers}
    gpu = [*base["teachers"]]
    for run in sweep["at_chosen"].values():
        gpu += run.get("teachers", [])
    assert {(t["kind"], Path(t["path"]).name) for t in gpu} == cpu_names
    assert base["teacher_max_len"] == cpu.teacher_max_len


def test_device_ndcg_matches_ranx() -> None:
    ranx = pytest.importorskip("ranx")
    qrels = {"q1": {"a": 2, "b": 1, "z": 1}, "q2": {"c": 1}, "q3": {"d": 1}}
    run = {
        "q1": {"b": 3.0, "x": 2.5, "a": 2.0, "y": 1.0},
        "q2": {f"n{i}": 20.0 - i for i in range(10)} | {"c": 5.0},  # relevant below rank 10
        # q3 retrieved nothing
    }
    expected = ranx.evaluate(
        ranx.Qrels(qrels), ranx.Run({q: run.get(q, {}) for q in qrels}), "ndcg@10"
    )
    assert ndcg_at_10(qrels, run) == pytest.approx(float(expected), abs=1e-9)
    assert 0.0 < ndcg_at_10(qrels, run) < 1.0


def test_runs_drop_the_query_itself() -> None:
    """BEIR convention (the DBpedia-style sets hold documents whose id is a query id)."""
    import numpy as np
    from scipy import sparse

    from benchmarks.training_eval import sparse_run

    beir = BeirSet("s", ["q1", "d2", "d3"], ["x", "y", "z"], {"q1": "x"})
    docs = sparse.csr_matrix(np.array([[3.0, 0.0], [1.0, 1.0], [0.0, 0.0]]))
    queries = sparse.csr_matrix(np.array([[1.0, 1.0]]))
    assert sparse_run(beir, queries, docs) == {"q1": {"d2": 2.0}}


SWEEPS = sorted(
    p.name for p in (ROOT / "configs" / "gpu").glob("*.yaml") if "lambdas" in p.read_text()
)


@pytest.mark.parametrize("name", SWEEPS)
def test_each_sweep_plans_valid_configs(name: str, tmp_path: Path) -> None:
    """Every GPU sweep, not only the first: each run it can start is a config that loads."""
    sweep, base = _sweep(name)
    plans = _plans(sweep, sweep["lambdas"][0])
    configs = [run_config(base, plan, tmp_path / "run") for plan in plans]
    assert {c.flops_lambda for c in configs} == set(sweep["lambdas"])
    assert set(sweep["bring_back"]) <= {*sweep["sides"], *sweep["at_chosen"]}


@pytest.mark.parametrize(
    ("gpu_base", "cpu_config"),
    [("large-base.yaml", "train-large.yaml"), ("minilm-base.yaml", "train-large-minilm.yaml")],
)
def test_the_larger_sets_teachers_are_found_in_its_cpu_cache(
    gpu_base: str, cpu_config: str
) -> None:
    """Each GPU base trains on its CPU config's set: same teacher folder names and length, or
    the GPU machine would try to score with teachers it does not have; same start folder name,
    the one training_bundle copies."""
    from opensearch_sparse.training.config import TrainConfig

    base = yaml.safe_load((ROOT / "configs" / "gpu" / gpu_base).read_text())
    cpu = TrainConfig.load(ROOT / "configs" / cpu_config)
    gpu = {(t["kind"], Path(t["path"]).name) for t in base["teachers"]}
    assert gpu == {(t.kind, Path(t.path).name) for t in cpu.teachers}
    assert base["teacher_max_len"] == cpu.teacher_max_len
    assert Path(base["model"]).name == Path(cpu.model).name  # the folder training_bundle copies


def test_a_density_cap_leaves_denser_runs_out_of_the_choice() -> None:
    from benchmarks.training_device import _sparse_enough

    capped = {"dev_set": "nfcorpus", "max_dev_doc_length": 245}
    uncapped = {"dev_set": "nfcorpus"}
    dense = {"doc_length": {"nfcorpus": 390.0, "cranfield": 100.0}}
    sparse = {"doc_length": {"nfcorpus": 179.0, "cranfield": 900.0}}
    assert _sparse_enough(capped, sparse)
    assert not _sparse_enough(capped, dense)
    assert _sparse_enough(uncapped, dense)


def test_the_dev_score_averages_both_halves_or_keeps_the_dev_set_alone() -> None:
    from benchmarks.training_device import dev_score

    assert dev_score(0.30, 0.90) == pytest.approx(0.60)
    assert dev_score(0.30, None) == 0.30
