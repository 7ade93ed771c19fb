"""Judge an Observation: the verdict, the probe's exit status, and the facts behind them.

Pure functions of the Observation (no /proc, no clock), so every rule is in one page:

- killed-after-timeout: pyinit escalated to SIGKILL (--timeout over) while the program still ran.
- crashed: the program ended, but not the way a program that handles (or simply dies of) the
  signal ends: killed by another signal (SIGSEGV, SIGABRT, a SIGKILL that was not pyinit's), or
  an exit code other than 0 or 128+N (N: the signal sent; 143 for TERM is the convention).
- left-processes: when the program exited by itself, other processes were still running and pyinit had to
  stop them (it sends SIGTERM, then SIGKILL at --timeout).  Not counted: processes that were in
  the program's process group when the signal was sent (so they got it too) and ended within
  LINGER seconds of the program -- they were dying of the same signal, not left behind.
- slow: none of the above, but pyinit exited more than --slow seconds after the signal.
- clean: none of the above.
Outside the signal's story: hung (pyinit still running HUNG_ALLOWANCE seconds after the
--timeout escalation; the probe killed everything), exited-early (the program ended before it
was signalled), not-ready (readiness never came).
When several findings apply the worst is the verdict; the report lists them all.
"""

from __future__ import annotations

import signal

from .session import HUNG_ALLOWANCE, Observation, Seen

#: The verdicts, mildest first, with the probe's exit status for each.
EXIT_CODES = {
    "clean": 0,
    "slow": 1,
    "left-processes": 2,
    "crashed": 3,
    "killed-after-timeout": 4,
    "hung": 5,
    "exited-early": 6,
    "not-ready": 7,
}
#: See left-processes above.
LINGER = 0.5
#: A zombie is reported once it stayed one (exited, not yet reaped by its parent) this long.
ZOMBIE_MIN = 0.2

__all__ = ["EXIT_CODES", "HUNG_ALLOWANCE", "LINGER", "Judgement", "judge"]


class Judgement:
    def __init__(self, verdict: str, findings: list[str]) -> None:
        self.verdict = verdict
        self.findings = findings
        self.exit_code = EXIT_CODES[verdict]
        self.ended_by: str | None = None
        self.time_to_exit: float | None = None
        self.program_exited_after: float | None = None
        self.left_behind: list[Seen] = []
        self.leftovers_killed = False
        self.zombies: list[Seen] = []


def ended_by(obs: Observation) -> str | None:
    """How the program ended: handled-exit, signal-default-action, killed-after-timeout,
    other-signal; None if pyinit never reported it."""
    event = obs.main_event
    if event is None:
        return None
    if "signal" not in event:
        return "handled-exit"
    signo = event["signal"]
    if signo == signal.SIGKILL and obs.escalation is not None and obs.escalation["main_alive"]:
        return "killed-after-timeout"
    if signo == obs.options.signo:
        return "signal-default-action"
    return "other-signal"


def _match_reaped(obs: Observation) -> None:
    """Pair pyinit's "reaped" events (pids as pyinit sees them) with the processes we saw."""
    latest: dict[int, Seen] = {}
    for seen in sorted(obs.seen.values(), key=lambda s: s.first_seen):
        if seen.inner is not None:
            latest[seen.inner] = seen  # should a pid have been reused, the newest process
    for event in obs.reaped_others:
        seen = latest.get(event.get("pid", -1))
        if seen is not None and seen.reaped is None:
            seen.reaped = event
            seen.ended_at = float(event["ts"])


def left_behind(obs: Observation) -> list[Seen]:
    """The processes still running when the program exited (but for the LINGER exception)."""
    if obs.main_exit_at is None:
        return []
    main_end = obs.main_exit_at
    program_key = obs.program.key if obs.program is not None else None
    evidence: dict[tuple[int, int], Seen] = {}
    for seen in obs.seen.values():
        if seen.reaped is not None and seen.reaped["after_main"] and seen.last_alive is not None:
            evidence[seen.key] = seen
    for seen in obs.seen.values():
        if seen.last_alive is not None and seen.last_alive > main_end:
            evidence[seen.key] = seen
    left = []
    for key, seen in evidence.items():
        if key == program_key or seen.pid == obs.init_pid:
            continue
        if seen.zombie_since is not None and seen.zombie_since <= main_end:
            continue  # already dead before the program: an unreaped child, not a leftover
        got_the_signal = (
            key in obs.alive_at_signal and obs.program is not None and (seen.pgid == obs.program.pgid)
        )
        if got_the_signal and seen.ended_at is not None and seen.ended_at - main_end <= LINGER:
            continue
        left.append(seen)
    return sorted(left, key=lambda s: s.first_seen)


def zombies(obs: Observation) -> list[Seen]:
    """Zombies under a parent other than pyinit (pyinit reaps its own at once): children the
    program did not reap.  Seen as zombies, and either left to pyinit to reap (the parent never
    did) or zombies for ZOMBIE_MIN seconds, so a parent that reaps promptly is not reported."""
    found = []
    for seen in obs.seen.values():
        if seen.zombie_since is None or seen.zombie_parent == obs.init_pid:
            continue
        until = seen.ended_at if seen.ended_at is not None else seen.zombie_until
        lasted = until is not None and until - seen.zombie_since >= ZOMBIE_MIN
        if lasted or seen.reaped is not None:
            found.append(seen)
    return sorted(found, key=lambda s: s.first_seen)


def judge(obs: Observation) -> Judgement:
    options = obs.options
    _match_reaped(obs)
    findings: list[str] = []
    if obs.outcome in ("hung", "exited-early", "not-ready"):
        findings.append(obs.outcome)
    how = ended_by(obs)
    if how == "killed-after-timeout":
        findings.append("killed-after-timeout")
    signalled = obs.signalled_at is not None
    if signalled and (
        how == "other-signal"
        or (how == "handled-exit" and obs.main_event["code"] not in (0, 128 + options.signo))  # type: ignore[index]
    ):
        findings.append("crashed")
    # Left behind by the program's exit: not when the program never exited by itself (the
    # escalation SIGKILLed it together with everything else).
    left = left_behind(obs) if obs.outcome == "done" and how != "killed-after-timeout" else []
    escalation = obs.escalation
    leftovers_killed = obs.killed_ignoring > 0 or (
        escalation is not None and not escalation["main_alive"] and escalation["count"] > 0
    )
    if left or leftovers_killed:
        findings.append("left-processes")
    time_to_exit = None
    if obs.signalled_at is not None and obs.pyinit_exit_at is not None and obs.outcome == "done":
        time_to_exit = max(0.0, obs.pyinit_exit_at - obs.signalled_at)
        if not findings and time_to_exit > options.slow_after:
            findings.append("slow")
    verdict = max(findings, key=EXIT_CODES.__getitem__) if findings else "clean"
    findings.sort(key=EXIT_CODES.__getitem__, reverse=True)
    judgement = Judgement(verdict, findings)
    judgement.ended_by = how
    judgement.time_to_exit = time_to_exit
    if obs.signalled_at is not None and obs.main_exit_at is not None:
        judgement.program_exited_after = max(0.0, obs.main_exit_at - obs.signalled_at)
    judgement.left_behind = left
    judgement.leftovers_killed = leftovers_killed
    judgement.zombies = zombies(obs)
    return judgement
