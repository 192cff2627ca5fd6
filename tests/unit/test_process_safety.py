"""Process safety: a pid is signalled only while it is still our node, ownership changes
never follow a symlink, and root never hands a user's existing folder to the service user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from opensearch_sparse.cluster import install
from opensearch_sparse.cluster.identity import ProcessIdentity
from opensearch_sparse.cluster.process import LocalCluster
from opensearch_sparse.errors import NodeStartError


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A process whose command line names a node folder, as the node's JVM does."""
    node_dir = tmp_path / "node-1"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", f"-Dpath={node_dir}/data"]
    )
    yield proc, node_dir
    proc.kill()
    proc.wait()


def test_identity_matches_only_the_recorded_process(
    sleeper: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, node_dir = sleeper
    identity = ProcessIdentity.of(proc.pid)
    assert identity.is_current(node_dir)
    legacy = ProcessIdentity(proc.pid, None, None)  # a state file without a start time
    assert legacy.is_current(node_dir)
    assert not legacy.is_current(node_dir.parent / "node-2")  # another node's folder
    reused = ProcessIdentity(proc.pid, (identity.start_ticks or 0) + 1, identity.boot_id)
    assert not reused.is_current(node_dir)  # same number, another process (pid reuse)
    rebooted = ProcessIdentity(proc.pid, identity.start_ticks, "another-boot")
    assert not rebooted.is_current(node_dir)
    assert not identity.is_current(node_dir, owner_uid=os.getuid() + 1)
    proc.kill()
    proc.wait()
    assert not identity.is_current(node_dir)


@pytest.mark.parametrize("pid", [0, 1, -5, "x"])
def test_state_naming_no_real_node_is_ignored(pid: object) -> None:
    assert ProcessIdentity.from_state({"pid": pid}) is None


def test_stop_never_signals_a_process_that_is_not_the_node(
    sleeper: tuple[subprocess.Popen[bytes], Path], tmp_path: Path
) -> None:
    proc, _ = sleeper
    node_dir = tmp_path / "other-node"  # the sleeper's command line does not name it
    node_dir.mkdir()
    (node_dir / "node.json").write_text(json.dumps({"pid": proc.pid}))
    node = LocalCluster(port=9399, data_dir=node_dir)
    assert node.running_pid() is None
    assert node.stop(timeout_s=1) is False
    assert proc.poll() is None  # still alive: nothing was signalled


def test_chown_tree_changes_links_not_their_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("x")
    root = tmp_path / "node"
    (root / "data").mkdir(parents=True)
    (root / "data" / "file").write_text("y")
    (root / "link-to-file").symlink_to(outside / "secret")
    (root / "link-to-dir").symlink_to(outside)
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(os, "chown", lambda p, *a, **k: calls.append(("chown", str(p))))
    monkeypatch.setattr(os, "lchown", lambda p, *a: calls.append(("lchown", str(p))))
    install.chown_tree(root, 1234, 1234)
    assert {kind for kind, _ in calls} == {"lchown"}
    touched = {Path(p) for _, p in calls}
    assert root / "link-to-file" in touched and root / "link-to-dir" in touched
    assert all(p == root or root in p.parents for p in touched)  # nothing outside
    assert outside / "secret" not in touched
    with pytest.raises(NodeStartError, match="symbolic link"):
        install.chown_tree(root / "link-to-dir", 1234, 1234)


def test_existing_folder_outside_home_is_not_handed_over(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    mine = tmp_path / "my-documents"
    mine.mkdir()
    (mine / "thesis.tex").write_text("...")
    uid = os.getuid() + 1  # files here belong to someone other than the service user
    with pytest.raises(NodeStartError, match="already holds files") as caught:
        install.check_handover(mine, home, uid)
    assert caught.value.fix and "--data-dir" in caught.value.fix
    install.check_handover(tmp_path / "new-folder", home, uid)  # created for the node: fine
    (tmp_path / "empty").mkdir()
    install.check_handover(tmp_path / "empty", home, uid)
    (home / "nodes" / "node-9").mkdir(parents=True)
    (home / "nodes" / "node-9" / "x").write_text("")
    install.check_handover(home / "nodes" / "node-9", home, uid)  # inside the home: ours


def test_a_node_that_exited_under_another_parent_counts_as_stopped() -> None:
    """A node started by a long-lived Python program stays a zombie after it exits until that
    program reaps it; `cluster stop` from another shell must not wait for it forever."""
    import signal
    import time

    from opensearch_sparse.cluster.identity import has_exited
    from opensearch_sparse.cluster.process import pid_alive

    script = (
        "import subprocess, time; child = subprocess.Popen(['sleep', '60']); "
        "print(child.pid, flush=True); time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert pid_alive(pid) and not has_exited(pid)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not has_exited(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert has_exited(pid)  # a zombie: kill(pid, 0) still succeeds
        os.kill(pid, 0)
        assert not pid_alive(pid)
    finally:
        parent.kill()
        parent.wait()
