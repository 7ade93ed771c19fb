"""From a Config to a running program: the parent-side steps, then spawn (or exec in place).

In order: SIGCHLD's disposition, the subreaper registration, the parent-death signal, the
credentials (resolved by the personality's user rules, so a refusal is one line and nothing
runs), the terminal hand-over (setsid mode), then the Plan the child follows (spawn.py).
Everything that goes wrong raises StartError; main lets the personality report it.
"""

from __future__ import annotations

import gc
import os

from .errors import Exit, StartError
from .log import INFO
from .signals import signal  # the C module: see signals.py
from .spawn import Child, Plan, exec_in_place, spawn

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .config import Config
    from .log import Log
    from .personalities import Personality
    from .relay import Relay


class Started:
    """What start() started: the programs (one, or a Procfile's, in order), whether the one
    program was handed the terminal, the output relay if there is one, and a program that could
    not be started after others were (its name and status: the first to end)."""

    __slots__ = ("children", "failed", "relay", "took_terminal")

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.took_terminal = False
        self.relay: Relay | None = None
        self.failed: tuple[str, int] | None = None


def start(config: Config, personality: Personality, log: Log, inherited_mask: set[int]) -> Started:
    """Start the program, or every program of a Procfile; raises StartError when nothing could
    be started."""
    for note in config.notes:
        log.debug("note", "%(dumb_init_text)s", dumb_init_text=note)
    # An inherited SIG_IGN for SIGCHLD makes the kernel reap children itself, and their exit
    # status would be lost: pyinit needs the default.  The program gets the inherited one back.
    inherited_sigchld = signal.getsignal(signal.SIGCHLD)
    if inherited_sigchld == signal.SIG_IGN:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if log.wants(INFO):
        _say_inherited_ignores(config, log)
    _become_reaper(config, log)
    if config.pdeathsig:
        from . import linux

        try:
            linux.set_pdeathsig(config.pdeathsig)
        except OSError as exc:
            raise StartError("setup", exc.errno or 0) from None
    credentials = _credentials(config, personality)
    started = Started()
    if config.session == "setsid":
        from . import terminal

        terminal.detach(log)
        started.took_terminal = True
    elif config.session == "pgroup" and not config.programs and os.isatty(0):
        from .terminal import is_ours  # no terminal (or several programs): no module to import

        started.took_terminal = is_ours()
    oom_score = None
    if os.getpid() == 1:  # the container dies with its PID 1: never the OOM killer's choice
        from . import oom

        oom_score = oom.program_score()
        if config.leftovers == "wait":  # tell the program's orphans from exec'd processes'
            from . import ownership

            ownership.mark()
    plan = Plan(
        list(config.command),
        dict(os.environ),
        session=config.session,
        take_terminal=started.took_terminal,
        restore_mask=inherited_mask,
        restore_sigchld=inherited_sigchld,
        credentials=credentials,
        sh_fallback=config.sh_fallback,
        oom_score=oom_score,
    )
    # Everything pyinit allocates from here on is small and short-lived: freeze what start-up
    # made (collections skip it, and the forked child touches fewer shared pages), and turn the
    # collector back on if a launcher paused it for start-up.
    gc.freeze()
    gc.enable()
    if config.programs:
        _start_programs(config, personality, log, plan, started)
    else:
        started.children.append(_spawn(plan, log, oom_score))
    return started


def _start_programs(config: Config, personality: Personality, log: Log, plan: Plan, started: Started) -> None:
    """A Procfile: each program through /bin/sh -c, in file order, each in its own process
    group, stdin on /dev/null, no terminal (several programs cannot share one), stdout and
    stderr through the relay (unless --no-prefix).  A program that cannot be started ends
    the start: it is the first to end, and the ones already running are stopped."""
    names = [name for name, _ in config.programs]
    try:
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise StartError("setup", exc.errno or 0) from None
    if config.prefix:
        from . import relay

        try:
            started.relay = relay.start(names)
        except OSError as exc:
            os.close(null)
            raise StartError("relay", exc.errno or 0) from None
    try:
        for name, command in config.programs:
            out, err = started.relay.fds(name) if started.relay is not None else (1, 2)
            plan.argv = ["/bin/sh", "-c", command]
            plan.stdio = (null, out, err)
            try:
                child = _spawn(plan, log, plan.oom_score, name)
            except StartError as error:
                # Reported in the personality's words, naming the shell that could not run.
                code = personality.start_failed(
                    log, config.replace(programs=(), command=tuple(plan.argv)), error
                )
                if not started.children:
                    raise Exit(code) from None  # nothing runs: nothing to stop
                started.failed = (name, code)
                break
            started.children.append(child)
    except BaseException:
        if started.relay is not None:
            started.relay.wait(timeout=2.0)
        raise
    finally:
        os.close(null)
        if started.relay is not None:
            started.relay.close_write_ends()  # EOF comes when the programs close theirs


def _spawn(plan: Plan, log: Log, oom_score: int | None, name: str | None = None) -> Child:
    child = spawn(plan)
    child.name = name
    fields: dict[str, object] = {"pid": child.pid, "pgid": child.pgid, "command": list(plan.argv)}
    if name is None:
        template = "started %(command_text)r as pid %(pid)d (process group %(pgid)d)"
    else:
        template = "started %(program)s, %(command_text)r, as pid %(pid)d (process group %(pgid)d)"
        fields["program"] = name
    log.info("spawned", template, command_text=" ".join(plan.argv[2:] if name else plan.argv), **fields)
    for note, errno in child.notes:
        if note == "tcsetpgrp":
            log.warn(
                "tty-handoff",
                "could not hand the terminal to the program: %(reason)s",
                reason=os.strerror(errno),
            )
        elif note == "tty-attach":
            log.debug(
                "tty-attach",
                "the program could not take the terminal: %(reason)s",
                reason=os.strerror(errno),
                errno=errno,
            )
        elif note == "setsid":
            log.debug("setsid", "the program runs in its own session")
        elif note == "oom-score":
            log.warn("oom-score", "could not set the program's oom_score_adj to %(score)d", score=oom_score)
    return child


def exec_program(config: Config, personality: Personality) -> None:
    """Exec mode (`pyinit exec`, gosu, su-exec): switch credentials and exec in place.

    Returns only by raising StartError.
    """
    credentials = _credentials(config, personality)
    plan = Plan(
        list(config.command),
        dict(os.environ),
        session="none",
        # Under every name: an empty mask and no inherited ignores but SIGHUP's and SIGINT's
        # (spawn._reset_ignored_dispositions).  A signal an entrypoint script left blocked or
        # ignored is never what the long-lived program after it expects.
        restore_mask=set(),
        restore_sigchld=signal.SIG_DFL,
        reset_ignored=True,
        credentials=credentials,
        sh_fallback=config.sh_fallback,
        lookup=personality.lookup,
    )
    exec_in_place(plan)


def _say_inherited_ignores(config: Config, log: Log) -> None:
    """A stop signal pyinit was started with ignored is ignored by the program too (exec keeps
    SIG_IGN), which then never acts on it: worth a line at -v (nohup, a shell's background job,
    util-linux 2.36's unshare, which leaves INT and TERM ignored)."""
    for signo in sorted(config.stop_signals):
        if signal.getsignal(signo) == signal.SIG_IGN:
            log.info(
                "inherited-ignore",
                "started with %(signal)s ignored: the program inherits that and will not act on it",
                signo=signo,
            )


def _credentials(config: Config, personality: Personality):  # -> Credentials | None
    """The personality's user rules, in the parent: a refusal is one line and nothing runs."""
    if not config.needs_credentials:
        return None
    try:
        return personality.credentials(config)
    except OSError as exc:  # loading libc for --clear-caps / --no-new-privs, reading the caps
        raise StartError("setup", exc.errno or 0) from None


def _become_reaper(config: Config, log: Log) -> None:
    """As PID 1 orphans come to us anyway; otherwise ask the kernel to send them (subreaper)."""
    if os.getpid() == 1:
        return
    from . import linux  # ctypes: only off the PID-1 path

    if config.subreaper == "off":
        try:
            already = linux.is_child_subreaper()
        except OSError:
            already = False
        if not already:
            log.warn(
                "no-subreaper", "not PID 1 and not a child subreaper: orphans will not be reaped by pyinit"
            )
        return
    try:
        linux.set_child_subreaper()
    except OSError as exc:
        if config.subreaper == "on":
            raise StartError("subreaper", exc.errno or 0) from None
        log.warn(
            "no-subreaper",
            "cannot register as child subreaper (%(reason)s): orphans will not be reaped",
            reason=exc.strerror,
        )
        return
    log.info("subreaper", "not PID 1: registered as child subreaper")
