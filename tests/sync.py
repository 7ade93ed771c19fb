"""Waiting on what pyinit and its programs do, never on the clock.

Two sources of truth:

- pyinit's JSON log (`--log-format json`: one object per line on stderr, every event whatever
  the verbosity): `events`, `event`, `wait_event`.
- /proc: the system call a process is blocked in (`/proc/PID/syscall`: its number, then its
  arguments), so a test knows that pyinit is back in its loop -- and, from sigwaitinfo's
  timeout argument, whether any deadline is armed -- or that a program sits in pause(2).

A test that must show something did *not* happen makes it observable through an event that
would have had to come first (a marker signal sent after it, whose event comes later), or
through pyinit's wait: blocked in rt_sigtimedwait with no timeout, pyinit has no timer armed
and only a signal can wake it.
"""

from __future__ import annotations

import json
import os
import platform

import pytest

from support import proc_state, proc_status, wait_until

# The system calls tests look for, by architecture (the numbers /proc/PID/syscall shows).
_SYSCALLS = {
    "x86_64": {"rt_sigtimedwait": 128, "pause": 34},
    "aarch64": {"rt_sigtimedwait": 137, "pause": 73},  # no pause(2): glibc's pause() is ppoll
}


def syscall_number(name: str) -> int:
    """The number of system call `name` here; skips the test where it is not known."""
    number = _SYSCALLS.get(platform.machine(), {}).get(name)
    if number is None:
        pytest.skip("the number of %s on %s is not known to the tests" % (name, platform.machine()))
    return number


class Gone(AssertionError):
    """The process being watched has exited."""


def blocked_in(pid: int) -> list[int] | None:
    """[syscall number, arguments...] of the call pid is blocked in; None while it runs.

    Raises Gone once pid has exited (a zombie included): whatever was awaited will not come."""
    path = "/proc/%d/syscall" % pid
    try:
        if proc_state(pid) == "Z":
            raise Gone("pid %d has exited" % pid)
        with open(path) as f:
            fields = f.read().split()
    except PermissionError:  # ptrace access: e.g. Yama's scope 1, for a process not below us
        pytest.skip("needs ptrace access to read %s" % path)
    except (FileNotFoundError, ProcessLookupError):
        if os.path.exists("/proc/%d/stat" % pid) and not os.path.exists(path):
            pytest.skip("this kernel has no %s" % path)
        raise Gone("pid %d has exited" % pid) from None
    if not fields or not fields[0].isdigit():  # "running", or -1 (not in a system call)
        return None
    return [int(fields[0])] + [int(arg, 16) for arg in fields[1:]]


def wait_blocked_in(pid: int, name: str, timeout: float = 30.0) -> list[int]:
    """Wait until pid is blocked in system call `name`; [number, arguments...]."""
    number = syscall_number(name)

    def blocked():
        call = blocked_in(pid)
        return call if call is not None and call[0] == number else None

    return wait_until(blocked, timeout, message="pid %d to block in %s" % (pid, name))


def sigwait_timeout(pid: int) -> int | None:
    """When pid is blocked in rt_sigtimedwait, its timeout argument (0: none, wait for ever);
    else None."""
    call = blocked_in(pid)
    if call is None or call[0] != syscall_number("rt_sigtimedwait"):
        return None
    return call[3]  # rt_sigtimedwait(set, info, timeout, sigsetsize)


def wait_in_sigwait(pid: int, timeout: float = 30.0) -> int:
    """Wait until pid (pyinit) is blocked in its loop's rt_sigtimedwait; its timeout argument."""
    return wait_blocked_in(pid, "rt_sigtimedwait", timeout)[3]


def assert_idle(pid: int) -> None:
    """pyinit is back in its loop with no deadline armed: sigwaitinfo, no timeout argument.

    Call it only once pyinit has left its previous wait (after an event it logged), so the
    wait seen is the one that follows."""
    assert wait_in_sigwait(pid) == 0, "pyinit waits with a timeout: a deadline is armed"


def pending(pid: int) -> int:
    """The signals pending for pid (process-wide and its thread's), as a mask."""
    fields = proc_status(pid)
    return int(fields["ShdPnd"], 16) | int(fields["SigPnd"], 16)


def threads(pid: int) -> int:
    return len(os.listdir("/proc/%d/task" % pid))


# --- the JSON log ------------------------------------------------------------------------------


def events(init) -> list[dict]:
    """pyinit's JSON log so far (complete lines only: a line being written is left out)."""
    text = init.stderr
    complete = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.startswith("{")]


def _matches(item: dict, name: str, match: dict) -> bool:
    return item["event"] == name and all(item.get(k) == v for k, v in match.items())


def event(init, name: str, **match) -> dict | None:
    """The first event called name whose fields have the given values, or None."""
    return next((item for item in events(init) if _matches(item, name, match)), None)


def all_events(init, name: str, **match) -> list[dict]:
    return [item for item in events(init) if _matches(item, name, match)]


def names(init) -> list[str]:
    return [item["event"] for item in events(init)]


def wait_event(init, name: str, count: int = 1, timeout: float = 30.0, **match) -> dict:
    """Wait until pyinit has logged `count` events called name (matching); the last of them.

    Fails at once, with pyinit's log, if pyinit exits first."""

    def logged():
        found = all_events(init, name, **match)
        if len(found) >= count:
            return found[count - 1]
        if init.proc.poll() is not None:
            found = all_events(init, name, **match)  # what it wrote just before exiting
            if len(found) >= count:
                return found[count - 1]
            raise AssertionError(
                "pyinit exited (status %s) before logging %r %s\n%s"
                % (init.proc.returncode, name, match, init.stderr[-3000:])
            )
        return None

    return wait_until(logged, timeout, message="pyinit to log %d %r %s" % (count, name, match))
