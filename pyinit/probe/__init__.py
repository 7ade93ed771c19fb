"""`pyinit probe`: run a command (or a Procfile's programs) under pyinit as it would run in a
container, signal it the way `docker stop` does, and judge how it shuts down.

    options.py   argv -> ProbeOptions
    ../harness.py  start pyinit (PID 1 of a new PID namespace, or a subreaper); kill it all
    session.py   the run: readiness, the signal, pyinit's JSON events, /proc samples
    verdict.py   Observation -> verdict, findings, exit status (the rules, in one page)
    report.py    text for people, JSON for CI

Only `pyinit probe` imports this package: none of it is on pyinit's start-up path.
"""

from __future__ import annotations

import os
import signal

from ..errors import EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, EXIT_PYINIT_FAILED, Exit
from ..log import write_fd

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .options import ProbeOptions


class _Interrupted(Exception):
    def __init__(self, signo: int) -> None:
        super().__init__(signo)
        self.signo = signo


def _interrupted(signo: int, frame: object) -> None:
    raise _Interrupted(signo)


def main(argv: list[str], environ: dict[str, str]) -> int:
    """Run the probe; return its exit status (raise Exit for --help and bad usage)."""
    from .options import PROG, parse_probe_args

    options = parse_probe_args(argv)
    if not options.several:  # programs run through /bin/sh -c: the shell says "not found"
        _check_command(options, environ)
    # The probe is an ordinary program (main() dispatches here before any signal is blocked):
    # Ctrl-C, TERM and HUP end it, and it then kills what it started.
    for signo in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signo, _interrupted)
    from .. import harness as launch
    from . import report, session, verdict

    try:
        pid1 = options.pidns and launch.pidns_unavailable() is None
        obs = session.observe(options, environ, pid1)
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except _Interrupted as stop:
        return 128 + stop.signo
    except OSError as exc:
        raise Exit(EXIT_PYINIT_FAILED, "%s: cannot start pyinit: %s\n" % (PROG, exc)) from None
    finally:
        if options.ready_file is not None:
            # It did not exist before the run (options.py made sure): the program made it.
            try:
                os.unlink(options.ready_file)
            except OSError:
                pass
    if obs.outcome == "failed":
        text = "%s: %s\n" % (PROG, obs.error)
        if options.json:
            import json

            write_fd(1, (json.dumps({"verdict": None, "error": obs.error, "exit_code": 125}) + "\n").encode())
        raise Exit(EXIT_PYINIT_FAILED, text)
    judgement = verdict.judge(obs)
    text = report.as_json(obs, judgement) if options.json else report.as_text(obs, judgement)
    write_fd(1, text.encode("utf-8", "replace"))
    return judgement.exit_code


def _check_command(options: ProbeOptions, environ: dict[str, str]) -> None:
    """Say "not found" or "cannot execute" ourselves, before anything runs, as pyinit would."""
    import shutil

    from .options import PROG

    name = options.command[0]
    if "/" in name:
        if not os.path.exists(name):
            raise Exit(EXIT_NOT_FOUND, "%s: cannot execute %r: no such file\n" % (PROG, name))
        if os.path.isdir(name) or not os.access(name, os.X_OK):
            raise Exit(EXIT_CANNOT_EXECUTE, "%s: cannot execute %r: not an executable file\n" % (PROG, name))
        return
    if shutil.which(name, path=environ.get("PATH", os.defpath)) is None:
        raise Exit(EXIT_NOT_FOUND, "%s: cannot execute %r: command not found\n" % (PROG, name))
