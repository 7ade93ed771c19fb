"""pytest plugin: test how a program shuts down under pyinit, as it would in a container.

Registered through the `pytest11` entry point, so `pip install pyinit-supervisor` (plus psutil
for process listings: the `pytest` extra) is all it takes.

- Fixture `pyinit_run(command, ...)` starts command under pyinit -- PID 1 of a new PID namespace
  when this process may create one (root + unshare), else a child subreaper -- and returns a
  `PyinitProcess`: send signals (to pyinit as `docker kill` does, or to the program), wait for
  a line, a file or the exit, read the exit status and pyinit's JSON events, list the process
  tree and its zombies (psutil).  Everything it started is SIGKILLed at teardown, whether the
  test passed or not.
- `pyinit_run(procfile=PATH)` (or `programs=["NAME: COMMAND", ...]`, pyinit's -P lines) runs
  several programs instead: the same object, plus each program by name (its pid, its lines,
  its exit).
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
from pathlib import Path

import pytest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from .harness import Launched

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
    from .harness import pidns_unavailable as reason

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
    """A command (or a Procfile's programs) running under pyinit, started by `pyinit_run`.

    Pids are as this test sees them (outside the namespace).  `stdout`, `stderr` are the
    program's; pyinit's own messages are `events` (its --log-format json, one dict each).
    With several programs, `stdout` and `stderr` are what pyinit's relay wrote (each line as
    `NAME | line`); `lines(name)` gives one program's lines without the prefix.
    """

    def __init__(
        self, launched: Launched, command: list[str], files: dict[str, Path], names: list[str] | None = None
    ) -> None:
        self.launched = launched
        self.command = command
        self.files = files
        self._names = names  # None: one command; else the programs' names, in pyinit's order
        self._program_pid: int | None = None
        self._pids: dict[str, int] = {}

    def __repr__(self) -> str:
        what = self.command if self._names is None else self._names
        return "<PyinitProcess %s %r status=%s>" % (self.mode, what, self.returncode)

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
    def program_names(self) -> list[str]:
        """The programs' names, in the order pyinit starts them (empty for one command)."""
        return list(self._names or ())

    @property
    def program_pid(self) -> int:
        """The program's pid (pyinit's main child); with several programs, the first one's."""
        if self._names is not None:
            if not self._names:
                raise AssertionError("no program runs: pyinit refused them%s" % self._context())
            return self.pid_of(self._names[0])
        if self._program_pid is None:
            self._program_pid = self._until(self.launched.find_program, "the program to start")
        return self._program_pid

    def pid_of(self, name: str) -> int:
        """The pid of program name (several programs); waits until pyinit started it (ask
        while pyinit runs: the pid is found through pyinit's children)."""
        if name not in self.program_names:
            raise ValueError("pyinit_run: no program %r (the programs: %s)" % (name, self.program_names))
        if name not in self._pids:

            def found() -> int | None:
                for event in self.events:
                    if event["event"] == "spawned" and event.get("program") == name:
                        return self.launched.find_child(event["pid"])
                return None

            self._pids[name] = self._until(found, "program %s to start" % name, stop_at_exit=True)
        return self._pids[name]

    # --- signals ------------------------------------------------------------------------------

    def send(self, signo: int = signal.SIGTERM) -> None:
        """Signal pyinit from outside, as `docker kill -s` (and `docker stop`) does."""
        os.kill(self.init_pid, signo)

    def send_program(self, signo: int, program: str | None = None) -> None:
        """Signal the program (or the program named, with several) directly, behind pyinit's back."""
        os.kill(self.program_pid if program is None else self.pid_of(program), signo)

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

    def wait_for_line(
        self, pattern: str, timeout: float = DEFAULT_TIMEOUT, *, program: str | None = None
    ) -> re.Match:
        """The first match of the regex pattern in a line of the program's stdout (with several
        programs: any program's line, or program's, matched without the `NAME | ` prefix).
        Fails the test if none comes within timeout seconds, or pyinit exits first."""
        regex = re.compile(pattern)
        if program is not None and program not in self.program_names:
            raise ValueError("pyinit_run: no program %r (the programs: %s)" % (program, self.program_names))

        def found():
            for line in self.lines(program):
                match = regex.search(line)
                if match:
                    return match
            return None

        where = "stdout" if program is None else "the stdout of program %s" % program
        return self._until(found, "a line matching %r on %s" % (pattern, where), timeout, stop_at_exit=True)

    def wait_for_file(self, path: str | os.PathLike, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until path exists.  Fails the test after timeout seconds or if pyinit exits."""
        self._until(lambda: os.path.lexists(path), "%s to exist" % path, timeout, stop_at_exit=True)

    # --- output -------------------------------------------------------------------------------

    @property
    def stdout(self) -> str:
        return self.files["stdout"].read_text(errors="replace")

    @property
    def stderr(self) -> str:
        if self._names is None:
            return self.files["stderr"].read_text(errors="replace")
        # The relay writes the programs' stderr lines to pyinit's own stderr, the events file.
        return "".join(line for line, event in self._log() if event is None)

    def lines(self, program: str | None = None, stream: str = "stdout") -> list[str]:
        """The lines written on stream ("stdout" or "stderr"): the program's, or with several
        programs, program's (None: every program's, in the order pyinit wrote them), without
        the `NAME | ` prefix."""
        if stream not in ("stdout", "stderr"):
            raise ValueError("pyinit_run: stream must be 'stdout' or 'stderr', not %r" % stream)
        text = self.stdout if stream == "stdout" else self.stderr
        if self._names is None:
            return text.splitlines()
        from .harness import Relayed

        relayed = Relayed(self._names)
        found = []
        for line in text.splitlines():
            name, rest = relayed.split(line.encode("utf-8", "surrogateescape"))
            if name is not None and program in (None, name):
                found.append(rest.decode("utf-8", "surrogateescape"))
        return found

    @property
    def events(self) -> list[dict]:
        """pyinit's events so far (spawned, signal, forwarded, reaped, escalation, exit, ...)."""
        return [event for _, event in self._log() if event is not None]

    def _log(self) -> list[tuple[str, dict | None]]:
        """pyinit's stderr, line by line: (line, its event, or None for any other line)."""
        from .harness import parse_event

        return [
            (line, parse_event(line))
            for line in self.files["events"].read_text(errors="replace").splitlines(keepends=True)
        ]

    @property
    def first_ended(self) -> str | None:
        """Several programs: the name of the program that ended first (pyinit then stopped the
        others, and exits with its status), None while all run."""
        for event in self.events:
            if event["event"] == "first-ended":
                return event.get("program")
        return None

    def program_exit(self, program: str | None = None) -> dict | None:
        """pyinit's "reaped" event for the program -- `code` (128+N if killed), and `signal`
        when a signal killed it -- or None while the program runs.  With several programs:
        program's, or (None) the first one's to end, whose status is pyinit's."""
        if program is not None and program not in self.program_names:
            raise ValueError("pyinit_run: no program %r (the programs: %s)" % (program, self.program_names))
        for event in self.events:
            if event["event"] == "reaped" and event.get("main") and program in (None, event.get("program")):
                return event
        return None

    # --- processes (psutil) -------------------------------------------------------------------

    def processes(self) -> list:
        """Every process below pyinit, zombies included (psutil.Process objects), but for
        pyinit's own output relay (`pyinit-relay`, with several programs)."""
        psutil = _psutil()
        init = self.launched.find_init()
        if init is None or self.returncode is not None:
            return []
        try:
            found = psutil.Process(init).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        if self._names is None:
            return found
        return [proc for proc in found if not _is_relay(proc, init)]

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
        from .harness import poll_until

        exited: list[bool] = []

        def check():
            value = condition()
            if value or not (stop_at_exit and self.returncode is not None):
                return value
            value = condition()  # the last output may have come with the exit
            if not value:
                exited.append(True)  # stop waiting: it will never come
            return value or True

        value = poll_until(check, timeout, _POLL)
        if exited:
            raise AssertionError(
                "pyinit exited (status %s) before %s%s" % (self.returncode, what, self._context())
            )
        if value is None:
            raise AssertionError("timed out after %gs waiting for %s%s" % (timeout, what, self._context()))
        return value

    def _context(self) -> str:
        def tail(text: str) -> str:
            return text[-1500:] if text else "(nothing)"

        return "\n--- program stdout:\n%s\n--- program stderr:\n%s\n--- pyinit events:\n%s" % (
            tail(self.stdout),
            tail(self.stderr),
            tail(self.files["events"].read_text(errors="replace")),
        )


def _is_relay(proc, init: int) -> bool:  # proc: psutil.Process
    try:
        return proc.ppid() == init and proc.name() == "pyinit-relay"
    except Exception:  # psutil.NoSuchProcess, ZombieProcess: gone, or going
        return False


def _program_names(procfile: str | None, lines: Sequence[str]) -> list[str]:
    """The names pyinit will give the programs, read by pyinit's own rules; [] when pyinit will
    refuse them (it then says why on stderr and exits 125, for the test to see)."""
    from . import procfile as procfiles

    try:
        programs = procfiles.load(procfile) if procfile is not None else ()
        programs += procfiles.parse_option(lines) if lines else ()
    except procfiles.ProcfileError:
        return []
    return [program.name for program in programs]


def _start(
    directory: Path,
    command: Sequence[str] | None,
    *,
    procfile: str | None = None,
    programs: Sequence[str] = (),
    pyinit_args: Sequence[str],
    env: dict[str, str] | None,
    pid1: bool,
) -> PyinitProcess:
    from . import harness as launch

    directory.mkdir(parents=True, exist_ok=True)
    files = {name: directory / ("%s.txt" % name) for name in ("stdout", "stderr", "events")}
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYINIT_")}
    environ.update(env or {})
    args = ["--log-format", "json", *pyinit_args]
    names = None
    if command is None:
        names = _program_names(procfile, programs)
        args += ["--procfile", procfile] if procfile is not None else []
        for line in programs:
            args += ["-P", line]
    if not pid1:
        args = ["--pdeathsig", "TERM", *args]  # should pytest die, pyinit shuts the program down
    handles = [open(files[name], "wb") for name in ("stdout", "events", "stderr")]  # noqa: SIM115
    try:
        launched = launch.spawn(
            args,
            None if command is None else list(command),
            env=environ,
            stdout_fd=handles[0].fileno(),
            log_fd=handles[1].fileno(),
            stderr_fd=None if command is None else handles[2].fileno(),
            pid1=pid1,
        )
    finally:
        for handle in handles:
            handle.close()
    return PyinitProcess(launched, [] if command is None else list(command), files, names)


@pytest.fixture
def pyinit_run(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    """Factory: pyinit_run(command=None, *, procfile=None, programs=None, pyinit_args=(),
    env=None, pid1=None, ready_line=None, ready_file=None, timeout=30) -> PyinitProcess.

    command, or several programs: procfile (a Procfile's path) and/or programs (`NAME: COMMAND`
    lines, pyinit's -P).  pid1: None = PID 1 when possible (always, under
    @pytest.mark.pyinit_pid1), else a subreaper; True = PID 1 or skip; False = a subreaper.
    env adds to (and overrides) the test's environment, from which PYINIT_* settings are
    removed: pass pyinit's options in pyinit_args.  With ready_line (a regex matched on a line
    of stdout; with several programs, any program's line, or a {name: regex} dict to wait for
    each of those programs' line) or ready_file, wait for it before returning.
    """
    started: list[PyinitProcess] = []

    def run(
        command: Sequence[str] | None = None,
        *,
        procfile: str | os.PathLike | None = None,
        programs: Sequence[str] | None = None,
        pyinit_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        pid1: bool | None = None,
        ready_line: str | dict[str, str] | None = None,
        ready_file: str | os.PathLike | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> PyinitProcess:
        several = procfile is not None or programs is not None
        if several == (command is not None):
            raise ValueError("pyinit_run: give a command, or programs (procfile=, programs=), not both")
        if isinstance(programs, str):
            raise ValueError("pyinit_run: programs= is a list of 'NAME: COMMAND' lines")
        if isinstance(ready_line, dict) and not several:
            raise ValueError("pyinit_run: ready_line={name: regex} needs programs (procfile=, programs=)")
        reason = pidns_unavailable()
        if pid1 is None:
            pid1 = reason is None
        elif pid1 and reason is not None:
            pytest.skip("pyinit as PID 1 is not available here: %s" % reason)
        directory = tmp_path / ("pyinit-%d" % len(started))
        proc = _start(
            directory,
            command,
            procfile=None if procfile is None else os.fspath(procfile),
            programs=list(programs or ()),
            pyinit_args=pyinit_args,
            env=env,
            pid1=pid1,
        )
        started.append(proc)
        if isinstance(ready_line, dict):
            for name, regex in ready_line.items():
                proc.wait_for_line(regex, timeout, program=name)
        elif ready_line is not None:
            proc.wait_for_line(ready_line, timeout)
        if ready_file is not None:
            proc.wait_for_file(ready_file, timeout)
        return proc

    yield run
    for proc in reversed(started):
        proc.kill()
