"""Running a command as PID 1 of a fresh PID namespace, finding who is who, reading /proc.

Who is who (parents, children, states) comes from pyinit's own /proc reader, `pyinit.procfs`,
and whether namespaces can be made at all from `pyinit probe`'s check: the benchmark asks the
same questions as pyinit and its probe, the same way.  What procfs does not read (CPU time,
context switches, memory maps) is read here.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from pathlib import Path

from pyinit import procfs
from pyinit.harness import UNSHARE as _UNSHARE
from pyinit.harness import pidns_unavailable

# --kill-child: should the harness die, unshare's child (the init, PID 1) is SIGKILLed and the
# whole namespace with it; nothing is left running on a shared machine.
UNSHARE = list(_UNSHARE)
#: The environment every measured process gets: no PYTHON* variables from the caller's shell
#: (PYTHONDONTWRITEBYTECODE, PYTHONPATH, ...), a UTF-8 locale as container images set it.
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def can_unshare() -> str | None:
    """None if we may create PID namespaces, else one line saying why not (pyinit probe's check;
    tests/support.py still has a copy of its own)."""
    return pidns_unavailable()


def timed_run(argv: list[str]) -> tuple[int, int]:
    """Run argv in a new PID namespace to completion: (wall nanoseconds, wait status).

    posix_spawn (vfork underneath) and waitpid, nothing else, between the two clock readings.
    """
    cmd = UNSHARE + argv
    null = os.open(os.devnull, os.O_RDWR)
    try:
        actions = [
            (os.POSIX_SPAWN_DUP2, null, 0),
            (os.POSIX_SPAWN_DUP2, null, 1),
            (os.POSIX_SPAWN_DUP2, null, 2),
        ]
        start = time.perf_counter_ns()
        pid = os.posix_spawnp(cmd[0], cmd, ENV, file_actions=actions)
        _, status = os.waitpid(pid, 0)
        return time.perf_counter_ns() - start, status
    finally:
        os.close(null)


class Namespace:
    """A command running as PID 1 of its own PID namespace, seen from outside."""

    def __init__(self, argv: list[str], *, stdout: int | None = subprocess.DEVNULL) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(
            UNSHARE + argv,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.DEVNULL,
            env=ENV,
            start_new_session=True,  # a Ctrl-C at the harness's terminal is the harness's alone
        )
        self._init: int | None = None

    @property
    def init_pid(self) -> int:
        """PID 1 of the namespace, by its pid outside (the child of unshare)."""
        if self._init is None:
            self._init = wait_for(lambda: first_child(self.proc.pid), "unshare to fork PID 1")
        return self._init

    def program_pid(self) -> int:
        """The init's child (the program); for a program run as PID 1 itself, PID 1."""
        return wait_for(lambda: first_child(self.init_pid), "the init to start its program")

    def kill(self) -> None:
        """SIGKILL to PID 1 from outside ends the whole namespace; then collect unshare."""
        if self.proc.poll() is None:
            try:
                os.kill(self.init_pid, signal.SIGKILL)
            except (OSError, TimeoutError):
                self.proc.kill()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_for(found, what: str, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = found()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting for %s" % what)
        time.sleep(0.002)


def first_child(pid: int) -> int | None:
    """The oldest child of pid (unshare's one child, an init's program).

    /proc/PID/task/PID/children when the kernel has it: the reaping scenario asks for the
    program while 20,000 orphans are the init's children too, where a scan of /proc takes a
    good part of a second.  Without it (no CONFIG_PROC_CHILDREN), procfs's scan.
    """
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid), "rb") as f:
            kids = f.read(64).split()
    except FileNotFoundError:
        found = procfs.children(pid)
        return min((kid.pid for kid in found), default=None)  # the oldest, barring pid wrap-around
    except OSError:
        return None  # pid gone
    return int(kids[0]) if kids else None


def state(pid: int) -> str | None:
    """The one-letter state of /proc/PID/stat (R, S, T, Z, ...); None once gone."""
    proc = procfs.read(pid)
    return None if proc is None else proc.state


class Fifo:
    """The read end of a FIFO a helper program writes 8-byte records to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        # Non-blocking so that opening does not wait for the writer; poll() then waits.
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)

    def read_record(self, timeout: float = 20.0) -> bytes:
        deadline = time.monotonic() + timeout
        data = b""
        while len(data) < 8:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no record from %s" % self.path)
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 8 - len(data))
                except BlockingIOError:
                    continue
                if not chunk:  # no writer yet (or it left): wait on
                    time.sleep(0.002)
                data += chunk
        return data

    def close(self) -> None:
        os.close(self.fd)
        try:
            self.path.unlink()
        except OSError:
            pass


# --- /proc readers ------------------------------------------------------------------------


def _where(pid: int, tid: str | None) -> str:
    """/proc/PID, or /proc/PID/task/TID for one thread of it."""
    return "/proc/%d" % pid if tid is None else "/proc/%d/task/%s" % (pid, tid)


def status_fields(pid: int, tid: str | None = None) -> dict[str, str]:
    fields = {}
    for line in Path(_where(pid, tid) + "/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def context_switches(pid: int, tid: str | None = None) -> int:
    """Voluntary + involuntary: every time the process was switched out (a wake-up each)."""
    fields = status_fields(pid, tid)
    return int(fields["voluntary_ctxt_switches"]) + int(fields["nonvoluntary_ctxt_switches"])


def cpu_ns(pid: int, tid: str | None = None) -> int:
    """Time on CPU in nanoseconds (schedstat), far finer than the 10 ms ticks of stat."""
    try:
        return int(Path(_where(pid, tid) + "/schedstat").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return cpu_ticks(pid, tid) * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))


def cpu_ticks(pid: int, tid: str | None = None) -> int:
    """utime + stime from /proc/PID/stat, in clock ticks."""
    text = Path(_where(pid, tid) + "/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def smaps_rollup(pid: int) -> dict[str, int]:
    """Rss, Pss, Private_Dirty, ... in KiB."""
    values = {}
    for line in Path("/proc/%d/smaps_rollup" % pid).read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key] = int(parts[0])
    return values


def smaps_by_mapping(pid: int) -> dict[str, dict[str, int]]:
    """Rss, Pss and private KiB per mapped file (or [heap], [stack], [anon], ...)."""
    groups: dict[str, dict[str, int]] = {}
    current: dict[str, int] | None = None
    for line in Path("/proc/%d/smaps" % pid).read_text().splitlines():
        head = line.split(None, 5)
        if len(head) >= 5 and "-" in head[0] and ":" not in head[0]:
            name = head[5].strip() if len(head) == 6 else "[anon]"
            current = groups.setdefault(name, {"rss": 0, "pss": 0, "private": 0})
            continue
        key, _, rest = line.partition(":")
        if current is None or not rest.strip().endswith("kB"):
            continue
        kib = int(rest.split()[0])
        if key == "Rss":
            current["rss"] += kib
        elif key == "Pss":
            current["pss"] += kib
        elif key in ("Private_Clean", "Private_Dirty"):
            current["private"] += kib
    return groups
