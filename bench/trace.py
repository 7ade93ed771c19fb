"""Kernel timelines for `make bench-profile`: perf records system calls and scheduling on the
CPU the scenario is pinned to, and the parsers below turn them into per-step durations.

Where an init spends a signal: asleep in its wait call until the sender's kill() wakes it, its
own code until it calls kill() in turn, that call, its code again until it waits anew.  Where a
stop goes: the init's code on TERM, the program's exit, the init's code on SIGCHLD up to its
exit_group(), and the kernel's teardown of the init (its address space, the namespace) until
unshare, its parent, wakes up.  System calls and context switches are the only events: no
probe in the code measured, so the code runs as it always does (each traced event costs the
kernel ~1 us, which lands on the system calls, not on the code between them).

Needs root and `perf` with the raw_syscalls and sched tracepoints; `available()` says why not.
The parsers are pure functions of perf script's text (tested without perf).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import stats

#: x86-64 system call numbers of the calls the timelines look at.
NR = {
    "read": 0,
    "write": 1,
    "poll": 7,
    "rt_sigprocmask": 14,
    "wait4": 61,
    "kill": 62,
    "rt_sigpending": 127,
    "rt_sigtimedwait": 128,
    "exit_group": 231,
    "waitid": 247,
    "pidfd_send_signal": 424,
    "pidfd_open": 434,
}
NAMES = {nr: name for name, nr in NR.items()}
#: How an init sleeps: sigwaitinfo/sigtimedwait (pyinit, tini, dumb-init, the 15-line init),
#: read() of a signalfd (catatonit), poll().
WAITS = {NR["rt_sigtimedwait"], NR["read"], NR["poll"]}
SENDS = {NR["kill"], NR["pidfd_send_signal"]}
EVENTS = (
    "raw_syscalls:sys_enter",
    "raw_syscalls:sys_exit",
    "sched:sched_switch",
    "sched:sched_process_exit",
)


@dataclass
class Event:
    t: float  # seconds (perf's clock)
    tid: int
    kind: str  # "enter", "exit", "switch", "process_exit"
    nr: int = -1  # system call number (enter, exit)
    args: tuple[int, ...] = ()  # enter: the first arguments
    ret: int = 0  # exit: the return value
    pid: int = 0  # process_exit: the pid that exited; switch: the next pid


def available() -> str | None:
    """None if perf can record the events here, else why not."""
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("perf") is None:
        return "perf is not installed (apt-get install linux-perf)"
    done = subprocess.run(
        ["perf", "record", "-q", "-o", "/dev/null", "-e", EVENTS[0], "--", "true"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return "perf record failed: %s" % (done.stderr.strip().splitlines() or ["?"])[-1]
    return None


class Recorder:
    """perf record of EVENTS on one CPU, for the duration of a `with` block."""

    def __init__(self, cpu: int, out: Path) -> None:
        self.cpu, self.out = cpu, out
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Recorder:
        # CLOCK_MONOTONIC timestamps: comparable with the harness's time.monotonic_ns(), so each
        # run's events can be cut out by time (pids get reused over a long recording).
        argv = ["perf", "record", "-q", "-k", "CLOCK_MONOTONIC", "-o", str(self.out), "-C", str(self.cpu)]
        for event in EVENTS:
            argv += ["-e", event]
        self.proc = subprocess.Popen(
            argv + ["--", "sleep", "600"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(1.0)  # perf has opened its events by then
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def events(self) -> list[Event]:
        done = subprocess.run(
            ["perf", "script", "-i", str(self.out), "--ns", "-F", "tid,time,event,trace"],
            capture_output=True,
            text=True,
        )
        return parse(done.stdout)


_LINE = re.compile(r"^\s*(\d+)\s+([\d.]+):\s+(\S+):\s(.*)$")


def parse(text: str) -> list[Event]:
    """perf script's lines (-F tid,time,event,trace) -> events, in time order."""
    found = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        tid, t, name, rest = int(m[1]), float(m[2]), m[3], m[4].strip()
        if name == "raw_syscalls:sys_enter":  # NR 62 (3fad, f, 0, ...)
            nr, _, args = rest[3:].partition(" ")
            values = tuple(int(a, 16) for a in args.strip("()").split(", ")[:2] if a)
            found.append(Event(t, tid, "enter", int(nr), args=values))
        elif name == "raw_syscalls:sys_exit":  # NR 62 = 0
            nr, _, ret = rest[3:].partition(" = ")
            found.append(Event(t, tid, "exit", int(nr), ret=int(ret)))
        elif name == "sched:sched_switch":
            nxt = re.search(r"next_pid=(\d+)", rest)
            found.append(Event(t, tid, "switch", pid=int(nxt[1]) if nxt else 0))
        elif name == "sched:sched_process_exit":
            pid = re.search(r"\bpid=(\d+)", rest)
            found.append(Event(t, tid, "process_exit", pid=int(pid[1]) if pid else 0))
    found.sort(key=lambda e: e.t)
    return found


def _us(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else (b - a) * 1e6


def signal_steps(events: list[Event], init: int) -> dict[int, dict[str, list[float]]]:
    """Per signal number sent to `init` (by anyone's kill()), the steps of each forwarding, us:
    woken (the sender's kill() until the init's wait call returns), before (its code until its
    own kill), kill (that call), after (its code until it waits again), awake (the last three)."""
    steps: dict[int, dict[str, list[float]]] = {}
    # The latest kill() aimed at init: a wake-up belongs to it (if perf lost an event, one
    # forwarding is left out rather than every later one paired with the wrong kill).
    pending: tuple[float, int] | None = None
    awake: dict[str, Any] | None = None
    for e in events:
        if e.kind == "enter" and e.nr == NR["kill"] and e.tid != init and e.args[:1] == (init,):
            pending = (e.t, e.args[1] if len(e.args) > 1 else 0)
        elif e.tid != init:
            continue
        elif e.kind == "exit" and e.nr in WAITS and pending is not None and awake is None:
            (sent, signo), pending = pending, None
            awake = {"sent": sent, "signo": signo, "woke": e.t, "calls": []}
        elif awake is not None and e.kind == "enter":
            if e.nr in SENDS and "kill" not in awake:
                awake["kill"] = e.t
            elif e.nr in WAITS:
                row = steps.setdefault(awake["signo"], {})
                kill, done = awake.get("kill"), awake.get("kill_done")
                for name, value in (
                    ("woken", _us(awake["sent"], awake["woke"])),
                    ("before", _us(awake["woke"], kill)),
                    ("kill", _us(kill, done)),
                    ("after", _us(done, e.t)),
                    ("awake", _us(awake["woke"], e.t)),
                    ("calls", float(len(awake["calls"]))),
                ):
                    if value is not None:
                        row.setdefault(name, []).append(value)
                awake = None
            else:
                awake["calls"].append(e.nr)
        elif awake is not None and e.kind == "exit" and e.nr in SENDS and "kill_done" not in awake:
            awake["kill_done"] = e.t
    return steps


def window(events: list[Event], start_ns: int, end_ns: int) -> list[Event]:
    """The events between two CLOCK_MONOTONIC readings of the harness (Recorder's clock)."""
    low, high = start_ns / 1e9, end_ns / 1e9
    return [e for e in events if low <= e.t <= high]


def stop_steps(events: list[Event], init: int, program: int, unshare: int) -> dict[str, float | None]:
    """One stop (SIGTERM to `init` until `unshare` exits), step by step, us:
    term (the sender's kill until the init's own kill), program (the init's kill until the
    program's exit_group), sigchld (that until the init's wait returns), reap_exit (the init's
    code from there to its exit_group, which `init_calls` lists), teardown (the init's
    exit_group until unshare's wait returns: the address space, the namespace, the wake-up),
    unshare (until unshare's exit), total."""
    marks: dict[str, float] = {}
    calls: list[str] = []
    for e in events:
        if "sent" not in marks:
            if e.kind == "enter" and e.nr == NR["kill"] and e.args[:1] == (init,) and e.tid != init:
                marks["sent"] = e.t
            continue
        if e.tid == init and e.kind == "enter" and e.nr == NR["exit_group"]:
            marks.setdefault("init_exit", e.t)
            if program == init:  # the program as PID 1 (`none`): its exit is the init's
                marks.setdefault("program_exit", e.t)
        elif e.tid == init:
            if e.kind == "enter" and e.nr in SENDS and "forward" not in marks:
                marks["forward"] = e.t
            elif e.kind == "exit" and e.nr in WAITS and "program_exit" in marks and "sigchld" not in marks:
                marks["sigchld"] = e.t
            elif e.kind == "enter" and "sigchld" in marks and "init_exit" not in marks:
                calls.append(NAMES.get(e.nr, str(e.nr)))
        elif e.tid == program and e.kind == "enter" and e.nr == NR["exit_group"]:
            marks.setdefault("program_exit", e.t)
        elif e.tid == unshare and "init_exit" in marks:
            if e.kind == "exit" and "unshare_woke" not in marks:
                marks["unshare_woke"] = e.t
            elif e.kind == "enter" and e.nr == NR["exit_group"]:
                marks.setdefault("unshare_exit", e.t)
    get = marks.get
    return {
        "term": _us(get("sent"), get("forward")),
        "program": _us(get("forward"), get("program_exit")),
        "sigchld": _us(get("program_exit"), get("sigchld")),
        "reap_exit": _us(get("sigchld"), get("init_exit")),
        "teardown": _us(get("init_exit"), get("unshare_woke")),
        "unshare": _us(get("unshare_woke"), get("unshare_exit")),
        "total": _us(get("sent"), get("unshare_exit")),
        "init_calls": " ".join(calls),  # type: ignore[dict-item]
    }


def medians(rows: list[dict[str, float]]) -> dict[str, float | None]:
    keys = {k for row in rows for k, v in row.items() if isinstance(v, (int, float))}
    return {k: stats.median([row[k] for row in rows if row.get(k) is not None]) for k in sorted(keys)}
