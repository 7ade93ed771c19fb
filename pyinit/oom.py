"""Keep PID 1 out of the OOM killer's way: within its container it must be the last choice.

A container's PID 1 is not the host's init: the OOM killer may choose it, and its death takes
the whole container down.  Under a memory limit the kernel scores each process by its memory
(RSS, swap, page tables, in pages) plus oom_score_adj * (the limit in pages) / 1000, and kills
the highest.  pyinit (a few MiB) can outscore the small workers of a pre-fork server.  So:

- pyinit lowers its own score to -1000 where it may (CAP_SYS_RESOURCE: root on a host, a
  privileged container, `--cap-add SYS_RESOURCE`), and the program gets the score pyinit had;
- otherwise (Docker's default capabilities, Kubernetes, rootless engines) the program -- and
  every process it forks, which inherits it -- gets pyinit's score plus just enough to outscore
  pyinit under this limit: raising a score never needs a privilege.

The price of the second way: at node level (a host out of memory, where the limit is the
host's memory) the program looks bigger than it is, by pyinit's footprint and a quarter more
scaled by the ratio of the host's memory to the container's limit.
"""

from __future__ import annotations

import os

OWN = "/proc/self/oom_score_adj"
LOWEST, HIGHEST = -1000, 1000
_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a page-rounded LONG_MAX


def _read_int(path: str) -> int | None:
    try:
        with open(path, "rb") as f:
            text = f.read().split()
    except OSError:
        return None
    if not text:
        return None
    try:
        return int(text[0])
    except ValueError:
        return None  # "max": no limit


def _write(path: str, value: int) -> bool:
    try:
        with open(path, "wb", buffering=0) as f:
            f.write(b"%d" % value)
    except OSError:
        return False
    return True


def memory_limit() -> int:
    """The bytes the OOM killer measures scores against: this cgroup's limit, else the RAM."""
    page = os.sysconf("SC_PAGE_SIZE")
    ram = os.sysconf("SC_PHYS_PAGES") * page
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        limit = _read_int(path)
        if limit is not None and 0 < limit < _UNLIMITED:
            return min(limit, ram)
    return ram


def footprint() -> int:
    """What the OOM killer counts of pyinit, in bytes: its resident memory (anonymous, file and
    shared pages alike -- a memory cgroup charges the file pages to whoever read them first,
    but the score counts them all), its swap and its page tables."""
    total = 0
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith((b"VmRSS:", b"VmSwap:", b"VmPTE:")):
                    total += int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        return 0
    return total


def program_score() -> int | None:
    """Lower pyinit's own score if it may; return the score the program should start with
    (None: leave it as inherited)."""
    own = _read_int(OWN)
    if own is None:
        return None  # no /proc: nothing to do
    if own == LOWEST or _write(OWN, LOWEST):
        return own if own != LOWEST else None  # the program gets what pyinit had
    # Raise the program instead: by enough that its adjustment alone outscores pyinit's
    # footprint, with a quarter more for what pyinit may allocate later (the +1 rounds up).
    step = footprint() * 5 * HIGHEST // (4 * memory_limit()) + 1
    target = min(HIGHEST, own + step)
    return target if target != own else None


def set_own(value: int) -> bool:
    """Child side, before exec: the program's score (raising it never needs a privilege)."""
    return _write(OWN, value)
