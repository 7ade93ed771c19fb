"""One probe run: start pyinit, wait until the program is ready, signal pyinit, watch the end.

Two sources, one loop (single-threaded, `selectors` with a short tick):
- pyinit's own `--log-format json` events, which say what happened and when (the program was
  reaped with this status, pyinit stopped N leftovers, pyinit escalated to SIGKILL, exit status);
  their "ts" is CLOCK_MONOTONIC, the clock of our time.monotonic(), namespaces or not;
- samples of /proc below pyinit, which say who was there: process group, state (zombies),
  command line, and the pid inside the namespace (NSpid) that pyinit's events use.
The result is an Observation: facts only.  verdict.py judges them.

Several programs (a Procfile) are followed one by one: pyinit's `spawned` and `reaped` events
name each (`program`), and its `first-ended` event says which one ended first and what pyinit
stopped because of it.  Its output relay (a child of pyinit named `pyinit-relay`) is pyinit's
own helper: never a program, never a leftover.
"""

from __future__ import annotations

import os
import re
import selectors
import time

from .. import harness as launch
from .. import procfs
from ..log import write_fd
from .options import ProbeOptions

#: /proc sampling period while waiting for readiness, and once the signal was sent (when
#: processes come and go quickly and each sample may be the only sight of one).
_SLOW_TICK = 0.1
_FAST_TICK = 0.02
#: After the --timeout escalation, how long pyinit may take to kill, reap and exit before the
#: probe calls it hung and kills everything itself.
HUNG_ALLOWANCE = 5.0
#: How long to wait for an exiting pyinit's last output, and for processes to die of SIGKILL.
_DRAIN = 2.0


class Seen:
    """What the samples showed of one process over the run."""

    __slots__ = (
        "comm",
        "command",
        "ended_at",
        "first_parent",
        "first_seen",
        "inner",
        "last_alive",
        "pgid",
        "pid",
        "ppid",
        "reaped",
        "starttime",
        "zombie_parent",
        "zombie_since",
        "zombie_until",
    )

    def __init__(self, proc: procfs.Proc, now: float) -> None:
        self.pid = proc.pid
        self.starttime = proc.starttime
        self.pgid = proc.pgid
        self.ppid = proc.ppid
        self.first_parent = proc.ppid  # who forked it, unless it was adopted before we looked
        self.inner = procfs.inner_pid(proc.pid)
        self.comm = proc.comm
        self.command = procfs.command(proc.pid)
        self.first_seen = now
        self.last_alive: float | None = None  # last sample showing it running (not a zombie)
        self.zombie_since: float | None = None  # first sample showing it a zombie...
        self.zombie_until: float | None = None  # ...and the last one
        self.zombie_parent = 0
        self.ended_at: float | None = None  # reaped (pyinit's event) or first missed by a sample
        self.reaped: dict | None = None  # pyinit's "reaped" event, when pyinit reaped it

    @property
    def key(self) -> tuple[int, int]:
        return (self.pid, self.starttime)


class ProgramRun:
    """One program as pyinit's events tell it (and the process the samples matched to it)."""

    __slots__ = (
        "alive_at_escalation",
        "command",
        "event",
        "exit_at",
        "inner",
        "name",
        "ready_at",
        "seen",
        "spawned_at",
    )

    def __init__(self, name: str | None, command: object) -> None:
        self.name = name  # the Procfile's name; None for the one COMMAND
        self.command = command  # the shell command (str), or the COMMAND (list)
        self.inner: int | None = None  # its pid as pyinit sees it ("spawned")
        self.spawned_at: float | None = None
        self.seen: Seen | None = None  # the process the samples showed
        self.event: dict | None = None  # pyinit's "reaped" event for it
        self.exit_at: float | None = None
        self.alive_at_escalation = False  # still running when pyinit escalated to SIGKILL
        self.ready_at: float | None = None  # --ready-line-from: its line came

    @property
    def running(self) -> bool:
        return self.spawned_at is not None and self.event is None


class Observation:
    """The facts of one run, in the probe's clock (time.monotonic)."""

    def __init__(self, options: ProbeOptions, mode: str) -> None:
        self.options = options
        self.mode = mode  # "pid1" or "subreaper"
        self.started_at = time.monotonic()
        self.outcome = "running"  # then: done, hung, not-ready, exited-early, failed
        self.error = ""  # why, when the outcome is "failed"
        self.init_pid: int | None = None
        if options.several:
            self.programs = [ProgramRun(name, command) for name, command in options.programs]
        else:
            self.programs = [ProgramRun(None, list(options.command))]
        self.first_ended: str | None = None  # several programs: pyinit's "first-ended" event...
        self.first_ended_at: float | None = None  # ...and when it came
        self.ready_at: float | None = None
        self.signalled_at: float | None = None
        self.pyinit_exit_at: float | None = None
        self.status: int | None = None  # pyinit's exit status: what `docker wait` would say
        self.stopped_others = 0  # pyinit's count of processes alive when the programs ended
        self.killed_ignoring = 0  # leftovers pyinit SIGKILLed at once: they ignore the signal
        self.escalation: dict | None = None  # pyinit's "escalation" event, plus main_alive
        self.reaped_others: list[dict] = []  # pyinit's "reaped" events for other processes
        self.seen: dict[tuple[int, int], Seen] = {}
        self.helpers: set[tuple[int, int]] = set()  # pyinit's own relay process
        self.alive_at_signal: set[tuple[int, int]] = set()
        self.survivors: list[str] = []  # commands still alive after the probe's own SIGKILL

    def run_named(self, name: object) -> ProgramRun | None:
        """The program an event names (the only one when pyinit runs a COMMAND)."""
        if not self.options.several:
            return self.programs[0]
        for run in self.programs:
            if run.name == name:
                return run
        return None

    @property
    def spawned_at(self) -> float | None:
        """When the last program was started (None until every one was)."""
        times = [run.spawned_at for run in self.programs]
        return None if None in times else max(times)  # type: ignore[type-var]

    @property
    def any_ended(self) -> bool:
        return any(run.event is not None for run in self.programs)

    @property
    def main_exit_at(self) -> float | None:
        """When the last program ended, once none runs (pyinit then stops what is left)."""
        ended = [run.exit_at for run in self.programs if run.exit_at is not None]
        if not ended or any(run.running for run in self.programs):
            return None
        return max(ended)

    @property
    def program_keys(self) -> set[tuple[int, int]]:
        return {run.seen.key for run in self.programs if run.seen is not None}


class _Lines:
    """Bytes in, complete lines out (the last partial line waits for the rest)."""

    def __init__(self) -> None:
        self.partial = b""

    def feed(self, data: bytes) -> list[bytes]:
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        return lines

    def flush(self) -> list[bytes]:
        rest, self.partial = self.partial, b""
        return [rest] if rest else []


def pyinit_args(options: ProbeOptions, pid1: bool) -> list[str]:
    """pyinit's defaults, except what the probe must fix to mean what its report says."""
    args = [
        "--log-format",
        "json",
        "--grace",
        repr(options.timeout),
        "--leftovers",
        "stop",
        # Whatever the signal, the timeout applies, as `docker stop` SIGKILLs after its own.
        "--stop-signals",
        "TERM,INT,QUIT,HUP,%d" % options.signo,
    ]
    if not pid1:
        # Should the probe itself be killed, pyinit shuts the program down instead of living on.
        args += ["--pdeathsig", "TERM"]
    return args


def program_environ(environ: dict[str, str]) -> dict[str, str]:
    """The environment pyinit and the program get: the caller's, without PYINIT_* settings, so a
    verdict always means "under pyinit's defaults" (a PYINIT_REWRITE would change the signal)."""
    return {key: value for key, value in environ.items() if not key.startswith("PYINIT_")}


class Session:
    def __init__(self, options: ProbeOptions, environ: dict[str, str], pid1: bool) -> None:
        self.options = options
        self.environ = program_environ(environ)
        self.pid1 = pid1
        self.obs = Observation(options, "pid1" if pid1 else "subreaper")
        self.out_fd = 2 if options.json else 1  # where the program's stdout goes on
        self.ready_re = re.compile(options.ready_line) if options.ready_line is not None else None
        self.ready_from = {name: re.compile(regex) for name, regex in options.ready_from.items()}
        self.relayed = launch.Relayed(options.names) if options.several else None
        self.log_lines = _Lines()
        self.out_lines = _Lines()
        self.launched: launch.Launched | None = None
        self.next_sample = 0.0

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> Observation:
        """Run the probe to its end; raises OSError if pyinit could not be started at all."""
        log_r, log_w = os.pipe()
        reads_stdout = self.ready_re is not None or bool(self.ready_from)
        out_r, out_w = os.pipe() if reads_stdout else (-1, -1)
        options = self.options
        try:
            self.launched = launch.spawn(
                pyinit_args(options, self.pid1) + options.pyinit_programs(),
                None if options.several else options.command,
                env=self.environ,
                stdout_fd=out_w if out_w >= 0 else self.out_fd,
                log_fd=log_w,
                stderr_fd=None if options.several else 2,
                pid1=self.pid1,
            )
        finally:
            os.close(log_w)
            if out_w >= 0:
                os.close(out_w)
        selector = selectors.DefaultSelector()
        for fd in (log_r, out_r):
            if fd >= 0:
                os.set_blocking(fd, False)  # a wake-up with nothing to read must not stall us
        selector.register(log_r, selectors.EVENT_READ, self._on_log)
        if out_r >= 0:
            selector.register(out_r, selectors.EVENT_READ, self._on_stdout)
        try:
            self._loop(selector)
        finally:
            if self.obs.outcome == "running":  # interrupted (Ctrl-C): leave nothing behind
                self.launched.kill_tree()
            self._drain(selector)
            selector.close()
            for fd in (log_r, out_r):
                if fd >= 0:
                    os.close(fd)
        return self.obs

    def _loop(self, selector: selectors.BaseSelector) -> None:
        launched = self.launched
        assert launched is not None
        obs = self.obs
        deadline = obs.started_at + self.options.ready_timeout
        while True:
            now = time.monotonic()
            tick = _FAST_TICK if obs.signalled_at is not None else _SLOW_TICK
            for key, _ in selector.select(max(0.0, min(tick, self.next_sample - now))):
                key.data(key.fd, selector)
            now = time.monotonic()
            if now >= self.next_sample:
                self._sample(now)
                self.next_sample = now + tick
            if launched.poll() is not None:
                self._drain(selector)  # its last events may still be in the pipe
                self._on_pyinit_gone(now)
                return
            if obs.outcome != "running":  # exited early: pyinit is finishing by itself
                if now >= deadline:
                    self._kill(now)
                    return
                continue
            if obs.signalled_at is None:
                if obs.any_ended:  # with several programs, pyinit now stops the others
                    obs.outcome = "exited-early"
                    deadline = now + self.options.timeout + HUNG_ALLOWANCE
                elif self._ready(now):
                    self._send_signal()
                    deadline = obs.signalled_at + self.options.timeout + HUNG_ALLOWANCE  # type: ignore[operator]
                elif now >= deadline:
                    obs.outcome = "not-ready"
                    self._kill(now)
                    return
            elif now >= deadline:
                obs.outcome = "hung"
                self._kill(now)
                return

    def _ready(self, now: float) -> bool:
        obs = self.obs
        if obs.ready_at is not None:
            return True
        if obs.spawned_at is None:  # not before pyinit runs the program with signals blocked
            return False
        options = self.options
        if options.ready_after is not None:
            ready = now >= obs.spawned_at + options.ready_after
        elif options.ready_file is not None:
            ready = os.path.lexists(options.ready_file)
        else:
            ready = False  # the lines are spotted in _on_stdout
        if ready:
            obs.ready_at = now
        return ready

    def _send_signal(self) -> None:
        obs = self.obs
        assert self.launched is not None
        # A last look at who is there: these are the processes the signal can reach.
        self._sample(time.monotonic())
        init = obs.init_pid
        obs.alive_at_signal = {
            seen.key
            for seen in obs.seen.values()
            if seen.last_alive is not None and seen.ended_at is None and seen.pid != init
        }
        obs.signalled_at = time.monotonic()
        self.launched.signal(self.options.signo)

    def _on_pyinit_gone(self, now: float) -> None:
        obs = self.obs
        assert self.launched is not None
        if obs.status is None:  # no "exit" event: pyinit died, or failed before its loop
            obs.status = self.launched.returncode
        if obs.pyinit_exit_at is None:
            obs.pyinit_exit_at = now
        if obs.outcome == "running":
            if obs.signalled_at is not None:
                obs.outcome = "done"
            elif obs.any_ended:
                obs.outcome = "exited-early"
            else:
                obs.outcome = "failed"
        if obs.outcome == "failed" and not obs.error:
            obs.error = "pyinit exited with status %s before starting the program" % obs.status

    def _kill(self, now: float) -> None:
        assert self.launched is not None
        survivors = self.launched.kill_tree(timeout=_DRAIN)
        self.obs.survivors = [procfs.command(proc.pid) for proc in survivors]
        if self.obs.pyinit_exit_at is None and not survivors:
            self.obs.status = self.launched.returncode

    # --- input --------------------------------------------------------------------------------

    def _read(self, fd: int, selector: selectors.BaseSelector) -> bytes | None:
        """What fd has: bytes, b"" at EOF (and fd leaves the selector), None if nothing yet."""
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if not data:
            selector.unregister(fd)
        return data

    def _on_log(self, fd: int, selector: selectors.BaseSelector) -> None:
        data = self._read(fd, selector)
        if data is None:
            return
        lines = self.log_lines.feed(data) if data else self.log_lines.flush()
        for line in lines:
            event = launch.parse_event(line)
            if event is None:
                write_fd(2, line + b"\n")  # unshare's own errors, say: the user should see them
            else:
                self._on_event(event)

    def _on_stdout(self, fd: int, selector: selectors.BaseSelector) -> None:
        data = self._read(fd, selector)
        if data is None:
            return
        write_fd(self.out_fd, data)  # the program's output, passed through as it comes
        lines = self.out_lines.feed(data) if data else self.out_lines.flush()
        if self.obs.ready_at is not None:
            return
        now = time.monotonic()
        for line in lines:
            name, text = self.relayed.split(line) if self.relayed is not None else (None, line)
            if self.ready_re is not None:
                if self.ready_re.search(text.decode("utf-8", "replace")):
                    self.obs.ready_at = now
                    return
                continue
            regex = self.ready_from.get(name) if name is not None else None
            run = self.obs.run_named(name)
            if regex is None or run is None or run.ready_at is not None:
                continue
            if regex.search(text.decode("utf-8", "replace")):
                run.ready_at = now
        if self.ready_from and all(
            run.ready_at is not None for run in self.obs.programs if run.name in self.ready_from
        ):
            self.obs.ready_at = max(run.ready_at for run in self.obs.programs if run.ready_at is not None)

    def _on_event(self, event: dict) -> None:
        obs = self.obs
        name = event.get("event")
        ts = float(event.get("ts", time.monotonic()))
        if name == "spawned":
            run = obs.run_named(event.get("program"))
            if run is not None:
                run.spawned_at = ts
                run.inner = event.get("pid")
        elif name == "reaped":
            run = obs.run_named(event.get("program")) if event.get("main") else None
            if run is not None:
                run.event = event
                run.exit_at = ts
            else:
                obs.reaped_others.append(dict(event, after_main=obs.main_exit_at is not None))
        elif name == "first-ended":
            obs.first_ended = event.get("program")
            obs.first_ended_at = ts
        elif name == "stopping-others":
            obs.stopped_others += int(event.get("count", 0))
        elif name == "killed-ignoring":
            obs.killed_ignoring += int(event.get("count", 0))
        elif name == "escalation":
            alive = [run for run in obs.programs if run.running]
            for run in alive:
                run.alive_at_escalation = True
            obs.escalation = dict(event, main_alive=bool(alive))
        elif name == "exit":
            obs.status = event.get("status")
            obs.pyinit_exit_at = ts
        elif event.get("level") == "error":
            # pyinit could not do its job (cannot execute, internal error): say it as pyinit did.
            obs.error = str(event.get("msg", name))
            write_fd(2, ("[pyinit] error: %s\n" % obs.error).encode("utf-8", "replace"))

    def _drain(self, selector: selectors.BaseSelector) -> None:
        """Take what pyinit and the program wrote last (up to EOF, or _DRAIN seconds)."""
        deadline = time.monotonic() + _DRAIN
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(0.05):
                key.data(key.fd, selector)

    # --- /proc --------------------------------------------------------------------------------

    def _sample(self, now: float) -> None:
        obs = self.obs
        assert self.launched is not None
        if obs.init_pid is None:
            obs.init_pid = self.launched.find_init()
            if obs.init_pid is None:
                return
        present = set()
        for proc in procfs.descendants(obs.init_pid):
            seen = obs.seen.get(proc.key)
            if seen is None:
                seen = obs.seen[proc.key] = Seen(proc, now)
            present.add(proc.key)
            seen.ppid = proc.ppid
            seen.pgid = proc.pgid
            if proc.comm != seen.comm and not proc.zombie:  # it exec'd: a new command line
                seen.comm = proc.comm
                seen.command = procfs.command(proc.pid)
            if self.relayed is not None and proc.ppid == obs.init_pid and proc.comm == "pyinit-relay":
                obs.helpers.add(proc.key)
            if proc.zombie:
                if seen.zombie_since is None:
                    seen.zombie_since = now
                    seen.zombie_parent = proc.ppid
                seen.zombie_until = now
            else:
                seen.last_alive = now
        for key, seen in obs.seen.items():
            if key not in present and seen.ended_at is None:
                seen.ended_at = now
        for run in obs.programs:
            if run.seen is None and run.inner is not None:
                for seen in obs.seen.values():
                    if seen.ppid == obs.init_pid and seen.inner == run.inner:
                        run.seen = seen
                        break


def observe(options: ProbeOptions, environ: dict[str, str], pid1: bool) -> Observation:
    return Session(options, environ, pid1).run()
