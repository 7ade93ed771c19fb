"""The processes pyinit owns, read from /proc, and a way to signal them without pid-reuse races.

"Owned" means every process pyinit would adopt: all of the PID namespace when pyinit is its
PID 1, the descendants of pyinit otherwise (as a subreaper, orphans below it come back to it).
Leaf module: no knowledge of the loop.
"""

from __future__ import annotations

import os

from .signals import signal  # the C module: see signals.py


def _read_stat(pid: int | str) -> tuple[int, int, str] | None:
    """(ppid, starttime, state) of a process, or None if it is gone."""
    try:
        with open("/proc/%s/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm (field 2) may hold spaces and parentheses: the fields resume after the last ')'.
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return int(fields[1]), int(fields[19]), fields[0].decode()
    except (IndexError, ValueError):
        return None


def proc_matches_us() -> bool:
    """/proc is mounted for our own PID namespace, so its pids are the pids we can signal."""
    try:
        return int(os.readlink("/proc/self")) == os.getpid()
    except (OSError, ValueError):
        return False


def owned_processes() -> list[tuple[int, int]] | None:
    """Live (not zombie) processes pyinit owns, as (pid, start time), or None when /proc cannot tell.

    The start time (clock ticks since boot) and the pid together name one process for good.
    """
    if not proc_matches_us():
        return None
    me = os.getpid()
    table: dict[int, tuple[int, int, str]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    for name in names:
        if name.isdigit():
            stat = _read_stat(name)
            if stat is not None:
                table[int(name)] = stat
    if me == 1:
        return [(pid, st[1]) for pid, st in table.items() if pid != 1 and st[2] != "Z"]
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: list[tuple[int, int]] = []
    stack = list(children.get(me, ()))
    while stack:
        pid = stack.pop()
        ppid, starttime, state = table[pid]
        if state != "Z":
            found.append((pid, starttime))
        stack.extend(children.get(pid, ()))
    return found


def send(process: tuple[int, int], signo: int) -> bool:
    """Signal one process only if it is still the one that was listed; True if sent.

    A pidfd pins the process, and the start time read after opening it proves the pid was not
    reused by a newcomer since the listing.
    """
    pid, starttime = process
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        pidfd = -1  # gone (ESRCH), or a kernel without pidfds: check and kill below
    try:
        stat = _read_stat(pid)
        if stat is None or stat[1] != starttime:
            return False
        if pidfd >= 0:
            signal.pidfd_send_signal(pidfd, signo)
        else:
            os.kill(pid, signo)
        return True
    except OSError:
        return False
    finally:
        if pidfd >= 0:
            os.close(pidfd)
