"""The benchmark's own parts (bench/): its statistics and verdicts, and its C helpers.

Fast and timing-free: no assertion here depends on how loaded the machine is.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from support import BASE_ENV, PYINIT, ROOT, UNSHARE, needs_pidns

sys.path.insert(0, str(ROOT))  # bench/ is not an installed package

from bench import stats
from bench.build import compile_helpers


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


def _results(**overrides):
    results = {
        "startup": {
            "summary": {
                "floor-os-signal": {"median": 20.0, "pyinit": False},
                "pyinit": {"median": 22.0, "pyinit": True},
                "pyinit-dev": {"median": 30.0, "pyinit": True},
            }
        },
        "idle": {
            "summary": {
                "floor-os-signal": {"rss_kib": 1000, "pyinit": False},
                "pyinit": {"rss_kib": 1050, "wakeups_per_s": 0.0, "pyinit": True},
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
                "pyinit": {"added_p50_us": 30.0, "via_p99_us": 1500.0},
                "tini": {"added_p50_us": 20.0, "via_p99_us": 900.0},
            }
        },
    }
    results.update(overrides)
    return results


def test_verdicts_per_target():
    verdicts = {(v.target, v.detail.split(" ")[0]): v for v in stats.evaluate(_results())}
    words = {key: v.word for key, v in verdicts.items()}
    start = "start-up <= 1.15x the Python floor (import os, signal)"
    assert words[(start, "pyinit")] == "PASS"  # 1.10x
    assert words[(start, "pyinit-dev")] == "MISS"  # 1.50x
    assert words[("idle wake-ups 0/s", "pyinit")] == "PASS"
    assert words[("reaping 20,000 orphans no slower than tini", "time")] == "MISS"  # 1.2x
    assert words[("reaping: peak zombies no higher than tini's", "peak")] == "MISS"  # median 100 > 1
    zero = _results(reaping={"summary": {"pyinit": {"peak_zombies": 0}, "tini": {"peak_zombies": 0}}})
    peaks = [v for v in stats.evaluate(zero) if v.target.startswith("reaping: peak")]
    assert [v.word for v in peaks] == ["PASS"]  # 0 against 0: no ratio, still a verdict
    assert words[("signal latency added p50 <= 2x tini's", "added")] == "PASS"  # 1.5x
    assert words[("signal latency p99 under 1 ms", "pyinit")] == "MISS"
    assert words[("RSS <= 1.1x the Python floor's", "pyinit")] == "PASS"
    assert "1.50x" in verdicts[(start, "pyinit-dev")].detail


def test_verdicts_when_not_measured():
    verdicts = stats.evaluate({})
    assert verdicts and all(v.ok is None for v in verdicts)
    assert all(v.line().startswith("n/a") for v in verdicts)


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
