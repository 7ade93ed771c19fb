"""pytest plugin: test how a program shuts down under pyinit, as it would in a container.

Registered through the `pytest11` entry point, so `pip install pyinit-supervisor` (plus psutil
for process listings: the `pytest` extra) is all it takes.

- Fixture `pyinit_run(command, ...)` starts command under pyinit -- PID 1 of a new PID namespace
  when this process may create one (root + unshare), else a child subreaper -- and returns a
  `PyinitProcess`: send signals (to pyinit as `docker kill` does, or to the program), wait for
  a line, a file or the exit, read the exit status and pyinit's JSON events, list the process
  tree and its zombies (psutil).  Everything it started is SIGKILLed at teardown, whether the
  test passed or not.
- Marker `@pytest.mark.pyinit_pid1`: the test needs pyinit as PID 1; it is skipped, with the
  reason, where PID namespaces are not available.
- `PYINIT_PLUGIN_NO_PIDNS=1` in the environment makes PID namespaces "unavailable" (run as a
  subreaper, skip `pyinit_pid1` tests): to see what a non-root CI runner will do.

This module is imported by every pytest run in an environment where pyinit is installed: it
imports nothing beyond the standard library and pytest until a fixture is used.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from .probe.launch import Launched

NO_PIDNS_ENV = "PYINIT_PLUGIN_NO_PIDNS"
MARKER = "pyinit_pid1"
#: Default for every wait: generous, because CI machines are shared and slow.
DEFAULT_TIMEOUT = 30.0
_POLL = 0.02


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "%s: needs pyinit as PID 1 of a new PID namespace (root + unshare); skipped where that "
        "is not available, or when %s=1" % (MARKER, NO_PIDNS_ENV),
    )


def pidns_unavailable() -> str | None:
    """None when pyinit_run can start pyinit as PID 1 of a new PID namespace, else why not."""
    if os.environ.get(NO_PIDNS_ENV, "").strip().lower() not in ("", "0", "false", "no", "off"):
        return "PID namespaces disabled by %s=%s" % (NO_PIDNS_ENV, os.environ[NO_PIDNS_ENV])
    from .probe.launch import pidns_unavailable as reason

    return reason()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker(MARKER) is not None:
        reason = pidns_unavailable()
        if reason is not None:
            pytest.skip("pyinit as PID 1 is not available here: %s" % reason)


def _psutil():  # -> the psutil module
    try:
        import psutil
    except ImportError:
        pytest.fail(
            "pyinit_run: listing processes needs psutil: pip install 'pyinit-supervisor[pytest]'",
            pytrace=False,
        )
    return psutil


class PyinitProcess:
    """A command running under pyinit, started by the `pyinit_run` fixture.

    Pids are as this test sees them (outside the namespace).  `stdout`, `stderr` are the
    program's; pyinit's own messages are `events` (its --log-format json, one dict each).
    """

    def __init__(self, launched: Launched, command: list[str], files: dict[str, Path]) -> None:
        self.launched = launched
        self.command = command
        self.files = files
        self._program_pid: int | None = None

    def __repr__(self) -> str:
        return "<PyinitProcess %s %r status=%s>" % (self.mode, self.command, self.returncode)

    # --- who ----------------------------------------------------------------------------------

    @property
    def pid1(self) -> bool:
        """Whether pyinit runs as PID 1 of a new PID namespace (else as a subreaper)."""
        return self.launched.pid1

    @property
    def mode(self) -> str:
        return self.launched.mode

    @property
    def init_pid(self) -> int:
        """pyinit's pid."""
        return self._until(self.launched.find_init, "pyinit to start")

    @property
    def program_pid(self) -> int:
        """The program's pid (pyinit's main child)."""
        if self._program_pid is None:
            self._program_pid = self._until(self.launched.find_program, "the program to start")
        return self._program_pid

    # --- signals ------------------------------------------------------------------------------

    def send(self, signo: int = signal.SIGTERM) -> None:
        """Signal pyinit from outside, as `docker kill -s` (and `docker stop`) does."""
        os.kill(self.init_pid, signo)

    def send_program(self, signo: int) -> None:
        """Signal the program directly, behind pyinit's back."""
        os.kill(self.program_pid, signo)

    def stop(self, signo: int = signal.SIGTERM, timeout: float = DEFAULT_TIMEOUT) -> int:
        """`docker stop`: send signo to pyinit and wait for the exit status."""
        self.send(signo)
        return self.wait(timeout)

    # --- waiting ------------------------------------------------------------------------------

    @property
    def returncode(self) -> int | None:
        """pyinit's exit status (the container's: the program's, or 128+N), None while running."""
        return self.launched.poll()

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        """Wait for pyinit to exit; its status.  Fails the test after timeout seconds."""
        status = self.launched.wait(timeout)
        if status is None:
            raise AssertionError("pyinit did not exit within %gs%s" % (timeout, self._context()))
        return status

    def wait_for_line(self, pattern: str, timeout: float = DEFAULT_TIMEOUT) -> re.Match:
        """The first match of the regex pattern in a line of the program's stdout.  Fails the
        test if none comes within timeout seconds, or pyinit exits first."""
        regex = re.compile(pattern)

        def found():
            for line in self.stdout.splitlines():
                match = regex.search(line)
                if match:
                    return match
            return None

        return self._until(found, "a line matching %r on stdout" % pattern, timeout, stop_at_exit=True)

    def wait_for_file(self, path: str | os.PathLike, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until path exists.  Fails the test after timeout seconds or if pyinit exits."""
        self._until(lambda: os.path.lexists(path), "%s to exist" % path, timeout, stop_at_exit=True)

    # --- output -------------------------------------------------------------------------------

    @property
    def stdout(self) -> str:
        return self.files["stdout"].read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.files["stderr"].read_text(errors="replace")

    @property
    def events(self) -> list[dict]:
        """pyinit's events so far (spawned, signal, forwarded, reaped, escalation, exit, ...)."""
        from .probe.launch import parse_event

        found = []
        for line in self.files["events"].read_text(errors="replace").splitlines():
            event = parse_event(line)
            if event is not None:
                found.append(event)
        return found

    def program_exit(self) -> dict | None:
        """pyinit's "reaped" event for the program -- `code` (128+N if killed), and `signal`
        when a signal killed it -- or None while the program runs."""
        for event in self.events:
            if event["event"] == "reaped" and event.get("main"):
                return event
        return None

    # --- processes (psutil) -------------------------------------------------------------------

    def processes(self) -> list:
        """Every process below pyinit, zombies included (psutil.Process objects)."""
        psutil = _psutil()
        init = self.launched.find_init()
        if init is None or self.returncode is not None:
            return []
        try:
            return psutil.Process(init).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def zombies(self) -> list:
        """The processes below pyinit that have exited but are not reaped yet."""
        psutil = _psutil()
        found = []
        for proc in self.processes():
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except psutil.NoSuchProcess:
                pass
        return found

    # --- the end ------------------------------------------------------------------------------

    def kill(self) -> None:
        """SIGKILL pyinit and everything below it, and reap it (the fixture does it at teardown)."""
        self.launched.kill_tree()

    # --- helpers ------------------------------------------------------------------------------

    def _until(self, condition, what: str, timeout: float = DEFAULT_TIMEOUT, stop_at_exit: bool = False):
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if stop_at_exit and self.returncode is not None:
                value = condition()  # the last output may have come with the exit
                if value:
                    return value
                raise AssertionError(
                    "pyinit exited (status %s) before %s%s" % (self.returncode, what, self._context())
                )
            if time.monotonic() >= deadline:
                raise AssertionError(
                    "timed out after %gs waiting for %s%s" % (timeout, what, self._context())
                )
            time.sleep(_POLL)

    def _context(self) -> str:
        def tail(text: str) -> str:
            return text[-1500:] if text else "(nothing)"

        return "\n--- program stdout:\n%s\n--- program stderr:\n%s\n--- pyinit events:\n%s" % (
            tail(self.stdout),
            tail(self.stderr),
            tail(self.files["events"].read_text(errors="replace")),
        )


def _start(
    directory: Path,
    command: Sequence[str],
    *,
    pyinit_args: Sequence[str],
    env: dict[str, str] | None,
    pid1: bool,
) -> PyinitProcess:
    from .probe import launch

    directory.mkdir(parents=True, exist_ok=True)
    files = {name: directory / ("%s.txt" % name) for name in ("stdout", "stderr", "events")}
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYINIT_")}
    environ.update(env or {})
    args = ["--log-format", "json", *pyinit_args]
    if not pid1:
        args = ["--pdeathsig", "TERM", *args]  # should pytest die, pyinit shuts the program down
    handles = [open(files[name], "wb") for name in ("stdout", "events", "stderr")]  # noqa: SIM115
    try:
        launched = launch.spawn(
            args,
            list(command),
            env=environ,
            stdout_fd=handles[0].fileno(),
            log_fd=handles[1].fileno(),
            stderr_fd=handles[2].fileno(),
            pid1=pid1,
        )
    finally:
        for handle in handles:
            handle.close()
    return PyinitProcess(launched, list(command), files)


@pytest.fixture
def pyinit_run(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    """Factory: pyinit_run(command, *, pyinit_args=(), env=None, pid1=None, ready_line=None,
    ready_file=None, timeout=30) -> PyinitProcess.

    pid1: None = PID 1 when possible (always, under @pytest.mark.pyinit_pid1), else a
    subreaper; True = PID 1 or skip; False = a subreaper.  env adds to (and overrides) the
    test's environment, from which PYINIT_* settings are removed: pass pyinit's options in
    pyinit_args.  With ready_line (a regex) or ready_file, wait for it before returning.
    """
    started: list[PyinitProcess] = []

    def run(
        command: Sequence[str],
        *,
        pyinit_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        pid1: bool | None = None,
        ready_line: str | None = None,
        ready_file: str | os.PathLike | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> PyinitProcess:
        reason = pidns_unavailable()
        if pid1 is None:
            pid1 = reason is None
        elif pid1 and reason is not None:
            pytest.skip("pyinit as PID 1 is not available here: %s" % reason)
        directory = tmp_path / ("pyinit-%d" % len(started))
        proc = _start(directory, command, pyinit_args=pyinit_args, env=env, pid1=pid1)
        started.append(proc)
        if ready_line is not None:
            proc.wait_for_line(ready_line, timeout)
        if ready_file is not None:
            proc.wait_for_file(ready_file, timeout)
        return proc

    yield run
    for proc in reversed(started):
        proc.kill()
