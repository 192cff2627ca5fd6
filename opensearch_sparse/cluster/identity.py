"""Is the pid in ``node.json`` still the node we started? Checked before any signal is sent.

A pid alone is not an identity: after a reboot (or enough forks) the number names another
process, and as root the service user owns the node folder and could rewrite the state file
to name any process. So a pid is ours only when its start time (clock ticks since boot) and
the boot id match what was recorded at start (a state file from before that: when its command
line names the node's folder, as the JVM's does), and, for a node run as the service user,
when it belongs to that user (so a rewritten file can at most point at that user's own
processes). Without ``/proc`` (not Linux) the state file is trusted as before.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opensearch_sparse import config

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    start_ticks: int | None
    boot_id: str | None

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity:
        return cls(pid, start_ticks(pid), boot_id())

    def to_state(self) -> dict[str, Any]:
        return {"pid": self.pid, "start_ticks": self.start_ticks, "boot_id": self.boot_id}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ProcessIdentity | None:
        try:
            pid = int(state.get("pid", 0))
        except (TypeError, ValueError):
            return None
        if pid <= 1:  # 0 signals our own group, 1 is init: never a node
            return None
        ticks = state.get("start_ticks")
        return cls(pid, int(ticks) if isinstance(ticks, int) else None, state.get("boot_id"))

    def is_current(self, node_dir: Path, owner_uid: int | None = None) -> bool:
        """True when this pid still names the node process that was recorded."""
        if not PROC.is_dir():
            return True
        now = start_ticks(self.pid)
        if now is None:
            return False
        if self.start_ticks is None:
            # State written before start times were recorded: the JVM's command line names
            # the node's folder (the launcher script, before it execs Java, does not).
            if str(node_dir).encode() not in command_line(self.pid):
                return False
        elif (now, boot_id()) != (self.start_ticks, self.boot_id):
            return False
        return owner_uid is None or process_uid(self.pid) == owner_uid


def start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time after boot, in clock ticks); None if gone."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def has_exited(pid: int) -> bool:
    """True for a zombie: the process has exited (its ports and files are released) and only
    waits for its parent to read its status. When that parent is another process (the Python
    program that started the node), ``kill(pid, 0)`` keeps succeeding until it does."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] in ("Z", "X")


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from field 3 (the state) on; None when the process is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    return stat[stat.rindex(")") + 2 :].split()


def command_line(pid: int) -> bytes:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


def boot_id() -> str | None:
    try:
        return (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return None


def service_uid() -> int | None:
    """The service account's uid when root runs the product (the node runs as it), else None;
    looked up only, never created, since checking a pid must not add accounts."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(config.SERVICE_USER).pw_uid
    except KeyError:
        return None


def process_uid(pid: int) -> int | None:
    try:
        return os.stat(PROC / str(pid)).st_uid
    except OSError:
        return None
