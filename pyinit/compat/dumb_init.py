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

from ..cli import Exit
from ..config import Config
from ..options import Opt, OptionError, scan
from ..signals import signal  # the C module: see signals.py

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


def _scan_int(text: str, index: int) -> tuple[int, int] | None:
    """scanf's %d at text[index]: skip white space, a sign, digits -> (value, next index)."""
    while index < len(text) and text[index] in " \t\n\r\f\v":
        index += 1
    start = index
    if index < len(text) and text[index] in "+-":
        index += 1
    digits_start = index
    while index < len(text) and "0" <= text[index] <= "9":
        index += 1
    if index == digits_start:
        return None
    return int(text[start:index]), index


def _parse_rewrite(text: str) -> tuple[int, int]:
    """sscanf(text, "%d:%d") == 2 with 1 <= s <= 31 and 0 <= r <= 31; trailing text is ignored."""
    first = _scan_int(text, 0)
    if first is not None and text[first[1] : first[1] + 1] == ":":
        second = _scan_int(text, first[1] + 1)
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
        flavor="dumb-init",
        session="setsid" if setsid else "none",
        forward_to="group" if setsid else "child",
        suspend="on-signal",
        rewrites=tuple(rewrites),
        on_main_exit="exit",
        exit_signal=signal.SIGTERM,
        grace=None,
        subreaper="auto",
        verbosity=3 if debug else 1,
        notes=tuple(notes),
    )
