"""From a Config to a running program: the parent-side steps, then spawn (or exec in place).

In order: SIGCHLD's disposition, the subreaper registration, the parent-death signal, the
credentials (resolved by the personality's user rules, so a refusal is one line and nothing
runs), the terminal hand-over (setsid mode), then the Plan the child follows (spawn.py).
Everything that goes wrong raises StartError; main lets the personality report it.
"""

from __future__ import annotations

import gc
import os

from .errors import StartError
from .log import INFO
from .signals import signal  # the C module: see signals.py
from .spawn import Child, Plan, exec_in_place, spawn

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .config import Config
    from .log import Log
    from .personalities import Personality


def start(config: Config, personality: Personality, log: Log, inherited_mask: set[int]) -> tuple[Child, bool]:
    """Start the program; return it and whether it was handed the terminal."""
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

    if config.session == "setsid":
        from . import terminal

        terminal.detach(log)
        take_terminal = True
    elif config.session == "pgroup" and os.isatty(0):  # no terminal, no module to import
        from .terminal import is_ours

        take_terminal = is_ours()
    else:
        take_terminal = False
    oom_score = None
    if os.getpid() == 1:  # the container dies with its PID 1: never the OOM killer's choice
        from . import oom

        oom_score = oom.program_score()
    plan = Plan(
        list(config.command),
        dict(os.environ),
        session=config.session,
        take_terminal=take_terminal,
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
    child = spawn(plan)
    log.info(
        "spawned",
        "started %(command_text)r as pid %(pid)d (process group %(pgid)d)",
        command_text=" ".join(config.command),
        pid=child.pid,
        pgid=child.pgid,
        command=list(config.command),
    )
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
    return child, take_terminal


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
