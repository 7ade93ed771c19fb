"""Config: everything the command line and the PYINIT_* variables can say, frozen.

Parsing (cli.py and the compat parsers) produces one Config; nothing after parsing reads
sys.argv or os.environ for options.

Why not a dataclass: `import dataclasses` pulls in `inspect` and costs ~15 ms, more than the
whole rest of pyinit's start-up, and PID 1 starts in every container.  This is the same idea
(named, typed, immutable fields with defaults and replace()) in a few lines.
"""

from __future__ import annotations

from .signals import DEFAULT_STOP_SIGNALS

# How the child is placed: "pgroup" = own process group, terminal foreground handed to it
# (tini's way); "setsid" = own session, terminal taken as its controlling tty (dumb-init's way).
SESSION_MODES = ("pgroup", "setsid")
# Where forwarded signals go: the child's whole process group, or the child alone.
FORWARD_TARGETS = ("group", "child")
# When pyinit stops itself (so a parent shell sees the job stopped):
#  "with-child" once the main child has stopped on a terminal stop signal (pyinit's way);
#  "on-signal"  whenever pyinit receives TSTP/TTIN/TTOU (dumb-init's way);
#  "never"      (tini's way).
SUSPEND_MODES = ("with-child", "on-signal", "never")
# What happens when the main child exits while other descendants remain:
#  "stop"  send them the stop signal, wait up to the grace period, SIGKILL the rest, reap all;
#  "exit"  exit at once (tini; the kernel SIGKILLs what is left of a PID namespace);
#  "wait"  keep running, reaping, until no descendant is left (dumb-init PR #141).
MAIN_EXIT_MODES = ("stop", "exit", "wait")
LOG_FORMATS = ("text", "json")
FLAVORS = ("pyinit", "tini", "dumb-init", "gosu", "su-exec")

#: Default grace period in seconds: below `docker stop`'s 10 s, with room to SIGKILL and reap.
DEFAULT_GRACE = 8.0

_DEFAULTS: dict[str, object] = {
    # what to run
    "command": (),
    "exec_only": False,  # pyinit exec / gosu: no fork, no supervisor
    # whose texts, exit codes and quirks
    "flavor": "pyinit",
    # process layout and terminal
    "session": "pgroup",
    "forward_to": "group",
    "suspend": "with-child",
    # signals
    "rewrites": (),  # ((from, to), ...); to == 0 drops the signal
    "delays": (),  # ((signo, seconds), ...)
    "stop_signals": DEFAULT_STOP_SIGNALS,
    # lifecycle
    "grace": DEFAULT_GRACE,  # seconds after a stop signal before SIGKILL; None: never
    "on_main_exit": "stop",
    "exit_signal": 0,  # dumb-init: signal sent to the group when the main child exits (then exit)
    "success_codes": frozenset(),  # main child exit codes reported as 0 (tini -e)
    "subreaper": "auto",  # "auto" (when not PID 1), "on", "off"
    "pdeathsig": 0,
    "sh_fallback": True,  # run a file without #! through /bin/sh, as execvp(3) does
    # logging
    "verbosity": 0,
    "log_format": "text",
    "warn_on_reap": False,  # tini -w
    "notes": (),  # start-up lines a drop-in command line prints in debug mode (dumb-init)
    # credentials (resolved by privileges.py before the fork)
    "user": None,  # user spec: name, uid, name:group, uid:gid, :group
    "group": None,
    "groups": None,  # explicit supplementary groups (tuple of specs), None: the default rule
    "no_new_privs": False,
    "clear_caps": False,
}


class Config:
    """Immutable options.  Build with Config(**fields); derive with config.replace(**changes)."""

    __slots__ = tuple(_DEFAULTS)

    command: tuple[str, ...]
    exec_only: bool
    flavor: str
    session: str
    forward_to: str
    suspend: str
    rewrites: tuple[tuple[int, int], ...]
    delays: tuple[tuple[int, float], ...]
    stop_signals: frozenset[int]
    grace: float | None
    on_main_exit: str
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
    group: str | None
    groups: tuple[str, ...] | None
    no_new_privs: bool
    clear_caps: bool

    def __init__(self, **fields: object) -> None:
        unknown = set(fields) - set(_DEFAULTS)
        if unknown:
            raise TypeError("unknown Config fields: %s" % ", ".join(sorted(unknown)))
        for key, default in _DEFAULTS.items():
            object.__setattr__(self, key, fields.get(key, default))

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

    def delay_for(self, signo: int) -> float:
        result = 0.0
        for source, seconds in self.delays:
            if source == signo:
                result = seconds
        return result
