"""Config: everything a command line and its environment variables can say, frozen and checked.

A personality's parser (personalities/) produces one Config; nothing after parsing reads
sys.argv or os.environ for options.  A Config that breaks a rule below is a bug in a parser, so
building one raises ValueError (which main turns into one "internal error" line).

Why not a dataclass: `import dataclasses` pulls in `inspect` and costs ~15 ms, more than the
whole rest of pyinit's start-up, and PID 1 starts in every container.  This is the same idea
(named, typed, immutable fields with defaults and replace()) in a few lines.
"""

from __future__ import annotations

from .signals import DEFAULT_STOP_SIGNALS, HANDLED, VALID, signal

# How the program is placed: "pgroup" = own process group, terminal foreground handed to it
# (tini's way); "setsid" = own session, terminal taken as its controlling tty (dumb-init's way);
# "none" = pyinit's own group and session (dumb-init --single-child).
SESSION_MODES = ("pgroup", "setsid", "none")
# Where forwarded signals go: the program's whole process group, or the program alone.
FORWARD_TARGETS = ("group", "child")
# When pyinit stops itself (so a parent shell sees the job stopped):
#  "with-child" once the program has stopped on a terminal stop signal (pyinit's way);
#  "on-signal"  whenever pyinit receives TSTP/TTIN/TTOU (dumb-init's way);
#  "never"      (tini's way).
SUSPEND_MODES = ("with-child", "on-signal", "never")
# When the program exits while other processes remain:
#  "stop"  send them the stop signal, wait up to the grace period, SIGKILL the rest, reap all;
#  "leave" exit at once (tini; the kernel SIGKILLs what is left of a PID namespace);
#  "wait"  keep running, reaping, until no descendant is left (dumb-init PR #141).
LEFTOVER_MODES = ("stop", "leave", "wait")
SUBREAPER_MODES = ("auto", "on", "off")  # auto: register when not PID 1
LOG_FORMATS = ("text", "json")
#: Log levels, tini's scale: 0 errors, 1 warnings (the default), 2 info, 3 debug, 4 trace.
MAX_VERBOSITY = 4

#: Default grace period in seconds: below `docker stop`'s 10 s, with room to SIGKILL and reap.
DEFAULT_GRACE = 8.0

_DEFAULTS: dict[str, object] = {
    # what to run: one command, or several programs ((name, shell command), ...: a Procfile)
    "command": (),
    "programs": (),
    "prefix": True,  # several programs: their output relayed, each line prefixed with the name
    "exec_only": False,  # pyinit exec / gosu: no fork, no supervisor
    # whose command line: its texts, exit codes and rules (personalities/)
    "personality": "pyinit",
    # process layout and terminal
    "session": "pgroup",
    "forward_to": "group",
    "suspend": "with-child",
    # signals
    "rewrites": (),  # ((from, to), ...); to == 0 drops the signal; the last rule for a signal wins
    "delays": (),  # ((signo, seconds), ...)
    "stop_signals": DEFAULT_STOP_SIGNALS,
    # lifecycle
    "grace": DEFAULT_GRACE,  # seconds after a stop signal before SIGKILL; None: never
    "leftovers": "stop",
    "exit_signal": 0,  # dumb-init: signal sent to the group when the program exits (then exit)
    "success_codes": frozenset(),  # program exit codes reported as 0 (tini -e)
    "subreaper": "auto",
    "pdeathsig": 0,
    "sh_fallback": True,  # run a file without #! through /bin/sh, as execvp(3) does
    # logging
    "verbosity": 1,  # warnings: nothing is killed or given up on in silence
    "log_format": "text",
    "warn_on_reap": False,  # tini -w
    "notes": (),  # start-up lines a drop-in command line prints in debug mode (dumb-init)
    # credentials (resolved by the personality's user rules before the fork)
    "user": None,  # user spec: name, uid, name:group, uid:gid, :group
    "groups": None,  # explicit supplementary groups (tuple of specs), None: the default rule
    "no_new_privs": False,
    "clear_caps": False,
}

_CHOICES = {
    "session": SESSION_MODES,
    "forward_to": FORWARD_TARGETS,
    "suspend": SUSPEND_MODES,
    "leftovers": LEFTOVER_MODES,
    "subreaper": SUBREAPER_MODES,
    "log_format": LOG_FORMATS,
}
_SIGNALS_OR_ZERO = VALID | {0}


class Config:
    """Immutable options.  Build with Config(**fields); derive with config.replace(**changes)."""

    __slots__ = tuple(_DEFAULTS)

    command: tuple[str, ...]
    programs: tuple[tuple[str, str], ...]
    prefix: bool
    exec_only: bool
    personality: str
    session: str
    forward_to: str
    suspend: str
    rewrites: tuple[tuple[int, int], ...]
    delays: tuple[tuple[int, float], ...]
    stop_signals: frozenset[int]
    grace: float | None
    leftovers: str
    exit_signal: int
    success_codes: frozenset[int]
    subreaper: str
    pdeathsig: int
    sh_fallback: bool
    verbosity: int
    log_format: str
    warn_on_reap: bool
    notes: tuple[str, ...]
    user: str | None
    groups: tuple[str, ...] | None
    no_new_privs: bool
    clear_caps: bool

    def __init__(self, **fields: object) -> None:
        unknown = set(fields) - set(_DEFAULTS)
        if unknown:
            raise TypeError("unknown Config fields: %s" % ", ".join(sorted(unknown)))
        for key, default in _DEFAULTS.items():
            object.__setattr__(self, key, fields.get(key, default))
        self._check()

    def _check(self) -> None:
        """The rules every parser must keep; a broken one is a bug, not a user's mistake."""
        for key, choices in _CHOICES.items():
            if getattr(self, key) not in choices:
                raise ValueError("Config.%s must be one of %s, not %r" % (key, choices, getattr(self, key)))
        if not (isinstance(self.command, tuple) and all(isinstance(word, str) for word in self.command)):
            raise ValueError("Config.command must be a tuple of str")
        if self.programs and (self.command or self.exec_only):
            raise ValueError("Config: a command or programs, not both; programs are never exec'd in place")
        if len({name for name, _ in self.programs}) != len(self.programs):
            raise ValueError("Config.programs: a name twice")
        if not 0 <= self.verbosity <= MAX_VERBOSITY:
            raise ValueError("Config.verbosity must be 0-%d, not %r" % (MAX_VERBOSITY, self.verbosity))
        if self.grace is not None and not self.grace >= 0:
            raise ValueError("Config.grace must be None or >= 0, not %r" % (self.grace,))
        if not self.stop_signals <= HANDLED - {signal.SIGCHLD}:
            raise ValueError("Config.stop_signals must be signals pyinit can receive and forward")
        for source, target in self.rewrites:
            if source not in VALID or target not in _SIGNALS_OR_ZERO:
                raise ValueError("Config.rewrites: bad rule %r" % ((source, target),))
        for signo, seconds in self.delays:
            if signo not in VALID or not seconds >= 0:
                raise ValueError("Config.delays: bad rule %r" % ((signo, seconds),))
        if self.exit_signal not in _SIGNALS_OR_ZERO or self.pdeathsig not in _SIGNALS_OR_ZERO:
            raise ValueError("Config.exit_signal and Config.pdeathsig must be signals or 0")
        if not all(isinstance(code, int) and 0 <= code <= 255 for code in self.success_codes):
            raise ValueError("Config.success_codes must be exit codes 0-255")

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Config is immutable; use replace()")

    def replace(self, **changes: object) -> Config:
        fields = {key: getattr(self, key) for key in _DEFAULTS}
        fields.update(changes)
        return Config(**fields)

    def __repr__(self) -> str:
        return "Config(%s)" % ", ".join("%s=%r" % (k, getattr(self, k)) for k in _DEFAULTS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and all(getattr(self, k) == getattr(other, k) for k in _DEFAULTS)

    __hash__ = None  # type: ignore[assignment]

    # Derived views, computed from fields rather than stored, so they can never disagree.

    def rewrite(self, signo: int) -> int:
        """The signal to forward for a received one (0: drop it).  The last rule for a signal wins."""
        result = signo
        for source, target in self.rewrites:
            if source == signo:
                result = target
        return result

    @property
    def needs_credentials(self) -> bool:
        """Whether anything about the program's credentials is to change."""
        return self.user is not None or self.groups is not None or self.no_new_privs or self.clear_caps
