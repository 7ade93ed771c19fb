"""Several programs' output: pyinit's relay against honcho, supervisord and no relay at all.

Scenario 7 of `make bench`, and standalone: `python -m bench.relay [--quick] [--only short,...]
[--runners floor,pyinit,...] [--variant NAME=DIR ...] [--pin CPU]` (a variant is pyinit run
from another source tree, e.g. a copy whose relay.py was changed, measured beside the
installed one; --pin puts everything on one CPU, where a runner's CPU per line is its cost at
saturation).

Every runner is PID 1 of a fresh PID namespace and runs the same two programs (bench/helpers/
linewriter.c: numbered, time-stamped lines) with its stdout on one pipe, read by
bench/helpers/linesink.c as a container engine's log reader would:

- floor        the programs write straight to that pipe, under `sh -c 'A & B & wait'`: no relay;
- pyinit       the pip-installed console script, `pyinit --procfile Procfile`: the real path
               (pyinit forks the relay, the programs write through it, its stdout is the pipe);
- honcho       `honcho start` on the same Procfile;
- supervisord  one [program:x] per program, stdout_logfile=/dev/stdout (the lines, unnamed).

The workloads (the runners in turn, the first one rotating from one repetition to the next):
- short, long: both programs flood lines of 60 B, or of 64 KiB, for as long as the run lasts;
  after a warm-up of a fifth of the window, the lines and bytes read over the window (0.5 s)
  give the rate (the median of the repetitions), the runner's CPU over it the CPU per line;
- paced: 2 x 1,000 lines, one per ms each: the latency a runner adds to a line;
- flood: one program floods, the other writes a line every 2 ms: the latency of that one's.

Measured: lines/s and MB/s; the CPU time of the runner's own processes (every process of the
namespace but the writers: for pyinit, pyinit and its relay; every thread's schedstat), and
beside it the writers' and the sink's; latency per line (the writer's CLOCK_MONOTONIC stamp to
the read that brought the line); memory of the runner's processes; lines that reached the
pipe mixed with another's.  The writers wait for a signal to start, so no start-up is
counted; once measured, the namespace is SIGKILLed (honcho may hold an unbounded backlog,
supervisord never exits by itself).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bench import pidns, stats
from bench.build import BUILD, ROOT, Build, build_venv, compile_helpers, ensure_multi_peers
from bench.pidns import ENV, UNSHARE, smaps_rollup

Progress = Callable[[str], None]
#: The runner measured as pyinit in the verdicts (the console script, as everywhere else).
MAIN = "pyinit"
PEERS = ("honcho", "supervisord")


# --- what runs ------------------------------------------------------------------------------


@dataclass
class Program:
    tag: str
    mode: str  # flood, paced, endless (see linewriter.c)
    count: int
    size: int  # bytes of padding per line
    interval_us: int = 0


@dataclass
class Workload:
    name: str
    title: str
    kind: str  # "throughput" or "latency"
    programs: list[Program]
    window: float = 0.0  # throughput: seconds counted, after a warm-up of a fifth of it


def workloads(quick: bool, window: float = 0.5) -> list[Workload]:
    """The four workloads; quick: a quarter of the lines.  The throughput ones flood for as
    long as the run lasts and are counted over `window` seconds (Workload.window)."""
    q = 4 if quick else 1
    return [
        Workload(
            "short",
            "short lines (60 B), 2 programs flooding, counted over %g s" % window,
            "throughput",
            [Program("web", "endless", 0, 30), Program("worker", "endless", 0, 30)],
            window,
        ),
        Workload(
            "long",
            "long lines (64 KiB), 2 programs flooding, counted over %g s" % window,
            "throughput",
            [Program("web", "endless", 0, 65536), Program("worker", "endless", 0, 65536)],
            window,
        ),
        Workload(
            "paced",
            "latency: 2 programs x %d lines, one per ms each" % (1000 // q),
            "latency",
            [Program("web", "paced", 1000 // q, 30, 1000), Program("worker", "paced", 1000 // q, 30, 1000)],
        ),
        Workload(
            "flood",
            "latency under flood: one program floods, the other writes %d lines, one per 2 ms" % (500 // q),
            "latency",
            [Program("noisy", "endless", 0, 100), Program("quiet", "paced", 500 // q, 30, 2000)],
        ),
    ]


def _int(n: float) -> str:
    return f"{int(n):,}"


@dataclass
class Runner:
    key: str
    label: str
    kind: str  # "floor", "pyinit", "peer"
    prefix: list[str]  # the command before its arguments (pyinit: before --procfile PATH)

    def argv(self, work: Path, commands: list[tuple[str, str]]) -> list[str]:
        """PID 1's command line for these (name, shell command) programs, files written in work."""
        if self.kind == "floor":
            return ["/bin/sh", "-c", " & ".join(cmd for _, cmd in commands) + " & wait"]
        procfile = work / "Procfile"
        procfile.write_text("".join("%s: %s\n" % (name, cmd) for name, cmd in commands))
        if self.key == "honcho":
            return self.prefix + ["--no-colour", "-f", str(procfile), "start"]
        if self.key == "supervisord":
            conf = work / "supervisord.conf"
            conf.write_text(supervisord_conf(work, commands))
            return self.prefix + ["-c", str(conf)]
        return self.prefix + ["--procfile", str(procfile)]


def supervisord_conf(work: Path, commands: list[tuple[str, str]]) -> str:
    lines = [
        "[supervisord]",
        "nodaemon=true",
        "silent=true",  # no log lines of its own on stdout (the sink)
        "user=root",
        "logfile=/dev/null",
        "logfile_maxbytes=0",
        "loglevel=error",
        "pidfile=%s" % (work / "supervisord.pid"),
    ]
    for name, command in commands:
        lines += [
            "[program:%s]" % name,
            "command=/bin/sh -c %s" % shlex.quote(command),
            "stdout_logfile=/dev/stdout",  # the usual container set-up: the lines, unnamed
            "stdout_logfile_maxbytes=0",
            "redirect_stderr=true",
            "autorestart=false",
            "startsecs=0",
        ]
    return "\n".join(lines) + "\n"


def variant_prefix(python: str, source: Path) -> list[str]:
    """pyinit run from a source tree (a directory holding the pyinit package), -I -S."""
    code = "import sys; sys.path.insert(0, %r); from pyinit.main import main; main(sys.argv[1:])"
    return [python, "-I", "-S", "-c", code % str(source), "pyinit"]


def runners(build: Build, variants: dict[str, Path] | None = None) -> list[Runner]:
    """Everyone in table order; a runner that could not be installed is left out."""
    found = [Runner("floor", "floor: the programs write to the pipe", "floor", [])]
    if build.venv is not None:
        found.append(
            Runner(MAIN, "pyinit --procfile (console script)", "pyinit", [str(build.venv / "bin" / "pyinit")])
        )
    for name, source in (variants or {}).items():
        found.append(Runner(name, "pyinit from %s" % source, "pyinit", variant_prefix(build.python, source)))
    for name in PEERS:
        if name in build.multi:
            found.append(Runner(name, name, "peer", [build.multi[name]]))
    return found


# --- /proc ----------------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """pid and all its descendants (/proc/PID/task/TID/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = os.listdir("/proc/%d/task" % current)
        except OSError:
            continue
        for tid in tasks:
            try:
                with open("/proc/%d/task/%s/children" % (current, tid)) as f:
                    todo.extend(int(word) for word in f.read().split())
            except OSError:
                pass
    return found


def _each_thread(pid: int, read: Callable[[int, str], int]) -> int:
    """read(pid, tid) summed over every thread of pid; a thread gone meanwhile counts 0."""
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    total = 0
    for tid in tasks:
        try:
            total += read(pid, tid)
        except (OSError, ValueError, IndexError, KeyError):
            pass
    return total


def cpu_ns_all_threads(pid: int) -> int:
    """CPU time of every thread of pid so far (schedstat, ns; /proc ticks without it)."""
    return _each_thread(pid, pidns.cpu_ns)


def context_switches(pid: int) -> int:
    """Voluntary and involuntary context switches of every thread of pid so far."""
    return _each_thread(pid, pidns.context_switches)


def _snapshot(sink: int, notify: int) -> tuple[int, int, int]:
    """linesink's count so far: (lines, bytes, CLOCK_MONOTONIC ns), asked for with SIGUSR1."""
    os.kill(sink, signal.SIGUSR1)
    data = b""
    deadline = time.monotonic() + 10
    while len(data) < 24:
        readable, _, _ = select.select([notify], [], [], max(0.0, deadline - time.monotonic()))
        if not readable:
            raise RuntimeError("the sink did not answer")
        data += os.read(notify, 24 - len(data))
    lines, count, ns = (int.from_bytes(data[i : i + 8], sys.byteorder, signed=True) for i in (0, 8, 16))
    return lines, count, ns


def _cost(pids: list[int]) -> tuple[int, int]:
    return sum(cpu_ns_all_threads(pid) for pid in pids), sum(context_switches(pid) for pid in pids)


def comm(pid: int) -> str:
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return "?"


def cmdline(pid: int) -> list[str]:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [arg.decode(errors="replace") for arg in f.read().split(b"\0")[:-1]]
    except OSError:
        return []


# --- the sink's report ----------------------------------------------------------------------


def parse_sink(text: str) -> dict[str, Any]:
    """linesink's RESULT file: done (ns, -1 if never), bytes, lines, other, mixed, counts per tag,
    latencies per timed tag (us)."""
    found: dict[str, Any] = {"counts": {}, "latencies_us": {}}
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "count":
            found["counts"][words[1]] = int(words[2])
        elif words[0] == "lat":
            found["latencies_us"].setdefault(words[1], []).append(int(words[2]) / 1000.0)
        else:
            found[words[0]] = int(words[1])
    return found


# --- one run --------------------------------------------------------------------------------


def run_one(
    runner: Runner,
    workload: Workload,
    helpers: dict[str, str],
    tmp: Path,
    timeout: float = 60,
    cpus: set[int] | None = None,
    sink_delay_us: int = 0,
) -> dict[str, Any]:
    """One runner on one workload, as PID 1 of a new namespace: its figures (or "error").

    cpus: run the sink, the runner and the programs there (--pin: on one CPU a runner's pipes
    are full whenever it runs, so its CPU per line is its cost at saturation, free of the
    wake-up patterns of two CPUs)."""
    work = Path(tempfile.mkdtemp(prefix="relay-%s-%s-" % (workload.name, runner.key), dir=tmp))
    ready = work / "ready"
    ready.mkdir()
    commands = []
    for p in workload.programs:
        args = [
            helpers["linewriter"],
            p.mode,
            p.tag,
            str(p.count),
            str(p.size),
            str(p.interval_us),
            str(ready),
        ]
        commands.append((p.tag, "exec " + " ".join(shlex.quote(a) for a in args)))
    specs = ["%s:%d:%d:%d" % (p.tag, p.count, p.size, p.mode == "paced") for p in workload.programs]
    result_file = work / "sink.result"
    sink_r, sink_w = os.pipe()
    notify_r, notify_w = os.pipe()
    own_cpus = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)  # inherited by the sink, unshare and all below
    sink = subprocess.Popen(
        [helpers["linesink"], str(result_file), str(notify_w), *specs],
        env=dict(os.environ, LINESINK_DELAY_US=str(sink_delay_us)),
        stdin=sink_r,
        stdout=subprocess.DEVNULL,
        pass_fds=(notify_w,),
    )
    os.close(sink_r)
    os.close(notify_w)
    proc = subprocess.Popen(
        UNSHARE + runner.argv(work, commands),
        stdin=subprocess.DEVNULL,
        stdout=sink_w,
        stderr=subprocess.DEVNULL,
        cwd=str(work),
        env=ENV,
        start_new_session=True,
    )
    os.close(sink_w)
    os.sched_setaffinity(0, own_cpus)
    found: dict[str, Any] = {"runner": runner.key}
    began = time.monotonic()
    writers: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 30
        while len(os.listdir(ready)) < len(workload.programs):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("%s did not start the programs" % runner.key)
            time.sleep(0.005)
        tree = descendants(proc.pid)
        for pid in tree:
            if comm(pid) == "linewriter":
                args = cmdline(pid)
                if len(args) > 2:
                    writers[args[2]] = pid
        if len(writers) != len(workload.programs):
            raise RuntimeError("%s: writers not found in the namespace (%s)" % (runner.key, writers))
        # The runner's own processes: the namespace but unshare and the writers (a floor's sh too).
        own = [pid for pid in tree[1:] if pid not in writers.values()]
        others = {"writers": list(writers.values()), "sink": [sink.pid]}
        before = {pid: cpu_ns_all_threads(pid) for pid in own}
        before_others = {k: _cost(pids) for k, pids in others.items()}
        switches = {pid: context_switches(pid) for pid in own}
        go = time.monotonic_ns()
        for pid in writers.values():
            os.kill(pid, signal.SIGUSR1)
        if workload.kind == "throughput":
            # Steady state: from a fifth of the window after "go", for the window.
            time.sleep(workload.window / 5)
            before = {pid: cpu_ns_all_threads(pid) for pid in own}
            before_others = {k: _cost(pids) for k, pids in others.items()}
            switches = {pid: context_switches(pid) for pid in own}
            lines0, bytes0, t0 = _snapshot(sink.pid, notify_r)
            time.sleep(workload.window)
            lines1, bytes1, t1 = _snapshot(sink.pid, notify_r)
            found.update(wall_s=(t1 - t0) / 1e9, lines=lines1 - lines0, bytes=bytes1 - bytes0)
        else:
            readable, _, _ = select.select([notify_r], [], [], timeout)
            if not readable:
                raise RuntimeError("%s: lines missing after %g s" % (runner.key, timeout))
            done = int.from_bytes(os.read(notify_r, 8), sys.byteorder, signed=True)
            found.update(wall_s=(done - go) / 1e9)
        cpu = {pid: cpu_ns_all_threads(pid) - before[pid] for pid in own}
        # Beside the runner's own cost, what it makes the others pay (a wake-up per write...).
        for k, pids in others.items():
            ns, switched = _cost(pids)
            found["cpu_%s_s" % k] = (ns - before_others[k][0]) / 1e9
            found["switches_%s" % k] = switched - before_others[k][1]
        found["switches"] = sum(context_switches(pid) - n for pid, n in switches.items())
        by_comm: dict[str, float] = {}
        for pid, ns in cpu.items():
            by_comm[comm(pid)] = by_comm.get(comm(pid), 0.0) + ns / 1e9
        found.update(cpu_s=sum(cpu.values()) / 1e9, cpu_by_process=by_comm)
        memory: dict[str, dict[str, int]] = {}
        for pid in own:
            if comm(pid) in ("sh", "dash"):
                continue
            rollup = smaps_rollup(pid)
            mine = memory.setdefault(comm(pid), {"rss": 0, "pss": 0, "private": 0})
            mine["rss"] += rollup.get("Rss", 0)
            mine["pss"] += rollup.get("Pss", 0)
            mine["private"] += rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)
        found["memory_kib"] = memory
        found["pss_kib"] = sum(m["pss"] for m in memory.values())
    except (RuntimeError, OSError) as exc:
        found["error"] = str(exc)
    finally:
        _stop(proc)
        found["run_s"] = time.monotonic() - began  # all of it: start, measure, stop
        os.close(notify_r)
        try:
            sink.wait(30)
        except subprocess.TimeoutExpired:
            sink.kill()
            sink.wait()
    try:
        report = parse_sink(result_file.read_text())
    except (OSError, ValueError, IndexError) as exc:
        found.setdefault("error", "sink: %s" % exc)
        return found
    if workload.kind == "latency":  # the lines of the programs that write a count of them
        found["lines"] = sum(report["counts"].get(p.tag, 0) for p in workload.programs if p.count)
        found["bytes"] = report["bytes"]
    found.update(
        mixed=report["mixed"],
        other=report["other"],
        latencies_us=[x for values in report["latencies_us"].values() for x in values],
    )
    return found


def _stop(proc: subprocess.Popen) -> None:
    """End the namespace once measured: SIGKILL to its PID 1 takes every process with it.

    No graceful end: nothing is measured after, and a runner may hold a backlog (honcho queues
    a flooding program's lines without bound) or never exit (supervisord, supervisor #712).
    """
    for pid in descendants(proc.pid)[1:2] or [proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


# --- figures ----------------------------------------------------------------------------------


def summarize(workload: Workload, runs: dict[str, list[dict]]) -> dict[str, dict[str, Any]]:
    """Per runner: median throughput of its good runs, CPU per line over all of them, latency
    percentiles of all their timed lines, and what each adds to the floor's."""
    out: dict[str, dict[str, Any]] = {}
    for key, all_runs in runs.items():
        good = [r for r in all_runs if "error" not in r and r.get("wall_s", 0) > 0]
        lines = sum(r["lines"] for r in good)
        latencies = [x for r in good for x in r["latencies_us"]]
        by_process: dict[str, float] = {}
        for r in good:
            for name, seconds in r["cpu_by_process"].items():
                by_process[name] = by_process.get(name, 0.0) + seconds
        out[key] = {
            "runs": len(good),
            "failures": [r["error"] for r in all_runs if "error" in r],
            "lines_per_s": stats.median([r["lines"] / r["wall_s"] for r in good]),
            "lines_per_s_min": min((r["lines"] / r["wall_s"] for r in good), default=None),
            "lines_per_s_max": max((r["lines"] / r["wall_s"] for r in good), default=None),
            "mb_per_s": stats.median([r["bytes"] / r["wall_s"] / 1e6 for r in good]),
            "cpu_us_per_line": sum(r["cpu_s"] for r in good) / lines * 1e6 if lines else None,
            "cpu_us_per_line_by_process": {n: s / lines * 1e6 for n, s in by_process.items()}
            if lines
            else {},
            "latency_p50_us": stats.percentile(latencies, 50),
            "latency_p99_us": stats.percentile(latencies, 99),
            "latency_n": len(latencies),
            "mixed": sum(r["mixed"] for r in good),
            "other": sum(r["other"] for r in good),
            "pss_mib": max((r["pss_kib"] for r in good), default=0) / 1024 or None,
            "memory_kib": good[-1]["memory_kib"] if good else {},
        }
    floor = out.get("floor", {})
    for row in out.values():
        for pct in (50, 99):
            mine, base = row["latency_p%d_us" % pct], floor.get("latency_p%d_us" % pct)
            row["added_p%d_us" % pct] = None if mine is None or base is None else mine - base
    return out


def run_all(
    build: Build,
    quick: bool,
    repeat: int,
    tmp: Path,
    progress: Progress,
    only: list[str] | None = None,
    variants: dict[str, Path] | None = None,
    keep: list[str] | None = None,
    cpus: set[int] | None = None,
    latency_repeat: int = 1,
    window: float = 0.5,
    sink_delay_us: int = 0,
) -> dict[str, Any]:
    """Every workload for every runner (or those in keep): {"workloads": titles, "raw": runs,
    "summary": figures}."""
    everyone = [r for r in runners(build, variants) if not keep or r.key in keep]
    chosen = [w for w in workloads(quick, window) if not only or w.name in only]
    raw: dict[str, dict[str, list[dict]]] = {}
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for w in chosen:
        runs: dict[str, list[dict]] = {r.key: [] for r in everyone}
        reps = repeat if w.kind == "throughput" else latency_repeat
        started = time.monotonic()
        for rep in range(reps):
            shift = rep % len(everyone)
            for runner in everyone[shift:] + everyone[:shift]:
                runs[runner.key].append(
                    run_one(runner, w, build.helpers, tmp, cpus=cpus, sink_delay_us=sink_delay_us)
                )
        for key, rs in runs.items():
            for r in rs:
                if "error" in r:
                    progress("relay: %s, %s: %s" % (w.name, key, r["error"]))
        progress(
            "relay: %s: %d run(s) of %d runners, %.1f s"
            % (w.name, reps, len(everyone), time.monotonic() - started)
        )
        raw[w.name] = runs
        summary[w.name] = summarize(w, runs)
    return {
        "workloads": {w.name: {"title": w.title, "kind": w.kind} for w in chosen},
        "runners": {r.key: {"label": r.label, "kind": r.kind, "argv": r.prefix} for r in everyone},
        "missing": [name for name in PEERS if name not in build.multi],
        "raw": raw,
        "summary": summary,
    }


def prepare_relay(python: str, peers: bool) -> Build:
    """What this scenario needs alone: the helpers, pyinit pip-installed, and the peers if
    asked for (make bench prepares them with everything else)."""
    notes: list[str] = []
    BUILD.mkdir(parents=True, exist_ok=True)
    helpers = compile_helpers(BUILD / "helpers")
    venv, site = build_venv(python, BUILD, notes)
    multi = ensure_multi_peers(python, notes) if peers else {}
    return Build(python, helpers, venv, site, None, None, {}, notes=notes, multi=multi)


def main(argv: list[str] | None = None) -> int:
    from bench.build import real_python
    from bench.pidns import can_unshare
    from bench.run import print_relay

    parser = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the latency workloads' lines")
    parser.add_argument("--only", default="", help="comma-separated workloads: short,long,paced,flood")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each throughput workload (median)")
    parser.add_argument(
        "--latency-repeat", type=int, default=1, help="runs of each latency workload (pooled)"
    )
    parser.add_argument("--window", type=float, default=0.5, help="seconds each throughput run is counted")
    parser.add_argument(
        "--slow-sink-us", type=int, default=0, metavar="N", help="the sink sleeps N us after each read"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also measure pyinit run from DIR (holding the pyinit package), as row NAME",
    )
    parser.add_argument(
        "--runners", default="", help="comma-separated: only these runners (floor, pyinit, ...)"
    )
    parser.add_argument(
        "--pin",
        type=int,
        default=None,
        metavar="CPU",
        help="everything on this CPU (diagnosis: cost at saturation)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    why = can_unshare()
    if why:
        print("bench.relay: %s" % why, file=sys.stderr)
        return 1
    variants = {}
    for spec in args.variant:
        name, _, path = spec.partition("=")
        variants[name] = Path(path).resolve()
    python = real_python(os.environ.get("BENCH_PYTHON") or str(ROOT / ".venv" / "bin" / "python"))
    keep = [s for s in args.runners.split(",") if s]
    build = prepare_relay(python, peers=not keep or bool(set(keep) & set(PEERS)))
    for note in build.notes:
        print("note: %s" % note)
    with tempfile.TemporaryDirectory(prefix="pyinit-bench-relay-") as tmp:
        result = run_all(
            build,
            args.quick,
            args.repeat,
            Path(tmp),
            lambda text: print("  .. %s" % text, file=sys.stderr, flush=True),
            [s for s in args.only.split(",") if s],
            variants,
            keep,
            None if args.pin is None else {args.pin},
            args.latency_repeat,
            args.window,
            args.slow_sink_us,
        )
    print_relay(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
