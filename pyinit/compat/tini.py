"""tini's command line (krallin/tini 0.19), mapped onto pyinit's Config.

Same flags, environment variables, texts and exit codes: `tini [OPTIONS] PROGRAM -- [ARGS]`.
Like tini (glibc getopt without '+'), options are found anywhere before `--` unless
POSIXLY_CORRECT is set, so `tini sh -c 'exit 3'` is an error ("invalid option -- 'c'").
What pyinit keeps of its own: it also forwards SIGTTIN/SIGTTOU and the fault signals sent with
kill (tini drops them), and it never exits on a forwarding error other than ESRCH.
"""

from __future__ import annotations

import os

from .. import __version__
from ..cli import Exit
from ..config import Config
from ..options import Opt, OptionError, scan

VERSION = "tini version 0.19.0 - pyinit %s" % __version__

# The names tini's -p takes: exactly these spellings.
_PDEATH_NAMES = frozenset(
    (
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGSYS",
    )
)

_OPTIONS = [Opt(letter, None, letter in "pe") for letter in "phvwgles"]

_USAGE = """\
{prog} ({version})
Usage: {prog} [OPTIONS] PROGRAM -- [ARGS] | --version

Runs PROGRAM under the supervision of a valid init process ({prog}); this is
pyinit speaking tini's command line.

Options:
  --version      print the version and exit (only as the sole argument)
  -h             print this help and exit
  -s             register as a child subreaper (Linux >= 3.4)
  -p SIGNAL      get SIGNAL when the parent dies, e.g. "-p SIGKILL"
  -v             more verbose output; repeat up to 3 times
  -w             warn about every zombie process reaped
  -g             forward signals to the child's process group
  -e EXIT_CODE   report EXIT_CODE (0 to 255) as 0; repeatable
  -l             print the license and exit

Environment variables:
  TINI_SUBREAPER            register as a child subreaper (any value)
  TINI_VERBOSITY            the verbosity level (default: 1)
  TINI_KILL_PROCESS_GROUP   forward signals to the child's process group (any value)

"""


def _fatal(text: str) -> Exit:
    return Exit(1, "[FATAL tini (%d)] %s\n" % (os.getpid(), text))


def _strtol_status(text: str) -> int | None:
    """tini's -e: strtol(text, &end, 10) must consume all of text; 0..255.  '' gives 0."""
    body = text.lstrip(" \t\n\r\f\v")
    sign = 1
    if body[:1] in ("+", "-"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    digits = len(body) - len(body.lstrip("0123456789"))
    if digits == 0:
        return 0 if text == "" else None  # no digits: only the empty string ends where it began
    if body[digits:]:
        return None
    value = sign * int(body[:digits])
    return value if 0 <= value <= 255 else None


def _atoi(text: str) -> int:
    body = text.lstrip(" \t\n\r\f\v")
    sign = -1 if body[:1] == "-" else 1
    if body[:1] in ("+", "-"):
        body = body[1:]
    digits = len(body) - len(body.lstrip("0123456789"))
    return sign * int(body[:digits]) if digits else 0


def parse(prog: str, argv: list[str], environ: dict[str, str]) -> Config:
    name = "tini"
    if argv == ["--version"]:
        raise Exit(0, VERSION + "\n", fd=1)
    usage = _USAGE.format(prog=name, version=VERSION)
    operands: list[str] = []
    verbosity = 1
    fields: dict[str, object] = {}
    success: set[int] = set()
    try:
        for letter, value in scan(argv, _OPTIONS, operands, permute="POSIXLY_CORRECT" not in environ):
            if letter == "h":
                raise Exit(0, usage, fd=1)
            if letter == "l":
                from .. import license_text

                raise Exit(0, license_text(), fd=1)
            if letter == "s":
                fields["subreaper"] = "on"
            elif letter == "p":
                if value not in _PDEATH_NAMES:
                    raise _fatal("Not a valid option for -p: %s" % value)
                import signal

                fields["pdeathsig"] = int(getattr(signal, value))
            elif letter == "v":
                verbosity += 1
            elif letter == "w":
                fields["warn_on_reap"] = True
            elif letter == "g":
                fields["forward_to"] = "group"
            elif letter == "e":
                status = _strtol_status(value or "")
                if status is None:
                    raise _fatal("Not a valid option for -e: %s" % value)
                success.add(status)
    except OptionError as exc:
        raise Exit(1, "%s: %s\n%s" % (name, exc, usage)) from None
    if not operands:
        raise Exit(1, usage)
    # tini reads its environment after the flags: TINI_VERBOSITY replaces any -v count.
    if "TINI_SUBREAPER" in environ:
        fields["subreaper"] = "on"
    if "TINI_KILL_PROCESS_GROUP" in environ:
        fields["forward_to"] = "group"
    if "TINI_VERBOSITY" in environ:
        verbosity = _atoi(environ["TINI_VERBOSITY"])
    return Config(
        command=tuple(operands),
        flavor="tini",
        session="pgroup",
        forward_to=fields.get("forward_to", "child"),
        suspend="never",
        on_main_exit="exit",
        grace=None,
        subreaper=fields.get("subreaper", "off"),
        pdeathsig=fields.get("pdeathsig", 0),
        warn_on_reap=fields.get("warn_on_reap", False),
        success_codes=frozenset(success),
        verbosity=verbosity,
    )
