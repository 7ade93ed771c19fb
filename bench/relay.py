"""python -m bench.relay: pyinit's output relay against honcho and supervisord, side by side.

Every contender runs the same programs (a small Python writer, two at a time) whose stdout
reaches one pipe that this script reads, like a container engine's log reader:

- floor        the programs write straight to that pipe (no relay): what the pipe costs;
- pyinit       pyinit.procfile + pyinit.relay driven as the supervisor will drive them (a
               `python -I -S` process that forks the relay and the programs);
- honcho       `honcho start` on the same Procfile;
- supervisord  one [program:x] per program, stdout_logfile=/dev/stdout.

Scenarios (each contender in turn, one run each, so the figures are ratios within one run):
- short: 100,000 short lines (2 programs x 50,000, one write(2) per line), as fast as they go;
- long: 1,000 lines of 64 KiB (2 x 500);
- paced: 2 x 1,000 lines, one per millisecond each: the latency a relay adds to a line;
- under flood: one program floods, the other writes a line every 2 ms: that one's latency.

Measured: wall time from "go" to the last line read (lines/s, MB/s; the throughput scenarios
run --repeat times, contenders taking turns, and the median counts), CPU of the contender's own
processes over that span (the writers excluded; every thread's /proc schedstat, in ns), latency
per line (the writer stamps CLOCK_MONOTONIC into the line, this script reads it), memory (PSS)
of the contender's processes, and lines that reached the pipe mixed with another's ("mixed":
two programs writing lines longer than PIPE_BUF straight to one pipe do that).  The writers
wait for a signal to start and to exit, so start-up costs are not counted and every process is
still there to be measured.

honcho and supervisord are installed, on first use, into a private venv (build/bench-relay/venv
unless --venv says otherwise) with pip, from the host's pip configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENV = ROOT / "build" / "bench-relay" / "venv"
TICK = os.sysconf("SC_CLK_TCK")
MARK = b"@@ "

# The program every contender runs.  It blocks SIGUSR1, says it is ready (a file named after
# its pid), waits for SIGUSR1 ("go"), writes, then waits for SIGUSR1 again ("quit").
WRITER = r"""
import os, signal, sys, time
mode, tag, count, size, interval, ready = sys.argv[1:7]
count, size, interval = int(count), int(size), float(interval)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
open(os.path.join(ready, "%s.%d" % (tag, os.getpid())), "w").close()
signal.sigwait({signal.SIGUSR1})
head = ("@@ %s " % tag).encode()
pad = b"x" * size
write, stamp = os.write, time.monotonic_ns
if mode == "flood":
    for i in range(count):
        write(1, head + b"%d %d " % (i, stamp()) + pad + b"\n")
elif mode == "paced":
    for i in range(count):
        write(1, head + b"%d %d " % (i, stamp()) + pad + b"\n")
        time.sleep(interval)
elif mode == "endless":  # until SIGUSR1
    i = 0
    while True:
        for _ in range(100):
            write(1, head + b"%d %d " % (i, stamp()) + pad + b"\n")
            i += 1
        if signal.sigtimedwait({signal.SIGUSR1}, 0) is not None:
            break
    sys.exit(0)
signal.sigwait({signal.SIGUSR1})
"""

# pyinit's side, as the supervisor will do it: parse the Procfile, start the relay, fork each
# program with the relay's pipes as fd 1 and 2, close the write ends, wait for all, then the relay.
DRIVER = r"""
import os, sys
sys.path.insert(0, sys.argv[2])
from pyinit import procfile, relay
from pyinit.signals import HANDLED, signal
signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
programs = procfile.load(sys.argv[1])
r = relay.start([p.name for p in programs])
pids = []
for p in programs:
    out_w, err_w = r.fds(p.name)
    pid = os.fork()
    if pid == 0:
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        os.execv("/bin/sh", ["/bin/sh", "-c", p.command])
    pids.append(pid)
r.close_write_ends()
for pid in pids:
    os.waitpid(pid, 0)
sys.exit(r.wait())
"""


# --- the private venv ----------------------------------------------------------------------------


def ensure_peers(venv: Path) -> dict[str, str]:
    """honcho and supervisord executables, installed into venv with pip if missing."""
    tools = {"honcho": venv / "bin" / "honcho", "supervisord": venv / "bin" / "supervisord"}
    if not all(path.exists() for path in tools.values()):
        print("bench.relay: installing honcho and supervisor into %s (once)" % venv, flush=True)
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "honcho", "supervisor"], check=True
        )
    return {name: str(path) for name, path in tools.items()}


def peer_versions(venv: Path) -> dict[str, str]:
    code = "import importlib.metadata as m; print(m.version('honcho'), m.version('supervisor'))"
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True)
    honcho, _, supervisor = out.stdout.strip().partition(" ")
    return {"honcho": honcho, "supervisord": supervisor}


# --- processes -----------------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """root and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """CPU time used so far by these processes: every thread's schedstat (ns), or /proc ticks."""
    total = 0.0
    for pid in pids:
        try:
            threads = os.listdir("/proc/%d/task" % pid)
            total += sum(schedstat_ns(pid, tid) for tid in threads) / 1e9
        except OSError:
            pass
    return total


def schedstat_ns(pid: int, tid: str) -> int:
    try:
        with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as stat:
            return int(stat.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    try:  # no schedstat: utime + stime in ticks
        with open("/proc/%d/task/%s/stat" % (pid, tid)) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 10**9 // TICK
    except (OSError, ValueError, IndexError):
        return 0


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as file:
            return " ".join(file.read().split()[:3])
    except OSError:
        return "?"


def memory_kib(pid: int) -> dict[str, int]:
    found = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as rollup:
            for line in rollup:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
                    found[key] = int(rest.split()[0])
    except OSError:
        pass
    return found


def comm(pid: int) -> str:
    try:
        with open("/proc/%d/comm" % pid) as file:
            return file.read().strip()
    except OSError:
        return "?"


class Sink(threading.Thread):
    """Reads the pipe every contender writes to, counts lines, takes latencies."""

    def __init__(self, fd: int, expected: dict[bytes, int], latency_of: set[bytes]) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.expected = expected  # tag -> lines that must arrive
        self.latency_of = latency_of  # tags whose lines are timed
        self.counts = dict.fromkeys(expected, 0)
        self.latencies: list[float] = []  # seconds
        self.bytes = 0
        self.done = threading.Event()
        self.done_at = 0.0
        self.mixed = 0  # lines whose marker is not at a line start (a relay that mixes lines)
        self.start()

    def run(self) -> None:
        tail = b""
        timed = bool(self.latency_of)
        while True:
            chunk = os.read(self.fd, 1 << 20)
            now = time.monotonic_ns()
            if not chunk:
                break
            self.bytes += len(chunk)
            data = tail + chunk
            cut = data.rfind(b"\n") + 1
            tail = data[cut:]
            whole = data[:cut]
            if not self.done.is_set():
                self._count(whole, now if timed else 0)
        os.close(self.fd)
        self.done.set()

    def _count(self, data: bytes, now: int) -> None:
        start = 0
        find = data.find
        while True:
            at = find(MARK, start)
            if at < 0:
                break
            end = find(b" ", at + 3)
            tag = data[at + 3 : end]
            if tag in self.counts:
                self.counts[tag] += 1
                if now and tag in self.latency_of:
                    fields = data[end + 1 : end + 60].split(b" ", 2)
                    try:
                        self.latencies.append((now - int(fields[1])) / 1e9)
                    except (ValueError, IndexError):
                        pass
            if at and data[at - 1] not in (10, 32):  # not at a line start nor after a prefix
                self.mixed += 1
            start = at + 3
        if all(self.counts[tag] >= n for tag, n in self.expected.items()):
            self.done_at = time.monotonic()
            self.done.set()


# --- contenders ----------------------------------------------------------------------------------


def launch(
    contender: str, programs: list[tuple[str, str]], work: Path, sink_w: int, peers: dict
) -> subprocess.Popen:
    procfile = work / "Procfile"
    procfile.write_text("".join("%s: %s\n" % (name, command) for name, command in programs))
    common = {"stdin": subprocess.DEVNULL, "stdout": sink_w, "stderr": subprocess.DEVNULL, "cwd": str(work)}
    if contender == "floor":
        # The programs themselves, each writing straight to the pipe, under one idle sh.
        script = " & ".join(command for _, command in programs) + " & wait"
        return subprocess.Popen(["/bin/sh", "-c", script], **common)
    if contender == "pyinit":
        return subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", DRIVER, str(procfile), str(ROOT)], **common
        )
    if contender == "honcho":
        return subprocess.Popen([peers["honcho"], "--no-colour", "-f", str(procfile), "start"], **common)
    if contender == "supervisord":
        conf = work / "supervisord.conf"
        lines = [
            "[supervisord]",
            "nodaemon=true",
            "silent=true",
            "logfile=/dev/null",
            "logfile_maxbytes=0",
            "loglevel=error",
            "pidfile=%s" % (work / "supervisord.pid"),
        ]
        for name, command in programs:
            lines += [
                "[program:%s]" % name,
                "command=/bin/sh -c %s" % shlex.quote(command),
                "stdout_logfile=/dev/stdout",
                "stdout_logfile_maxbytes=0",
                "redirect_stderr=true",
                "autorestart=false",
                "startsecs=0",
            ]
        conf.write_text("\n".join(lines) + "\n")
        return subprocess.Popen([peers["supervisord"], "-c", str(conf)], **common)
    raise ValueError(contender)


def writer_command(work: Path, mode: str, tag: str, count: int, size: int, interval: float) -> str:
    script = work / "writer.py"
    if not script.exists():
        script.write_text(WRITER)
    ready = work / "ready"
    ready.mkdir(exist_ok=True)
    args = [
        sys.executable,
        "-I",
        "-S",
        str(script),
        mode,
        tag,
        str(count),
        str(size),
        str(interval),
        str(ready),
    ]
    return "exec " + " ".join(shlex.quote(arg) for arg in args)


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for %s" % what)
        time.sleep(0.005)


def run_one(contender: str, scenario: dict, peers: dict, timeout: float) -> dict:
    """One contender on one scenario: returns its figures."""
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp:
        work = Path(tmp)
        programs, expected, timed = [], {}, set()
        for name, mode, count, size, interval in scenario["programs"]:
            programs.append((name, writer_command(work, mode, name, count, size, interval)))
            if mode != "endless":
                expected[name.encode()] = count
            if mode == "paced":
                timed.add(name.encode())
        sink_r, sink_w = os.pipe()
        proc = launch(contender, programs, work, sink_w, peers)
        os.close(sink_w)
        sink = Sink(sink_r, expected, timed)
        result: dict = {"contender": contender}
        writers: dict[str, int] = {}
        try:
            ready = work / "ready"
            wait_for(
                lambda: len(os.listdir(ready)) == len(programs), 30, "%s to start the writers" % contender
            )
            for entry in os.listdir(ready):
                tag, _, pid = entry.rpartition(".")
                writers[tag] = int(pid)
            own = [pid for pid in process_tree(proc.pid) if pid not in writers.values()]
            if contender == "floor":
                own = []
            cpu0 = cpu_seconds(own)
            start = time.monotonic()
            for pid in writers.values():
                os.kill(pid, signal.SIGUSR1)  # go
            if not sink.done.wait(timeout):
                raise RuntimeError("%s: lines missing after %gs: %s" % (contender, timeout, sink.counts))
            wall = sink.done_at - start
            result["cpu"] = cpu_seconds(own) - cpu0
            result["wall"] = wall
            result["lines"] = sum(sink.counts.values())
            result["bytes"] = sink.bytes
            result["latencies"] = sorted(sink.latencies)
            result["mixed"] = sink.mixed
            memory = [memory_kib(pid) for pid in own if comm(pid) not in ("sh", "dash")]
            result["pss_kib"] = sum(m.get("Pss", 0) for m in memory)
            if contender == "pyinit":
                relay_pid = [pid for pid in own if comm(pid) == "pyinit-relay"]
                if relay_pid:
                    m = memory_kib(relay_pid[0])
                    result["relay_memory_kib"] = {
                        "rss": m.get("Rss", 0),
                        "pss": m.get("Pss", 0),
                        "private": m.get("Private_Clean", 0) + m.get("Private_Dirty", 0),
                    }
        finally:
            for pid in writers.values():
                try:
                    os.kill(pid, signal.SIGUSR1)  # quit (or stop flooding)
                except ProcessLookupError:
                    pass
            if contender == "supervisord":  # it does not exit when its programs do (supervisor #712)
                wait_for(lambda: all(not alive(pid) for pid in writers.values()), 30, "the writers to exit")
                proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                for pid in process_tree(proc.pid):
                    os.kill(pid, signal.SIGKILL)
                proc.wait()
            sink.join(30)
        return result


def alive(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --- scenarios and tables ------------------------------------------------------------------------


def scenarios(quick: bool) -> list[dict]:
    scale = 4 if quick else 1  # --quick: a quarter of the lines
    return [
        {
            "name": "short",
            "title": "%s short lines (2 programs x %s, 60 B each)"
            % (fmt_int(100000 // scale), fmt_int(50000 // scale)),
            "programs": [("web", "flood", 50000 // scale, 30, 0), ("worker", "flood", 50000 // scale, 30, 0)],
        },
        {
            "name": "long",
            "title": "%s long lines (2 programs x %d, 64 KiB each)" % (fmt_int(1000 // scale), 500 // scale),
            "programs": [
                ("web", "flood", 500 // scale, 65536, 0),
                ("worker", "flood", 500 // scale, 65536, 0),
            ],
        },
        {
            "name": "paced",
            "title": "latency: 2 programs x %d lines, one per ms each" % (1000 // scale),
            "programs": [
                ("web", "paced", 1000 // scale, 30, 0.001),
                ("worker", "paced", 1000 // scale, 30, 0.001),
            ],
        },
        {
            "name": "flood",
            "title": "latency under flood: one program floods, the other writes a line every 2 ms",
            "programs": [("noisy", "endless", 0, 100, 0), ("quiet", "paced", 500 // scale, 30, 0.002)],
        },
    ]


def fmt_int(n: float) -> str:
    return f"{int(n):,}"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[index]


def combine(runs: list[dict]) -> dict:
    """One contender's repeated runs of a scenario: median rate, CPU over all, every latency."""
    rates = sorted(r["lines"] / r["wall"] for r in runs)
    byte_rates = sorted(r["bytes"] / r["wall"] for r in runs)
    lines = sum(r["lines"] for r in runs)
    return {
        "contender": runs[0]["contender"],
        "runs": len(runs),
        "lines_per_s": rates[len(rates) // 2],
        "bytes_per_s": byte_rates[len(byte_rates) // 2],
        "cpu_us_per_line": sum(r["cpu"] for r in runs) / lines * 1e6,
        "latencies": sorted(x for r in runs for x in r["latencies"]),
        "mixed": sum(r["mixed"] for r in runs),
        "pss_mib": max(r["pss_kib"] for r in runs) / 1024,
        "relay_memory_kib": runs[-1].get("relay_memory_kib"),
        "lines": lines,
    }


def show(scenario: dict, results: list[dict]) -> None:
    print("\n## %s" % scenario["title"])
    floor = results[0]
    if scenario["name"] in ("short", "long"):
        best_peer = max(
            (r["lines_per_s"] for r in results if r["contender"] in ("honcho", "supervisord")), default=0
        )
        print(
            "%-12s %12s %9s %8s %12s %12s %8s"
            % ("", "lines/s", "MB/s", "x floor", "x best peer", "CPU us/line", "PSS MiB")
        )
        for r in results:
            print(
                "%-12s %12s %9.1f %8.2f %12s %12.2f %8.1f"
                % (
                    r["contender"],
                    fmt_int(r["lines_per_s"]),
                    r["bytes_per_s"] / 1e6,
                    r["lines_per_s"] / floor["lines_per_s"],
                    "%.2f" % (r["lines_per_s"] / best_peer) if best_peer else "-",
                    r["cpu_us_per_line"],
                    r["pss_mib"],
                )
            )
    else:
        f50, f99 = percentile(floor["latencies"], 50), percentile(floor["latencies"], 99)
        print("%-12s %9s %9s %11s %11s %8s" % ("", "p50 ms", "p99 ms", "added p50", "added p99", "lines"))
        for r in results:
            p50, p99 = percentile(r["latencies"], 50), percentile(r["latencies"], 99)
            print(
                "%-12s %9.3f %9.3f %11.3f %11.3f %8d"
                % (
                    r["contender"],
                    p50 * 1e3,
                    p99 * 1e3,
                    (p50 - f50) * 1e3,
                    (p99 - f99) * 1e3,
                    len(r["latencies"]),
                )
            )
    for r in results:
        if r.get("mixed"):
            print("  note: %s let %d lines mix with another program's output" % (r["contender"], r["mixed"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__.split("\n")[0])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="where honcho and supervisord are")
    parser.add_argument("--quick", action="store_true", help="a quarter of the lines")
    parser.add_argument("--only", help="comma-separated scenarios: short,long,paced,flood")
    parser.add_argument("--contenders", default="floor,pyinit,honcho,supervisord")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each throughput scenario (median)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    contenders = args.contenders.split(",")
    peers = ensure_peers(args.venv) if {"honcho", "supervisord"} & set(contenders) else {}
    versions = peer_versions(args.venv) if peers else {}
    print(
        "# relay benchmark: %s, %d CPUs, Python %s; honcho %s, supervisord %s"
        % (
            os.uname().release,
            os.cpu_count(),
            sys.version.split()[0],
            versions.get("honcho", "-"),
            versions.get("supervisord", "-"),
        )
    )
    print(
        "# honcho prefixes 'HH:MM:SS name | ', supervisord writes the lines without a name, pyinit 'name | '"
    )
    chosen = [s for s in scenarios(args.quick) if not args.only or s["name"] in args.only.split(",")]
    everything = {}
    for scenario in chosen:
        # Throughput runs are short: repeat them, contenders taking turns, and keep the median.
        repeat = args.repeat if scenario["name"] in ("short", "long") else 1
        runs: dict[str, list[dict]] = {c: [] for c in contenders}
        for _ in range(repeat):
            for contender in contenders:
                runs[contender].append(run_one(contender, scenario, peers, timeout=60))
        results = [combine(runs[c]) for c in contenders]
        show(scenario, results)
        everything[scenario["name"]] = results
    memory = [r["relay_memory_kib"] for rs in everything.values() for r in rs if r.get("relay_memory_kib")]
    if memory:
        m = memory[0]
        print(
            "\npyinit's relay process: RSS %.1f MiB, PSS %.1f MiB, private %.1f MiB (a forked copy of pyinit)"
            % (m["rss"] / 1024, m["pss"] / 1024, m["private"] / 1024)
        )
    print("CPU: on-CPU time of the contender's own processes (writers excluded), from /proc schedstat")
    print("load average at the end: %s (wall-clock figures are only as steady as the machine)" % loadavg())
    if args.json:
        for results in everything.values():
            for r in results:
                lat = r.pop("latencies")
                r["latency_p50"] = percentile(lat, 50)
                r["latency_p99"] = percentile(lat, 99)
        args.json.write_text(json.dumps(everything, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
