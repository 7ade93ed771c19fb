"""pyinit's own command line and PYINIT_* environment variables -> Config.

Environment variables give the defaults (so a Dockerfile can set them with ENV); options on the
command line override them.  For the repeatable options (--rewrite, --delay, --success-code),
the rules from the environment come first and the command line's are added after them, so a
command-line rule for the same signal wins.
"""

from __future__ import annotations

from . import __version__
from .config import DEFAULT_GRACE, Config
from .options import Opt, OptionError, scan
from .signals import SignalSpecError, parse, parse_list, parse_rewrite

#: Exit code of pyinit's own failures: bad usage, bad environment, unknown user, no fork, ...
#: (the convention of env(1), timeout(1), chroot(1) and `docker run`).
EXIT_PYINIT_FAILED = 125
#: The command was found but could not be executed.
EXIT_CANNOT_EXECUTE = 126
#: The command was not found.
EXIT_NOT_FOUND = 127


class Exit(Exception):
    """Leave now: print text (if any) to fd, exit with code.  For --help, --version, errors."""

    def __init__(self, code: int, text: str = "", fd: int = 2) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text
        self.fd = fd


def usage_error(message: str, prog: str = "pyinit") -> Exit:
    """One line: what is wrong, and where to look."""
    return Exit(EXIT_PYINIT_FAILED, "%s: %s (see '%s --help')\n" % (prog, message, prog))


HELP = """\
Usage: pyinit [OPTIONS] [--] COMMAND [ARGS...]
       pyinit exec --user SPEC [OPTIONS] [--] COMMAND [ARGS...]
       pyinit probe [OPTIONS] [--] COMMAND [ARGS...]

Run COMMAND as the child of a minimal init: forward signals to it, reap zombies,
exit with its status.  Options stop at the first non-option word.

Signals:
  -c, --single-child        forward signals to the child only, not its process group
  -r, --rewrite FROM:TO     forward signal FROM as TO (TO of 0 or none drops it);
                            names (TERM, SIGTERM), numbers, RTMIN+N; repeatable
      --delay SIG:SECONDS   hold SIG this long before forwarding it (a second SIG or
                            a SIGINT forwards at once); repeatable
      --setsid              run COMMAND in its own session, owning the terminal
                            (dumb-init's way) instead of its own process group
Shutdown:
      --grace SECONDS       after forwarding a stop signal, SIGKILL everything left
                            when SECONDS have passed (default %(grace)g; none: never)
      --stop-signals LIST   signals that start the grace period
                            (default TERM,INT,QUIT,HUP)
      --leftovers MODE      when COMMAND exits and other processes remain:
                            stop (TERM, grace, KILL; default), leave (exit now),
                            wait (keep running until they are gone)
  -e, --success-code CODE   report COMMAND's exit code CODE as 0; repeatable
      --pdeathsig SIGNAL    signal pyinit gets when its parent dies (not as PID 1)
      --no-subreaper        do not register as child subreaper when not PID 1
Privileges:
  -u, --user SPEC           run COMMAND as user, uid, user:group, uid:gid or :group
      --groups LIST         supplementary groups (comma-separated; empty: none)
      --no-new-privs        set no_new_privs: exec can never gain privileges
      --clear-caps          empty the bounding, inheritable and ambient capabilities
Logging:
  -v, --verbose             log to stderr; repeat for more (-vv debug, -vvv trace)
      --log-format FORMAT   text (default) or json (one object per line, every event)
  -w, --warn-on-reap        warn for each zombie reaped that is not COMMAND
Other:
      --compat NAME         parse the rest as NAME would: tini, dumb-init, gosu, su-exec
  -h, --help                show this help and exit
  -V, --version             show the version and exit

Each option has an environment variable: PYINIT_<OPTION> (PYINIT_GRACE=5,
PYINIT_REWRITE=TERM:QUIT, PYINIT_VERBOSITY=2, PYINIT_SINGLE_CHILD=1, ...).
Exit status: COMMAND's, or 128+N if signal N killed it; 125 if pyinit itself
failed; 126 if COMMAND cannot be executed; 127 if it was not found.
"""

_OPTIONS = [
    Opt("c", "single-child"),
    Opt("r", "rewrite", True),
    Opt(None, "delay", True),
    Opt(None, "setsid"),
    Opt(None, "grace", True),
    Opt(None, "stop-signals", True),
    Opt(None, "leftovers", True),
    Opt("e", "success-code", True),
    Opt(None, "pdeathsig", True),
    Opt(None, "no-subreaper"),
    Opt("u", "user", True),
    Opt(None, "groups", True),
    Opt(None, "no-new-privs"),
    Opt(None, "clear-caps"),
    Opt("v", "verbose"),
    Opt(None, "log-format", True),
    Opt("w", "warn-on-reap"),
    Opt(None, "compat", True),
    Opt("h", "help"),
    Opt("V", "version"),
]

_LEFTOVERS = {"stop": "stop", "leave": "exit", "wait": "wait"}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _flag(text: str, what: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("%s: expected 1/0, true/false, yes/no or on/off, got %r" % (what, text))


def _seconds(text: str, what: str, *, allow_none: bool = False) -> float | None:
    lowered = text.strip().lower()
    if allow_none and lowered in ("none", "never", "inf", "infinity"):
        return None
    try:
        value = float(lowered)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e9:  # also rejects nan and inf
        hint = " or none" if allow_none else ""
        raise ValueError("%s: expected a number of seconds (e.g. 2.5)%s, got %r" % (what, hint, text))
    return value


def _exit_code(text: str, what: str) -> int:
    stripped = text.strip()
    if stripped.isascii() and stripped.isdigit() and int(stripped) <= 255:
        return int(stripped)
    raise ValueError("%s: expected an exit code 0-255, got %r" % (what, text))


def _delay(text: str, what: str) -> tuple[int, float]:
    sig, sep, secs = text.rpartition(":")
    if not sep:
        raise ValueError("%s: expected SIGNAL:SECONDS (e.g. TERM:10), got %r" % (what, text))
    seconds = _seconds(secs, what)
    assert seconds is not None
    return parse(sig), seconds


def _words(text: str) -> list[str]:
    return text.replace(",", " ").split()


class _Builder:
    """Accumulates field values; each setter validates one option's text."""

    def __init__(self) -> None:
        self.fields: dict[str, object] = {}
        self.rewrites: list[tuple[int, int]] = []
        self.delays: list[tuple[int, float]] = []
        self.success: set[int] = set()

    def apply(self, key: str, value: str, what: str) -> None:
        fields = self.fields
        if key == "single-child":
            fields["forward_to"] = "child" if _flag(value, what) else "group"
        elif key == "rewrite":
            self.rewrites.extend(parse_rewrite(item) for item in _words(value))
        elif key == "delay":
            self.delays.extend(_delay(item, what) for item in _words(value))
        elif key == "setsid":
            fields["session"] = "setsid" if _flag(value, what) else "pgroup"
        elif key == "grace":
            fields["grace"] = _seconds(value, what, allow_none=True)
        elif key == "stop-signals":
            fields["stop_signals"] = parse_list(value)
        elif key == "leftovers":
            mode = _LEFTOVERS.get(value.strip().lower())
            if mode is None:
                raise ValueError("%s: expected stop, leave or wait, got %r" % (what, value))
            fields["on_main_exit"] = mode
        elif key == "success-code":
            self.success.update(_exit_code(item, what) for item in _words(value))
        elif key == "pdeathsig":
            fields["pdeathsig"] = parse(value, allow_zero=True)
        elif key == "subreaper":
            fields["subreaper"] = "auto" if _flag(value, what) else "off"
        elif key == "user":
            fields["user"] = value
        elif key == "groups":
            fields["groups"] = tuple(_words(value))
        elif key == "no-new-privs":
            fields["no_new_privs"] = _flag(value, what)
        elif key == "clear-caps":
            fields["clear_caps"] = _flag(value, what)
        elif key == "verbosity":
            stripped = value.strip()
            if not (stripped.isascii() and stripped.isdigit()):
                raise ValueError("%s: expected a number 0-3, got %r" % (what, value))
            fields["verbosity"] = 1 + int(stripped)
        elif key == "log-format":
            fmt = value.strip().lower()
            if fmt not in ("text", "json"):
                raise ValueError("%s: expected text or json, got %r" % (what, value))
            fields["log_format"] = fmt
        elif key == "warn-on-reap":
            fields["warn_on_reap"] = _flag(value, what)
        else:  # pragma: no cover - the tables below and this function must agree
            raise AssertionError(key)

    def config(self, command: list[str], **extra: object) -> Config:
        fields = dict(self.fields, **extra)
        fields.update(
            command=tuple(command),
            rewrites=tuple(self.rewrites),
            delays=tuple(self.delays),
            success_codes=frozenset(self.success),
        )
        return Config(**fields)


#: PYINIT_* variable -> the option key it sets.
ENVIRONMENT = {
    "PYINIT_SINGLE_CHILD": "single-child",
    "PYINIT_REWRITE": "rewrite",
    "PYINIT_DELAY": "delay",
    "PYINIT_SETSID": "setsid",
    "PYINIT_GRACE": "grace",
    "PYINIT_STOP_SIGNALS": "stop-signals",
    "PYINIT_LEFTOVERS": "leftovers",
    "PYINIT_SUCCESS_CODES": "success-code",
    "PYINIT_PDEATHSIG": "pdeathsig",
    "PYINIT_SUBREAPER": "subreaper",
    "PYINIT_USER": "user",
    "PYINIT_GROUPS": "groups",
    "PYINIT_NO_NEW_PRIVS": "no-new-privs",
    "PYINIT_CLEAR_CAPS": "clear-caps",
    "PYINIT_VERBOSITY": "verbosity",
    "PYINIT_LOG_FORMAT": "log-format",
    "PYINIT_WARN_ON_REAP": "warn-on-reap",
}


def parse_args(argv: list[str], environ: dict[str, str] | None = None) -> Config:
    """pyinit's own command line (argv without the program name) -> Config, or raise Exit."""
    environ = {} if environ is None else environ
    builder = _Builder()
    for variable, key in ENVIRONMENT.items():
        value = environ.get(variable)
        if value is not None:
            try:
                builder.apply(key, value, variable)
            except (ValueError, SignalSpecError) as exc:
                raise usage_error("bad %s" % _strip_what(str(exc), variable)) from None
    if argv and argv[0] == "exec":
        return _subcommand(argv[0], argv[1:], environ)
    operands: list[str] = []
    verbose_count = 0
    try:
        for key, value in scan(argv, _OPTIONS, operands):
            if key == "help":
                raise Exit(0, HELP % {"grace": DEFAULT_GRACE}, fd=1)
            if key == "version":
                raise Exit(0, "pyinit %s\n" % __version__, fd=1)
            if key == "compat":
                raise usage_error("--compat must be the first option")
            if key == "verbose":
                verbose_count += 1
                continue
            what = "--" + key
            if key == "no-subreaper":
                key, value = "subreaper", "0"
            try:
                builder.apply(key, "1" if value is None else value, what)
            except (ValueError, SignalSpecError) as exc:
                raise usage_error(_strip_what(str(exc), what)) from None
    except OptionError as exc:
        raise usage_error(str(exc)) from None
    if verbose_count:
        builder.fields["verbosity"] = 1 + verbose_count
    if not operands:
        raise usage_error("no command given")
    return builder.config(operands)


def _strip_what(message: str, what: str) -> str:
    return message if message.startswith(what) else "%s: %s" % (what, message)


EXEC_HELP = """\
Usage: pyinit exec --user SPEC [OPTIONS] [--] COMMAND [ARGS...]

Switch credentials and exec COMMAND in place (same pid, no supervisor): the
gosu / su-exec step at the end of an entrypoint script.

  -u, --user SPEC       user, uid, user:group, uid:gid or :group
      --groups LIST     supplementary groups (comma-separated; empty: none)
      --no-new-privs    set no_new_privs: exec can never gain privileges
      --clear-caps      empty the bounding, inheritable and ambient capabilities
  -h, --help            show this help and exit

Exit status: COMMAND's; 125 if the switch failed; 126/127 if COMMAND cannot be
executed / was not found.
"""

_EXEC_OPTIONS = [
    Opt("u", "user", True),
    Opt(None, "groups", True),
    Opt(None, "no-new-privs"),
    Opt(None, "clear-caps"),
    Opt("h", "help"),
]
_EXEC_ENVIRONMENT = ("PYINIT_USER", "PYINIT_GROUPS", "PYINIT_NO_NEW_PRIVS", "PYINIT_CLEAR_CAPS")


def _subcommand(name: str, argv: list[str], environ: dict[str, str]) -> Config:
    """`pyinit exec ...` -> an exec-only Config.  (`pyinit probe` is its own program: main.py.)"""
    builder = _Builder()
    for variable in _EXEC_ENVIRONMENT:
        value = environ.get(variable)
        if value is not None:
            try:
                builder.apply(ENVIRONMENT[variable], value, variable)
            except ValueError as exc:
                raise usage_error("bad %s" % _strip_what(str(exc), variable), "pyinit exec") from None
    operands: list[str] = []
    try:
        for key, value in scan(argv, _EXEC_OPTIONS, operands):
            if key == "help":
                raise Exit(0, EXEC_HELP, fd=1)
            try:
                builder.apply(key, "1" if value is None else value, "--" + key)
            except ValueError as exc:
                raise usage_error(_strip_what(str(exc), "--" + key), "pyinit exec") from None
    except OptionError as exc:
        raise usage_error(str(exc), "pyinit exec") from None
    if not operands:
        raise usage_error("no command given", "pyinit exec")
    return builder.config(operands, exec_only=True)
