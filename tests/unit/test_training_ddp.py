"""The same training entry point under torchrun: 2 CPU processes on the gloo backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from test_training_fixtures import make_config

REPO = Path(__file__).resolve().parents[2]


def test_two_process_gloo_run(tiny_mlm: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            make_config(tiny_mlm, tmp_path, max_steps=3, batch_size=1, grad_accum=2, save_every=2)
        )
    )
    script = tmp_path / "entry.py"
    script.write_text(
        "import sys\nfrom opensearch_sparse.cli.train_cmd import train\n"
        "train([sys.argv[1]], standalone_mode=True)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        "29533",
        str(script),
        str(config),
    ]
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    log = json.loads((tmp_path / "run" / "train_log.json").read_text())
    assert log["world_size"] == 2 and log["steps"] == 3
    assert (tmp_path / "run" / "checkpoints" / "step-0000002" / "trainer_state.pt").is_file()
