"""The harness: start pyinit the way a container starts it, wait for things with a deadline,
and take it all down again.  Shared by `pyinit probe`, the pytest plugin, the test suite and the
benchmark (each drives pyinit from outside, as a process).

- As PID 1 of a fresh PID namespace (`unshare --pid --fork --mount-proc --kill-child`) when the
  caller may create one, else as a plain process that registers as child subreaper.
- From a clean slate, as `docker run` gives one: stdin on /dev/null, a session of its own (so a
  Ctrl-C meant for the caller does not reach it too), an empty signal mask and no ignored
  signals (bootstrap.py).  Not with os.posix_spawn: glibc's leaves its two internal signals
  (32, 33) ignored in the child, and an ignored signal survives exec.
- The same pyinit as the caller's: this interpreter, this package (bootstrap.py).
- pyinit's stderr (its `--log-format json` events) is kept apart from the program's: pyinit
  gets the events pipe as fd 2 and the program's real stderr as fd 3, which pyinit passes
  through (it keeps inherited fds); a one-line `sh` trampoline moves fd 3 to fd 2 and execs
  the program, so the program keeps its pid and pyinit's log cannot be mistaken for, or torn
  by, the program's own output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from . import procfs

UNSHARE = ("unshare", "--pid", "--fork", "--mount-proc", "--kill-child")
# fd 3 -> fd 2, then become the program (same pid, so pyinit's main child is the program).
TRAMPOLINE = ("/bin/sh", "-c", 'exec 2>&3 3>&-; exec "$@"', "sh")

_pidns_reason: list[str | None] = []  # memo: the answer cannot change within one process


def poll_until(condition, timeout: float, interval: float = 0.01):  # -> condition's value | None
    """condition() once it is truthy, polled every interval seconds; None after timeout.

    Waiting by polling with a generous deadline: the machines are shared and noisy, so nothing
    waits on a tight duration.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value or None
        time.sleep(interval)


def pidns_unavailable() -> str | None:
    """None if this process may start pyinit as PID 1 of a new PID namespace, else why not."""
    if not _pidns_reason:
        _pidns_reason.append(_probe_pidns())
    return _pidns_reason[0]


def _probe_pidns() -> str | None:
    if os.geteuid() != 0:
        return "PID namespaces need root (unshare --pid); running as uid %d" % os.geteuid()
    import shutil

    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    try:
        # Trying is the only reliable test: root in a container often lacks CAP_SYS_ADMIN.
        done = subprocess.run((*UNSHARE, "true"), stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return "unshare failed: %s" % exc
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return "%s failed: %s" % (" ".join(UNSHARE), why[-1] if why else "status %d" % done.returncode)
    return None


def pyinit_argv(pyinit_args: list[str], command: list[str] | None, stderr_fd: int | None = 3) -> list[str]:
    """The command line that runs this very pyinit package with pyinit_args on command (None:
    the programs pyinit_args name, --procfile or -P, with no stderr descriptor to pass on)."""
    bootstrap = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe", "bootstrap.py")
    if command is None:
        return [sys.executable, "-I", "-S", bootstrap, "-", *pyinit_args]
    return [sys.executable, "-I", "-S", bootstrap, str(stderr_fd), *pyinit_args, "--", *TRAMPOLINE, *command]


class Launched:
    """A started pyinit: `pid` is the process we started (unshare, or pyinit itself)."""

    def __init__(self, popen: subprocess.Popen, pid1: bool) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.pid1 = pid1
        self.returncode: int | None = None
        self._init_pid: int | None = None if pid1 else popen.pid
        self._program: procfs.Proc | None = None

    @property
    def mode(self) -> str:
        return "pid1" if self.pid1 else "subreaper"

    def find_init(self) -> int | None:
        """pyinit's pid as we see it (under unshare: unshare's child), once it exists."""
        if self._init_pid is None:
            kids = procfs.children(self.pid)
            if kids:
                self._init_pid = kids[0].pid
        return self._init_pid

    def find_program(self) -> int | None:
        """The program's pid as we see it: pyinit's first child (orphans come later)."""
        if self._program is None:
            init = self.find_init()
            if init is None:
                return None
            kids = procfs.children(init)
            if not kids:
                return None
            self._program = min(kids, key=lambda proc: (proc.starttime, proc.pid))
        return self._program.pid

    def find_child(self, inner: int) -> int | None:
        """The pid, as we see it, of pyinit's child whose pid inside the namespace (the pid
        pyinit's events name) is inner; None until it exists."""
        init = self.find_init()
        if init is None:
            return None
        for proc in procfs.children(init):
            if (procfs.inner_pid(proc.pid) if self.pid1 else proc.pid) == inner:
                return proc.pid
        return None

    def poll(self) -> int | None:
        """The exit status (shell style: 128+N when killed) once the started process ended."""
        if self.returncode is None:
            code = self.popen.poll()
            if code is not None:
                self.returncode = 128 - code if code < 0 else code
        return self.returncode

    def wait(self, timeout: float) -> int | None:
        """Poll until it ended or timeout seconds passed; the status, or None."""
        poll_until(lambda: self.poll() is not None, timeout)
        return self.returncode

    def signal(self, signo: int) -> bool:
        """Send signo to pyinit, as `docker kill -s` does; False if pyinit is gone."""
        init = self.find_init()
        if init is None or self.poll() is not None:
            return False
        try:
            os.kill(init, signo)
        except OSError:
            return False
        return True

    def kill_tree(self, timeout: float = 10.0) -> list[procfs.Proc]:
        """SIGKILL pyinit and everything below it, and reap what we started.

        Returns the processes that were still alive after timeout seconds (normally none; a
        process stuck in uninterruptible sleep survives SIGKILL until the kernel lets go).
        """
        if self.poll() is not None:
            return []
        init = self.find_init()
        if self.pid1:
            # The kernel kills a namespace with its PID 1; unshare's --kill-child covers a
            # pyinit not yet found (SIGKILL to unshare fires the child's parent-death signal).
            for pid in (init, self.pid):
                if pid is not None:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        else:
            # As a subreaper pyinit adopts whatever we orphan, so kill below it first (while it
            # is there to adopt and reap), a few rounds for children forked meanwhile, then it.
            for _ in range(5):
                below = [proc for proc in procfs.descendants(self.pid) if not proc.zombie]
                if not below:
                    break
                for proc in below:
                    _kill(proc)
                time.sleep(0.02)
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
        survivors: list[procfs.Proc] = []
        if self.wait(timeout) is None:
            root = init if init is not None else self.pid
            survivors = [proc for proc in procfs.descendants(root) if not proc.zombie]
        return survivors


def _kill(proc: procfs.Proc) -> None:
    procfs.send(proc, signal.SIGKILL)


def spawn(
    pyinit_args: list[str],
    command: list[str] | None,
    *,
    env: dict[str, str],
    stdout_fd: int,
    log_fd: int,
    stderr_fd: int | None,
    pid1: bool,
) -> Launched:
    """Start pyinit on command: the program's stdout and stderr go to stdout_fd and stderr_fd,
    pyinit's own messages to log_fd.  command None: pyinit_args name programs (--procfile, -P);
    pyinit's relay then writes their stdout lines to stdout_fd and their stderr lines to log_fd
    (pyinit's stderr), each prefixed by the program's name.  Raises OSError if unshare or the
    interpreter cannot run.
    """
    if command is None:
        program_stderr = None
        argv = pyinit_argv(pyinit_args, None)
    else:
        # A private copy, so the number is ours alone while Popen passes it (bootstrap.py moves it).
        program_stderr = os.dup(stderr_fd if stderr_fd is not None else log_fd)
        argv = pyinit_argv(pyinit_args, command, program_stderr)
    try:
        popen = subprocess.Popen(
            [*UNSHARE, *argv] if pid1 else argv,
            stdin=subprocess.DEVNULL,
            stdout=stdout_fd,
            stderr=log_fd,
            pass_fds=() if program_stderr is None else (program_stderr,),
            env=env,
            start_new_session=True,
        )
    finally:
        if program_stderr is not None:
            os.close(program_stderr)
    return Launched(popen, pid1)


class Relayed:
    """Lines of several programs as pyinit's relay writes them, `NAME | text` with the names
    padded to the longest (relay.py), split back into (name, text)."""

    SEPARATOR = b" | "

    def __init__(self, names: list[str]) -> None:
        width = max(len(name) for name in names)
        self.size = width + len(self.SEPARATOR)
        self.prefixes = {name.ljust(width).encode() + self.SEPARATOR: name for name in names}

    def split(self, line: bytes) -> tuple[str | None, bytes]:
        """(the program's name, its text); (None, line) for a line that is no program's."""
        name = self.prefixes.get(line[: self.size])
        return (None, line) if name is None else (name, line[self.size :])


def parse_event(line: bytes | str) -> dict | None:
    """One of pyinit's `--log-format json` lines as a dict, or None for any other line."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.strip()
    if not text.startswith("{"):
        return None
    import json

    try:
        record = json.loads(text)
    except ValueError:
        return None
    if isinstance(record, dict) and "event" in record and "ts" in record:
        return record
    return None
