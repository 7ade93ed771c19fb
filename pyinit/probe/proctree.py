"""The processes below a pid, read from /proc: what the probe and the pytest plugin look at.

Stdlib only (no psutil at runtime).  The kernel here may lack /proc/PID/task/TID/children
(CONFIG_PROC_CHILDREN), so a tree is built from one scan of every /proc/PID/stat.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


class Proc:
    """One process as /proc showed it at one moment.  pid and starttime name it for good."""

    __slots__ = ("comm", "pgid", "pid", "ppid", "starttime", "state")

    def __init__(self, pid: int, ppid: int, pgid: int, state: str, starttime: int, comm: str = "") -> None:
        self.pid = pid
        self.comm = comm  # the executable's name (15 bytes at most): changes at exec
        self.ppid = ppid
        self.pgid = pgid
        self.state = state
        self.starttime = starttime

    @property
    def key(self) -> tuple[int, int]:
        return (self.pid, self.starttime)

    @property
    def zombie(self) -> bool:
        return self.state == "Z"

    def __repr__(self) -> str:
        return "Proc(pid=%d, ppid=%d, pgid=%d, state=%s)" % (self.pid, self.ppid, self.pgid, self.state)


def read(pid: int | str) -> Proc | None:
    """One process, or None if it is gone (or /proc/PID/stat cannot be parsed)."""
    try:
        with open("/proc/%s/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm (field 2) may hold spaces and parentheses: the fields resume after the last ')'.
    close = data.rfind(b")")
    fields = data[close + 2 :].split()
    comm = data[data.find(b"(") + 1 : close].decode("utf-8", "replace")
    try:
        return Proc(int(pid), int(fields[1]), int(fields[2]), fields[0].decode(), int(fields[19]), comm)
    except (IndexError, ValueError):
        return None


def scan() -> dict[int, Proc]:
    """Every process this /proc shows."""
    table: dict[int, Proc] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return table
    for name in names:
        if name.isdigit():
            proc = read(name)
            if proc is not None:
                table[proc.pid] = proc
    return table


def descendants(root: int, table: dict[int, Proc] | None = None) -> list[Proc]:
    """Every process below root (not root itself), parents before their children."""
    if table is None:
        table = scan()
    children: dict[int, list[Proc]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc)
    found: list[Proc] = []
    queue = list(children.get(root, ()))
    while queue:
        proc = queue.pop(0)
        found.append(proc)
        queue.extend(children.get(proc.pid, ()))
    return found


def children(pid: int, table: dict[int, Proc] | None = None) -> list[Proc]:
    table = scan() if table is None else table
    return [proc for proc in table.values() if proc.ppid == pid]


def inner_pid(pid: int) -> int | None:
    """The pid the process has in its own (innermost) PID namespace: the last NSpid field.

    pyinit's log speaks of pids as pyinit sees them; this is how they are matched to ours.
    """
    try:
        with open("/proc/%d/status" % pid, "rb") as f:
            for line in f:
                if line.startswith(b"NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError, IndexError):
        return None
    return pid  # a kernel without NSpid (< 4.1) has no nested view to translate


def command(pid: int) -> str:
    """The command line, space-joined; [comm] for a kernel thread or an exited process."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            raw = f.read()
    except OSError:
        raw = b""
    if raw:
        return " ".join(part.decode("utf-8", "replace") for part in raw.rstrip(b"\0").split(b"\0"))
    try:
        with open("/proc/%d/comm" % pid, "rb") as f:
            return "[%s]" % f.read().strip().decode("utf-8", "replace")
    except OSError:
        return "?"


def alive(procs: Iterable[Proc]) -> list[Proc]:
    """Those that are still the same process and not yet a zombie."""
    result = []
    for proc in procs:
        now = read(proc.pid)
        if now is not None and now.starttime == proc.starttime and not now.zombie:
            result.append(now)
    return result
