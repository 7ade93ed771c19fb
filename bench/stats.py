"""Statistics and verdicts: pure functions over the numbers the scenarios collected.

Kept apart from the measuring so that it can be tested without root, namespaces or timing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2.0


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile: a value that was really observed (no interpolation)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


def quartiles(values: Sequence[float]) -> tuple[float, float] | None:
    """The 25th and 75th percentiles: the spread shown next to a median."""
    low, high = percentile(values, 25), percentile(values, 75)
    if low is None or high is None:
        return None
    return low, high


def ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference <= 0:
        return None
    return value / reference


def summary(values: Sequence[float]) -> dict[str, Any]:
    """What the JSON keeps next to the raw samples."""
    spread = quartiles(values)
    return {
        "n": len(values),
        "median": median(values),
        "p25": spread[0] if spread else None,
        "p75": spread[1] if spread else None,
        "p99": percentile(values, 99),
        "min": min(values) if values else None,
        "max": max(values) if values else None,
    }


@dataclass
class Verdict:
    """One target: PASS, MISS, or n/a (not measured), with the numbers that decided it."""

    target: str
    ok: bool | None
    detail: str

    @property
    def word(self) -> str:
        return "n/a " if self.ok is None else ("PASS" if self.ok else "MISS")

    def line(self) -> str:
        return "%s  %s: %s" % (self.word, self.target, self.detail)


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else "%.2fx" % value


def at_most(target: str, value: float | None, reference: float | None, limit: float, what: str) -> Verdict:
    """value <= limit x reference, told as a ratio (the verdict of most targets)."""
    found = ratio(value, reference)
    if found is None:
        return Verdict(target, None, "%s: not measured" % what)
    return Verdict(target, found <= limit, "%s = %s (limit %.2fx)" % (what, fmt_ratio(found), limit))


def evaluate(results: dict[str, Any], main: str = "pyinit") -> list[Verdict]:
    """The issue's targets, for pyinit (`main`) against the same run.

    results holds each scenario's "summary" section as the scenarios write them: start-up
    medians per contender, signal latencies, reaping, idle and memory figures.
    """
    verdicts: list[Verdict] = []
    startup = results.get("startup", {}).get("summary", {})
    floor = startup.get("floor-os-signal", {}).get("median")
    for key in [k for k in startup if startup[k].get("pyinit")]:
        verdicts.append(
            at_most(
                "start-up <= 1.15x the Python floor (import os, signal)",
                startup[key].get("median"),
                floor,
                1.15,
                "%s / floor" % key,
            )
        )

    idle = results.get("idle", {}).get("summary", {})
    mine = idle.get(main, {})
    wakeups = mine.get("wakeups_per_s")
    tini_wakeups = idle.get("tini", {}).get("wakeups_per_s")
    if wakeups is None:
        verdicts.append(Verdict("idle wake-ups 0/s", None, "not measured"))
    else:
        verdicts.append(
            Verdict(
                "idle wake-ups 0/s",
                wakeups == 0,
                "%s %.2f/s (tini %s/s)"
                % (main, wakeups, "-" if tini_wakeups is None else "%.2f" % tini_wakeups),
            )
        )

    reaping = results.get("reaping", {}).get("summary", {})
    mine, tini = reaping.get(main, {}), reaping.get("tini", {})
    verdicts.append(
        at_most(
            "reaping 20,000 orphans no slower than tini",
            mine.get("elapsed_s"),
            tini.get("elapsed_s"),
            1.0,
            "time %s / tini" % main,
        )
    )
    # Counts, compared as they are: tini's median peak is often 0 or 1, where a ratio says little.
    peak, tini_peak = mine.get("peak_zombies"), tini.get("peak_zombies")
    verdicts.append(
        Verdict(
            "reaping: peak zombies no higher than tini's",
            None if peak is None or tini_peak is None else peak <= tini_peak,
            "not measured"
            if peak is None or tini_peak is None
            else "peak %s %.0f, tini %.0f%s"
            % (main, peak, tini_peak, "" if not tini_peak else " = %.2fx" % (peak / tini_peak)),
        )
    )

    frozen = results.get("reaping", {}).get("frozen", {}).get("summary", {})
    if frozen:
        verdicts.append(
            at_most(
                "(diagnostic) reaping 20,000 zombies, init frozen meanwhile, no slower than tini",
                frozen.get(main, {}).get("reap_s"),
                frozen.get("tini", {}).get("reap_s"),
                1.0,
                "time %s / tini" % main,
            )
        )

    signal = results.get("signal", {}).get("summary", {})
    mine, tini = signal.get(main, {}), signal.get("tini", {})
    verdicts.append(
        at_most(
            "signal latency added p50 <= 2x tini's",
            mine.get("added_p50_us"),
            tini.get("added_p50_us"),
            2.0,
            "added p50 %s / tini" % main,
        )
    )
    p99, tini_p99 = mine.get("via_p99_us"), tini.get("via_p99_us")
    verdicts.append(
        Verdict(
            "signal latency p99 under 1 ms",
            None if p99 is None else p99 < 1000.0,
            "not measured"
            if p99 is None
            else "%s p99 %.0f us end to end (tini %s us in the same run)"
            % (main, p99, "-" if tini_p99 is None else "%.0f" % tini_p99),
        )
    )

    memory = results.get("idle", {}).get("summary", {})
    floor_rss = memory.get("floor-os-signal", {}).get("rss_kib")
    for key in [k for k in memory if memory[k].get("pyinit")]:
        verdicts.append(
            at_most(
                "RSS <= 1.1x the Python floor's",
                memory[key].get("rss_kib"),
                floor_rss,
                1.1,
                "%s / floor" % key,
            )
        )
    return verdicts
