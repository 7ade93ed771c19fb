"""`pyinit probe` command line -> ProbeOptions (or Exit with one line and status 125)."""

from __future__ import annotations

import os
import signal

from ..config import DEFAULT_GRACE
from ..errors import Exit, usage_error
from ..options import Opt, OptionError, scan
from ..signals import UNCATCHABLE, SignalSpecError, parse

PROG = "pyinit probe"

#: Readiness when none is given: long enough for an interpreter to start and set its handlers.
DEFAULT_READY_AFTER = 1.0
#: How long to wait for readiness before giving up (verdict not-ready).
DEFAULT_READY_TIMEOUT = 60.0

HELP = """\
Usage: pyinit probe [OPTIONS] [--] COMMAND [ARGS...]

Run COMMAND under pyinit as it would run in a container (PID 1 of a new PID
namespace when allowed, else a subreaper), wait until it is ready, send it a
stop signal the way `docker stop` does, and judge how it shut down.

Readiness (one of):
      --ready-after S     S seconds after COMMAND started (default %(after)g)
      --ready-file PATH   once PATH exists (it must not exist beforehand; it is
                          removed again after the run)
      --ready-line REGEX  once a line COMMAND prints on stdout matches REGEX
      --ready-timeout S   give up if not ready after S seconds (default %(rtimeout)g)
Shutdown:
      --signal SIG        the signal sent to pyinit (default TERM)
      --timeout S         pyinit's --grace: SIGKILL everything S seconds after the
                          signal (default %(grace)g)
      --slow S            a clean exit that took longer than S seconds is slow
                          (default: half of --timeout)
      --no-pidns          run pyinit as a subreaper even when a PID namespace is possible
Output:
      --json              one JSON object on stdout (COMMAND's stdout goes to stderr)
  -h, --help              show this help and exit

Verdicts and exit status: clean 0, slow 1, left-processes 2, crashed 3,
killed-after-timeout 4, hung 5, exited-early 6, not-ready 7; 125 bad usage or
the probe could not run; 126/127 COMMAND cannot be executed / was not found.
"""

_OPTIONS = [
    Opt(None, "signal", True),
    Opt(None, "ready-after", True),
    Opt(None, "ready-file", True),
    Opt(None, "ready-line", True),
    Opt(None, "ready-timeout", True),
    Opt(None, "timeout", True),
    Opt(None, "slow", True),
    Opt(None, "no-pidns"),
    Opt(None, "json"),
    Opt("h", "help"),
]


class ProbeOptions:
    """Everything the probe's command line says; immutable by convention."""

    __slots__ = (
        "command",
        "json",
        "pidns",
        "ready_after",
        "ready_file",
        "ready_line",
        "ready_timeout",
        "signo",
        "slow",
        "timeout",
    )

    def __init__(self, command: list[str], **fields: object) -> None:
        self.command = command
        self.signo: int = signal.SIGTERM
        self.ready_after: float | None = None
        self.ready_file: str | None = None
        self.ready_line: str | None = None  # the regex's text; compiled where it is used
        self.ready_timeout = DEFAULT_READY_TIMEOUT
        self.timeout = DEFAULT_GRACE
        self.slow: float | None = None
        self.pidns = True
        self.json = False
        for key, value in fields.items():
            setattr(self, key, value)
        if self.ready_after is None and self.ready_file is None and self.ready_line is None:
            self.ready_after = DEFAULT_READY_AFTER

    @property
    def slow_after(self) -> float:
        return self.timeout / 2 if self.slow is None else self.slow

    @property
    def readiness(self) -> str:
        if self.ready_line is not None:
            return "line"
        if self.ready_file is not None:
            return "file"
        return "after"


def _seconds(text: str, what: str, *, positive: bool = False) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e9 or (positive and value == 0):  # also rejects nan and inf
        kind = "a positive number of seconds" if positive else "a number of seconds"
        raise usage_error("%s: expected %s (e.g. 2.5), got %r" % (what, kind, text), PROG)
    return value


def _signal(text: str) -> int:
    try:
        signo = parse(text)
    except SignalSpecError as exc:
        raise usage_error("--signal: %s" % exc, PROG) from None
    if signo in UNCATCHABLE or signo == signal.SIGCHLD:
        # KILL and STOP cannot be caught by pyinit (docker sends KILL itself, after the
        # timeout); CHLD is pyinit's own business, never forwarded.
        raise usage_error("--signal: %s cannot be forwarded by pyinit; use e.g. TERM, INT, QUIT" % text, PROG)
    return signo


def parse_probe_args(argv: list[str]) -> ProbeOptions:
    """argv after `probe` -> ProbeOptions, or raise Exit (help, or one line and 125)."""
    fields: dict[str, object] = {}
    ready: list[str] = []
    operands: list[str] = []
    try:
        for key, value in scan(argv, _OPTIONS, operands):
            what = "--" + key
            if key == "help":
                raise Exit(
                    0,
                    HELP
                    % {
                        "after": DEFAULT_READY_AFTER,
                        "rtimeout": DEFAULT_READY_TIMEOUT,
                        "grace": DEFAULT_GRACE,
                    },
                    fd=1,
                )
            if key == "signal":
                fields["signo"] = _signal(value)
            elif key == "ready-after":
                fields["ready_after"] = _seconds(value, what)
                ready.append(what)
            elif key == "ready-file":
                if not value:
                    raise usage_error("--ready-file: expected a PATH", PROG)
                fields["ready_file"] = value
                ready.append(what)
            elif key == "ready-line":
                fields["ready_line"] = _regex(value)
                ready.append(what)
            elif key == "ready-timeout":
                fields["ready_timeout"] = _seconds(value, what, positive=True)
            elif key == "timeout":
                fields["timeout"] = _seconds(value, what, positive=True)
            elif key == "slow":
                fields["slow"] = _seconds(value, what)
            elif key == "no-pidns":
                fields["pidns"] = False
            elif key == "json":
                fields["json"] = True
    except OptionError as exc:
        raise usage_error(str(exc), PROG) from None
    if len(set(ready)) > 1:
        raise usage_error(
            "give one of --ready-after, --ready-file, --ready-line, not %s" % " and ".join(ready), PROG
        )
    if not operands:
        raise usage_error("no command given", PROG)
    ready_file = fields.get("ready_file")
    if isinstance(ready_file, str) and os.path.lexists(ready_file):
        # A file left by an earlier run would make the program look ready before it is.
        raise usage_error("--ready-file: %s already exists; remove it first" % ready_file, PROG)
    return ProbeOptions(operands, **fields)


def _regex(text: str) -> str:
    import re

    try:
        re.compile(text)
    except re.error as exc:
        raise usage_error("--ready-line: bad regular expression %r: %s" % (text, exc), PROG) from None
    return text
