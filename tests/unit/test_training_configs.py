"""The training configs in ``configs/`` load, and the default's follow-up runs vary only what
their comments say they vary (issue 10: a probe that silently changed a second setting, or
prepared another set, would compare nothing)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

pytest.importorskip("torch")

from opensearch_sparse.training.config import TrainConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_config_loads(path: Path) -> None:
    config = TrainConfig.load(path)
    assert config.max_steps > 0
    assert config.output_dir


def _differences(a: TrainConfig, b: TrainConfig) -> set[str]:
    left, right = dataclasses.asdict(a), dataclasses.asdict(b)
    return {key for key in left if left[key] != right[key]}


@pytest.mark.parametrize(
    ("name", "varied"),
    [
        ("train-cpu-margin6.yaml", {"positive_margin", "output_dir"}),
        ("train-cpu-lr1e-4.yaml", {"lr", "output_dir"}),
        ("train-cpu-rest-of-set.yaml", {"model", "output_dir", "seed"}),
    ],
)
def test_follow_up_runs_change_only_their_own_settings(name: str, varied: set[str]) -> None:
    stage3 = TrainConfig.load(CONFIGS / "train-cpu-positive-margin.yaml")
    config = TrainConfig.load(CONFIGS / name)
    assert _differences(stage3, dataclasses.replace(config, data=stage3.data)) == varied
    # The same prepared set and held-out split: same pairs, same data seed.
    assert config.data.pairs == stage3.data.pairs
    assert config.data.set_dir == stage3.data.set_dir
    assert config.data_seed == stage3.data_seed
