"""The six scenarios.  Each returns {"raw": per-run numbers, "summary": per-contender figures}.

Repetitions go round-robin across the contenders, the starting one rotating, so that a burst
of load from elsewhere on the machine lands on all of them alike; where the contenders can run
at the same time without disturbing each other (signals, idling), they do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bench import stats
from bench.build import Build
from bench.contenders import Contender
from bench.pidns import (
    Fifo,
    Namespace,
    context_switches,
    cpu_ns,
    cpu_ticks,
    smaps_by_mapping,
    smaps_rollup,
    state,
    timed_run,
)

Progress = Callable[[str], None]


@dataclass
class Settings:
    quick: bool
    startup_reps: int
    signal_rounds: int
    signal_gap_us: int
    stop_reps: int
    idle_seconds: float
    reap_reps: int
    reap_orphans: int
    signal_block_rounds: int = 50  # rounds of one mode (pinned, unpinned) before the other's
    relay_repeat: int = 3  # runs of each throughput workload of the relay scenario (median)
    relay_window: float = 0.5  # seconds each of those runs is counted
    cpu: int | None = None  # the CPU of the pinned runs (None: the highest the harness may use)

    @classmethod
    def make(cls, quick: bool) -> Settings:
        # signal_rounds and stop_reps are per mode: each runs pinned and unpinned.
        if quick:
            return cls(
                True, 8, 200, 300, 4, 3.0, 1, 20000, signal_block_rounds=50, relay_repeat=1, relay_window=0.2
            )
        return cls(False, 100, 1500, 300, 30, 10.0, 7, 20000, signal_block_rounds=50)


def rotated(items: list[Contender], rep: int) -> list[Contender]:
    if not items:
        return items
    shift = rep % len(items)
    return items[shift:] + items[:shift]


def _describe(c: Contender) -> dict[str, Any]:
    return {"label": c.label, "kind": c.kind, "pyinit": c.pyinit}


def _wait_exit(ns: Namespace, timeout: float) -> int:
    """Block in waitpid for unshare (no polling: Popen.wait(timeout) sleeps up to 50 ms).

    A watchdog SIGKILLs the namespace should it hang.
    """
    watchdog = threading.Timer(timeout, lambda: os.kill(ns.proc.pid, signal.SIGKILL))
    watchdog.start()
    try:
        _, status = os.waitpid(ns.proc.pid, 0)
    finally:
        watchdog.cancel()
    ns.proc.returncode = os.waitstatus_to_exitcode(status)
    return status


# --- 1. start-up ----------------------------------------------------------------------------


def startup(contenders: list[Contender], settings: Settings, progress: Progress) -> dict[str, Any]:
    rows = [c for c in contenders if "startup" in c.scenarios]
    failures: dict[str, int] = {c.key: 0 for c in rows}
    for c in rows:  # warm-up: page cache, and .pyc files an editable install writes once
        timed_run(c.startup_argv())
    samples: dict[str, list[float]] = {c.key: [] for c in rows}
    for rep in range(settings.startup_reps):
        for c in rotated(rows, rep):
            elapsed, status = timed_run(c.startup_argv())
            if status != 0:
                failures[c.key] += 1
                continue
            samples[c.key].append(elapsed / 1e6)
        if rep % 10 == 9:
            progress("start-up: %d/%d rounds" % (rep + 1, settings.startup_reps))
    summary = {
        c.key: dict(stats.summary(samples[c.key]), failures=failures[c.key], **_describe(c)) for c in rows
    }
    return {"unit": "ms", "raw": samples, "summary": summary}


# --- 2. signal latency ------------------------------------------------------------------------

#: The signals of the latency scenario, in turn: a stop signal and a plain one.  pyinit treats
#: them differently (TERM starts the grace period), the peers alike.
SIGNAL_KINDS = {signal.SIGTERM: "TERM", signal.SIGUSR1: "USR1"}
#: Where the scenario's processes may run: `pinned` all on one CPU, `unpinned` where the
#: scheduler likes (the harness's own affinity).
MODES = ("pinned", "unpinned")
PERCENTILES = (50, 90, 99)


def cpu_sets(cpu: int | None) -> dict[str, set[int]]:
    """The affinity of each mode: one CPU (by default the highest the harness may use: CPU 0
    takes more of the machine's interrupts) against all of the harness's."""
    allowed = os.sched_getaffinity(0)
    chosen = max(allowed) if cpu is None else cpu
    if chosen not in allowed:
        raise SystemExit("bench: CPU %d is not among those allowed: %s" % (chosen, sorted(allowed)))
    return {"pinned": {chosen}, "unpinned": set(allowed)}


def set_affinity(pids: list[int], cpus: set[int]) -> None:
    for pid in pids:
        try:
            os.sched_setaffinity(pid, cpus)
        except OSError:  # gone: the scenario notices it on its own
            pass


def _latencies(via: list[float], direct: list[float]) -> dict[str, Any]:
    """Percentiles of the latency through the init (via) and straight to the program (direct),
    and what the init adds at each percentile: via pN - direct pN."""
    found: dict[str, Any] = {"n": len(via)}
    for pct in PERCENTILES:
        v, d = stats.percentile(via, pct), stats.percentile(direct, pct)
        found["via_p%d_us" % pct] = v
        found["direct_p%d_us" % pct] = d
        found["added_p%d_us" % pct] = None if v is None or d is None else v - d
    return found


def signal_latency(
    contenders: list[Contender], build: Build, settings: Settings, tmp: Path, progress: Progress
) -> dict[str, Any]:
    """Every init runs sigrecv (stamping both signals) at once; sigping alternates between
    killing the init and the program directly, round-robin over all of them, one signal in
    flight at a time, SIGTERM and SIGUSR1 in turn.  The rounds go in blocks, pinned and
    unpinned by turns: every process of the scenario (sigping, the inits, the programs, unshare)
    on one CPU, or free; the same processes throughout, so both modes see the same inits."""
    rows = [c for c in contenders if "signal" in c.scenarios and c.wrap is not None and c.kind != "none"]
    cpus = cpu_sets(settings.cpu)
    own = os.sched_getaffinity(0)
    sessions: list[tuple[Contender, Fifo, Namespace]] = []
    # (key, mode) -> [init CPU ns, context switches], summed over the blocks of that mode
    cost: dict[tuple[str, str], list[int]] = {(c.key, m): [0, 0] for c in rows for m in MODES}
    lines: list[tuple[str, str]] = []  # (mode, a line of sigping's output)
    try:
        for c in rows:
            fifo = Fifo(tmp / ("signal-%s" % c.key))
            argv = c.signal_argv([build.helpers["sigrecv"], str(fifo.path), "stamp"])
            sessions.append((c, fifo, Namespace(argv)))
        targets: list[tuple[str, str, int, int]] = []  # (key, "via"|"direct", pid, fd)
        everyone: list[int] = []  # every process of the scenario but sigping
        for c, fifo, ns in sessions:
            fifo.read_record()  # the program's handlers are installed
            program = ns.program_pid()
            targets.append((c.key, "via", ns.init_pid, fifo.fd))
            targets.append((c.key, "direct", program, fifo.fd))
            everyone += [ns.proc.pid, ns.init_pid, program]
            os.set_blocking(fifo.fd, True)
        time.sleep(0.3)  # every init is in its wait loop by now
        block = max(2, settings.signal_block_rounds // 2 * 2)  # even: both kinds in every block
        blocks = max(1, settings.signal_rounds // block) * len(MODES)
        progress(
            "signal: %d pings to %d targets, in %d blocks of %d rounds, pinned to CPU %s and unpinned"
            " by turns" % (blocks * block * len(targets), len(targets), blocks, block, min(cpus["pinned"]))
        )
        argv = [build.helpers["sigping"], str(block), str(settings.signal_gap_us)]
        argv.append(",".join(str(int(s)) for s in SIGNAL_KINDS))
        argv += ["%d:%d" % (pid, fd) for _, _, pid, fd in targets]
        output = tmp / "sigping.out"
        for b in range(blocks):
            mode = MODES[b % len(MODES)]
            set_affinity(everyone, cpus[mode])
            before = {c.key: (cpu_ns(ns.init_pid), context_switches(ns.init_pid)) for c, _, ns in sessions}
            os.sched_setaffinity(0, cpus[mode])  # sigping inherits it
            try:
                with open(output, "w") as out:  # a file: no harness woken by sigping's output
                    done = subprocess.run(
                        argv,
                        pass_fds=[fd for *_, fd in targets],
                        stdout=out,
                        stderr=subprocess.PIPE,
                        text=True,
                        timeout=600,
                    )
            finally:
                os.sched_setaffinity(0, own)
            if done.returncode != 0:
                raise RuntimeError("sigping failed: %s" % done.stderr.strip())
            for c, _, ns in sessions:
                cost[c.key, mode][0] += cpu_ns(ns.init_pid) - before[c.key][0]
                cost[c.key, mode][1] += context_switches(ns.init_pid) - before[c.key][1]
            lines += [(mode, line) for line in output.read_text().splitlines()]
    finally:
        for _, fifo, ns in sessions:
            ns.kill()
            fifo.close()
    kinds = list(SIGNAL_KINDS.values())
    raw: dict[str, dict[str, dict[str, dict[str, list[float]]]]] = {
        c.key: {m: {k: {"via": [], "direct": []} for k in kinds} for m in MODES} for c in rows
    }
    lost: dict[tuple[str, str], int] = {(c.key, m): 0 for c in rows for m in MODES}
    for mode, line in lines:
        index, signo, latency = (int(word) for word in line.split())
        key, path, _, _ = targets[index]
        if latency < 0:
            lost[key, mode] += 1
        else:
            raw[key][mode][SIGNAL_KINDS[signo]][path].append(latency / 1000.0)
    summary = {}
    for c in rows:
        per_mode: dict[str, Any] = {}
        for mode in MODES:
            by_kind = raw[c.key][mode]
            forwarded = sum(len(by_kind[k]["via"]) for k in kinds)
            cpu, switches = cost[c.key, mode]
            per_mode[mode] = dict(
                {kind: _latencies(by_kind[kind]["via"], by_kind[kind]["direct"]) for kind in kinds},
                all=_latencies(
                    [v for k in kinds for v in by_kind[k]["via"]],
                    [v for k in kinds for v in by_kind[k]["direct"]],
                ),
                lost=lost[c.key, mode],
                init_cpu_us_per_signal=cpu / 1000.0 / forwarded if forwarded else None,
                init_switches_per_signal=switches / forwarded if forwarded else None,
            )
        summary[c.key] = dict(_describe(c), argv=c.signal_argv(["PROGRAM"]), **per_mode)
    return {
        "unit": "us",
        "gap_us": settings.signal_gap_us,
        "cpu": min(cpus["pinned"]),
        "signals": kinds,
        "raw": raw,
        "summary": summary,
    }


# --- 3. reaping ---------------------------------------------------------------------------------


def reaping(
    contenders: list[Contender], build: Build, settings: Settings, tmp: Path, progress: Progress
) -> dict[str, Any]:
    rows = [c for c in contenders if "reaping" in c.scenarios and c.wrap]  # `none` would never reap
    raw: dict[str, list[dict[str, float]]] = {c.key: [] for c in rows}
    failures: dict[str, int] = {c.key: 0 for c in rows}
    for rep in range(settings.reap_reps):
        for c in rotated(rows, rep):
            result = tmp / ("reap-%s-%d" % (c.key, rep))
            assert c.wrap is not None
            ns = Namespace(c.wrap + [build.helpers["orphans"], str(settings.reap_orphans), str(result)])
            status = _wait_exit(ns, timeout=240)
            try:
                words = result.read_text().split()
                elapsed, last_exit, peak, samples, n, init_cpu = (int(w) for w in words)
            except (OSError, ValueError):
                elapsed = -1
            if status != 0 or elapsed < 0:
                failures[c.key] += 1
                continue
            raw[c.key].append(
                {
                    "elapsed_s": elapsed / 1e9,
                    "last_exit_s": last_exit / 1e9,
                    "tail_s": (elapsed - last_exit) / 1e9,
                    "peak_zombies": peak,
                    "samples": samples,
                    "orphans": n,
                    "init_cpu_s": init_cpu / 1e9 if init_cpu >= 0 else None,
                    "init_cpu_us_per_orphan": init_cpu / 1e3 / n if init_cpu >= 0 else None,
                }
            )
            progress("reaping: %s run %d: %.2f s, peak %d zombies" % (c.key, rep + 1, elapsed / 1e9, peak))
    # A "slow herd": the orphans took more than twice the typical time to exit.  Bimodal, not
    # noise: an init that wakes for every single exit preempts the herd each time (CFS favours
    # the sleeper), and 20,000 cold wake-ups take the herd's CPU; counted per init.
    typical = stats.median([r["last_exit_s"] for runs in raw.values() for r in runs])
    summary = {}
    for c in rows:
        runs = raw[c.key]
        summary[c.key] = dict(
            _describe(c),
            runs=len(runs),
            slow_herds=sum(1 for r in runs if typical and r["last_exit_s"] > 2 * typical),
            failures=failures[c.key],
            **{
                k: stats.median([r[k] for r in runs])
                for k in ("elapsed_s", "last_exit_s", "tail_s", "peak_zombies", "init_cpu_us_per_orphan")
            },
            elapsed_min_s=min((r["elapsed_s"] for r in runs), default=None),
            elapsed_max_s=max((r["elapsed_s"] for r in runs), default=None),
            # The highest count of any run: a median can hide a run in which the init got no
            # CPU until the whole herd had exited (every init here has such runs).
            peak_zombies_max=max((r["peak_zombies"] for r in runs), default=None),
        )
    frozen = reaping_frozen(rows, build, settings, tmp, progress)
    return {"orphans": settings.reap_orphans, "raw": raw, "summary": summary, "frozen": frozen}


def reaping_frozen(
    rows: list[Contender], build: Build, settings: Settings, tmp: Path, progress: Progress
) -> dict[str, Any]:
    """The init's reaping alone: SIGSTOP the init, let the orphans (in a session of their own)
    all exit, SIGCONT the init and time until none is left.  No herd competes for the CPUs and
    no kernel lock is fought over, so this is the init's own rate: deterministic where the
    scenario above is bimodal."""
    raw: dict[str, list[dict[str, float]]] = {c.key: [] for c in rows}
    failures: dict[str, int] = {c.key: 0 for c in rows}
    for rep in range(settings.reap_reps):
        for c in rotated(rows, rep):
            result = tmp / ("frozen-%s-%d" % (c.key, rep))
            fifo = Fifo(tmp / ("frozen-sync-%s-%d" % (c.key, rep)))
            assert c.wrap is not None
            argv = [build.helpers["orphans"], str(settings.reap_orphans), str(result), str(fifo.path)]
            ns = Namespace(c.wrap + argv)
            try:
                fifo.read_record(timeout=120)  # all created
                init, program = ns.init_pid, ns.program_pid()
                os.kill(init, signal.SIGSTOP)
                _wait_state(init, "T")
                os.kill(program, signal.SIGUSR2)
                fifo.read_record(timeout=120)  # all exited: zombies waiting for a stopped init
                resumed = time.monotonic_ns()  # CLOCK_MONOTONIC, as the helper's
                os.kill(init, signal.SIGCONT)
                status = _wait_exit(ns, timeout=120)
                done, samples, n, init_cpu = (int(w) for w in result.read_text().split())
            except (OSError, ValueError, TimeoutError):
                failures[c.key] += 1
                continue
            finally:
                if ns.proc.returncode is None:
                    ns.kill()
                fifo.close()
            if status != 0:
                failures[c.key] += 1
                continue
            raw[c.key].append(
                {
                    "reap_s": (done - resumed) / 1e9,
                    "samples": samples,
                    "orphans": n,
                    "init_cpu_us_per_orphan": init_cpu / 1e3 / n if init_cpu >= 0 else None,
                }
            )
            progress("reaping, init frozen: %s run %d: %.3f s" % (c.key, rep + 1, (done - resumed) / 1e9))
    summary = {}
    for c in rows:
        runs = raw[c.key]
        reap = stats.median([r["reap_s"] for r in runs])
        summary[c.key] = dict(
            _describe(c),
            runs=len(runs),
            failures=failures[c.key],
            reap_s=reap,
            reap_min_s=min((r["reap_s"] for r in runs), default=None),
            reap_max_s=max((r["reap_s"] for r in runs), default=None),
            zombies_per_s=settings.reap_orphans / reap if reap else None,
            init_cpu_us_per_orphan=stats.median(
                [r["init_cpu_us_per_orphan"] for r in runs if r["init_cpu_us_per_orphan"] is not None]
            ),
        )
    return {"raw": raw, "summary": summary}


def _wait_state(pid: int, wanted: str, timeout: float = 10.0) -> None:
    """Until /proc/PID/stat shows the process in state `wanted` (T: stopped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state(pid) == wanted:
            return
        time.sleep(0.001)
    raise TimeoutError("pid %d never reached state %s" % (pid, wanted))


# --- 4 and 5. idle: wake-ups, CPU, memory ---------------------------------------------------------


def idle(
    contenders: list[Contender], build: Build, settings: Settings, tmp: Path, progress: Progress
) -> dict[str, Any]:
    """All at once (idle processes do not disturb each other): each init runs sigrecv, each
    floor sleeps; wake-ups and CPU over the window, then RSS and PSS."""
    rows = [c for c in contenders if "idle" in c.scenarios]
    sessions: list[tuple[Contender, Fifo | None, Namespace]] = []
    raw: dict[str, dict[str, Any]] = {}
    try:
        for c in rows:
            if c.wrap is not None:
                fifo = Fifo(tmp / ("idle-%s" % c.key))
                sessions.append((c, fifo, Namespace(c.wrap + [build.helpers["sigrecv"], str(fifo.path)])))
            else:
                assert c.idle is not None
                sessions.append((c, None, Namespace(c.idle)))
        for _, fifo, ns in sessions:
            if fifo is not None:
                fifo.read_record()
            ns.init_pid  # noqa: B018 -- waits until PID 1 exists
        time.sleep(1.5)  # start-up work done everywhere (a Python floor has no ready signal)
        before = {c.key: _idle_sample(ns.init_pid) for c, _, ns in sessions}
        progress("idle: %d processes, %.0f s of nothing" % (len(sessions), settings.idle_seconds))
        time.sleep(settings.idle_seconds)
        after = {c.key: _idle_sample(ns.init_pid) for c, _, ns in sessions}
        for c, _, ns in sessions:
            rollup = smaps_rollup(ns.init_pid)
            raw[c.key] = {
                "before": before[c.key],
                "after": after[c.key],
                "smaps_rollup": rollup,
                "smaps": smaps_by_mapping(ns.init_pid) if c.kind in ("pyinit", "floor") else None,
            }
    finally:
        for _, fifo, ns in sessions:
            ns.kill()
            if fifo is not None:
                fifo.close()
    summary = {}
    for c in rows:
        a, b, rollup = raw[c.key]["before"], raw[c.key]["after"], raw[c.key]["smaps_rollup"]
        window = b["t"] - a["t"]
        summary[c.key] = dict(
            _describe(c),
            window_s=window,
            wakeups=b["ctxt"] - a["ctxt"],
            wakeups_per_s=(b["ctxt"] - a["ctxt"]) / window,
            cpu_us=(b["cpu_ns"] - a["cpu_ns"]) / 1000.0,
            cpu_ticks=b["ticks"] - a["ticks"],
            rss_kib=rollup.get("Rss"),
            pss_kib=rollup.get("Pss"),
            private_kib=rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0),
            anon_kib=rollup.get("Anonymous"),
        )
    return {"raw": raw, "summary": summary}


def _idle_sample(pid: int) -> dict[str, float]:
    return {
        "t": time.monotonic(),
        "ctxt": context_switches(pid),
        "cpu_ns": cpu_ns(pid),
        "ticks": cpu_ticks(pid),
    }


# --- 6. stop ------------------------------------------------------------------------------------------


def stop(
    contenders: list[Contender], build: Build, settings: Settings, tmp: Path, progress: Progress
) -> dict[str, Any]:
    """SIGTERM to PID 1 until unshare has collected it: the namespace is gone by then.

    Each repetition runs every contender pinned (the harness, unshare, the init and the
    program on one CPU: the harness pins itself before starting the namespace, which inherits
    it) and unpinned, the order of the two alternating.  sigrecv stamps the TERM's arrival
    before it exits, which splits the time: forwarding, then the rest (the program's exit, the
    init's reaping and exit, the namespace's teardown, unshare's exit).
    """
    rows = [c for c in contenders if "stop" in c.scenarios and c.wrap is not None]
    cpus = cpu_sets(settings.cpu)
    own = os.sched_getaffinity(0)
    samples: dict[str, dict[str, list[float]]] = {c.key: {m: [] for m in MODES} for c in rows}
    forwarded: dict[str, dict[str, list[float]]] = {c.key: {m: [] for m in MODES} for c in rows}
    failures: dict[str, dict[str, int]] = {c.key: {m: 0 for m in MODES} for c in rows}
    for rep in range(settings.stop_reps):
        for c in rotated(rows, rep):
            for mode in MODES[rep % 2 :] + MODES[: rep % 2]:
                fifo = Fifo(tmp / ("stop-%s-%d-%s" % (c.key, rep, mode)))
                assert c.wrap is not None
                os.sched_setaffinity(0, cpus[mode])
                try:
                    ns = Namespace(c.wrap + [build.helpers["sigrecv"], str(fifo.path), "stop"])
                    try:
                        fifo.read_record()
                        init = ns.init_pid
                        time.sleep(0.05)  # the init is in its wait loop
                        start = time.monotonic_ns()  # CLOCK_MONOTONIC, as sigrecv's stamp
                        os.kill(init, signal.SIGTERM)
                        status = _wait_exit(ns, timeout=60)
                        elapsed = time.monotonic_ns() - start
                        try:
                            arrived = int.from_bytes(fifo.read_record(timeout=1), "little", signed=True)
                        except TimeoutError:
                            arrived = None
                    finally:
                        if ns.proc.returncode is None:
                            ns.kill()
                        fifo.close()
                finally:
                    os.sched_setaffinity(0, own)
                if status != 0:
                    failures[c.key][mode] += 1
                    continue
                samples[c.key][mode].append(elapsed / 1e6)
                if arrived is not None:
                    forwarded[c.key][mode].append((arrived - start) / 1e6)
        if rep % 5 == 4:
            progress("stop: %d/%d rounds" % (rep + 1, settings.stop_reps))
    summary = {}
    for c in rows:
        summary[c.key] = dict(_describe(c))
        for mode in MODES:
            summary[c.key][mode] = dict(
                stats.summary(samples[c.key][mode]),
                failures=failures[c.key][mode],
                forwarded_median=stats.median(forwarded[c.key][mode]),
            )
    return {
        "unit": "ms",
        "cpu": min(cpus["pinned"]),
        "raw": {"elapsed": samples, "forwarded": forwarded},
        "summary": summary,
    }
