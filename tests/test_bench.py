"""The benchmark's own parts (bench/): its statistics and verdicts, and its C helpers.

Fast and timing-free: no assertion here depends on how loaded the machine is.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from support import BASE_ENV, PYINIT, ROOT, UNSHARE, needs_pidns

sys.path.insert(0, str(ROOT))  # bench/ is not an installed package

from bench import relay, stats, trace
from bench.build import compile_helpers
from bench.pidns import Fifo


def test_median_and_percentiles():
    assert stats.median([]) is None
    assert stats.median([3, 1, 2]) == 2
    assert stats.median([4, 1, 3, 2]) == 2.5
    values = list(range(1, 101))
    assert stats.percentile(values, 50) == 50
    assert stats.percentile(values, 99) == 99
    assert stats.percentile(values, 100) == 100
    assert stats.percentile([7], 99) == 7
    assert stats.quartiles(values) == (25, 75)


def test_ratio_and_format():
    assert stats.ratio(3, 2) == 1.5
    assert stats.ratio(None, 2) is None
    assert stats.ratio(1, 0) is None
    assert stats.fmt_ratio(1.234) == "1.23x"
    assert stats.fmt_ratio(None) == "-"


def _signal_row(p50, p90, p99=100.0):
    both = {"added_p50_us": p50, "added_p90_us": p90, "via_p99_us": p99}
    return {"pinned": {"all": both}, "unpinned": {"all": dict(both)}}


def _results(**overrides):
    results = {
        "startup": {
            "summary": {
                "floor-os-signal": {"median": 20.0, "pyinit": False},
                "pyinit": {"median": 17.0, "pyinit": True},  # 0.85x: as today
                "pyinit-dev": {"median": 30.0, "pyinit": True},
            }
        },
        "idle": {
            "summary": {
                "floor-os-signal": {"rss_kib": 1000, "pyinit": False},
                "pyinit": {"rss_kib": 1050, "wakeups_per_s": 0.0, "pyinit": True},  # 1.05x: worse
                "tini": {"rss_kib": 100, "wakeups_per_s": 1.0, "pyinit": False},
            }
        },
        "reaping": {
            "summary": {
                "pyinit": {"elapsed_s": 1.2, "peak_zombies": 100, "peak_zombies_max": 300},
                "tini": {"elapsed_s": 1.0, "peak_zombies": 1, "peak_zombies_max": 300},
            }
        },
        "signal": {
            "summary": {
                "pyinit": _signal_row(30.0, 50.0, 1500.0),
                "py-init": _signal_row(20.0, 45.0),
                "tini": _signal_row(20.0, 25.0, 900.0),
            }
        },
        "stop": {
            "summary": {
                "pyinit": {"pinned": {"median": 1.2}, "unpinned": {"median": 2.0}},
                "tini": {"pinned": {"median": 0.8}, "unpinned": {"median": 0.8}},
            }
        },
    }
    results.update(overrides)
    return results


def test_verdicts_per_target():
    verdicts = {(v.target, v.detail.split(" ")[0]): v for v in stats.evaluate(_results())}
    words = {key: v.word for key, v in verdicts.items()}
    start = "start-up <= 1.15x the Python floor (import os, signal)"
    assert words[(start, "pyinit")] == "PASS"  # 0.85x
    assert words[(start, "pyinit-dev")] == "MISS"  # 1.50x
    assert words[("idle wake-ups 0/s", "pyinit")] == "PASS"
    assert words[("reaping 20,000 orphans no slower than tini", "time")] == "MISS"  # 1.2x
    assert words[("reaping: peak zombies no higher than tini's", "peak")] == "MISS"  # median 100 > 1
    zero = _results(reaping={"summary": {"pyinit": {"peak_zombies": 0}, "tini": {"peak_zombies": 0}}})
    peaks = [v for v in stats.evaluate(zero) if v.target.startswith("reaping: peak")]
    assert [v.word for v in peaks] == ["PASS"]  # 0 against 0: no ratio, still a verdict
    assert words[("signal latency added p50 <= 2x tini's (unpinned)", "added")] == "PASS"  # 1.5x
    assert words[("signal latency p99 under 1 ms (unpinned)", "pyinit")] == "MISS"
    assert words[("RSS <= 1.1x the Python floor's", "pyinit")] == "PASS"
    assert "1.50x" in verdicts[(start, "pyinit-dev")].detail


def test_signal_verdicts_against_the_python_floor_pinned_and_unpinned():
    by_target = {v.target: v for v in stats.evaluate(_results())}
    p50 = "signal latency added p50 <= 1.2x the 15-line init's, TERM/USR1 alternating, pinned"
    p90 = "signal latency added p90 <= 1.2x the 15-line init's, TERM/USR1 alternating, pinned"
    assert by_target[p50].word == "MISS"  # 30 against 20: 1.5x
    assert by_target[p90].word == "PASS"  # 50 against 45: 1.11x
    assert "1.50x" in by_target[p50].detail
    # Unpinned is reported with the same verdict, marked as such.
    assert by_target["(reported) " + p50.replace("pinned", "unpinned")].word == "MISS"


def test_stop_verdict_is_an_absolute_margin_over_tini():
    by_target = {v.target: v for v in stats.evaluate(_results())}
    assert by_target["stop <= tini + 0.5 ms, pinned"].word == "PASS"  # +0.40 ms
    assert by_target["(reported) stop <= tini + 0.5 ms, unpinned"].word == "MISS"  # +1.20 ms
    assert "+0.40 ms" in by_target["stop <= tini + 0.5 ms, pinned"].detail


def test_no_worse_than_today_allows_the_stated_noise():
    by_target = {v.target: v for v in stats.evaluate(_results())}
    assert by_target["start-up no worse than today (console script / floor)"].word == "PASS"  # 0.85x
    assert by_target["RSS no worse than today (console script / floor)"].word == "MISS"  # 1.05 > 1.00
    assert by_target["reaping no worse than today (time / tini's)"].word == "MISS"  # 1.2 > 0.80
    today, noise = stats.TODAY["startup"]
    slower = _results()
    slower["startup"]["summary"]["pyinit"]["median"] = 20.0 * today * (1 + noise) * 1.01
    late = {v.target: v for v in stats.evaluate(slower)}
    assert late["start-up no worse than today (console script / floor)"].word == "MISS"
    assert "limit 0.94x" in late["start-up no worse than today (console script / floor)"].detail


def test_no_worse_than_a_baseline_measured_in_the_same_run():
    """BENCH_BASELINE=REF: pyinit at REF ran beside; the checks compare with it, not the README."""
    results = _results()
    results["startup"]["summary"][stats.BASELINE] = {"median": 16.0}  # 17 / 16: 1.06x > 1.05
    results["idle"]["summary"][stats.BASELINE] = {"rss_kib": 1040}  # 1050 / 1040: 1.01x
    results["reaping"]["summary"][stats.BASELINE] = {"elapsed_s": 1.0}  # 1.2x <= 1.25
    by_target = {v.target: v for v in stats.evaluate(results)}
    assert by_target["start-up no worse than today (console script / floor)"].word == "MISS"
    assert by_target["RSS no worse than today (console script / floor)"].word == "PASS"
    assert by_target["reaping no worse than today (time / tini's)"].word == "PASS"
    assert stats.BASELINE in by_target["reaping no worse than today (time / tini's)"].detail


def test_verdicts_when_not_measured():
    verdicts = stats.evaluate({})
    assert verdicts and all(v.ok is None for v in verdicts)
    assert all(v.line().startswith("n/a") for v in verdicts)


def test_sigping_alternates_signals_and_sigrecv_stamps_both_in_stamp_mode(tmp_path):
    """The signal scenario's pair: TERM and USR1 in turn, each answered, the program still there."""
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("needs gcc to build the benchmark's helpers")
    helpers = compile_helpers(tmp_path / "helpers")
    fifo = Fifo(tmp_path / "fifo")
    receiver = subprocess.Popen([helpers["sigrecv"], str(fifo.path), "stamp"])
    try:
        assert fifo.read_record(timeout=30) == bytes(8)  # ready
        os.set_blocking(fifo.fd, True)
        target = "%d:%d" % (receiver.pid, fifo.fd)
        done = subprocess.run(
            [helpers["sigping"], "4", "100", "%d,%d" % (signal.SIGTERM, signal.SIGUSR1), target],
            pass_fds=[fifo.fd],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        rows = [tuple(int(w) for w in line.split()) for line in done.stdout.splitlines()]
        assert [signo for _, signo, _ in rows] == [signal.SIGTERM, signal.SIGUSR1] * 2
        assert all(index == 0 and latency >= 0 for index, _, latency in rows)  # none lost
        assert receiver.poll() is None  # TERM stamped, not obeyed
    finally:
        receiver.kill()
        receiver.wait()
        fifo.close()


def test_sigrecv_stop_mode_stamps_the_term_then_exits_zero(tmp_path):
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("needs gcc to build the benchmark's helpers")
    helpers = compile_helpers(tmp_path / "helpers")
    fifo = Fifo(tmp_path / "fifo")
    receiver = subprocess.Popen([helpers["sigrecv"], str(fifo.path)])  # stop: the default mode
    try:
        assert fifo.read_record(timeout=30) == bytes(8)
        receiver.send_signal(signal.SIGTERM)
        assert receiver.wait(timeout=30) == 0
        assert int.from_bytes(fifo.read_record(timeout=30), "little", signed=True) > 0
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
        fifo.close()


PERF_SCRIPT = """\
    50  100.000010000:   raw_syscalls:sys_enter: NR 62 (a, f, 0, 0, 0, 0)
    10  100.000020000:    raw_syscalls:sys_exit: NR 128 = 15
    10  100.000030000:   raw_syscalls:sys_enter: NR 127 (7ffe, 8, 0, 0, 0, 0)
    10  100.000031000:    raw_syscalls:sys_exit: NR 127 = 0
    10  100.000040000:   raw_syscalls:sys_enter: NR 62 (fffffff5, f, 0, 0, 0, 0)
    10  100.000043000:    raw_syscalls:sys_exit: NR 62 = 0
    10  100.000050000:   raw_syscalls:sys_enter: NR 128 (7ffe, 7ffe, 7ffe, 8, 0, 0)
    10  100.000051000:       sched:sched_switch: prev_comm=python prev_pid=10 prev_prio=120 prev_state=S ==> \
next_comm=prog next_pid=11 next_prio=120
    11  100.000070000:   raw_syscalls:sys_enter: NR 231 (0, 0, 0, 0, 0, 0)
    11  100.000080000: sched:sched_process_exit: comm=prog pid=11 prio=120 group_dead=true
    10  100.000200000:    raw_syscalls:sys_exit: NR 128 = 17
    10  100.000210000:   raw_syscalls:sys_enter: NR 61 (ffffffff, 7ffe, 3, 0, 0, 0)
    10  100.000215000:    raw_syscalls:sys_exit: NR 61 = 11
    10  100.000230000:   raw_syscalls:sys_enter: NR 231 (0, 0, 0, 0, 0, 0)
     9  100.000700000:    raw_syscalls:sys_exit: NR 61 = 10
     9  100.000740000:   raw_syscalls:sys_enter: NR 231 (0, 0, 0, 0, 0, 0)
"""


def test_trace_parsers_split_a_forwarding_and_a_stop():
    """bench-profile's kernel timelines, from perf script's text: init 10 (0xa), program 11,
    unshare 9; the sender (50) sends TERM, the init forwards it, the program exits, the init
    reaps it and exits, unshare wakes and exits."""
    events = trace.parse(PERF_SCRIPT)
    assert len(events) == 16 and events[0].args == (10, 15) and events[1].ret == 15
    steps = trace.signal_steps(events, init=10)
    assert set(steps) == {15}
    term = {name: values[0] for name, values in steps[15].items()}
    assert term["woken"] == pytest.approx(10.0) and term["before"] == pytest.approx(20.0)
    assert term["kill"] == pytest.approx(3.0) and term["after"] == pytest.approx(7.0)
    assert term["awake"] == pytest.approx(30.0) and term["calls"] == 1  # rt_sigpending
    stop = trace.stop_steps(events, init=10, program=11, unshare=9)
    assert stop["term"] == pytest.approx(30.0)  # the sender's kill -> the init's kill
    assert stop["program"] == pytest.approx(30.0)
    assert stop["sigchld"] == pytest.approx(130.0)
    assert stop["reap_exit"] == pytest.approx(30.0) and stop["init_calls"] == "wait4"
    assert stop["teardown"] == pytest.approx(470.0) and stop["unshare"] == pytest.approx(40.0)
    assert stop["total"] == pytest.approx(730.0)


def test_orphans_helper_counts_every_orphan_reaped(tmp_path):
    """The reaping scenario's tool, under pyinit as PID 1, with a few orphans."""
    needs_pidns()
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("needs gcc to build the benchmark's helpers")
    helpers = compile_helpers(tmp_path / "helpers")
    result = tmp_path / "result"
    done = subprocess.run(
        UNSHARE + PYINIT + ["--", helpers["orphans"], "200", str(result)],
        env=BASE_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    elapsed, last_exit, peak, samples, created, _init_cpu = (int(w) for w in result.read_text().split())
    assert created == 200
    assert elapsed >= 0 and samples >= 1
    assert 0 <= peak <= 200
    assert last_exit <= elapsed


def test_reaploop_helper_reaps_every_zombie(tmp_path):
    """bench-profile's C floor of the SIGCHLD loop: it reaps all N and prints a time per zombie."""
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("needs gcc to build the benchmark's helpers")
    helpers = compile_helpers(tmp_path / "helpers")
    done = subprocess.run([helpers["reaploop"], "100"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr  # it exits 1 unless it reaped exactly 100
    assert float(done.stdout) > 0


# --- issue 17: several programs (the relay scenario, the start-up of two programs) -------------


def _needs_gcc():
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("needs gcc to build the benchmark's helpers")


def test_parse_sink_reads_counts_and_latencies():
    text = "done 123\nbytes 640\nlines 5\nother 1\nmixed 2\ncount web 3\ncount worker 2\n"
    text += "lat web 1500\nlat web 2500\nlat worker 1000\n"
    found = relay.parse_sink(text)
    assert found["done"] == 123 and found["lines"] == 5 and found["mixed"] == 2 and found["other"] == 1
    assert found["counts"] == {"web": 3, "worker": 2}
    assert found["latencies_us"] == {"web": [1.5, 2.5], "worker": [1.0]}


def _run(key, lines, wall, cpu, latencies=(), by_process=None):
    return {
        "runner": key,
        "lines": lines,
        "bytes": lines * 60,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_by_process": by_process or {key: cpu},
        "latencies_us": list(latencies),
        "mixed": 0,
        "other": 0,
        "pss_kib": 2048,
        "memory_kib": {},
    }


def test_summarize_takes_the_median_rate_the_cpu_per_line_and_what_a_runner_adds_to_the_floor():
    workload = relay.workloads(quick=True)[0]
    runs = {
        "floor": [_run("floor", 1000, 1.0, 0.0, latencies=[10.0] * 99 + [100.0])],
        "pyinit": [
            _run("pyinit", 1000, 2.0, 0.001, latencies=[30.0] * 100, by_process={"pyinit-relay": 0.001}),
            _run("pyinit", 1000, 0.5, 0.003, by_process={"pyinit-relay": 0.002, "pyinit": 0.001}),
            _run("pyinit", 1000, 1.0, 0.002),
            {"runner": "pyinit", "error": "pyinit: lines missing after 60 s"},
        ],
    }
    s = relay.summarize(workload, runs)
    mine = s["pyinit"]
    assert mine["runs"] == 3 and mine["failures"] == ["pyinit: lines missing after 60 s"]
    assert mine["lines_per_s"] == 1000.0  # the median of 500, 2000 and 1000
    assert mine["cpu_us_per_line"] == pytest.approx(2.0)  # 6 ms over 3,000 lines
    assert mine["cpu_us_per_line_by_process"]["pyinit-relay"] == pytest.approx(1.0)
    assert mine["latency_p50_us"] == 30.0 and s["floor"]["latency_p99_us"] == 10.0
    assert mine["added_p50_us"] == 20.0 and mine["added_p99_us"] == 20.0
    assert s["floor"]["added_p50_us"] == 0.0


def _relay_summary(pyinit_rate, honcho_rate, supervisord_rate, added_p99):
    rows = {
        "pyinit": {"lines_per_s": pyinit_rate, "added_p99_us": added_p99, "latency_p99_us": added_p99 + 50},
        "honcho": {"lines_per_s": honcho_rate},
        "supervisord": {"lines_per_s": supervisord_rate},
    }
    return {"summary": {"short": rows, "long": rows, "paced": rows, "flood": rows}}


def test_relay_verdicts_against_the_faster_peer_and_one_ms_of_latency():
    results = _results(relay=_relay_summary(900.0, 50.0, 1000.0, 400.0))
    by_target = {v.target: v for v in stats.evaluate(results)}
    short = by_target["relay throughput >= the faster of honcho and supervisord, short lines"]
    assert short.word == "MISS" and "pyinit / supervisord = 0.90x" in short.detail
    paced = by_target["relay added latency p99 < 1 ms, lines paced 1 ms apart"]
    assert paced.word == "PASS" and "+400 us" in paced.detail
    assert by_target["(reported) relay added latency p99 < 1 ms, one program flooding"].word == "PASS"
    results = _results(relay=_relay_summary(1000.0, 50.0, 1000.0, 1500.0))
    by_target = {v.target: v for v in stats.evaluate(results)}
    assert by_target["relay throughput >= the faster of honcho and supervisord, long lines"].word == "PASS"
    assert by_target["relay added latency p99 < 1 ms, lines paced 1 ms apart"].word == "MISS"


def test_relay_verdicts_without_the_peers_are_not_measured():
    results = _results(relay={"summary": {"short": {"pyinit": {"lines_per_s": 10.0}}}})
    by_target = {v.target: v for v in stats.evaluate(results)}
    assert by_target["relay throughput >= the faster of honcho and supervisord, short lines"].word == "n/a "


def test_two_programs_start_within_two_ms_of_one():
    results = _results()
    startup = results["startup"]["summary"]
    startup["pyinit-P1"] = {"median": 20.0}
    startup["pyinit-P2"] = {"median": 21.5}
    by_target = {v.target: v for v in stats.evaluate(results)}
    two = by_target["two programs start within 2 ms of one (-P a, -P b against -P a)"]
    assert two.word == "PASS" and "+1.50 ms" in two.detail
    plain = by_target["(reported) two programs start within 2 ms of `pyinit -- true`"]
    assert plain.word == "MISS" and "+4.50 ms" in plain.detail  # against 17.0
    startup["pyinit-P2"] = {"median": 22.5}
    by_target = {v.target: v for v in stats.evaluate(results)}
    assert by_target["two programs start within 2 ms of one (-P a, -P b against -P a)"].word == "MISS"


def test_every_runner_gets_the_same_programs(tmp_path):
    """The floor starts them itself; pyinit and honcho read one Procfile; supervisord one
    [program:x] each, its lines on its stdout, never restarted."""
    commands = [("web", "exec w1"), ("worker", "exec 'w 2'")]
    floor = relay.Runner("floor", "floor", "floor", []).argv(tmp_path, commands)
    assert floor == ["/bin/sh", "-c", "exec w1 & exec 'w 2' & wait"]
    pyinit = relay.Runner("pyinit", "pyinit", "pyinit", ["/venv/bin/pyinit"]).argv(tmp_path, commands)
    assert pyinit == ["/venv/bin/pyinit", "--procfile", str(tmp_path / "Procfile")]
    assert (tmp_path / "Procfile").read_text() == "web: exec w1\nworker: exec 'w 2'\n"
    honcho = relay.Runner("honcho", "honcho", "peer", ["/v/honcho"]).argv(tmp_path, commands)
    assert honcho == ["/v/honcho", "--no-colour", "-f", str(tmp_path / "Procfile"), "start"]
    supervisord = relay.Runner("supervisord", "s", "peer", ["/v/supervisord"]).argv(tmp_path, commands)
    assert supervisord == ["/v/supervisord", "-c", str(tmp_path / "supervisord.conf")]
    conf = (tmp_path / "supervisord.conf").read_text()
    assert "[program:worker]\ncommand=/bin/sh -c 'exec '\"'\"'w 2'\"'\"''\n" in conf
    assert conf.count("stdout_logfile=/dev/stdout") == 2 and conf.count("autorestart=false") == 2


def test_linesink_counts_whole_mixed_and_other_lines(tmp_path):
    """The relay scenario's reader, on crafted input: a line cut by another's bytes is mixed,
    every marker still counts, and it says so the moment the lines are all there."""
    _needs_gcc()
    helpers = compile_helpers(tmp_path / "helpers")
    good = b"web | @@ web 0 100 xxxx\n"
    cut = b"@@ web 1 100 xx@@ worker 0 100 xxxx\n"  # worker's line inside web's
    rest = b"xxxxxxxxxx\n"  # the rest of web's line: padding, no marker
    mine = b"system | web started\n"
    notify_r, notify_w = os.pipe()
    result = tmp_path / "result"
    done = subprocess.run(
        [helpers["linesink"], str(result), str(notify_w), "web:2:4:1", "worker:1:4:0"],
        input=mine + good + cut + rest,
        pass_fds=(notify_w,),
        timeout=60,
    )
    os.close(notify_w)
    assert done.returncode == 0
    assert len(os.read(notify_r, 8)) == 8  # done: both of web's markers and worker's counted
    os.close(notify_r)
    found = relay.parse_sink(result.read_text())
    assert found["counts"] == {"web": 2, "worker": 1}
    assert found["lines"] == 3 and found["mixed"] == 2 and found["other"] == 1
    assert len(found["latencies_us"]["web"]) == 1  # the whole line's only


def test_linewriter_lines_reach_linesink_whole_and_stamped(tmp_path):
    _needs_gcc()
    helpers = compile_helpers(tmp_path / "helpers")
    ready = tmp_path / "ready"
    ready.mkdir()
    result = tmp_path / "result"
    notify_r, notify_w = os.pipe()
    sink = subprocess.Popen(
        [helpers["linesink"], str(result), str(notify_w), "w:500:100:1"],
        stdin=subprocess.PIPE,
        pass_fds=(notify_w,),
    )
    os.close(notify_w)
    writer = subprocess.Popen(
        [helpers["linewriter"], "flood", "w", "500", "100", "0", str(ready)], stdout=sink.stdin
    )
    sink.stdin.close()
    try:
        deadline = time.monotonic() + 30
        while not (ready / "w").exists():
            assert time.monotonic() < deadline, "the writer never got ready"
            time.sleep(0.01)
        writer.send_signal(signal.SIGUSR1)  # go
        assert len(os.read(notify_r, 8)) == 8  # the sink has all 500
        writer.send_signal(signal.SIGUSR1)  # quit
        assert writer.wait(timeout=30) == 0
        assert sink.wait(timeout=30) == 0
    finally:
        os.close(notify_r)
        for proc in (writer, sink):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    found = relay.parse_sink(result.read_text())
    assert found["counts"] == {"w": 500} and found["mixed"] == 0 and found["other"] == 0
    assert len(found["latencies_us"]["w"]) == 500 and min(found["latencies_us"]["w"]) > 0


def test_the_relay_scenario_runs_the_floor_and_pyinit_as_pid_1(tmp_path):
    """One short and one paced workload, end to end, with pyinit from this tree (no peers, no
    install): every line counted, none mixed, pyinit's relay measured apart."""
    needs_pidns()
    _needs_gcc()
    helpers = compile_helpers(tmp_path / "helpers")
    runners = [
        relay.Runner("floor", "floor", "floor", []),
        relay.Runner("pyinit", "pyinit", "pyinit", relay.variant_prefix(sys.executable, ROOT)),
    ]
    chosen = {w.name: w for w in relay.workloads(quick=True, window=0.2)}
    for runner in runners:
        found = relay.run_one(runner, chosen["short"], helpers, tmp_path)  # counted over 0.2 s
        assert "error" not in found, found
        assert found["lines"] > 0 and found["bytes"] >= 50 * found["lines"] and found["mixed"] == 0
        assert found["wall_s"] == pytest.approx(0.2, abs=0.2)
        found = relay.run_one(runner, chosen["paced"], helpers, tmp_path)  # 2 x 250 lines
        assert "error" not in found, found
        assert found["lines"] == 500 and found["mixed"] == 0 and len(found["latencies_us"]) == 500
    assert "pyinit-relay" in found["cpu_by_process"] and "pyinit-relay" in found["memory_kib"]
