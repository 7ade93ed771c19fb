"""Judge an Observation: the verdict, the probe's exit status, and the facts behind them.

Pure functions of the Observation (no /proc, no clock), so every rule is in one page:

- killed-after-timeout: pyinit escalated to SIGKILL (--timeout over) while the program still ran.
- crashed: the program was asked to stop and ended, but not the way a program that handles (or
  simply dies of) the signal ends: killed by another signal (SIGSEGV, SIGABRT, a SIGKILL that
  was not pyinit's), or an exit code other than 0 or 128+N (N: a signal it was sent; 143 for
  TERM is the convention).
- left-processes: when the program exited by itself, other processes were still running and pyinit had to
  stop them (it sends SIGTERM, then SIGKILL at --timeout).  Not counted: processes that were in
  the program's process group when the signal was sent (so they got it too) and ended within
  LINGER seconds of the program -- they were dying of the same signal, not left behind.
Several programs: each program is judged as above (its exit, and crashed / killed-after-timeout
/ exited-early of its own), and "when the program exited" means when the last one did, since
pyinit stops what is left only then.  A program is asked to stop by the probe's signal, or by
pyinit's SIGTERM when another program ended first (fail fast); exited-early is the program that
ended before either.  The verdict is the worst finding over all of them.
- slow: none of the above, but pyinit exited more than --slow seconds after the signal.
- clean: none of the above.
Outside the signal's story: hung (pyinit still running HUNG_ALLOWANCE seconds after the
--timeout escalation; the probe killed everything), exited-early (the program ended before it
was signalled), not-ready (readiness never came).
When several findings apply the worst is the verdict; the report lists them all.
"""

from __future__ import annotations

import signal

from .session import HUNG_ALLOWANCE, Observation, ProgramRun, Seen

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
        self.time_to_exit: float | None = None
        self.programs: list[ProgramJudgement] = []
        self.left_behind: list[Seen] = []
        self.leftovers_killed = False
        self.zombies: list[Seen] = []
        self.owners: dict[tuple[int, int], str] = {}  # several programs: whose process it was

    @property
    def main(self) -> ProgramJudgement:
        """The program pyinit's status is about: the only one, or the first of several to end
        (the first listed while none has)."""
        ended = [program for program in self.programs if program.run.exit_at is not None]
        if not ended:
            return self.programs[0]
        return min(ended, key=lambda program: program.run.exit_at)  # type: ignore[arg-type,return-value]

    @property
    def ended_by(self) -> str | None:
        return self.main.ended_by


class ProgramJudgement:
    """One program's part: how it ended, and its own findings."""

    def __init__(self, run: ProgramRun) -> None:
        self.run = run
        self.ended_by: str | None = None
        self.exited_after: float | None = None
        self.findings: list[str] = []


def _asked_signals(run: ProgramRun, obs: Observation) -> set[int]:
    """The signals the program was sent to stop it: the probe's (forwarded by pyinit), and
    SIGTERM when pyinit stopped it because another program ended first."""
    asked = {obs.options.signo}
    if obs.first_ended is not None and run.name != obs.first_ended:
        asked.add(signal.SIGTERM)
    return asked


def _asked_to_stop(run: ProgramRun, obs: Observation) -> bool:
    """Whether the program was asked to stop before it ended (by the probe, or pyinit's fail fast)."""
    if obs.first_ended is not None and run.name != obs.first_ended:
        return True
    return obs.signalled_at is not None and (run.exit_at is None or run.exit_at >= obs.signalled_at)


def ended_by(run: ProgramRun, obs: Observation) -> str | None:
    """How the program ended: handled-exit, signal-default-action, killed-after-timeout,
    other-signal; None if pyinit never reported it."""
    event = run.event
    if event is None:
        return None
    if "signal" not in event:
        return "handled-exit"
    signo = event["signal"]
    if signo == signal.SIGKILL and run.alive_at_escalation:
        return "killed-after-timeout"
    if signo in _asked_signals(run, obs):
        return "signal-default-action"
    return "other-signal"


def _judge_program(run: ProgramRun, obs: Observation) -> ProgramJudgement:
    judged = ProgramJudgement(run)
    how = judged.ended_by = ended_by(run, obs)
    if obs.signalled_at is not None and run.exit_at is not None and run.exit_at >= obs.signalled_at:
        judged.exited_after = max(0.0, run.exit_at - obs.signalled_at)
    findings = judged.findings
    if run.event is not None and not _asked_to_stop(run, obs):
        findings.append("exited-early")
    if how == "killed-after-timeout":
        findings.append("killed-after-timeout")
    if _asked_to_stop(run, obs) and run.event is not None:
        allowed = {0} | {128 + signo for signo in _asked_signals(run, obs)}
        if how == "other-signal" or (how == "handled-exit" and run.event["code"] not in allowed):
            findings.append("crashed")
    return judged


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
    """The processes still running when the (last) program exited, but for the LINGER exception."""
    main_end = obs.main_exit_at
    if main_end is None:
        return []
    programs = obs.program_keys
    groups = {run.seen.pgid for run in obs.programs if run.seen is not None}
    evidence: dict[tuple[int, int], Seen] = {}
    for seen in obs.seen.values():
        if seen.reaped is not None and seen.reaped["after_main"] and seen.last_alive is not None:
            evidence[seen.key] = seen
    for seen in obs.seen.values():
        if seen.last_alive is not None and seen.last_alive > main_end:
            evidence[seen.key] = seen
    left = []
    for key, seen in evidence.items():
        if key in programs or key in obs.helpers or seen.pid == obs.init_pid:
            continue
        if seen.zombie_since is not None and seen.zombie_since <= main_end:
            continue  # already dead before the program: an unreaped child, not a leftover
        got_the_signal = key in obs.alive_at_signal and seen.pgid in groups
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


def owner(seen: Seen, obs: Observation, parent: int | None = None) -> str | None:
    """Several programs: the name of the program a process came from, when the samples can tell
    -- it is a program, is in a program's process group, or descends from one through parents
    the probe saw -- else None (a daemon that detached before the probe first saw it)."""
    by_pid = {run.seen.pid: run.name for run in obs.programs if run.seen is not None}
    by_group = {run.seen.pgid: run.name for run in obs.programs if run.seen is not None}
    # pid -> who forked it; should a pid have been reused, the newest process's
    parents = {
        other.pid: other.first_parent for other in sorted(obs.seen.values(), key=lambda s: s.first_seen)
    }
    if parent is None:
        if seen.pid in by_pid and seen.key in obs.program_keys:
            return by_pid[seen.pid]
        if seen.pgid in by_group:
            return by_group[seen.pgid]
        parent = seen.first_parent
    for _ in range(len(parents) + 1):  # a parent chain cannot be longer; no loop can hold us
        if parent in by_pid:
            return by_pid[parent]
        if parent == obs.init_pid or parent not in parents:
            return None
        parent = parents[parent]
    return None


def judge(obs: Observation) -> Judgement:
    options = obs.options
    _match_reaped(obs)
    programs = [_judge_program(run, obs) for run in obs.programs]
    findings: list[str] = []
    if obs.outcome in ("hung", "exited-early", "not-ready"):
        findings.append(obs.outcome)
    for program in programs:
        findings += program.findings
    # Left behind by the programs' exit: not when a program never exited by itself (the
    # escalation SIGKILLed it together with everything else).
    killed = any(program.ended_by == "killed-after-timeout" for program in programs)
    left = left_behind(obs) if obs.outcome == "done" and not killed else []
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
    findings = sorted(set(findings), key=EXIT_CODES.__getitem__, reverse=True)
    verdict = findings[0] if findings else "clean"
    judgement = Judgement(verdict, findings)
    judgement.programs = programs
    judgement.time_to_exit = time_to_exit
    judgement.left_behind = left
    judgement.leftovers_killed = leftovers_killed
    judgement.zombies = zombies(obs)
    if options.several:
        for seen in left:
            name = owner(seen, obs)
            if name is not None:
                judgement.owners[seen.key] = name
                run = obs.run_named(name)
                for program in programs:
                    if program.run is run and "left-processes" not in program.findings:
                        program.findings.append("left-processes")
        for seen in judgement.zombies:
            name = owner(seen, obs, parent=seen.zombie_parent)
            if name is not None:
                judgement.owners[seen.key] = name
        for program in programs:
            program.findings.sort(key=EXIT_CODES.__getitem__, reverse=True)
    return judgement
