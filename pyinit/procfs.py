"""The one reader of /proc, and a way to signal a process without pid-reuse races.

Used by the supervisor (the processes pyinit owns, at the end of a run), the probe and the
pytest plugin (the tree below pyinit), the tests and the benchmark.  Stdlib only.  The kernel
may lack /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN), so a tree is built from one scan of
every /proc/PID/stat.  Leaf module: no knowledge of the loop.
"""

from __future__ import annotations

import errno
import os

from .signals import signal  # the C module: see signals.py

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
        self.state = state  # one letter: R, S, D, T (stopped), Z (zombie), ...
        self.starttime = starttime  # clock ticks after boot

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


def alive(procs: Iterable[Proc]) -> list[Proc]:
    """Those that are still the same process and not yet a zombie."""
    result = []
    for proc in procs:
        now = read(proc.pid)
        if now is not None and now.starttime == proc.starttime and not now.zombie:
            result.append(now)
    return result


class Status:
    """What /proc/PID/status says of a process's signals and owner."""

    __slots__ = ("blocked", "caught", "ignored", "uid")

    def __init__(self, ignored: int, caught: int, blocked: int, uid: int) -> None:
        self.ignored = ignored  # SigIgn: bit N-1 set means signal N is ignored
        self.caught = caught  # SigCgt: a handler is installed
        self.blocked = blocked  # SigBlk: blocked (a pending signal waits for the unblock)
        self.uid = uid  # the real uid

    def ignores(self, signo: int) -> bool:
        """The process will never act on signo: its disposition is SIG_IGN."""
        return bool(self.ignored >> (signo - 1) & 1)


def status(pid: int) -> Status | None:
    """/proc/PID/status's signal masks and uid, or None if it is gone or unreadable."""
    try:
        with open("/proc/%d/status" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields: dict[bytes, bytes] = {}
    for line in data.splitlines():
        name, _, value = line.partition(b":")
        if name in (b"SigIgn", b"SigCgt", b"SigBlk", b"Uid"):
            fields[name] = value.split()[0] if value.split() else b""
    try:
        return Status(
            int(fields[b"SigIgn"], 16),
            int(fields[b"SigCgt"], 16),
            int(fields[b"SigBlk"], 16),
            int(fields[b"Uid"]),
        )
    except (KeyError, ValueError):
        return None


def boot_ticks() -> int:
    """Now, in the unit of Proc.starttime: clock ticks since boot."""
    import time

    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * os.sysconf("SC_CLK_TCK"))


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


# --- the processes pyinit owns ------------------------------------------------------------------


def proc_matches_us() -> bool:
    """/proc is mounted for our own PID namespace, so its pids are the pids we can signal."""
    try:
        return int(os.readlink("/proc/self")) == os.getpid()
    except (OSError, ValueError):
        return False


def owned(exclude: frozenset[int] = frozenset()) -> list[Proc] | None:
    """Live (not zombie) processes pyinit owns, or None when /proc cannot tell.

    "Owned" means every process pyinit would adopt: all of the PID namespace when pyinit is its
    PID 1, the descendants of pyinit otherwise (as a subreaper, orphans below it come back).
    exclude: pyinit's own helpers (the output relay), never stopped as leftovers.
    """
    if not proc_matches_us():
        return None
    me = os.getpid()
    table = scan()
    if not table:
        return None
    found = [proc for pid, proc in table.items() if pid != 1] if me == 1 else descendants(me, table)
    return [proc for proc in found if not proc.zombie and proc.pid not in exclude]


def send(proc: Proc, signo: int) -> bool:
    """Signal one process only if it is still the one that was listed; True if sent."""
    return deliver(proc, signo) == 0


def deliver(proc: Proc, signo: int) -> int:
    """Signal one process only if it is still the one that was listed: 0 if sent, else the
    errno (ESRCH when it is gone or its pid now names another process; EPERM when pyinit may
    not signal it).

    A pidfd pins the process, and the start time read after opening it proves the pid was not
    reused by a newcomer since the listing.
    """
    try:
        pidfd = os.pidfd_open(proc.pid)
    except OSError:
        pidfd = -1  # gone (ESRCH), or a kernel without pidfds: check and kill below
    try:
        now = read(proc.pid)
        if now is None or now.starttime != proc.starttime:
            return errno.ESRCH
        if pidfd >= 0:
            signal.pidfd_send_signal(pidfd, signo)
        else:
            os.kill(proc.pid, signo)
        return 0
    except OSError as exc:
        return exc.errno or errno.EPERM
    finally:
        if pidfd >= 0:
            os.close(pidfd)
