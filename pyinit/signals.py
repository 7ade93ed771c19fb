"""Signal names and numbers, rewrite specs, and the set of signals pyinit waits on.

Leaf module: no knowledge of the supervisor loop.
"""

from __future__ import annotations

try:
    # CPython's C module has every function and number pyinit needs.  The `signal` module wraps
    # it to hand out enums, and importing it pulls in `enum`, `functools` and `collections`:
    # about 3 ms, half of pyinit's own start-up.  pyinit's start-up path uses this one; other
    # modules import it from here as `signal`.
    import _signal as signal
except ImportError:  # another Python implementation
    import signal  # type: ignore[no-redef]

SIGRTMIN: int = signal.SIGRTMIN
SIGRTMAX: int = signal.SIGRTMAX

#: Every signal this libc lets a program use, real-time ones included (glibc keeps 32 and 33).
VALID: frozenset[int] = frozenset(int(s) for s in signal.valid_signals())

#: Signals no process can catch, block or wait for.
UNCATCHABLE: frozenset[int] = frozenset({signal.SIGKILL, signal.SIGSTOP})

#: What pyinit blocks and collects with sigwaitinfo: everything catchable.  The fault signals
#: (SEGV, BUS, FPE, ILL, TRAP, SYS, ABRT) are included: a real fault inside pyinit is forced by
#: the kernel whatever the mask, so blocking them only catches copies sent with kill(2), which
#: are requests to forward (dumb-init forwards them; tini drops them).
HANDLED: frozenset[int] = VALID - UNCATCHABLE

#: What pyinit can receive and pass on: SIGCHLD is pyinit's own business (reaping).
FORWARDABLE: frozenset[int] = HANDLED - {signal.SIGCHLD}

#: Job-control stop signals a terminal or a shell sends.
TTY_STOPS: frozenset[int] = frozenset({signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})

#: Signals that ask a program to end, and start the grace period when forwarded: what `docker
#: stop` and `kubectl delete` send (TERM, or an image's STOPSIGNAL: QUIT for nginx's graceful
#: stop), and Ctrl-C (INT).  Not HUP: in containers it means "reload your configuration"
#: (nginx, haproxy, gunicorn) far more often than "the terminal hung up".
DEFAULT_STOP_SIGNALS: frozenset[int] = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT})

_ACCEPTED = "a number (1-%d), a name such as TERM or SIGTERM, or RTMIN+N / RTMAX-N" % (signal.NSIG - 1)


class SignalSpecError(ValueError):
    """A signal or rewrite spec that cannot be understood; str() is the one-line reason."""


#: Linux's standard signals, 1 to 31, as x86, arm, arm64, riscv, powerpc and s390 number them
#: (asm-generic).  The `signal` module knows only the names its build's C module defined:
#: before Python 3.11 that lacks SIGSTKFLT, so `--rewrite STKFLT:TERM` and the name in a log
#: line would depend on the interpreter.  Used only where the C module agrees with it.
_LINUX_NAMES = (  # noqa: SIM905 (one line per name would hide the numbering)
    "HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT "
    "CHLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS"
).split()
#: Second names for three of them, which users type (SIGIOT, SIGPOLL, SIGCLD).
_LINUX_ALIASES = {"IOT": "ABRT", "POLL": "IO", "CLD": "CHLD"}

_tables: tuple[dict[str, int], dict[int, str]] | None = None


def _known() -> tuple[dict[str, int], dict[int, str]]:
    """({name without SIG: number}, {number: its name}), built when a name is first needed."""
    global _tables
    if _tables is None:
        own = {
            attr[3:]: getattr(signal, attr)
            for attr in dir(signal)
            if attr.startswith("SIG") and not attr.startswith("SIG_") and attr not in ("SIGRTMIN", "SIGRTMAX")
        }
        numbers: dict[int, str] = {}
        names: dict[str, int] = {}
        if all(own.get(text, signo) == signo for signo, text in enumerate(_LINUX_NAMES, 1)):
            numbers = {signo: "SIG" + text for signo, text in enumerate(_LINUX_NAMES, 1)}
            names = {text: signo for signo, text in enumerate(_LINUX_NAMES, 1)}
            names.update((alias, names[text]) for alias, text in _LINUX_ALIASES.items())
        # Another numbering (mips, alpha, sparc, parisc): the C module's own names; of several
        # for one number, the first in alphabetical order, as signal.Signals chooses.
        for text, signo in sorted(own.items()):
            names.setdefault(text, signo)
            numbers.setdefault(signo, "SIG" + text)
        _tables = names, numbers
    return _tables


def name(signo: int) -> str:
    """SIGTERM, SIGRTMIN+3, or the bare number for something libc does not name."""
    if SIGRTMIN <= signo <= SIGRTMAX:
        return "SIGRTMIN" if signo == SIGRTMIN else "SIGRTMIN+%d" % (signo - SIGRTMIN)
    return _known()[1].get(signo, str(signo))


def _is_decimal(text: str) -> bool:
    # str.isdigit() accepts non-ASCII digits such as '٣' or '²'; only ASCII counts here.
    return bool(text) and all("0" <= ch <= "9" for ch in text)


def parse(spec: str, *, allow_zero: bool = False) -> int:
    """A signal from a number, a name in any case with or without SIG, or RTMIN+N / RTMAX-N.

    With allow_zero, "0" and "none" give 0, meaning "no signal".
    """
    text = spec.strip()
    upper = text.upper()
    if allow_zero and upper in ("0", "NONE"):
        return 0
    if _is_decimal(text):
        signo = int(text)
        if signo in VALID:
            return signo
        raise SignalSpecError("signal number %s is not valid here: use %s" % (text, _ACCEPTED))
    if upper.startswith("SIG"):
        upper = upper[3:]
    for base, value, sign in (("RTMIN", SIGRTMIN, 1), ("RTMAX", SIGRTMAX, -1)):
        if upper == base:
            return value
        if upper.startswith(base) and upper[len(base) : len(base) + 1] in ("+", "-"):
            offset_text = upper[len(base) + 1 :]
            offset_sign = 1 if upper[len(base)] == "+" else -1
            if _is_decimal(offset_text) and offset_sign == sign:
                signo = value + sign * int(offset_text)
                if SIGRTMIN <= signo <= SIGRTMAX:
                    return signo
            raise SignalSpecError(
                "real-time signal %r is out of range: RTMIN+0..RTMIN+%d or RTMAX-0..RTMAX-%d"
                % (spec, SIGRTMAX - SIGRTMIN, SIGRTMAX - SIGRTMIN)
            )
    signo = _known()[0].get(upper) if upper else None
    if signo is None:
        raise SignalSpecError("unknown signal %r: use %s" % (spec, _ACCEPTED))
    return signo


def parse_list(spec: str) -> frozenset[int]:
    """Comma- or space-separated signals: "TERM,INT 3"."""
    items = spec.replace(",", " ").split()
    return frozenset(parse(item) for item in items)


def parse_rewrite(spec: str) -> tuple[int, int]:
    """FROM:TO, where TO may be 0 or none to drop the signal."""
    source, sep, target = spec.partition(":")
    if not sep:
        raise SignalSpecError(
            "rewrite %r needs the form FROM:TO (e.g. TERM:QUIT, 15:3, RTMIN+1:USR1, HUP:none)" % spec
        )
    try:
        from_signo = parse(source)
    except SignalSpecError as exc:
        raise SignalSpecError("rewrite %r: the FROM part: %s" % (spec, exc)) from None
    if from_signo in UNCATCHABLE or from_signo == signal.SIGCHLD:
        raise SignalSpecError(
            "rewrite %r: %s never reaches pyinit as a signal to forward" % (spec, name(from_signo))
        )
    try:
        to_signo = parse(target, allow_zero=True)
    except SignalSpecError as exc:
        raise SignalSpecError("rewrite %r: the TO part: %s, or 0/none to drop it" % (spec, exc)) from None
    return from_signo, to_signo
