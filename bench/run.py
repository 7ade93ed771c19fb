"""make bench: prepare, run the scenarios, print the tables and the targets, write the JSON."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import relay, scenarios, stats
from bench.build import ROOT, multi_versions, peer_version, prepare, real_python
from bench.contenders import MAIN, MULTI_ONE, MULTI_TWO, SIGNAL_GRACE, contenders
from bench.pidns import can_unshare

SCENARIOS = ("startup", "signal", "stop", "idle", "relay", "reaping")
RESULTS = ROOT / "bench" / "results"


def machine() -> dict[str, Any]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "loadavg_start": loadavg(),
        "cpu_busy_start_pct": cpu_busy(1.0),
    }


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def cpu_busy(seconds: float = 0.5) -> float | None:
    """Share of the machine's CPU time busy over a short sample (/proc/stat), in percent.

    The load average misleads here: the reaping scenario's 20,000 runnable orphans push it
    into the thousands for minutes after, while the machine is idle again.
    """

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if total1 == total0:
        return None
    return 100.0 * (1 - (idle1 - idle0) / (total1 - total0))


def log(text: str) -> None:
    print("  .. %s" % text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1")
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(SCENARIOS))
    parser.add_argument(
        "--baseline",
        default=os.environ.get("BENCH_BASELINE", ""),
        help="a git commit whose pyinit is measured beside the current one (no-worse checks against it)",
    )
    parser.add_argument(
        "--cpu", type=int, default=None, help="the CPU of the pinned runs (default: the highest allowed)"
    )
    parser.add_argument("--json", default="", help="where to write the results (default bench/results/)")
    parser.add_argument(
        "--signal-gap-us",
        type=int,
        default=None,
        help="pause between two pings (default 300): the longer an init sleeps, the colder its caches"
        " and the more a wake-up costs, the more so the bigger its working set (Python's)",
    )
    args = parser.parse_args(argv)
    only = [s for s in args.only.split(",") if s] or list(SCENARIOS)
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        parser.error("unknown scenario(s): %s" % ", ".join(sorted(unknown)))

    why = can_unshare()
    if why:
        print("bench: %s" % why, file=sys.stderr)
        sys.exit(1)

    began = time.monotonic()
    python = real_python(os.environ.get("BENCH_PYTHON") or str(ROOT / ".venv" / "bin" / "python"))
    build = prepare(python, args.baseline, multi="relay" in only)
    everyone = contenders(build)
    settings = scenarios.Settings.make(args.quick)
    if args.signal_gap_us is not None:
        settings.signal_gap_us = args.signal_gap_us
    settings.cpu = args.cpu
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True
    )
    meta: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "python": {"path": python, "version": version.stdout.strip()},
        "peers": {name: {"path": path, "version": peer_version(path)} for name, path in build.peers.items()},
        "multi": {
            name: {"path": build.multi[name], "version": version}
            for name, version in multi_versions(build.multi).items()
        },
        "contenders": {c.key: {"label": c.label, "argv": c.startup_argv()} for c in everyone},
        "settings": vars(settings),
        "notes": build.notes,
    }
    print_header(meta)

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pyinit-bench-") as tmp:
        for name in only:
            load = loadavg()
            busy = cpu_busy()
            start = time.monotonic()
            if name == "startup":
                result = scenarios.startup(everyone, settings, log)
            elif name == "signal":
                result = scenarios.signal_latency(everyone, build, settings, Path(tmp), log)
            elif name == "stop":
                result = scenarios.stop(everyone, build, settings, Path(tmp), log)
            elif name == "idle":
                result = scenarios.idle(everyone, build, settings, Path(tmp), log)
            elif name == "relay":
                result = relay.run_all(
                    build, settings.quick, settings.relay_repeat, Path(tmp), log, window=settings.relay_window
                )
            else:
                result = scenarios.reaping(everyone, build, settings, Path(tmp), log)
            result["seconds"] = time.monotonic() - start
            result["loadavg_before"] = load
            result["cpu_busy_before_pct"] = busy
            results[name] = result
            PRINTERS[name](result)
            print(
                "   (%.0f s; before it: CPUs %s%% busy, load average %s)\n"
                % (result["seconds"], "-" if busy is None else "%.0f" % busy, load)
            )

    verdicts = stats.evaluate(results, MAIN)
    print("== Targets (pyinit against the same run)")
    for verdict in verdicts:
        print("  " + verdict.line())
    if "startup" in results:
        print_breakdown(results["startup"]["summary"])
    meta["machine"]["loadavg_end"] = loadavg()
    meta["seconds"] = time.monotonic() - began
    out = Path(args.json) if args.json else RESULTS / (time.strftime("%Y%m%d-%H%M%S") + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {"meta": meta, "results": results, "targets": [vars(v) for v in verdicts]}
    out.write_text(json.dumps(document, indent=1, sort_keys=True))
    print("\nJSON: %s\nTotal: %.0f s (load average at the end: %s)" % (out, meta["seconds"], loadavg()))


# --- printing -------------------------------------------------------------------------------------


def print_header(meta: dict[str, Any]) -> None:
    m = meta["machine"]
    print("== pyinit benchmark, %s%s" % (meta["date"], " (quick mode)" if meta["settings"]["quick"] else ""))
    print(
        "   machine: %s CPUs, %s, kernel %s; at the start: CPUs %s%% busy, load average %s"
        % (m["nproc"], m["cpu"], m["kernel"], _num(m["cpu_busy_start_pct"], "%.0f"), m["loadavg_start"])
    )
    print(
        "   python under test: %s (%s), for pyinit and the floors"
        % (meta["python"]["path"], meta["python"]["version"])
    )
    for name, peer in meta["peers"].items():
        print("   %s: %s (%s)" % (name, peer["path"], peer["version"]))
    for name, peer in meta.get("multi", {}).items():
        print("   %s %s: %s" % (name, peer["version"], peer["path"]))
    for note in meta["notes"]:
        print("   note: %s" % note)
    print()


def _num(value: float | None, fmt: str = "%.2f") -> str:
    return "-" if value is None else fmt % value


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(
        "%-*s" % (w, h) if i == 0 else "%*s" % (w, h) for i, (w, h) in enumerate(zip(widths, headers))
    )
    print("   " + line)
    for row in rows:
        print(
            "   "
            + "  ".join(
                "%-*s" % (w, c) if i == 0 else "%*s" % (w, c) for i, (w, c) in enumerate(zip(widths, row))
            )
        )


def print_startup(result: dict[str, Any]) -> None:
    s = result["summary"]
    none = s.get("none", {}).get("median")
    floor = s.get("floor-os-signal", {}).get("median")
    tini = s.get("tini", {}).get("median")
    print("== 1. Start-up: `INIT true` as PID 1 of a new namespace, end to end (medians)")
    rows = []
    for row in s.values():
        med = row["median"]
        rows.append(
            [
                row["label"],
                stats.fmt_ratio(stats.ratio(med, floor)),
                stats.fmt_ratio(stats.ratio(med, tini)),
                stats.fmt_ratio(stats.ratio(med, none)),
                _num(None if med is None or none is None else med - none),
                _num(med),
                "%s-%s" % (_num(row["p25"]), _num(row["p75"])),
                str(row["failures"]) if row["failures"] else "",
            ]
        )
    _table(["", "x floor", "x tini", "x none", "+none ms", "median ms", "p25-p75", "fail"], rows)
    print(
        "   floor = python -I -S -c 'import os, signal'; none = unshare ... true (the namespace's own cost)"
    )
    print_multi_startup(result)


def print_signal(result: dict[str, Any]) -> None:
    s = result["summary"]
    kinds = result.get("signals", ["TERM", "USR1"])
    print(
        "== 2. Signal latency added by the init (us): kill() of the init -> the program's handler,"
        " less kill() of the program"
    )
    print(
        "   SIG%s in turn, %d us apart; pinned: sigping, unshare, the inits and the programs all on CPU %s;"
        % (" and SIG".join(kinds), result["gap_us"], result.get("cpu", "?"))
    )
    grace = [row["label"] for row in s.values() if "--grace" in row.get("argv", [])]
    if grace:
        print(
            "   %s run with --grace %d: the grace period starts at the first SIGTERM and stays pending"
            % (", ".join(grace), SIGNAL_GRACE)
        )
    floor_key, tini_key = stats.PY_FLOOR, "tini"
    rows = []
    for row in s.values():
        for mode in scenarios.MODES:
            m = row.get(mode, {})
            both = m.get("all", {})
            floor = s.get(floor_key, {}).get(mode, {}).get("all", {})
            tini = s.get(tini_key, {}).get(mode, {}).get("all", {})
            cells = [
                row["label"] if mode == scenarios.MODES[0] else "",
                mode,
                _num(both.get("added_p50_us"), "%.1f"),
                stats.fmt_ratio(stats.ratio(both.get("added_p50_us"), floor.get("added_p50_us"))),
                stats.fmt_ratio(stats.ratio(both.get("added_p50_us"), tini.get("added_p50_us"))),
                _num(both.get("added_p90_us"), "%.1f"),
                stats.fmt_ratio(stats.ratio(both.get("added_p90_us"), floor.get("added_p90_us"))),
                _num(both.get("added_p99_us"), "%.0f"),
            ]
            for kind in kinds:
                k = m.get(kind, {})
                cells.append(
                    "/".join(_num(k.get("added_p%d_us" % pct), "%.0f") for pct in scenarios.PERCENTILES)
                )
            cells += [
                _num(both.get("direct_p50_us"), "%.1f"),
                _num(both.get("via_p99_us"), "%.0f"),
                _num(m.get("init_cpu_us_per_signal"), "%.1f"),
                "%d/%d" % (m.get("lost", 0), both.get("n", 0) * 2 + m.get("lost", 0)),
            ]
            rows.append(cells)
    headers = ["", "", "p50", "x 15-line", "x tini", "p90", "x 15-line", "p99"]
    headers += ["%s p50/90/99" % kind for kind in kinds]
    headers += ["direct p50", "via p99", "init CPU", "lost"]
    _table(headers, rows)
    print("   pN: the init's latency at percentile N less the program's own at N (both signals); per signal")
    print("   the same; direct: kill() of the program itself; via p99: through the init, end to end;")
    print("   init CPU: the init's CPU time per forwarded signal (schedstat), us")


def print_reaping(result: dict[str, Any]) -> None:
    s = result["summary"]
    tini = s.get("tini", {})
    print(
        "== 3. Reaping: %d orphans exit at once (medians of %s runs)"
        % (result["orphans"], max((r["runs"] for r in s.values()), default=0))
    )
    rows = [
        [
            row["label"],
            stats.fmt_ratio(stats.ratio(row["elapsed_s"], tini.get("elapsed_s"))),
            _num(row["elapsed_s"]),
            "%s-%s" % (_num(row["elapsed_min_s"]), _num(row["elapsed_max_s"])),
            _num(row["last_exit_s"]),
            _num(row["tail_s"]),
            stats.fmt_ratio(stats.ratio(row["tail_s"], tini.get("tail_s"))),
            _num(row["peak_zombies"], "%.0f"),
            stats.fmt_ratio(stats.ratio(row["peak_zombies"], tini.get("peak_zombies"))),
            _num(row.get("peak_zombies_max"), "%.0f"),
            _num(row["init_cpu_us_per_orphan"], "%.1f"),
            "%d/%d" % (row["slow_herds"], row["runs"]),
            str(row["failures"]) if row["failures"] else "",
        ]
        for row in s.values()
    ]
    _table(
        [
            "",
            "time x tini",
            "all reaped s",
            "min-max",
            "last exit s",
            "tail s",
            "x tini",
            "peak zombies",
            "x tini",
            "highest",
            "init CPU",
            "slow herds",
            "fail",
        ],
        rows,
    )
    print("   tail = all reaped - last exit: the reaping left once every orphan had exited;")
    print("   init CPU: the init's CPU time per orphan over the run (schedstat of PID 1), us;")
    print("   peak zombies: median of the runs' peaks; highest: the highest of all runs;")
    print("   slow herds: runs whose orphans took > 2x the typical time to exit: the init woke for")
    print("   every exit and preempted the herd each time (its peak is then ~1 zombie)")
    frozen = result.get("frozen", {}).get("summary", {})
    if frozen:
        tini_reap = frozen.get("tini", {}).get("reap_s")
        print("\n   3b. The init's reaping alone: init SIGSTOPped while the orphans exit, then SIGCONT")
        rows = [
            [
                row["label"],
                stats.fmt_ratio(stats.ratio(row["reap_s"], tini_reap)),
                _num(None if row["reap_s"] is None else row["reap_s"] * 1000, "%.0f"),
                "%s-%s"
                % (
                    _num(None if row["reap_min_s"] is None else row["reap_min_s"] * 1000, "%.0f"),
                    _num(None if row["reap_max_s"] is None else row["reap_max_s"] * 1000, "%.0f"),
                ),
                _num(row["zombies_per_s"], "%.0f"),
                _num(row["init_cpu_us_per_orphan"], "%.1f"),
                str(row["failures"]) if row["failures"] else "",
            ]
            for row in frozen.values()
        ]
        _table(["", "x tini", "reap ms", "min-max", "zombies/s", "init CPU", "fail"], rows)


def print_idle(result: dict[str, Any]) -> None:
    s = result["summary"]
    floor = s.get("floor-os-signal", {}).get("rss_kib")
    print(
        "== 4. Idle (%.0f s) and 5. memory while idle" % max((r["window_s"] for r in s.values()), default=0)
    )
    rows = [
        [
            row["label"],
            _num(row["wakeups_per_s"]),
            _num(row["cpu_us"], "%.0f"),
            stats.fmt_ratio(stats.ratio(row["rss_kib"], floor)),
            _num(row["rss_kib"] / 1024 if row["rss_kib"] else None),
            _num(row["pss_kib"] / 1024 if row["pss_kib"] else None),
            _num(row["private_kib"] / 1024 if row["private_kib"] else None),
        ]
        for row in s.values()
    ]
    _table(["", "wake-ups/s", "CPU us", "RSS x floor", "RSS MiB", "PSS MiB", "private MiB"], rows)
    print(
        "   PSS shares each mapped file among all its users on the machine (all the inits here run at once)"
    )


def print_stop(result: dict[str, Any]) -> None:
    s = result["summary"]
    print(
        "== 6. Stop: SIGTERM to PID 1 until the namespace is gone (program exits at once on TERM);"
        " pinned: all on CPU %s" % result.get("cpu", "?")
    )
    rows = []
    for row in s.values():
        for mode in scenarios.MODES:
            m = row.get(mode, {})
            tini = s.get("tini", {}).get(mode, {}).get("median")
            none = s.get("none", {}).get(mode, {}).get("median")
            med, fwd = m.get("median"), m.get("forwarded_median")
            rows.append(
                [
                    row["label"] if mode == scenarios.MODES[0] else "",
                    mode,
                    _num(med),
                    stats.fmt_ratio(stats.ratio(med, tini)),
                    _num(None if med is None or tini is None else med - tini, "%+.2f"),
                    _num(None if med is None or none is None else med - none, "%+.2f"),
                    "%s-%s" % (_num(m.get("p25")), _num(m.get("p75"))),
                    _num(fwd),
                    _num(None if med is None or fwd is None else med - fwd),
                    str(m["failures"]) if m.get("failures") else "",
                ]
            )
    _table(
        ["", "", "median ms", "x tini", "- tini", "- none", "p25-p75", "TERM there", "rest", "fail"],
        rows,
    )
    print("   TERM there: median time until the program's TERM handler ran (forwarding); rest: the")
    print("   difference of the medians: the program's exit, the init's reaping and exit, the teardown")


def print_relay(result: dict[str, Any]) -> None:
    print("== 7. Several programs' output: a Procfile's two programs, their lines on one pipe read by a sink")
    print("   each runner PID 1 of a new namespace; pyinit = `pyinit --procfile` (pyinit + its relay)")
    labels = {key: r["label"] for key, r in result["runners"].items()}
    for name in result.get("missing", []):
        print("   %s: skipped (not installed: see the note above)" % name)
    for name, workload in result["workloads"].items():
        s = result["summary"][name]
        print("\n   7%s. %s" % ("abcd"[list(result["workloads"]).index(name) % 4], workload["title"]))
        floor = s.get("floor", {})
        peers = [s[k] for k in relay.PEERS if k in s]
        if workload["kind"] == "throughput":
            fastest = max((r["lines_per_s"] or 0 for r in peers), default=0) or None
            cheapest = min((r["cpu_us_per_line"] for r in peers if r["cpu_us_per_line"]), default=None)
            rows = [
                [
                    labels.get(key, key),
                    _num(row["lines_per_s"], "%.0f"),
                    "%s-%s" % (_num(row["lines_per_s_min"], "%.0f"), _num(row["lines_per_s_max"], "%.0f")),
                    stats.fmt_ratio(stats.ratio(row["lines_per_s"], floor.get("lines_per_s"))),
                    stats.fmt_ratio(stats.ratio(row["lines_per_s"], fastest)),
                    _num(row["mb_per_s"], "%.1f"),
                    _num(row["cpu_us_per_line"]) if row["cpu_us_per_line"] and key != "floor" else "-",
                    stats.fmt_ratio(stats.ratio(row["cpu_us_per_line"], cheapest)) if key != "floor" else "-",
                    _num(row["pss_mib"], "%.1f"),
                    str(row["mixed"]) if row["mixed"] else "",
                    "%d/%d" % (row["runs"], row["runs"] + len(row["failures"])),
                ]
                for key, row in s.items()
            ]
            _table(
                [
                    "",
                    "lines/s",
                    "min-max",
                    "x floor",
                    "x fastest peer",
                    "MB/s",
                    "CPU us/line",
                    "x cheapest peer",
                    "PSS MiB",
                    "mixed",
                    "runs",
                ],
                rows,
            )
        else:
            rows = [
                [
                    labels.get(key, key),
                    _num(row["latency_p50_us"], "%.0f"),
                    _num(row["latency_p99_us"], "%.0f"),
                    _num(row["added_p50_us"], "%+.0f") if key != "floor" else "",
                    _num(row["added_p99_us"], "%+.0f") if key != "floor" else "",
                    _num(row["cpu_us_per_line"]) if key != "floor" and name != "flood" else "-",
                    str(row["latency_n"]),
                    str(row["mixed"]) if row["mixed"] else "",
                ]
                for key, row in s.items()
            ]
            _table(["", "p50 us", "p99 us", "added p50", "added p99", "CPU us/line", "lines", "mixed"], rows)
        for key, row in s.items():
            split = row.get("cpu_us_per_line_by_process") or {}
            if key in relay.PEERS or key == "floor" or len(split) < 2:
                continue
            print(
                "   %s CPU us/line by process: %s"
                % (
                    key,
                    ", ".join("%s %.2f" % (n, v) for n, v in sorted(split.items(), key=lambda kv: -kv[1])),
                )
            )
        for row in s.values():
            for failure in row["failures"]:
                print("   failed: %s" % failure)
    relays = [
        (name, row["memory_kib"]["pyinit-relay"])
        for name, rows in result["summary"].items()
        for key, row in rows.items()
        if key == relay.MAIN and "pyinit-relay" in row.get("memory_kib", {})
    ]
    if relays:
        name, m = relays[-1]
        print(
            "   pyinit's relay process (after %s): RSS %.1f MiB, PSS %.1f MiB, private %.1f MiB"
            % (name, m["rss"] / 1024, m["pss"] / 1024, m["private"] / 1024)
        )
    print("   lines/s, MB/s: median of the runs (go -> the last line read); CPU: the runner's processes,")
    print("   writers excluded (schedstat, every thread); latency: the writer's stamp -> the sink's read;")
    print("   added: the runner's percentile less the floor's; mixed: lines with another's bytes inside")


def _second(item: tuple[str, float]) -> float:
    return -item[1]


def print_multi_startup(result: dict[str, Any]) -> None:
    """1b: the start-up of one and two programs from -P lines, beside `pyinit -- true`."""
    s = result["summary"]
    rows = [(key, s[key]) for key in (MAIN, MULTI_ONE, MULTI_TWO) if key in s]
    if len(rows) < 2:
        return
    main = s.get(MAIN, {}).get("median")
    one = s.get(MULTI_ONE, {}).get("median")
    print("\n== 1b. Several programs: start-up until pyinit exits, the programs `true` (medians)")
    _table(
        ["", "median ms", "p25-p75", "- pyinit -- true", "- one -P"],
        [
            [
                row["label"],
                _num(row["median"]),
                "%s-%s" % (_num(row["p25"]), _num(row["p75"])),
                _num(None if row["median"] is None or main is None else row["median"] - main, "%+.2f"),
                _num(None if row["median"] is None or one is None else row["median"] - one, "%+.2f"),
            ]
            for _, row in rows
        ],
    )


def print_breakdown(s: dict[str, Any]) -> None:
    """Start-up, step by step: differences of same-run medians (rows that add one step each)."""

    def med(key: str) -> float | None:
        return s.get(key, {}).get("median")

    steps = [
        ("namespace + exec of true (none)", med("none"), 0.0),
        ("interpreter start and finalization (-I -S -c pass)", med("floor-pass"), med("none")),
        ("import os, signal (+ their finalization)", med("floor-os-signal"), med("floor-pass")),
        ("  of which finalization (floor - os._exit variant)", med("floor-os-signal"), med("diag-exit")),
        ("pyinit's imports (pyinit.main, no run)", med("diag-imports"), med("diag-exit")),
        ("  python fork/exec/wait of true alone", med("diag-fork"), med("diag-exit")),
        ("pyinit's run (+ -IS launcher): parse, spawn, reap, exit", med("pyinit-fast"), med("diag-imports")),
        ("console script instead: site + launcher", med(MAIN), med("pyinit-fast")),
        ("python -m instead: site + runpy", med("pyinit-m"), med("pyinit-fast")),
        ("zipapp instead (runpy, zipimport)", med("pyinit-pyz"), med("pyinit-fast")),
        ("  launcher into the zipapp (zipimport, no runpy)", med("pyinit-pyz-fast"), med("pyinit-fast")),
        ("editable dev install instead of pip-installed", med("pyinit-dev"), med(MAIN)),
        ("a 15-line Python init instead (same job, less of it)", med("py-init"), med("pyinit-fast")),
    ]
    print("\n== Start-up breakdown (differences of the medians above, ms)")
    for text, value, base in steps:
        if value is not None and base is not None:
            print("   %-55s %+7.2f" % (text, value - base))


PRINTERS = {
    "startup": print_startup,
    "signal": print_signal,
    "reaping": print_reaping,
    "idle": print_idle,
    "stop": print_stop,
    "relay": print_relay,
}
