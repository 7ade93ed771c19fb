"""The probe's report: a few aligned lines for people, one JSON object for CI."""

from __future__ import annotations

import shlex

from .. import __version__
from ..signals import name as signame
from .session import Observation, Seen
from .verdict import Judgement, ProgramJudgement

_SUMMARY = {
    "clean": "the program shut down cleanly",
    "slow": "the program shut down cleanly, but slowly",
    "left-processes": "the program exited but left processes behind",
    "crashed": "the program crashed on the signal",
    "killed-after-timeout": "the program did not exit within the timeout and was killed",
    "hung": "nothing ended, even after the kill; the probe killed everything",
    "exited-early": "the program exited before it was signalled",
    "not-ready": "the program never became ready; nothing was signalled",
}
#: The summary line with several programs, where it differs.
_SEVERAL = {
    "clean": "every program shut down cleanly",
    "slow": "every program shut down cleanly, but slowly",
    "left-processes": "the programs exited but left processes behind",
    "crashed": "a program crashed on the signal",
    "killed-after-timeout": "a program did not exit within the timeout and was killed",
    "exited-early": "a program exited before it was signalled",
    "not-ready": "the programs never became ready; nothing was signalled",
}
_MODES = {
    "pid1": "pyinit as PID 1 of a new PID namespace",
    "subreaper": "pyinit as a child subreaper (no PID namespace)",
}
_ENDED_BY = {
    "handled-exit": "handled: exited with code %(code)s",
    "signal-default-action": "killed by %(signal)s: the signal's default action",
    "killed-after-timeout": "killed by SIGKILL when the timeout ran out",
    "other-signal": "killed by %(signal)s",
}


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _process(seen: Seen, judgement: Judgement) -> dict:
    record: dict[str, object] = {"pid": seen.pid, "command": seen.command}
    if seen.reaped is not None:
        record["signal"] = signame(seen.reaped["signal"]) if "signal" in seen.reaped else None
        record["code"] = seen.reaped.get("code")
    record["program"] = judgement.owners.get(seen.key)
    return record


def _program(program: ProgramJudgement) -> dict:
    run = program.run
    event = run.event or {}
    return {
        "name": run.name,
        "command": run.command,
        "pid": run.seen.pid if run.seen is not None else None,
        "exit_code": event.get("code"),
        "signal": signame(event["signal"]) if "signal" in event else None,
        "ended_by": program.ended_by,
        "exited_after": _seconds(program.exited_after),
        "findings": list(program.findings),
    }


def as_dict(obs: Observation, judgement: Judgement) -> dict:
    options = obs.options
    ready: dict[str, object] = {"by": options.readiness}
    ready["after"] = _seconds(obs.ready_at - obs.started_at) if obs.ready_at is not None else None
    if options.ready_from:
        ready["programs"] = {
            run.name: _seconds(run.ready_at - obs.started_at) if run.ready_at is not None else None
            for run in obs.programs
            if run.name in options.ready_from
        }
    programs = [_program(program) for program in judgement.programs]
    return {
        "verdict": judgement.verdict,
        "exit_code": judgement.exit_code,
        "findings": judgement.findings,
        "command": None if options.several else list(options.command),
        "procfile": options.procfile,
        "mode": obs.mode,
        "signal": signame(options.signo),
        "timeout": options.timeout,
        "slow_after": options.slow_after,
        "ready": ready,
        "time_to_exit": _seconds(judgement.time_to_exit),
        "status": obs.status,
        "program": programs[judgement.programs.index(judgement.main)],
        "programs": programs,
        "first_ended": obs.first_ended,
        "left_behind": [_process(seen, judgement) for seen in judgement.left_behind],
        "leftovers_killed": judgement.leftovers_killed,
        "pyinit_stopped": obs.stopped_others,
        "escalated": obs.escalation is not None,
        "zombies": [dict(_process(seen, judgement), parent=seen.zombie_parent) for seen in judgement.zombies],
        "survivors": obs.survivors,
        "pyinit": __version__,
    }


def as_json(obs: Observation, judgement: Judgement) -> str:
    import json

    return json.dumps(as_dict(obs, judgement), ensure_ascii=False) + "\n"


def as_text(obs: Observation, judgement: Judgement) -> str:
    data = as_dict(obs, judgement)
    options = obs.options
    if options.several:
        names = ", ".join(options.names)
        given = "%s: %s" % (options.procfile, names) if options.procfile is not None else names
        rows: list[tuple[str, str]] = [("programs", given)]
    else:
        rows = [("command", shlex.join(options.command))]
    rows.append(("ran as", _MODES[obs.mode]))
    ready = data["ready"]
    if ready["after"] is not None:
        rows.append(("ready", "after %.2fs (%s)" % (ready["after"], _ready_how(obs))))
    elif obs.outcome == "not-ready":
        rows.append(("ready", "never (%s; gave up after %gs)" % (_ready_how(obs), options.ready_timeout)))
    else:
        rows.append(("ready", "not yet (%s) when the program exited" % _ready_how(obs)))
    if obs.signalled_at is not None:
        rows.append(
            (
                "signal",
                "%s to pyinit, as docker stop does (timeout %gs, slow after %gs)"
                % (data["signal"], options.timeout, options.slow_after),
            )
        )
    for program in data["programs"]:
        label = "program" if program["name"] is None else "program %s" % program["name"]
        if program["ended_by"] is not None:
            how = _ENDED_BY[program["ended_by"]] % {"code": program["exit_code"], "signal": program["signal"]}
            after = program["exited_after"]
            if after is not None:
                how += ", %.3fs after the signal" % after
            elif obs.signalled_at is None or "exited-early" in program["findings"]:
                how += ", before the signal"
            if options.several and program["findings"]:
                how += " [%s]" % ", ".join(program["findings"])
            rows.append((label, how))
        elif obs.signalled_at is not None or obs.first_ended is not None:
            rows.append((label, "still running when the probe gave up"))
    if obs.first_ended is not None:
        rows.append(("first ended", "%s: pyinit stopped the others" % obs.first_ended))
    if data["time_to_exit"] is not None:
        rows.append(("exit", "status %s, %.3fs after the signal" % (data["status"], data["time_to_exit"])))
    elif obs.outcome in ("hung", "not-ready"):
        rows.append(("exit", "pyinit killed by the probe"))
    elif obs.status is not None:
        rows.append(("exit", "status %s" % obs.status))
    left = [_describe(seen, judgement) for seen in judgement.left_behind]
    if judgement.leftovers_killed:
        killed = obs.killed_ignoring + (obs.escalation["count"] if obs.escalation else 0)
        left.append("(pyinit had to SIGKILL %d of them)" % killed)
    rows.append(("left behind", "; ".join(left) if left else "none"))
    rows.append(("zombies", "; ".join(_describe(seen, judgement) for seen in judgement.zombies) or "none"))
    if obs.survivors:
        rows.append(("survived kill", "; ".join(obs.survivors)))
    width = max(len(label) for label, _ in rows)
    summary = _SUMMARY[judgement.verdict]
    if options.several:
        summary = _SEVERAL.get(judgement.verdict, summary)
    lines = ["pyinit probe: %s: %s" % (judgement.verdict, summary)]
    lines += ["  %-*s  %s" % (width, label, text) for label, text in rows]
    if len(judgement.findings) > 1:
        lines.append("  %-*s  %s" % (width, "findings", ", ".join(judgement.findings)))
    return "\n".join(lines) + "\n"


def _ready_how(obs: Observation) -> str:
    options = obs.options
    if options.readiness == "line-from":
        return ", ".join(
            "--ready-line-from %s" % shlex.quote("%s:%s" % item) for item in options.ready_from.items()
        )
    if options.readiness == "line":
        return "--ready-line %s" % shlex.quote(options.ready_line or "")
    if options.readiness == "file":
        return "--ready-file %s" % shlex.quote(options.ready_file or "")
    return "--ready-after %g" % options.ready_after


def _describe(seen: Seen, judgement: Judgement) -> str:
    name = judgement.owners.get(seen.key)
    return "pid %d: %s%s" % (seen.pid, seen.command, "" if name is None else " (from %s)" % name)
