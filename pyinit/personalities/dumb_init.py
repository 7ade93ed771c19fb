"""dumb-init's command line (Yelp/dumb-init 1.2.5), mapped onto pyinit's Config.

Same flags (`-c -r s:r -v -V -h`, long forms, glibc getopt_long with '+'), environment
(`DUMB_INIT_DEBUG=1`, `DUMB_INIT_SETSID=0`), texts and exit codes.  Setsid mode (the default):
the program leads its own session and takes the terminal, signals go to its process group,
TSTP/TTOU/TTIN become SIGSTOP unless rewritten, and when the program exits its group gets SIGTERM
(through the rewrite table) and pyinit exits at once.  What pyinit keeps of its own: it reaps
orphans as a subreaper when it is not PID 1 (dumb-init cannot), and real-time signals can be
rewritten too.
"""

from __future__ import annotations

import os

from ..config import Config
from ..cparse import scan_int
from ..errors import Exit, StartError
from ..log import DEBUG, format_text
from ..options import Opt, OptionError, scan
from ..signals import signal  # the C module: see signals.py
from . import Personality

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..log import Log

VERSION = "1.2.5"
MAXSIG = 31

# glibc lists ambiguous prefixes in table order: --ver gives '--verbose' '--version'.
_OPTIONS = [
    Opt("h", "help"),
    Opt("c", "single-child"),
    Opt("r", "rewrite", True),
    Opt("v", "verbose"),
    Opt("V", "version"),
]

# dumb-init's --help, byte for byte: scripts and dumb-init's own tests compare it.
_HELP = (
    "dumb-init v{version}\n"
    "Usage: {prog} [option] command [[arg] ...]\n"
    "\n"
    "dumb-init is a simple process supervisor that forwards signals to children.\n"
    "It is designed to run as PID1 in minimal container environments.\n"
    "\n"
    "Optional arguments:\n"
    "   -c, --single-child   Run in single-child mode.\n"
    "                        In this mode, signals are only proxied to the\n"
    "                        direct child and not any of its descendants.\n"
    "   -r, --rewrite s:r    Rewrite received signal s to new signal r before proxying.\n"
    "                        To ignore (not proxy) a signal, rewrite it to 0.\n"
    "                        This option can be specified multiple times.\n"
    "   -v, --verbose        Print debugging information to stderr.\n"
    "   -h, --help           Print this help message and exit.\n"
    "   -V, --version        Print the current version and exit.\n"
    "\n"
    "Full help is available online at https://github.com/Yelp/dumb-init\n"
)

_REWRITE_HELP = (
    "Usage: -r option takes <signum>:<signum>, where <signum> is between 1 and %d.\n"
    "This option can be specified multiple times.\n"
    "Use --help for full usage.\n" % MAXSIG
)


def _parse_rewrite(text: str) -> tuple[int, int]:
    """sscanf(text, "%d:%d") == 2 with 1 <= s <= 31 and 0 <= r <= 31; trailing text is ignored."""
    first = scan_int(text, 0)
    if first is not None and text[first[1] : first[1] + 1] == ":":
        second = scan_int(text, first[1] + 1)
        if second is not None and 1 <= first[0] <= MAXSIG and 0 <= second[0] <= MAXSIG:
            return first[0], second[0]
    raise Exit(1, _REWRITE_HELP)


def parse(prog: str, argv: list[str], environ: dict[str, str]) -> Config:
    name = "dumb-init"  # not argv[0]: a script launcher loses it, and scripts compare this text
    operands: list[str] = []
    debug = False
    setsid = True
    rewrites: list[tuple[int, int]] = []
    try:
        for key, value in scan(argv, _OPTIONS, operands):
            if key == "help":
                raise Exit(0, _HELP.format(version=VERSION, prog=name))
            if key == "version":
                raise Exit(0, "dumb-init v%s\n" % VERSION)
            if key == "verbose":
                debug = True
            elif key == "single-child":
                setsid = False
            elif key == "rewrite":
                rewrites.append(_parse_rewrite(value or ""))
    except OptionError as exc:
        raise Exit(1, "%s: %s\n" % (name, exc)) from None
    if not operands:
        raise Exit(1, "Usage: %s [option] program [args]\nTry %s --help for full usage.\n" % (name, name))
    # Like dumb-init, the environment is read after the command line.
    notes = []
    if environ.get("DUMB_INIT_DEBUG") == "1":
        debug = True
        notes.append("Running in debug mode.")
    if environ.get("DUMB_INIT_SETSID") == "0":
        setsid = False
        notes.append("Not running in setsid mode.")
    if setsid:
        # Job-control signals stop the whole group unless the user rewrote them.
        rewritten = {source for source, _ in rewrites}
        defaults = [(s, signal.SIGSTOP) for s in (signal.SIGTSTP, signal.SIGTTOU, signal.SIGTTIN)]
        rewrites = [rule for rule in defaults if rule[0] not in rewritten] + rewrites
    return Config(
        command=tuple(operands),
        personality="dumb-init",
        session="setsid" if setsid else "none",
        forward_to="group" if setsid else "child",
        suspend="on-signal",
        rewrites=tuple(rewrites),
        leftovers="leave",
        exit_signal=signal.SIGTERM,
        grace=None,
        subreaper="auto",
        verbosity=3 if debug else 1,
        notes=tuple(notes),
    )


# --- messages: "[dumb-init] text" on stderr in debug mode ---------------------------------------


def _text(event: str, fields: dict) -> str | None:
    if event == "spawned":
        return "Child spawned with PID %d." % fields["pid"]
    if event == "signal":
        return "Received signal %d." % fields["signo"]
    if event == "handoff-ignored":
        return "Ignoring tty hand-off signal %d." % fields["signo"]
    if event == "rewritten":
        return "Translating signal %d to %d." % (fields["signo"], fields["to"])
    if event == "forwarded":
        return "Forwarded signal %d to children." % fields["signo"]
    if event == "dropped":
        # dumb-init 1.2.5 prints the translated number here, which is always 0
        return "Not forwarding signal 0 to children (ignored)."
    if event == "suspending":
        return "Suspending self due to TTY signal."
    if event == "reaped":
        if "signal" in fields:
            return "A child with PID %d was terminated by signal %d." % (fields["pid"], fields["signal"])
        return "A child with PID %d exited with exit status %d." % (fields["pid"], fields["code"])
    if event == "exit":
        return "Child exited with status %d. Goodbye." % fields["code"]
    if event == "tty-detach":
        errno = fields.get("errno")
        if errno:
            return "Unable to detach from controlling tty (errno=%d %s)." % (errno, os.strerror(errno))
        if fields.get("session_leader"):
            return "Detached from controlling tty, ignoring the first SIGHUP and SIGCONT we receive."
        return "Detached from controlling tty, but was not session leader."
    if event == "tty-attach":
        errno = fields["errno"]
        return "Unable to attach to controlling tty (errno=%d %s)." % (errno, os.strerror(errno))
    if event == "setsid":
        return "setsid complete."
    if event == "note":
        return fields["dumb_init_text"]  # type: ignore[return-value]
    return None


class DumbInit(Personality):
    name = "dumb-init"
    failure = 1

    def __init__(self) -> None:
        # dumb-init exits in the very step that reaps its child: after that line it says only
        # its exit signal's forward and goodbye.  pyinit still reaps what died meanwhile before
        # it exits (Supervisor._finish); those reaps go unsaid here, as dumb-init never makes them.
        self.program_reaped = False

    def parse(self, prog: str, argv: list[str], environ: dict[str, str]) -> Config:
        return parse(prog, argv, environ)

    def render(self, log: Log, level: int, event: str, template: str, fields: dict) -> tuple[int, str] | None:
        if event == "exec-failed":
            # printed whatever the debug setting: "[dumb-init] cmd: strerror"
            return 2, "[dumb-init] %s: %s\n" % (fields["command"][0], fields["reason"])
        if event == "fatal":
            return 2, format_text(template, fields) + "\n"
        if log.verbosity < DEBUG:
            return None
        if event == "reaped":
            if fields.get("main"):
                self.program_reaped = True
            elif self.program_reaped:
                return None
        text = _text(event, fields)
        return None if text is None else (2, "[dumb-init] " + text + "\n")

    def start_failed(self, log: Log, config: Config, error: StartError) -> int:
        if error.step == "fork":
            log.error("fatal", "%(text)s", text="[dumb-init] Unable to fork. Exiting.")
            return self.failure
        if error.step in ("refused", "setup", "subreaper"):
            log.error("fatal", "%(reason)s", reason=error.reason)
            return self.failure
        # Whatever step of the child failed, dumb-init's words: "[dumb-init] cmd: reason", 2.
        log.error("exec-failed", "", command=list(config.command), reason=error.reason)
        return 2


PERSONALITY = DumbInit()
