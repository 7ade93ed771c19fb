"""Which of pyinit's children are the program's, and which came into the container from
outside (`docker exec`, `kubectl exec`, exec probes, `kubectl debug`).

As PID 1, pyinit adopts every orphan of its PID namespace: those of the program's daemons, and
those of processes the runtime started in the container from outside.  In /proc the two look
the same once their parents are gone (runc starts an exec'd process in a session of its own,
as daemons make one).  So pyinit labels the program's tree: before it starts anything, it
lowers its own hard RLIMIT_LOCKS by one (from "unlimited" to 2**64-2).  Every descendant
inherits the label through fork, exec, setsid and a switch of user; a process started from
outside carries the runtime's value; raising it back needs CAP_SYS_RESOURCE.  RLIMIT_LOCKS has
limited nothing since Linux 2.4.25 (getrlimit(2)): the label changes no behaviour, only what
`ulimit -Hx` shows.  Used for `--leftovers wait` only, where a foreign orphan would otherwise
hold pyinit -- and the container -- until it exits.
"""

from __future__ import annotations

import os

_RLIMIT_LOCKS = 10
_UNLIMITED = (1 << 64) - 1  # RLIM_INFINITY as /proc/PID/limits means it
label: int | None = None  # pyinit's hard RLIMIT_LOCKS once marked, as /proc/PID/limits shows it


def mark() -> None:
    """Label pyinit (and so everything it will start): its hard RLIMIT_LOCKS, minus one."""
    global label
    import resource

    soft, hard = (value % (1 << 64) for value in resource.getrlimit(_RLIMIT_LOCKS))  # rlim_t
    if hard == 0:
        return  # nothing to lower: no label, every child counts as the program's
    marked = hard - 1  # from unlimited: 2**64 - 2
    soft = min(soft, marked)
    # Python before 3.14 converts rlim_t as signed (2**64 - 2 is -2), 3.14 as unsigned.
    for limits in ((soft, marked), (_signed(soft), _signed(marked))):
        try:
            resource.setrlimit(_RLIMIT_LOCKS, limits)
        except (ValueError, OverflowError):
            continue
        except OSError:
            return
        label = marked
        return


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _hard_locks(pid: int) -> int | None:
    try:
        with open("/proc/%d/limits" % pid, "rb") as f:
            for line in f:
                if line.startswith(b"Max file locks"):
                    hard = line.split()[4]
                    return _UNLIMITED if hard == b"unlimited" else int(hard)
    except (OSError, ValueError, IndexError):
        return None
    return None


def program_children_remain(exclude: frozenset[int] = frozenset()) -> bool:
    """Whether a live child of pyinit is the program's: in pyinit's own session (runc never
    starts an exec'd process there), or carrying the label.  Without a label, any child is."""
    from . import procfs

    me, session = os.getpid(), os.getsid(0)
    for proc in procfs.children(me):
        if proc.zombie or proc.pid in exclude:
            continue
        if label is None:
            return True
        try:
            if os.getsid(proc.pid) == session:
                return True
        except OSError:
            continue  # gone
        if _hard_locks(proc.pid) == label:
            return True
    return False
