"""Running pyinit for real in tests: as PID 1 of a new PID namespace, or as a plain process.

Everything here waits by polling with a generous deadline: the machines are shared and noisy,
so no test asserts on a tight duration.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from pyinit import harness

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = Path(__file__).resolve().parent / "programs"
PYINIT = [sys.executable, "-m", "pyinit"]
# An environment without PYINIT_* settings, with the package importable from the checkout.
BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("PYINIT_", "TINI_", "DUMB_INIT_"))}
BASE_ENV["PYTHONPATH"] = str(ROOT)
BASE_ENV.pop("PYTHONWARNINGS", None)

# `unshare --fork` of util-linux < 2.38 (Debian bullseye's 2.36) starts its command with SIGINT and
# SIGTERM ignored, and pyinit hands the dispositions it inherits on to the program, as tini does:
# the tests would test the host's unshare.  `env --default-signal` (coreutils >= 8.31) sets every
# signal back to its default and execs pyinit: same pid, no shell, no second interpreter.
CLEAN_SIGNALS = ["env", "--default-signal"]
UNSHARE = [*harness.UNSHARE, *CLEAN_SIGNALS]


def program(name: str, *args: str) -> list[str]:
    """Command line of a helper program in tests/programs."""
    return [sys.executable, "-I", str(PROGRAMS / (name + ".py")), *args]


def compile_program(name: str, out_dir: Path, purpose: str) -> str:
    """Build tests/programs/NAME.c into out_dir; skip, saying `purpose`, without a C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("needs a C compiler for %s" % purpose)
    binary = out_dir / name
    subprocess.run(
        [compiler, "-O2", "-o", str(binary), str(PROGRAMS / (name + ".c"))], check=True, timeout=120
    )
    return str(binary)


def write_launcher(path: Path, env: dict, **kwargs) -> Path:
    """`python -m pyinit.launcher PATH` with env (whose PYTHONPATH says which pyinit): PATH."""
    written = subprocess.run(
        [sys.executable, "-m", "pyinit.launcher", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )
    assert written.returncode == 0, written.stderr
    return path


@functools.cache
def can_unshare() -> str | None:
    """None if we may create PID namespaces (the harness's check), and start pyinit there with
    clean dispositions; else the reason why not."""
    reason = harness.pidns_unavailable()
    if reason:
        return reason
    try:
        if subprocess.run(CLEAN_SIGNALS + ["true"], capture_output=True, timeout=30).returncode != 0:
            return "needs env --default-signal (GNU coreutils >= 8.31) to start pyinit under unshare"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "env unavailable: %s" % exc
    return None


def needs_pidns() -> None:
    reason = can_unshare()
    if reason:
        pytest.skip(reason)


def wait_until(condition, timeout: float = 30.0, interval: float = 0.02, message: str = ""):
    """Poll condition() until it returns something truthy; fail after timeout seconds."""
    value = harness.poll_until(condition, timeout, interval)
    if value is None:
        raise AssertionError("timed out after %gs waiting for %s" % (timeout, message or condition))
    return value


def run(
    args: list[str], *, env: dict | None = None, timeout: float = 60, **kwargs
) -> subprocess.CompletedProcess:
    """Run pyinit with args to completion (not as PID 1); capture text output."""
    return subprocess.run(
        PYINIT + args,
        env=dict(BASE_ENV, **(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def run_pid1(
    args: list[str], *, env: dict | None = None, timeout: float = 60, **kwargs
) -> subprocess.CompletedProcess:
    """Run pyinit with args to completion as PID 1 of a new PID namespace."""
    needs_pidns()
    return subprocess.run(
        UNSHARE + PYINIT + args,
        env=dict(BASE_ENV, **(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


class Init:
    """A running pyinit: as PID 1 of a new PID namespace (pid1=True) or as a plain child.

    Output goes to files in tmp_path (no pipe can fill up and block anything).
    """

    def __init__(
        self,
        tmp_path: Path,
        args: list[str],
        *,
        pid1: bool = True,
        env: dict | None = None,
        prefix: list[str] | None = None,
        pyinit: list[str] | None = None,
    ) -> None:
        """pyinit: how to start pyinit (default: PYINIT, `python -m pyinit`)."""
        if pid1:
            needs_pidns()
        self.pid1 = pid1
        self.stdout_path = tmp_path / ("init-%d.out" % id(self))
        self.stderr_path = tmp_path / ("init-%d.err" % id(self))
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                (prefix or []) + (UNSHARE if pid1 else []) + (pyinit or PYINIT) + args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=dict(BASE_ENV, **(env or {})),
                start_new_session=True,
            )
        self._init_pid: int | None = None
        self._program_pid: int | None = None

    # --- who is who -------------------------------------------------------------------------

    @property
    def init_pid(self) -> int:
        """pyinit's pid as seen from the test (outside the namespace)."""
        if self._init_pid is None:
            if not self.pid1:
                self._init_pid = self.proc.pid
            else:

                def found():
                    kids = psutil.Process(self.proc.pid).children()
                    return kids[0].pid if kids else None

                self._init_pid = wait_until(found, message="pyinit to start under unshare")
        return self._init_pid

    @property
    def program_pid(self) -> int:
        """The main child's pid (the program pyinit runs)."""

        def found():
            # The first child pyinit started: orphans re-parented to it are children too.
            try:
                kids = psutil.Process(self.init_pid).children()
                return min(kids, key=lambda kid: (kid.create_time(), kid.pid)).pid if kids else None
            except psutil.NoSuchProcess:
                return None

        if self._program_pid is None:
            self._program_pid = wait_until(found, message="the program to start")
        return self._program_pid

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.init_pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def zombies(self) -> list[psutil.Process]:
        result = []
        for proc in self.descendants():
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    result.append(proc)
            except psutil.NoSuchProcess:
                pass
        return result

    # --- output -------------------------------------------------------------------------------

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 30.0) -> None:
        wait_until(
            lambda: text in self.stdout or self.proc.poll() is not None,
            timeout,
            message="%r on stdout" % text,
        )
        assert text in self.stdout, "pyinit ended (rc=%s) before printing %r\nstdout: %s\nstderr: %s" % (
            self.proc.returncode,
            text,
            self.stdout[-2000:],
            self.stderr[-2000:],
        )

    # --- control ------------------------------------------------------------------------------

    def send(self, signo: int) -> None:
        """Signal pyinit from outside, as `docker kill -s` does."""
        os.kill(self.init_pid, signo)

    def wait(self, timeout: float = 30.0) -> int:
        """pyinit's exit status (unshare passes it through)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                "pyinit did not exit within %gs\nstderr: %s" % (timeout, self.stderr[-2000:])
            ) from None

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            try:
                for proc in psutil.Process(self.proc.pid).children(recursive=True):
                    proc.kill()
            except psutil.NoSuchProcess:
                pass
            self.proc.kill()
        self.proc.wait(timeout=30)


def signal_mask(*signals: int) -> int:
    mask = 0
    for signo in signals:
        mask |= 1 << (signo - 1)
    return mask


def proc_state(pid: int) -> str:
    """One letter: R, S, T (stopped), Z (zombie), ..."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(") ", 1)[1][0]


#: Signals 32 and 33, which glibc keeps for itself (signal.SIGRTMIN is 34): no glibc program can
#: change their disposition, so an inherited SIG_IGN on them passes through everything (GNU make
#: 4.3 runs its recipes so: `make test`).  Compare SigIgn without them.
GLIBC_RESERVED = signal_mask(*range(32, signal.SIGRTMIN))


def sigign(field: str) -> int:
    """A SigIgn field as a mask, without the signals no program in the chain can reset."""
    return int(field, 16) & ~GLIBC_RESERVED


def proc_status(pid: int) -> dict[str, str]:
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


CATCHABLE = sorted(set(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD})
