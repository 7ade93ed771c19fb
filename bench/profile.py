"""make bench-profile: where pyinit's start-up time, memory and per-signal time go.

Diagnostics for whoever optimises pyinit, next to the benchmark's numbers:
  1. -X importtime of pyinit as PID 1 running `true`, medians over many runs, split into the
     interpreter's own imports, the launcher's (site, .pth files), the floor's (os, signal),
     pyinit's modules and whatever else of the standard library pyinit pulls in;
  2. memory: smaps by mapping for pyinit and the Python floor, and tracemalloc's view of what
     importing pyinit.main allocates, file by file;
  3. spawning `true` from a Python process as big as pyinit: fork+exec against posix_spawn;
  4. the signal path, hot: sigwaitinfo on pyinit's set against one signal, and pyinit's own
     Supervisor._on_signal forwarding to a real process group;
  5. pyinit's run phase as PID 1 running `true`, timed and cProfiled in-process;
  6. reaping: the per-zombie cost of the SIGCHLD wait loop in C, in bare Python and in pyinit's
     Supervisor._reap, on the same zombies count, alternated.
The in-process parts use the interpreter under test and the pip-installed copy of pyinit; they
call pyinit's internals (Supervisor, parse_args), so a refactoring may turn one into "n/a".
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import stats, trace
from bench.build import ROOT, Build, prepare, real_python
from bench.contenders import MAIN, Contender, contenders
from bench.pidns import ENV, UNSHARE, Fifo, Namespace, can_unshare, cpu_ns, smaps_by_mapping
from bench.scenarios import Settings


def importtime(argv: list[str]) -> list[tuple[int, int, int, str]]:
    """One run as PID 1 with -X importtime: (self us, cumulative us, depth, module) in order."""
    done = subprocess.run(
        UNSHARE + argv, env=dict(ENV, PYTHONPROFILEIMPORTTIME="1"), capture_output=True, text=True, timeout=60
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        own, cumulative, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((int(own), int(cumulative), depth, name.strip()))
    return rows


def _python_argv(c: Contender) -> list[str]:
    """The contender's start-up command with the interpreter explicit and -X importtime added.

    A script's shebang (the console script's, or `#!python -IS`) is unfolded by hand, because
    -I makes the interpreter ignore PYTHONPROFILEIMPORTTIME.
    """
    argv = c.startup_argv()
    head: list[str] = []
    with open(argv[0], "rb") as first:
        line = first.readline()
    if line.startswith(b"#!"):
        head = line[2:].decode().split()
        return [head[0], "-X", "importtime", *head[1:], *argv]
    return [argv[0], "-X", "importtime", *argv[1:]]


def profile_imports(rows: list[Contender], runs: int) -> dict[str, Any]:
    floor_modules: set[str] = set()
    per: dict[str, dict[str, list[int]]] = {c.key: {} for c in rows}
    top_cumulative: dict[str, dict[str, list[int]]] = {c.key: {} for c in rows}
    for _ in range(runs):
        for c in rows:
            for own, cumulative, depth, name in importtime(_python_argv(c)):
                per[c.key].setdefault(name, []).append(own)
                if depth == 0:
                    top_cumulative[c.key].setdefault(name, []).append(cumulative)
                if c.key == "floor-os-signal":
                    floor_modules.add(name)
    report: dict[str, Any] = {}
    for c in rows:
        medians = {name: stats.median(v) or 0.0 for name, v in per[c.key].items()}
        groups = {
            "pyinit.*": 0.0,
            "site and .pth": 0.0,
            "floor (os, signal, startup)": 0.0,
            "other stdlib": 0.0,
        }
        site_tree = _site_tree(c)
        for name, value in medians.items():
            if name == "pyinit" or name.startswith("pyinit."):
                groups["pyinit.*"] += value
            elif name in site_tree:
                groups["site and .pth"] += value
            elif name in floor_modules:
                groups["floor (os, signal, startup)"] += value
            else:
                groups["other stdlib"] += value
        report[c.key] = {
            "label": c.label,
            "modules": len(medians),
            "total_us": sum(medians.values()),
            "groups_us": groups,
            "top_self_us": sorted(medians.items(), key=lambda kv: -kv[1])[:12],
            "beyond_floor": sorted(n for n in medians if n not in floor_modules),
        }
    return report


def _site_tree(c: Contender) -> set[str]:
    """Modules site imports for this launcher (found by running it with -X importtime)."""
    argv = _python_argv(c)
    if any(a.startswith("-") and "S" in a and not a.startswith("--") for a in argv[3:5]):
        return set()  # -S or -IS: no site
    python = argv[0]
    done = subprocess.run(
        [python, "-X", "importtime", "-c", "pass"], env=dict(ENV), capture_output=True, text=True
    )
    found, inside = set(), False
    for line in done.stderr.splitlines():
        if "|" not in line or "imported package" in line:
            continue
        name = line.split("|")[2]
        module = name.strip()
        depth = (len(name) - len(name.lstrip(" "))) // 2
        if depth == 0 and module == "site":
            found.add(module)
            inside = False
            continue
        if depth == 0:
            inside = True  # a top-level import seen before site's closing line: site's child
        if inside or depth > 0:
            found.add(module)
    # -X importtime prints a parent after its children: everything site imported comes before
    # its own line at depth 0, together with what the interpreter imported before site; drop
    # those by keeping only what -S would not import anyway.
    bare = subprocess.run(
        [python, "-S", "-X", "importtime", "-c", "pass"], env=dict(ENV), capture_output=True, text=True
    )
    before_site = {line.split("|")[2].strip() for line in bare.stderr.splitlines() if line.count("|") == 2}
    return found - before_site


IN_PROCESS = r"""
import json, os, signal, sys, time
sys.path.insert(0, SITE)
out = {}
import pyinit.main
from pyinit.signals import HANDLED

def per_call(fn, n):
    # The median of 7 batches: a shared machine's hiccups land in one batch, not the result.
    fn()
    batches = []
    for _ in range(7):
        start = time.perf_counter_ns()
        for _ in range(n // 7 or 1):
            fn()
        batches.append((time.perf_counter_ns() - start) / (n // 7 or 1) / 1000.0)
    return sorted(batches)[3]

# 3. spawning `true` from a process of pyinit's size
def fork_exec():
    pid = os.fork()
    if pid == 0:
        os.execv("/bin/true", ["true"])
    os.waitpid(pid, 0)
def posix_spawn():
    os.waitpid(os.posix_spawn("/bin/true", ["true"], {}), 0)
out["fork_exec_us"] = per_call(fork_exec, 200)
out["posix_spawn_us"] = per_call(posix_spawn, 200)

# 4. the signal path, hot
signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
me = os.getpid()
handled = set(HANDLED)
def wait_all():
    os.kill(me, signal.SIGWINCH)
    signal.sigwaitinfo(handled)
def wait_one():
    os.kill(me, signal.SIGWINCH)
    signal.sigwaitinfo({signal.SIGWINCH})
out["sigwaitinfo_handled_us"] = per_call(wait_all, 5000)
out["sigwaitinfo_one_us"] = per_call(wait_one, 5000)
out["pthread_sigmask_us"] = per_call(lambda: signal.pthread_sigmask(signal.SIG_BLOCK, handled), 700)
import _signal
out["_signal_pthread_sigmask_us"] = per_call(lambda: _signal.pthread_sigmask(signal.SIG_BLOCK, handled), 700)
out["handled_signals"] = len(handled)
try:
    from pyinit.personalities.pyinit import PERSONALITY, parse_args
    from pyinit.log import Log
    from pyinit.spawn import Child
    from pyinit.supervisor import Supervisor
    # A real target: sleep in its own process group, which ignores SIGWINCH by default.
    pid = os.posix_spawn("/bin/sleep", ["sleep", "60"], {}, setpgroup=0)
    config = parse_args(["--", "sleep", "60"], {})
    sup = Supervisor(config, Log(config.verbosity, config.log_format, PERSONALITY.render),
                     Child(pid, pid, []), took_terminal=False)
    out["on_signal_us"] = per_call(lambda: sup._on_signal(signal.SIGWINCH, 0, 0), 5000)
    out["kill_group_us"] = per_call(lambda: os.kill(-pid, signal.SIGWINCH), 5000)
    # A stop signal against a plain one, the grace period pending (the sleep inherited our mask:
    # both stay pending there, harmless).  The first TERM starts the grace period.
    sup._on_signal(signal.SIGTERM, 0, 0)
    out["grace_pending"] = sup.deadline is not None
    out["on_signal_term_us"] = per_call(lambda: sup._on_signal(signal.SIGTERM, 0, 0), 5000)
    out["on_signal_usr1_us"] = per_call(lambda: sup._on_signal(signal.SIGUSR1, 0, 0), 5000)
    out["sigpending_us"] = per_call(lambda: signal.SIGCHLD in signal.sigpending(), 5000)
    # The wait's own bookkeeping: the earliest deadline, and the call itself (self-signalled).
    out["next_deadline_pending_us"] = per_call(sup._next_deadline, 5000)
    def wait_pending():
        os.kill(me, signal.SIGWINCH)
        sup._wait()
    out["wait_pending_us"] = per_call(wait_pending, 5000)
    saved, sup.deadline = sup.deadline, None
    out["next_deadline_none_us"] = per_call(sup._next_deadline, 5000)
    def wait_none():
        os.kill(me, signal.SIGWINCH)
        sup._wait()
    out["wait_none_us"] = per_call(wait_none, 5000)
    sup.deadline = saved
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    # The exit path: the program has exited; Supervisor._reap reaps it, finds no child left
    # (--leftovers stop) and sets the result, against the 15-line init's waitpid loop.
    def exited_main():
        pid = os.posix_spawn("/bin/true", ["true"], {}, setpgroup=0)
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # a zombie now, not reaped
        return pid
    def reap_and_finish():
        pid = exited_main()
        s = Supervisor(config, Log(config.verbosity, config.log_format, PERSONALITY.render),
                       Child(pid, pid, []), took_terminal=False)
        start = time.perf_counter_ns()
        s._reap()
        took = time.perf_counter_ns() - start
        assert s.result == 0
        return took / 1000.0
    def bare_reap():
        child = exited_main()
        start = time.perf_counter_ns()
        while True:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == child:
                os.waitstatus_to_exitcode(status)
                break
        return (time.perf_counter_ns() - start) / 1000.0
    runs = [(reap_and_finish(), bare_reap()) for _ in range(41)]
    out["reap_finish_us"] = sorted(r[0] for r in runs)[20]
    out["bare_reap_us"] = sorted(r[1] for r in runs)[20]
except Exception as exc:
    out["on_signal_error"] = "%s: %s" % (type(exc).__name__, exc)

# 2. what importing pyinit costs in memory, by file (a fresh interpreter does it again)
print(json.dumps(out))
"""

TRACEMALLOC = r"""
import json, sys, tracemalloc
tracemalloc.start(1)
import os, signal
before = tracemalloc.take_snapshot()
floor_modules = len(sys.modules)
sys.path.insert(0, SITE)
import pyinit.main
after = tracemalloc.take_snapshot()
diff = after.compare_to(before, "filename")
rows = [(str(d.traceback[0].filename).replace(SITE + "/", ""), d.size_diff, d.count_diff) for d in diff[:15]]
print(json.dumps({"total_kib": sum(d.size_diff for d in diff) / 1024.0, "top": rows,
                  "modules_floor": floor_modules, "modules_pyinit": len(sys.modules)}))
"""


RUN_PHASE = r"""
import json, os, sys, time
sys.path.insert(0, SITE)
import pyinit.main as m
from pyinit import startup
from pyinit.personalities import pyinit as personality
class Done(Exception):
    pass
def fake_exit(code):
    raise Done(code)
m._exit = fake_exit  # main() ends in os._exit(): stop there instead, to report
phases = {}
def timed(owner, attr, name):
    real = getattr(owner, attr)
    def wrapper(*args, **kwargs):
        start = time.perf_counter_ns()
        try:
            return real(*args, **kwargs)
        finally:
            phases[name] = (time.perf_counter_ns() - start) / 1000.0
    setattr(owner, attr, wrapper)
# The pipeline's steps (main.py): run = select + parse + start + supervise; spawn inside start.
timed(m, "run", "run")
timed(personality.Pyinit, "parse", "parse")
timed(startup, "spawn", "spawn")
argv = ["pyinit", "--", "true"]
if PROFILE:
    import cProfile, io, pstats
    prof = cProfile.Profile()
    try:
        prof.runcall(m.main, argv)
    except Done:
        pass
    text = io.StringIO()
    stats = pstats.Stats(prof, stream=text)
    stats.sort_stats("tottime").print_stats(12)
    print(json.dumps({"profile": text.getvalue(), "total": stats.total_tt}))
else:
    start = time.perf_counter_ns()
    try:
        m.main(argv)
    except Done:
        pass
    phases["main"] = (time.perf_counter_ns() - start) / 1000.0
    print(json.dumps(phases))
"""


def run_phase(python: str, site: str, runs: int) -> dict[str, Any]:
    """pyinit.main.main() as PID 1 running `true`, timed in-process, split into phases."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        done = subprocess.run(
            UNSHARE + [python, "-I", "-S", "-c", "SITE = %r\nPROFILE = False\n%s" % (site, RUN_PHASE)],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
        try:
            for key, value in json.loads(done.stdout).items():
                samples.setdefault(key, []).append(value)
        except ValueError:
            return {"error": (done.stdout + done.stderr).strip()[-500:]}
    # cProfile, five runs: the one of median total time is shown (a single run may have caught
    # a hiccup of the machine in any function).
    profiles: list[tuple[float, str]] = []
    for _ in range(5):
        done = subprocess.run(
            UNSHARE + [python, "-I", "-S", "-c", "SITE = %r\nPROFILE = True\n%s" % (site, RUN_PHASE)],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
        try:
            found = json.loads(done.stdout)
            profiles.append((found["total"], found["profile"]))
        except (ValueError, KeyError):
            profiles.append((0.0, (done.stdout + done.stderr).strip()[-500:]))
    profiles.sort()
    profile = profiles[len(profiles) // 2][1]
    return {"medians_us": {k: stats.median(v) for k, v in samples.items()}, "profile": profile}


GC_DURING_IMPORT = r"""
import gc, sys, time  # nothing else before the measured imports (json would bring enum, re...)
runs = []
def note(phase, info, _clock=time.perf_counter_ns):
    runs.append((phase, info["generation"], _clock()))
gc.callbacks.append(note)
start = time.perf_counter_ns()
import os, signal
floor_done = len(runs)
sys.path.insert(0, SITE)
import pyinit.main
total = (time.perf_counter_ns() - start) / 1000.0
spans = [(runs[i][1], (runs[i + 1][2] - runs[i][2]) / 1000.0) for i in range(0, len(runs) - 1, 2)]
import json
print(json.dumps({"collections": spans, "floor_collections": floor_done // 2, "import_us": total}))
"""


REAPING = r"""
import json, os, subprocess, sys, time
sys.path.insert(0, SITE)
import pyinit.main
from pyinit.personalities.pyinit import PERSONALITY, parse_args
from pyinit.log import Log
from pyinit.spawn import Child
from pyinit.supervisor import Supervisor
FLAGS = os.WNOHANG | os.WUNTRACED | os.WCONTINUED
N = 2000

def zombies():
    for _ in range(N):
        if os.fork() == 0:
            os._exit(0)
    time.sleep(0.3)  # no cheap call counts zombies without reaping them: let them all exit

def bare_loop():
    zombies()
    waitpid, reaped = os.waitpid, 0
    start = time.perf_counter_ns()
    while True:
        pid, status = waitpid(-1, FLAGS)
        if pid == 0:
            break
        reaped += 1
    took = time.perf_counter_ns() - start
    return took / 1000.0 / N if reaped == N else None

# A live main child, as under pyinit: the loop ends on "none ready", not on ECHILD.
keeper = os.posix_spawn("/bin/sleep", ["sleep", "600"], {}, setpgroup=0)
config = parse_args(["--", "sleep", "600"], {})
sup = Supervisor(config, Log(config.verbosity, config.log_format, PERSONALITY.render),
                 Child(keeper, keeper, []), took_terminal=False)

def supervisor_reap():
    zombies()
    start = time.perf_counter_ns()
    sup._reap()
    took = time.perf_counter_ns() - start
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        pass
    return took / 1000.0 / N

def c_loop():
    done = subprocess.run([REAPLOOP, str(N)], capture_output=True, text=True, timeout=60)
    return float(done.stdout) / 1000.0 if done.returncode == 0 else None

out = {"zombies": N, "c": [], "python": [], "supervisor": []}
for _ in range(7):  # alternated, so that the machine's noise hits all three alike
    out["c"].append(c_loop())
    out["python"].append(bare_loop())
    out["supervisor"].append(supervisor_reap())
os.kill(keeper, 9)
os.waitpid(keeper, 0)
print(json.dumps(out))
"""


def in_process(python: str, site: str, script: str) -> dict[str, Any]:
    done = subprocess.run(
        [python, "-I", "-S", "-c", "SITE = %r\n%s" % (site, script)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-500:]}
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def memory_by_mapping(rows: list[Contender], sigrecv: str, tmp: Path) -> dict[str, Any]:
    """smaps per mapping of each contender idle, side by side."""
    found: dict[str, Any] = {}
    for c in rows:
        fifo = None
        if c.wrap is not None:
            fifo = Fifo(tmp / ("mem-%s" % c.key))
            ns = Namespace(c.wrap + [sigrecv, str(fifo.path)])
        else:
            assert c.idle is not None
            ns = Namespace(c.idle)
        try:
            if fifo is not None:
                fifo.read_record()
            time.sleep(1.0)
            found[c.key] = smaps_by_mapping(ns.init_pid)
        finally:
            ns.kill()
            if fifo is not None:
                fifo.close()
    return found


# --- live: the signal path and the stop, as the benchmark runs them, on a kernel timeline -----------


def _live_rows(everyone: dict[str, Contender], keys: list[str]) -> list[tuple[str, str, list[str]]]:
    """(key, label, wrap for the signal scenario) of those present; pyinit twice: with the grace
    period pending as in the benchmark, and with none, which tells what a pending one costs."""
    rows = []
    for key in keys:
        c = everyone.get(key)
        if c is None or c.wrap is None:
            continue
        rows.append((key, c.label, c.signal_argv([])))
        if key == MAIN:
            rows.append(
                (MAIN + "-nograce", c.label + ", --grace none", [*c.wrap[:-1], "--grace", "none", "--"])
            )
    return rows


def live_signal(
    everyone: dict[str, Contender], build: Build, settings: Any, tmp: Path, rounds: int, why_not: str | None
) -> dict[str, Any]:
    """pyinit, the 15-line init and tini at once, everything pinned to one CPU as in the
    benchmark, SIGTERM and SIGUSR1 in turn; perf's timeline splits each forwarding."""
    from bench.scenarios import SIGNAL_KINDS, cpu_sets

    cpu = min(cpu_sets(settings.cpu)["pinned"])
    rows = _live_rows(everyone, [MAIN, "py-init", "tini"])
    own = os.sched_getaffinity(0)
    sessions: list[tuple[str, Fifo, Namespace]] = []
    os.sched_setaffinity(0, {cpu})
    recorder = trace.Recorder(cpu, tmp / "signal.perf") if why_not is None else None
    try:
        for key, _, wrap in rows:
            fifo = Fifo(tmp / ("live-%s" % key))
            sessions.append(
                (key, fifo, Namespace(wrap + [build.helpers["sigrecv"], str(fifo.path), "stamp"]))
            )
        targets = []
        for key, fifo, ns in sessions:
            fifo.read_record()
            targets += [(key, "via", ns.init_pid, fifo.fd), (key, "direct", ns.program_pid(), fifo.fd)]
            os.set_blocking(fifo.fd, True)
        time.sleep(0.3)
        argv = [build.helpers["sigping"], str(rounds), str(settings.signal_gap_us)]
        argv += [",".join(str(int(s)) for s in SIGNAL_KINDS)] + ["%d:%d" % (t[2], t[3]) for t in targets]
        before = {key: cpu_ns(ns.init_pid) for key, _, ns in sessions}
        if recorder is not None:
            recorder.__enter__()
        try:
            done = subprocess.run(argv, pass_fds=[t[3] for t in targets], capture_output=True, text=True)
        finally:
            if recorder is not None:
                recorder.__exit__()
        cost = {key: cpu_ns(ns.init_pid) - before[key] for key, _, ns in sessions}
        inits = {key: ns.init_pid for key, _, ns in sessions}
    finally:
        os.sched_setaffinity(0, own)
        for _, fifo, ns in sessions:
            ns.kill()
            fifo.close()
    latency: dict[str, dict[str, list[float]]] = {key: {"via": [], "direct": []} for key, _, _ in rows}
    for line in done.stdout.splitlines():
        index, _, ns_ = (int(w) for w in line.split())
        if ns_ >= 0:
            latency[targets[index][0]][targets[index][1]].append(ns_ / 1000.0)
    events = recorder.events() if recorder is not None else []
    report: dict[str, Any] = {"cpu": cpu, "rounds": rounds, "perf": why_not or "yes", "rows": {}}
    for key, label, _ in rows:
        via, direct = latency[key]["via"], latency[key]["direct"]
        row: dict[str, Any] = {
            "label": label,
            "added_p50_us": (stats.median(via) or 0) - (stats.median(direct) or 0),
            "added_p90_us": (stats.percentile(via, 90) or 0) - (stats.percentile(direct, 90) or 0),
            "cpu_us_per_signal": cost[key] / 1000.0 / len(via) if via else None,
        }
        if events:
            steps = trace.signal_steps(events, inits[key])
            row["steps"] = {
                SIGNAL_KINDS.get(signo, str(signo)): {name: stats.median(v) for name, v in d.items()}
                for signo, d in sorted(steps.items())
            }
        report["rows"][key] = row
    return report


def live_stop(
    everyone: dict[str, Contender], build: Build, settings: Any, tmp: Path, reps: int, why_not: str | None
) -> dict[str, Any]:
    """The stop scenario, pinned, with perf's timeline of each run split into its steps."""
    from bench.scenarios import _wait_exit, cpu_sets

    cpu = min(cpu_sets(settings.cpu)["pinned"])
    keys = [k for k in (MAIN, "py-init", "tini", "none") if k in everyone and everyone[k].wrap is not None]
    own = os.sched_getaffinity(0)
    runs: list[dict[str, Any]] = []
    os.sched_setaffinity(0, {cpu})
    recorder = trace.Recorder(cpu, tmp / "stop.perf") if why_not is None else None
    if recorder is not None:
        recorder.__enter__()
    try:
        for rep in range(reps):
            for key in keys[rep % len(keys) :] + keys[: rep % len(keys)]:
                c = everyone[key]
                assert c.wrap is not None
                fifo = Fifo(tmp / ("stop-%s-%d" % (key, rep)))
                ns = Namespace(c.wrap + [build.helpers["sigrecv"], str(fifo.path), "stop"])
                try:
                    fifo.read_record()
                    init = ns.init_pid
                    program = init if c.kind == "none" else ns.program_pid()
                    time.sleep(0.05)
                    start = time.monotonic_ns()
                    os.kill(init, signal.SIGTERM)
                    status = _wait_exit(ns, timeout=60)
                    end = time.monotonic_ns()
                    total = end - start
                    there = int.from_bytes(fifo.read_record(timeout=1), "little", signed=True) - start
                finally:
                    if ns.proc.returncode is None:
                        ns.kill()
                    fifo.close()
                if status == 0:
                    runs.append(
                        {
                            "key": key,
                            "init": init,
                            "program": program,
                            "unshare": ns.proc.pid,
                            "total_us": total / 1000.0,
                            "there_us": there / 1000.0,
                            "window": (start - 1000, end + 1000),
                        }
                    )
    finally:
        if recorder is not None:
            recorder.__exit__()
        os.sched_setaffinity(0, own)
    events = recorder.events() if recorder is not None else []
    report: dict[str, Any] = {"cpu": cpu, "reps": reps, "perf": why_not or "yes", "rows": {}}
    for key in keys:
        mine = [r for r in runs if r["key"] == key]
        row: dict[str, Any] = {
            "label": everyone[key].label,
            "total_us": stats.median([r["total_us"] for r in mine]),
            "there_us": stats.median([r["there_us"] for r in mine]),
        }
        if events:
            steps = [
                trace.stop_steps(trace.window(events, *r["window"]), r["init"], r["program"], r["unshare"])
                for r in mine
            ]
            row["steps"] = trace.medians(steps)  # type: ignore[arg-type]
            calls = [str(s["init_calls"]) for s in steps]
            row["init_calls"] = max(set(calls), key=calls.count) if calls else ""
        report["rows"][key] = row
    return report


def print_live_signal(report: dict[str, Any]) -> None:
    print(
        "   pinned to CPU %d, %d rounds; added = via - direct at p50 and p90, us; CPU: the init's per signal"
        % (report["cpu"], report["rounds"])
    )
    if report["perf"] != "yes":
        print("   (no kernel timeline: %s)" % report["perf"])
    for row in report["rows"].values():
        print(
            "   %-52s added p50 %5.1f  p90 %5.1f  CPU %5.1f"
            % (row["label"], row["added_p50_us"], row["added_p90_us"], row["cpu_us_per_signal"] or 0)
        )
        for kind, d in row.get("steps", {}).items():
            print(
                "     %-4s woken %5.1f | its code %5.1f, kill() %4.1f, its code %5.1f | awake %5.1f,"
                " %.0f other call(s)"
                % tuple(
                    [kind] + [d.get(k) or 0.0 for k in ("woken", "before", "kill", "after", "awake", "calls")]
                )
            )
    if any("steps" in r for r in report["rows"].values()):
        print(
            "   woken: sender's kill() -> the init's wait returns; its code: until its kill(), then until it"
        )
        print("   waits again (pinned, the program runs only then); awake: all three; medians, us")


def print_live_stop(report: dict[str, Any]) -> None:
    print("   pinned to CPU %d, %d runs each, medians, us" % (report["cpu"], report["reps"]))
    if report["perf"] != "yes":
        print("   (no kernel timeline: %s)" % report["perf"])
    for row in report["rows"].values():
        print(
            "   %-40s total %6.0f, TERM at the program after %5.0f"
            % (row["label"], row["total_us"] or 0, row["there_us"] or 0)
        )
        d = row.get("steps")
        if d:
            print(
                "     TERM -> init's kill %5s | -> program's exit %4s | -> init woken by SIGCHLD %4s |"
                " init's code to exit_group %4s (calls: %s)\n       | teardown until unshare wakes %5s |"
                " unshare %3s"
                % (
                    _num(d.get("term")),
                    _num(d.get("program")),
                    _num(d.get("sigchld")),
                    _num(d.get("reap_exit")),
                    row.get("init_calls") or "-",
                    _num(d.get("teardown")),
                    _num(d.get("unshare")),
                )
            )
    print("   teardown: the init's exit_group() until its parent (unshare) returns from wait: the address")
    print("   space, files, the PID and mount namespaces, the wake-up")


def _num(value: float | None) -> str:
    return "-" if value is None else "%.0f" % value


def _short(path: str) -> str:
    if path.startswith("["):
        return path
    name = Path(path).name
    return name if len(name) < 40 else name[:37] + "..."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="importtime runs per row (medians)")
    parser.add_argument("--signal-rounds", type=int, default=300, help="rounds of section 7")
    parser.add_argument("--stop-reps", type=int, default=15, help="stops per init in section 8")
    parser.add_argument(
        "--only", default="", help="sections to run, comma-separated: 1,2,3,5,6,7,8 (3: 3 and 4)"
    )
    args = parser.parse_args(argv)
    only = {word.strip() for word in args.only.split(",") if word.strip()}

    def want(section: str) -> bool:
        return not only or section in only

    why = can_unshare()
    if why:
        print("bench: %s" % why, file=sys.stderr)
        sys.exit(1)
    python = real_python(os.environ.get("BENCH_PYTHON") or str(ROOT / ".venv" / "bin" / "python"))
    build = prepare(python)
    if build.site is None:
        raise SystemExit("bench.profile: pyinit could not be installed: %s" % "; ".join(build.notes))
    everyone = {c.key: c for c in contenders(build)}
    report: dict[str, Any] = {"python": python}

    if want("1"):
        print("== 1. -X importtime as PID 1 running `true`: medians of %d runs (us)" % args.runs)
        keys = [
            k for k in ("floor-os-signal", "pyinit-fast", MAIN, "pyinit-m", "pyinit-dev") if k in everyone
        ]
        imports = profile_imports([everyone[k] for k in keys], args.runs)
        report["imports"] = imports
        for key in keys:
            row = imports[key]
            groups = ", ".join("%s %.0f" % (g, v) for g, v in row["groups_us"].items() if v)
            print(
                "   %-40s %3d modules, %6.0f us: %s" % (row["label"], row["modules"], row["total_us"], groups)
            )
        fast = imports.get("pyinit-fast")
        if fast:
            print("   beyond the floor (pyinit -I -S): %s" % ", ".join(fast["beyond_floor"]))
            print(
                "   slowest imports (self us, pyinit -I -S): %s"
                % ", ".join("%s %.0f" % kv for kv in fast["top_self_us"])
            )
        for key in ("pyinit-dev", MAIN):
            if key in imports and imports[key]["groups_us"]["site and .pth"]:
                row = imports[key]
                site_mods = [m for m in row["beyond_floor"] if not m.startswith("pyinit")]
                print("   %s: also imports %s" % (row["label"], ", ".join(site_mods)))

    if want("2"):
        print("\n== 2. Memory")
        traced = in_process(python, str(build.site), TRACEMALLOC)
        report["tracemalloc"] = traced
        if "error" in traced:
            print("   tracemalloc: n/a: %s" % traced["error"])
        else:
            print(
                "   import pyinit.main allocates %.0f KiB of Python objects (tracemalloc), %d -> %d modules"
                % (traced["total_kib"], traced["modules_floor"], traced["modules_pyinit"])
            )
            for name, size, count in traced["top"][:10]:
                print("     %-50s %7.1f KiB %6d blocks" % (name, size / 1024.0, count))
        gc_runs = in_process(python, str(build.site), GC_DURING_IMPORT)
        report["gc_during_import"] = gc_runs
        if "error" not in gc_runs:
            spans = gc_runs["collections"]
            print(
                "   garbage collections while importing os, signal and pyinit.main: %d (%d of them in the"
                " floor's imports), %.0f us of %.0f us: %s"
                % (
                    len(spans),
                    gc_runs["floor_collections"],
                    sum(us for _, us in spans),
                    gc_runs["import_us"],
                    ", ".join("gen%d %.0f" % (gen, us) for gen, us in spans),
                )
            )
        with tempfile.TemporaryDirectory(prefix="pyinit-profile-") as tmp:
            mem_keys = [k for k in ("floor-os-signal", "pyinit-fast", MAIN) if k in everyone]
            maps = memory_by_mapping([everyone[k] for k in mem_keys], build.helpers["sigrecv"], Path(tmp))
        report["smaps"] = maps
        names = sorted(
            {n for m in maps.values() for n in m},
            key=lambda n: -max(maps[k].get(n, {}).get("rss", 0) for k in maps),
        )
        print("   RSS by mapping, KiB (private in parentheses):")
        print("     %-40s" % "" + "".join("%22s" % k for k in mem_keys))
        for name in names[:14]:
            cells = []
            for k in mem_keys:
                entry = maps[k].get(name)
                cells.append("%22s" % ("-" if not entry else "%d (%d)" % (entry["rss"], entry["private"])))
            print("     %-40s" % _short(name) + "".join(cells))
        totals = ["%22s" % sum(e["rss"] for e in maps[k].values()) for k in mem_keys]
        print("     %-40s" % "total" + "".join(totals))

    if want("3"):
        print("\n== 3 and 4. In-process, hot (us per call; pyinit.main imported)")
        hot = in_process(python, str(build.site), IN_PROCESS)
        report["hot"] = hot
        if "error" in hot:
            print("   n/a: %s" % hot["error"])
        else:
            print(
                "   spawn `true` and wait: fork+exec %.0f us, posix_spawn (vfork) %.0f us"
                % (hot["fork_exec_us"], hot["posix_spawn_us"])
            )
            print(
                "   self-signal + sigwaitinfo: pyinit's set of %d signals %.1f us, one signal %.1f us"
                % (hot["handled_signals"], hot["sigwaitinfo_handled_us"], hot["sigwaitinfo_one_us"])
            )
            print(
                "   signal.pthread_sigmask(SIG_BLOCK, that set): %.1f us (the enum conversion of the result);"
                " _signal's: %.1f us" % (hot["pthread_sigmask_us"], hot["_signal_pthread_sigmask_us"])
            )
            if "on_signal_us" in hot and "reap_finish_us" in hot:
                print(
                    "   Supervisor._on_signal (forward SIGWINCH to a group): %.1f us, of which kill() %.1f us"
                    % (hot["on_signal_us"], hot["kill_group_us"])
                )
                print(
                    "   grace period pending: _on_signal SIGTERM %.1f us, SIGUSR1 %.1f us (sigpending check"
                    " %.1f us of it); _next_deadline %.2f us (none pending: %.2f)"
                    % (
                        hot["on_signal_term_us"],
                        hot["on_signal_usr1_us"],
                        hot["sigpending_us"],
                        hot["next_deadline_pending_us"],
                        hot["next_deadline_none_us"],
                    )
                )
                print(
                    "   self-signal + Supervisor._wait: %.1f us with the grace period pending,"
                    " %.1f us without" % (hot["wait_pending_us"], hot["wait_none_us"])
                )
                print(
                    "   exit path, the program a zombie: Supervisor._reap (reap, nothing left, result)"
                    " %.1f us; a bare waitpid loop %.1f us" % (hot["reap_finish_us"], hot["bare_reap_us"])
                )
            else:
                print("   Supervisor: n/a: %s" % hot.get("on_signal_error"))
    if want("5"):
        print(
            "\n== 5. pyinit's run phase as PID 1 running `true`, in-process (medians of %d runs, us)"
            % args.runs
        )
        phase = run_phase(python, str(build.site), args.runs)
        report["run_phase"] = phase
        if "error" in phase:
            print("   n/a: %s" % phase["error"])
        else:
            med = phase["medians_us"]
            print(
                "   main() %s: parse %s, run %s, of which spawn (fork, exec, exec-status pipe) %s"
                % tuple(_num(med.get(k)) for k in ("main", "parse", "run", "spawn"))
            )
            print("   cProfile of the median of 5 runs, by own time:")
            for line in phase["profile"].splitlines():
                if line.strip():
                    print("     " + line)
    if want("6"):
        print("\n== 6. Reaping, in-process: us per zombie of the SIGCHLD loop (medians of 7, alternated)")
        reaping = in_process(
            python, str(build.site), "REAPLOOP = %r\n%s" % (build.helpers["reaploop"], REAPING)
        )
        report["reaping"] = reaping
        if "error" in reaping:
            print("   n/a: %s" % reaping["error"])
        else:
            kinds = ("c", "python", "supervisor")
            med = {k: stats.median([v for v in reaping[k] if v is not None]) for k in kinds}
            report["reaping"]["medians_us"] = med
            print(
                "   %d zombies, waitpid(-1, WNOHANG|WUNTRACED|WCONTINUED) until none is ready:"
                " C %.2f, Python loop %.2f, pyinit's Supervisor._reap %.2f"
                % (reaping["zombies"], med["c"], med["python"], med["supervisor"])
            )
            print(
                "   what Python adds per zombie: %.2f us (loop), %.2f us (pyinit);"
                " the kernel's part is in all" % (med["python"] - med["c"], med["supervisor"] - med["c"])
            )
    if want("7") or want("8"):
        why_not = trace.available()
        settings = Settings.make(True)
        with tempfile.TemporaryDirectory(prefix="pyinit-profile-") as tmp:
            print("\n== 7. The signal path, live: SIGTERM and SIGUSR1 in turn, inits running at once")
            report["live_signal"] = live_signal(
                everyone, build, settings, Path(tmp), args.signal_rounds, why_not
            )
            print_live_signal(report["live_signal"])
            print("\n== 8. Stop, live: SIGTERM to PID 1 until the namespace is gone, step by step")
            report["live_stop"] = live_stop(everyone, build, settings, Path(tmp), args.stop_reps, why_not)
            print_live_stop(report["live_stop"])
    out = ROOT / "bench" / "results" / (time.strftime("%Y%m%d-%H%M%S") + "-profile.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print("\nJSON: %s" % out)


if __name__ == "__main__":
    main()
