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
from ..config import MAX_VERBOSITY, Config
from ..cparse import atoi, strtol
from ..errors import EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, Exit, StartError
from ..log import DEBUG, ERROR, INFO, TRACE, WARN, format_text
from ..options import Opt, OptionError, printable, scan
from . import Personality

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..log import Log

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


def _exit_status(text: str) -> int | None:
    """tini's -e: strtol must consume all of text, and the value be 0..255."""
    value = strtol(text)
    return value if value is not None and 0 <= value <= 255 else None


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
                    raise _fatal("Not a valid option for -p: %s" % printable(value or ""))
                import signal

                fields["pdeathsig"] = int(getattr(signal, value))
            elif letter == "v":
                verbosity += 1
            elif letter == "w":
                fields["warn_on_reap"] = True
            elif letter == "g":
                fields["forward_to"] = "group"
            elif letter == "e":
                status = _exit_status(value or "")
                if status is None:
                    raise _fatal("Not a valid option for -e: %s" % printable(value or ""))
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
        verbosity = atoi(environ["TINI_VERBOSITY"])
    return Config(
        command=tuple(operands),
        personality="tini",
        session="pgroup",
        forward_to=fields.get("forward_to", "child"),
        suspend="never",
        leftovers="leave",
        grace=None,
        subreaper=fields.get("subreaper", "off"),
        pdeathsig=fields.get("pdeathsig", 0),
        warn_on_reap=fields.get("warn_on_reap", False),
        success_codes=frozenset(success),
        verbosity=max(0, min(verbosity, MAX_VERBOSITY)),
    )


# --- messages: "[LEVEL tini (PID)] text"; INFO and below go to stdout ---------------------------

_LEVELS = ("FATAL", "WARN ", "INFO ", "DEBUG", "TRACE")

_SUBREAPER_WARNING = (
    "Tini is not running as PID 1 and isn't registered as a child subreaper.\n"
    "Zombie processes will not be re-parented to Tini, so zombie reaping won't work.\n"
    "To fix the problem, use the -s option or set the environment variable TINI_SUBREAPER to"
    " register Tini as a child subreaper, or run Tini as PID 1."
)


def _describe(signo: int) -> str:
    import signal

    return signal.strsignal(signo) or str(signo)


def _text(event: str, template: str, fields: dict) -> tuple[int, str] | None:
    """(tini level, tini's text) for the events tini itself reports; None for the rest."""
    if event == "spawned":
        return INFO, "Spawned child process '%s' with pid '%i'" % (fields["command"][0], fields["pid"])
    if event == "signal":
        if fields["signo"] == 17:
            return DEBUG, "Received SIGCHLD"
        return DEBUG, "Passing signal: '%s'" % _describe(fields["signo"])
    if event == "reaped":
        if fields.get("main"):
            if "signal" in fields:
                return INFO, "Main child exited with signal (with signal '%s')" % _describe(fields["signal"])
            return INFO, "Main child exited normally (with status '%i')" % fields["code"]
        if fields.get("warn_on_reap"):
            return WARN, "Reaped zombie process with pid=%i" % fields["pid"]
        return None
    if event == "no-subreaper":
        return WARN, _SUBREAPER_WARNING
    if event == "subreaper":
        return TRACE, "Registered as child subreaper"
    if event == "exec-failed":
        return ERROR, "exec %s failed: %s" % (fields["command"][0], fields["reason"])
    if event == "forward-failed" and fields.get("errno") == 3:
        return WARN, "Child was dead when forwarding signal"
    if event == "fatal":
        return ERROR, format_text(template, fields)
    return None


class Tini(Personality):
    name = "tini"
    failure = 1

    def parse(self, prog: str, argv: list[str], environ: dict[str, str]) -> Config:
        return parse(prog, argv, environ)

    def render(self, log: Log, level: int, event: str, template: str, fields: dict) -> tuple[int, str] | None:
        mapped = _text(event, template, fields)
        if mapped is None:
            return None
        tini_level, text = mapped
        if tini_level > log.verbosity and tini_level != ERROR:
            return None
        fd = 2 if tini_level <= WARN else 1
        return fd, "[%s tini (%i)] %s\n" % (_LEVELS[tini_level], log.pid, text)

    def start_failed(self, log: Log, config: Config, error: StartError) -> int:
        if error.step == "subreaper":
            if error.errno == 22:
                text = "PR_SET_CHILD_SUBREAPER is unavailable on this platform. Are you using Linux >= 3.4?"
            else:
                text = "Failed to register as child subreaper: %s" % error.reason
            log.error("fatal", "%(text)s", text=text)
            return self.failure
        if error.step == "fork":
            log.error("fatal", "%(text)s", text="fork failed: %s" % error.reason)
            return self.failure
        if error.step != "exec":
            command = config.command[0] if config.command else ""
            text = "cannot start %r: %s failed: %s" % (command, error.step, error.reason)
            log.error("fatal", "%(text)s", text=text)
            return self.failure
        log.error("exec-failed", "", command=list(config.command), reason=error.reason, errno=error.errno)
        if error.not_found:
            return EXIT_NOT_FOUND
        return EXIT_CANNOT_EXECUTE if error.errno == 13 else self.failure


PERSONALITY = Tini()
