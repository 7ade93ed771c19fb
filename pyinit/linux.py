"""Linux process controls the standard library lacks: prctl(2) and capset(2), through ctypes.

ctypes is imported on first use only: as PID 1 of a container none of these is needed on the
default path, and `import ctypes` costs several milliseconds of start-up.
"""

from __future__ import annotations

import os

PR_SET_PDEATHSIG = 1
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = None


def _load():  # -> ctypes.CDLL
    """libc, loaded once.  Call it before any `import ctypes`: the first import happens here."""
    global _libc
    if _libc is None:
        before = _descriptors()
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
        _close_libffi_descriptor(before)
    return _libc


def _descriptors() -> set[str]:
    """This process's open descriptors (without the one listdir used for the listing)."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:  # no /proc: nothing to compare with, nothing will be closed
        return set()
    return {name for name in names if _is_open(int(name))}


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _close_libffi_descriptor(before: set[str]) -> None:
    """Close the descriptor that importing ctypes left open on libffi's own file, if any.

    libffi built with static trampolines (Debian's since sid's 3.5, Fedora's) maps its closure
    trampolines from its own shared object: the first time it makes a closure it opens that
    file (found in /proc/self/maps) and keeps the descriptor for the life of the process, to
    map more trampoline pages later.  Python 3.14's _ctypes makes a closure when imported, so
    every `import ctypes` costs a descriptor for good: under `ulimit -n 5` pyinit then has no
    room left for its exec-status pipe ("Too many open files"), and libffi 3.5.0-3.5.1 open
    it without O_CLOEXEC, so the program would inherit it.  The descriptor is needed only to
    map a second trampoline page, when more ctypes callbacks are alive at once than one page
    holds; pyinit creates no callbacks.  The page already mapped stays valid without it.
    """
    if not before:
        return
    for name in _descriptors() - before:
        try:
            target = os.readlink("/proc/self/fd/" + name)
        except OSError:
            continue
        if os.path.basename(target).startswith("libffi."):
            os.close(int(name))


def load() -> None:
    """Load libc now, e.g. in the parent before a fork, so the child only calls into it."""
    _load()


def _prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    libc = _load()
    import ctypes

    result = libc.prctl(
        ctypes.c_int(option),
        ctypes.c_ulong(arg2),
        ctypes.c_ulong(arg3),
        ctypes.c_ulong(arg4),
        ctypes.c_ulong(arg5),
    )
    if result == -1:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return result


def set_child_subreaper() -> None:
    """Adopt orphaned descendants, as PID 1 does (Linux >= 3.4)."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def is_child_subreaper() -> bool:
    libc = _load()
    import ctypes

    flag = ctypes.c_int(0)
    if libc.prctl(ctypes.c_int(PR_GET_CHILD_SUBREAPER), ctypes.byref(flag), 0, 0, 0) == -1:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return bool(flag.value)


def set_pdeathsig(signo: int) -> None:
    """Receive signo when the parent thread dies (cleared in forked children)."""
    _prctl(PR_SET_PDEATHSIG, signo)


def set_no_new_privs() -> None:
    """execve can never grant privileges again: setuid bits and file capabilities are ignored."""
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def cap_last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 40  # CAP_CHECKPOINT_RESTORE, the highest cap of Linux 5.9..6.x


def clear_capabilities() -> None:
    """Empty the bounding set, the ambient set and the inheritable set.

    The bounding set must be dropped while CAP_SETPCAP is still held, i.e. before setuid.  With
    an empty inheritable and ambient set and bounding set, no later execve (file capabilities
    included) can hand capabilities to the program.
    """
    # Only what is still there: dropping needs CAP_SETPCAP even for a cap already gone, and a
    # non-root caller whose bounding set is already empty (--cap-drop ALL) must not fail.
    for cap in bounding_set():
        _prctl(PR_CAPBSET_DROP, cap)
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    _clear_inheritable()


def bounding_set() -> list[int]:
    """The capabilities still in this thread's bounding set (needs no privilege to read)."""
    caps = []
    for cap in range(cap_last_cap() + 1):
        try:
            if _prctl(PR_CAPBSET_READ, cap):
                caps.append(cap)
        except OSError as exc:
            if exc.errno != 22:  # EINVAL: the kernel does not know this cap
                raise
    return caps


def _clear_inheritable() -> None:
    libc = _load()
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    header = Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (Data * 2)()
    if libc.capget(ctypes.byref(header), data) == -1:
        errno = ctypes.get_errno()
        raise OSError(errno, "capget: " + os.strerror(errno))
    for half in data:
        half.inheritable = 0
    if libc.capset(ctypes.byref(header), data) == -1:
        errno = ctypes.get_errno()
        raise OSError(errno, "capset: " + os.strerror(errno))
