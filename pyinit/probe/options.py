"""`pyinit probe` command line -> ProbeOptions (or Exit with one line and status 125)."""

from __future__ import annotations

import os
import signal

from ..config import DEFAULT_GRACE
from ..errors import EXIT_PYINIT_FAILED, Exit, one_line, usage_error
from ..options import Opt, OptionError, scan
from ..signals import UNCATCHABLE, SignalSpecError, parse

PROG = "pyinit probe"

#: Readiness when none is given: long enough for an interpreter to start and set its handlers.
DEFAULT_READY_AFTER = 1.0
#: How long to wait for readiness before giving up (verdict not-ready).
DEFAULT_READY_TIMEOUT = 60.0

HELP = """\
Usage: pyinit probe [OPTIONS] [--] COMMAND [ARGS...]
       pyinit probe [OPTIONS] --procfile PATH | -P 'NAME: COMMAND' ...

Run COMMAND (or the programs of a Procfile) under pyinit as it would run in a
container (PID 1 of a new PID namespace when allowed, else a subreaper), wait
until it is ready, send a stop signal the way `docker stop` does, and judge how
it shut down.

Programs (instead of COMMAND; pyinit runs each through /bin/sh -c):
      --procfile PATH     the programs of a Procfile: 'NAME: COMMAND' lines
  -P, --program 'NAME: COMMAND'
                          one program, without a file; repeatable
Readiness (one of):
      --ready-after S     S seconds after COMMAND (every program) started
                          (default %(after)g)
      --ready-file PATH   once PATH exists (it must not exist beforehand; it is
                          removed again after the run)
      --ready-line REGEX  once a line COMMAND (any program) prints on stdout
                          matches REGEX
      --ready-line-from NAME:REGEX
                          once program NAME printed a line on stdout that
                          matches REGEX; repeatable: ready when every NAME did
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
killed-after-timeout 4, hung 5, exited-early 6, not-ready 7; 125 bad usage, a
bad Procfile, or the probe could not run; 126/127 COMMAND cannot be executed /
was not found.  With several programs the verdict is the worst over all of them.
"""

_OPTIONS = [
    Opt(None, "procfile", True),
    Opt("P", "program", True),
    Opt(None, "signal", True),
    Opt(None, "ready-after", True),
    Opt(None, "ready-file", True),
    Opt(None, "ready-line", True),
    Opt(None, "ready-line-from", True),
    Opt(None, "ready-timeout", True),
    Opt(None, "timeout", True),
    Opt(None, "slow", True),
    Opt(None, "no-pidns"),
    Opt(None, "json"),
    Opt("h", "help"),
]


class ProbeOptions:
    """Everything the probe's command line says; immutable by convention.

    Either `command` (one program, run as given) or `programs` (a Procfile's and -P's, each a
    `procfile.Program`: name, shell command); `procfile` and `program_lines` are what pyinit is
    given to run them, as the caller wrote them.
    """

    __slots__ = (
        "command",
        "json",
        "pidns",
        "procfile",
        "program_lines",
        "programs",
        "ready_after",
        "ready_file",
        "ready_from",
        "ready_line",
        "ready_timeout",
        "signo",
        "slow",
        "timeout",
    )

    def __init__(self, command: list[str], **fields: object) -> None:
        self.command = command
        self.procfile: str | None = None
        self.program_lines: list[str] = []
        self.programs: tuple = ()  # tuple[procfile.Program, ...]; empty: one COMMAND
        self.signo: int = signal.SIGTERM
        self.ready_after: float | None = None
        self.ready_file: str | None = None
        self.ready_line: str | None = None  # the regex's text; compiled where it is used
        self.ready_from: dict[str, str] = {}  # program name -> regex text (--ready-line-from)
        self.ready_timeout = DEFAULT_READY_TIMEOUT
        self.timeout = DEFAULT_GRACE
        self.slow: float | None = None
        self.pidns = True
        self.json = False
        for key, value in fields.items():
            setattr(self, key, value)
        given = (self.ready_after, self.ready_file, self.ready_line, self.ready_from or None)
        if given == (None, None, None, None):
            self.ready_after = DEFAULT_READY_AFTER

    @property
    def several(self) -> bool:
        """Whether pyinit runs programs (a Procfile, -P) rather than one COMMAND."""
        return bool(self.programs)

    @property
    def names(self) -> list[str]:
        return [program.name for program in self.programs]

    @property
    def slow_after(self) -> float:
        return self.timeout / 2 if self.slow is None else self.slow

    @property
    def readiness(self) -> str:
        if self.ready_from:
            return "line-from"
        if self.ready_line is not None:
            return "line"
        if self.ready_file is not None:
            return "file"
        return "after"

    def pyinit_programs(self) -> list[str]:
        """The options that give pyinit the programs, as the caller gave them to the probe."""
        args = ["--procfile", self.procfile] if self.procfile is not None else []
        for line in self.program_lines:
            args += ["-P", line]
        return args


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
    program_lines: list[str] = []
    ready_from: dict[str, str] = {}
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
            if key == "procfile":
                if not value:
                    raise usage_error("--procfile: expected a PATH", PROG)
                fields["procfile"] = value
            elif key == "program":
                program_lines.append(value)
            elif key == "signal":
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
                fields["ready_line"] = _regex(value, what)
                ready.append(what)
            elif key == "ready-line-from":
                name, regex = _ready_from(value)
                if name in ready_from:
                    raise usage_error("--ready-line-from: program '%s' is given twice" % name, PROG)
                ready_from[name] = regex
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
        given = sorted(set(ready), key=ready.index)
        raise usage_error(
            "give one of --ready-after, --ready-file, --ready-line, --ready-line-from, not %s"
            % " and ".join(given),
            PROG,
        )
    several = "procfile" in fields or bool(program_lines)
    if several:
        if operands:
            raise usage_error("give a COMMAND or programs (--procfile, -P), not both", PROG)
        fields["program_lines"] = program_lines
        fields["programs"] = _programs(fields.get("procfile"), program_lines)  # type: ignore[arg-type]
    elif not operands:
        raise usage_error("no command given", PROG)
    if ready_from:
        if not several:
            raise usage_error("--ready-line-from: needs programs (--procfile, -P); use --ready-line", PROG)
        names = [program.name for program in fields["programs"]]  # type: ignore[attr-defined]
        for name in ready_from:
            if name not in names:
                raise usage_error(
                    "--ready-line-from: no program '%s' (the programs: %s)" % (name, ", ".join(names)), PROG
                )
        fields["ready_from"] = ready_from
    ready_file = fields.get("ready_file")
    if isinstance(ready_file, str) and os.path.lexists(ready_file):
        # A file left by an earlier run would make the program look ready before it is.
        raise usage_error("--ready-file: %s already exists; remove it first" % ready_file, PROG)
    return ProbeOptions(operands, **fields)


def _programs(path: str | None, lines: list[str]) -> tuple:
    """The programs pyinit will run, read by the rules pyinit reads them with (procfile.py): a
    bad Procfile is pyinit's one line, `WHERE: REASON`, and 125, before anything runs."""
    from .. import procfile

    try:
        return procfile.combine(path, lines)
    except procfile.ProcfileError as exc:
        raise Exit(EXIT_PYINIT_FAILED, "%s: %s\n" % (PROG, one_line(str(exc)))) from None


def _ready_from(text: str) -> tuple[str, str]:
    """`NAME:REGEX` -> (name, regex text).  A name has no colon (the Procfile's rule), so the
    first colon splits, and the regex may hold more."""
    name, colon, regex = text.partition(":")
    if not colon or not name.strip():
        raise usage_error("--ready-line-from: expected NAME:REGEX, got %r" % text, PROG)
    return name.strip(), _regex(regex, "--ready-line-from")


def _regex(text: str, what: str) -> str:
    import re

    try:
        re.compile(text)
    except re.error as exc:
        raise usage_error("%s: bad regular expression %r: %s" % (what, text, exc), PROG) from None
    return text
