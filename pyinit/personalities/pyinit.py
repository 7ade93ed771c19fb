"""pyinit's own personality: its command line and PYINIT_* variables, its `[pyinit]` messages,
exit code 125 for its own failures, and its user rules (initgroups semantics).

Environment variables give the defaults (so a Dockerfile can set them with ENV); options on the
command line override them.  For the repeatable options (--rewrite, --delay, --success-code),
the rules from the environment come first and the command line's are added after them, so a
command-line rule for the same signal wins.
"""

from __future__ import annotations

import os

from .. import __version__
from ..config import DEFAULT_GRACE, MAX_VERBOSITY, Config
from ..errors import (
    EXIT_CANNOT_EXECUTE,
    EXIT_NOT_FOUND,
    EXIT_PYINIT_FAILED,
    Exit,
    StartError,
    refused,
    usage_error,
)
from ..log import ERROR, WARN, format_text
from ..options import Opt, OptionError, scan
from ..signals import FORWARDABLE, SignalSpecError, parse, parse_list, parse_rewrite
from ..signals import name as signame
from . import Personality

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..log import Log
    from ..users import Credentials, Group


HELP = """\
Usage: pyinit [OPTIONS] [--] COMMAND [ARGS...]
       pyinit [OPTIONS] --procfile PATH | -P 'NAME: COMMAND' ...
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
                            (default TERM,INT,QUIT)
      --leftovers MODE      when COMMAND exits and other processes remain:
                            stop (TERM, grace, KILL; default), leave (exit now),
                            wait (keep running until they are gone)
  -e, --success-code CODE   report COMMAND's exit code CODE as 0; repeatable
      --pdeathsig SIGNAL    signal pyinit gets when its parent dies (not as PID 1)
      --no-subreaper        do not register as child subreaper when not PID 1
Several programs (each in its own group; when one ends, the others are stopped):
      --procfile PATH       run the programs of a Procfile: 'NAME: COMMAND' lines,
                            each through /bin/sh -c; exit with the first one's status
  -P, --program 'NAME: COMMAND'
                            one program, without a file; repeatable
      --no-prefix           programs write to pyinit's stdout and stderr directly
                            (default: every line relayed, prefixed with NAME)
Privileges:
  -u, --user SPEC           run COMMAND as user, uid, user:group, uid:gid or :group
      --groups LIST         supplementary groups (comma-separated; empty: none)
      --no-new-privs        set no_new_privs: exec can never gain privileges
      --clear-caps          empty the bounding, inheritable and ambient capabilities
Logging:
  -v, --verbose             say more on stderr: -v info, -vv debug, -vvv trace
                            (without it: errors and warnings only)
      --log-format FORMAT   text (default) or json (one object per line, every event)
  -w, --warn-on-reap        warn for each zombie reaped that is not COMMAND
Other:
      --compat NAME         parse the rest as NAME would: tini, dumb-init, gosu, su-exec
  -h, --help                show this help and exit
  -V, --version             show the version and exit

Each option has an environment variable: PYINIT_<OPTION> (PYINIT_GRACE=5,
PYINIT_REWRITE=TERM:QUIT, PYINIT_SINGLE_CHILD=1, ...); PYINIT_VERBOSITY is
the level: 0 errors, 1 warnings (default), 2 info (-v), 3 debug, 4 trace.
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
    Opt(None, "procfile", True),
    Opt("P", "program", True),
    Opt(None, "no-prefix"),
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

_LEFTOVERS = ("stop", "leave", "wait")
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
    signo = parse(sig)
    _receivable(frozenset((signo,)), what, "held back")
    return signo, seconds


def _receivable(signals: frozenset[int], what: str, role: str) -> frozenset[int]:
    """Refuse signals that never reach pyinit to be forwarded: KILL, STOP (uncatchable), CHLD."""
    bad = signals - FORWARDABLE
    if bad:
        raise ValueError(
            "%s: %s cannot be %s: pyinit never receives it to forward"
            % (what, ", ".join(sorted(signame(signo) for signo in bad)), role)
        )
    return signals


def _words(text: str) -> list[str]:
    return text.replace(",", " ").split()


class _Builder:
    """Accumulates field values; each setter validates one option's text."""

    def __init__(self) -> None:
        self.fields: dict[str, object] = {}
        self.rewrites: list[tuple[int, int]] = []
        self.delays: list[tuple[int, float]] = []
        self.success: set[int] = set()
        self.procfile: str | None = None
        self.procfile_from: str = ""  # "--procfile" or "PYINIT_PROCFILE"
        self.program_lines: list[str] = []

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
            fields["stop_signals"] = _receivable(parse_list(value), what, "a stop signal")
        elif key == "leftovers":
            mode = value.strip().lower()
            if mode not in _LEFTOVERS:
                raise ValueError("%s: expected stop, leave or wait, got %r" % (what, value))
            fields["leftovers"] = mode
        elif key == "success-code":
            self.success.update(_exit_code(item, what) for item in _words(value))
        elif key == "procfile":
            self.procfile, self.procfile_from = value, what
        elif key == "program":
            self.program_lines.append(value)
        elif key == "prefix":
            fields["prefix"] = _flag(value, what)
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
            if not (stripped.isascii() and stripped.isdigit() and int(stripped) <= MAX_VERBOSITY):
                raise ValueError(
                    "%s: expected a level 0-%d (0 errors, 1 warnings, 2 info, 3 debug, 4 trace), got %r"
                    % (what, MAX_VERBOSITY, value)
                )
            fields["verbosity"] = int(stripped)
        elif key == "log-format":
            fmt = value.strip().lower()
            if fmt not in ("text", "json"):
                raise ValueError("%s: expected text or json, got %r" % (what, value))
            fields["log_format"] = fmt
        elif key == "warn-on-reap":
            fields["warn_on_reap"] = _flag(value, what)
        else:  # pragma: no cover - the tables below and this function must agree
            raise AssertionError(key)

    def programs(self) -> tuple:  # -> tuple[Program, ...]
        """The Procfile's programs, then the -P ones: one line naming the file and line for a
        refusal (raised as ValueError, so it becomes a usage error, 125)."""
        from .. import procfile

        try:
            return procfile.combine(self.procfile, self.program_lines)
        except procfile.ProcfileError as exc:
            raise ValueError(str(exc)) from None

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
    "PYINIT_PROCFILE": "procfile",
    "PYINIT_PREFIX": "prefix",
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
            elif key == "no-prefix":
                key, value = "prefix", "0"
            try:
                builder.apply(key, "1" if value is None else value, what)
            except (ValueError, SignalSpecError) as exc:
                raise usage_error(_strip_what(str(exc), what)) from None
    except OptionError as exc:
        raise usage_error(str(exc)) from None
    if verbose_count:
        builder.fields["verbosity"] = min(1 + verbose_count, MAX_VERBOSITY)
    if operands and builder.procfile_from == "PYINIT_PROCFILE" and not builder.program_lines:
        builder.procfile = None  # a command on the command line overrides the image's Procfile
    if builder.procfile is not None or builder.program_lines:
        if operands:
            raise usage_error("give a COMMAND or programs (--procfile, -P), not both")
        try:
            programs = builder.programs()
        except ValueError as exc:
            raise Exit(EXIT_PYINIT_FAILED, "pyinit: %s\n" % exc) from None
        return builder.config([], programs=programs)
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


# --- user rules: initgroups semantics ---------------------------------------------------------


def is_number(text: str) -> bool:
    """`^[+-]?[0-9]+$`: what a spec treats as an id.

    Not int(): `1_000`, `' 0'` and fullwidth digits are names.
    """
    digits = text[1:] if text[:1] in ("+", "-") else text
    return digits.isascii() and digits.isdigit()


def _spec_id(text: str, what: str, kind: str) -> int:
    value = int(text)  # is_number(text) holds: a sign and ASCII digits
    from ..users import MAX_ID

    if not 0 <= value <= MAX_ID:
        raise refused("%s: %s %s is out of range 0-%d" % (what, kind, text, MAX_ID))
    return value


def _group_id(text: str, what: str, groups: list[Group]) -> int:
    """A number is a gid (never a name), used as is; a name is the first group of that name."""
    if is_number(text):
        return _spec_id(text, what, "gid")
    for group in groups:
        if group.name == text:
            return group.gid
    from ..users import GROUP_FILE

    raise refused("%s: no group named %s in %s" % (what, repr(text), GROUP_FILE))


def resolve_user(config: Config) -> Credentials:
    """--user, --groups, --no-new-privs, --clear-caps -> Credentials, or raise StartError."""
    from .. import users

    credentials = users.Credentials()
    spec = config.user
    groups = users.groups() if (spec is not None or config.groups is not None) else []
    if spec is not None:
        _pyinit_user(spec, credentials, groups)
    if config.groups is not None:
        credentials.groups = users.unique(_group_id(text, "--groups", groups) for text in config.groups)
    _check_caller(credentials, "--user %s" % repr(spec) if spec is not None else "--groups")
    return users.finish(credentials, config)


def _pyinit_user(spec: str, credentials: Credentials, groups: list[Group]) -> None:
    what = "--user %s" % repr(spec)
    user_part, _, group_part = spec.partition(":")
    if ":" in group_part:
        raise refused("%s: expected user[:group], with one ':' at most" % what)
    if not user_part and not group_part:
        # '' is the caller for gosu; for pyinit, an empty PYINIT_USER=$UNSET_VARIABLE must not
        # quietly mean root (the class of su-exec #6).
        raise refused("--user: empty user spec: give a user name or uid (and :group)")
    from .. import users

    passwd = users.users()
    caller = users.first(user for user in passwd if user.uid == os.getuid())
    if not user_part:  # ':group': the caller, with another group
        uid, entry = os.getuid(), caller
    elif is_number(user_part):  # a number is a uid, never a name (a user may be *named* 2000)
        uid = _spec_id(user_part, what, "uid")
        entry = users.first(user for user in passwd if user.uid == uid)
    else:
        entry = users.first(user for user in passwd if user.name == user_part)
        if entry is None:
            raise refused("%s: no user named %s in %s" % (what, repr(user_part), users.PASSWD_FILE))
        uid = entry.uid
    if group_part:
        # An explicit group replaces the supplementary groups; it stays one of them itself.
        gid = _group_id(group_part, what, groups)
        supplementary = [gid]
    elif entry is not None:
        # initgroups(3): the primary gid and every group that lists the user.  Leaving the
        # primary out (as gosu does) is the negative-group-permission bypass of CVE-2022-36109.
        gid = entry.gid
        supplementary = users.unique([gid] + [group.gid for group in groups if entry.name in group.members])
    else:
        # A uid without an entry: its own gid, not the caller's (gid 0 under root, gosu's rule).
        gid = uid
        supplementary = [gid]
    credentials.uid, credentials.gid, credentials.groups = uid, gid, supplementary
    credentials.home = (entry.home if entry is not None else "") or "/"
    credentials.name = entry.name if entry is not None else None
    credentials.caller_name = caller.name if caller is not None else None
    credentials.user_vars = True


def _check_caller(credentials: Credentials, what: str) -> None:
    """Refuse, in the parent, what a non-root pyinit cannot do; asking for itself is a no-op."""
    if os.geteuid() == 0:
        return
    same = (
        (credentials.uid is None or os.getresuid() == (credentials.uid,) * 3)
        and (credentials.gid is None or os.getresgid() == (credentials.gid,) * 3)
        and (credentials.groups is None or sorted(set(os.getgroups())) == sorted(set(credentials.groups)))
    )
    if same:
        credentials.switch = False  # setgroups would fail with EPERM even for the same list
        return
    raise refused(
        "%s: pyinit runs as uid %d, not root: it cannot switch to %s"
        % (what, os.geteuid(), credentials.describe())
    )


# --- messages ---------------------------------------------------------------------------------


def render(log: Log, level: int, event: str, template: str, fields: dict) -> tuple[int, str] | None:
    """`[pyinit] text` on stderr, for the events the verbosity asks for."""
    if level > log.verbosity:
        return None
    prefix = "[pyinit] error: " if level == ERROR else "[pyinit] warning: " if level == WARN else "[pyinit] "
    return 2, prefix + format_text(template, fields) + "\n"


def start_failed(log: Log, config: Config, error: StartError, failure: int = EXIT_PYINIT_FAILED) -> int:
    """One line for a failed start; 127 (not found), 126 (not executable) or `failure`."""
    command = config.command[0] if config.command else ""
    if error.step == "refused":
        log.error("fatal", "%(reason)s", reason=error.detail)
        return failure
    if error.step == "setup":
        log.error("fatal", "cannot set up: %(reason)s", reason=error.reason)
        return failure
    if error.step == "subreaper":
        log.error("fatal", "cannot register as child subreaper: %(reason)s", reason=error.reason)
        return failure
    if error.step in ("fork", "pipe"):
        log.error("fatal", "cannot start %(command)r: %(reason)s", command=command, reason=error.reason)
        return failure
    if error.step != "exec":
        log.error(
            "fatal",
            "cannot start %(command)r: %(step)s failed: %(reason)s",
            command=command,
            step=error.step,
            reason=error.reason,
        )
        return failure
    if error.not_found:
        code = EXIT_NOT_FOUND
        why = "command not found" if "/" not in command else error.reason
    else:
        code = EXIT_CANNOT_EXECUTE
        why = error.reason
    log.error(
        "exec-failed",
        "cannot execute %(program)r: %(why)s",
        program=command,
        why=why,
        command=list(config.command),
        reason=error.reason,
        errno=error.errno,
    )
    return code


class Pyinit(Personality):
    name = "pyinit"

    def parse(self, prog: str, argv: list[str], environ: dict[str, str]) -> Config:
        return parse_args(argv, environ)

    def render(self, log: Log, level: int, event: str, template: str, fields: dict) -> tuple[int, str] | None:
        return render(log, level, event, template, fields)

    def credentials(self, config: Config) -> Credentials:
        return resolve_user(config)

    def start_failed(self, log: Log, config: Config, error: StartError) -> int:
        return start_failed(log, config, error)


PERSONALITY = Pyinit()
