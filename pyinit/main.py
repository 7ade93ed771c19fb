"""Entry point: choose the command line by program name, parse it, then supervise or exec.

argv + environ --> Config --> spawn(plan) --> Supervisor.run() --> exit status
"""

from __future__ import annotations

import gc
import os
import sys

from .cli import EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, EXIT_PYINIT_FAILED, Exit, parse_args, usage_error
from .log import Log, write_fd
from .signals import HANDLED, signal
from .signals import name as signame
from .spawn import ExecFailed, Plan, SetupError, exec_in_place, spawn, terminal_is_ours
from .supervisor import Supervisor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .config import Config

#: Exit code of the init's own failures, per command line (tini and dumb-init use 1).
FAILURE_CODE = {"pyinit": EXIT_PYINIT_FAILED, "tini": 1, "dumb-init": 1, "gosu": 1, "su-exec": 1}

#: Program names (argv[0]) that select a drop-in command line.
PERSONALITIES = {
    "tini": "tini",
    "tini-static": "tini",
    "docker-init": "tini",
    "pyinit-tini": "tini",
    "dumb-init": "dumb-init",
    "pyinit-dumb-init": "dumb-init",
    "gosu": "gosu",
    "pyinit-gosu": "gosu",
    "su-exec": "su-exec",
    "pyinit-su-exec": "su-exec",
}


def main(argv: list[str] | None = None) -> None:
    """Run pyinit; never returns (exits with the status the run produced)."""
    # Block every handled signal before anything else: from here on a signal sent to pyinit
    # waits in the queue for the supervisor loop instead of killing pyinit (or, as PID 1,
    # being dropped by the kernel).  The mask pyinit inherited goes to the child.
    args = list(sys.argv if argv is None else argv)
    if _is_probe(args):  # an ordinary program, not an init: it keeps the caller's signal state
        from . import probe

        try:
            code = probe.main(args[2:], dict(os.environ))
        except Exit as done:
            write_fd(done.fd, done.text.encode("utf-8", "replace"))
            code = done.code
        _exit(code)
    inherited_mask = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    reserve_standard_fds()
    try:
        config = parse(args, os.environ)
        code = run(config, inherited_mask)
    except Exit as done:
        write_fd(done.fd, done.text.encode("utf-8", "replace"))
        code = done.code
    except Exception as exc:  # a bug before the program started: one line, not a traceback
        write_fd(
            2, ("pyinit: internal error: %s: %s\n" % (type(exc).__name__, exc)).encode("utf-8", "replace")
        )
        code = EXIT_PYINIT_FAILED
    _exit(code)


def _is_probe(argv: list[str]) -> bool:
    """`pyinit probe ...`: a program of its own that runs pyinit and judges the shutdown."""
    prog = os.path.basename(argv[0]) if argv else "pyinit"
    return prog not in PERSONALITIES and argv[1:2] == ["probe"]


def parse(argv: list[str], environ: dict[str, str] | os._Environ[str]) -> Config:
    """Pick the parser from the program name (or --compat NAME) and run it."""
    prog = os.path.basename(argv[0]) if argv else "pyinit"
    personality = PERSONALITIES.get(prog, "pyinit")
    rest = argv[1:]
    if personality == "pyinit" and rest and (rest[0] == "--compat" or rest[0].startswith("--compat=")):
        if rest[0] == "--compat":
            if len(rest) < 2:
                raise usage_error("--compat needs a NAME: tini, dumb-init, gosu or su-exec")
            name, rest = rest[1], rest[2:]
        else:
            name, rest = rest[0].partition("=")[2], rest[1:]
        personality = PERSONALITIES.get(name)
        if personality is None:
            raise usage_error("--compat: unknown NAME %r: use tini, dumb-init, gosu or su-exec" % name)
        prog = name
    environ = dict(environ)
    if personality == "pyinit":
        return parse_args(rest, environ)
    from . import compat  # only the drop-in command lines need it

    return compat.parse(personality, prog, rest, environ)


def run(config: Config, inherited_mask: set[int]) -> int:
    log = Log(config.verbosity, config.log_format, config.flavor)
    if config.exec_only:
        return _run_exec(config, log, inherited_mask)
    return _run_supervisor(config, log, inherited_mask, signal.getsignal(signal.SIGCHLD))


def _run_supervisor(config: Config, log: Log, inherited_mask: set[int], inherited_sigchld: object) -> int:
    failed = FAILURE_CODE[config.flavor]
    for note in config.notes:
        log.debug("note", note, dumb_init_text=note)
    # An inherited SIG_IGN for SIGCHLD makes the kernel reap children itself, and their exit
    # status would be lost: pyinit needs the default.  The child gets the inherited one back.
    if inherited_sigchld == signal.SIG_IGN:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        _become_reaper(config, log)
        if config.pdeathsig:
            from . import linux

            linux.set_pdeathsig(config.pdeathsig)
        credentials = _credentials(config)
    except _Failure as failure:
        log.error("fatal", failure.text)
        return failed
    except OSError as exc:
        log.error("fatal", "cannot set up: %s" % exc.strerror)
        return failed

    if config.session == "setsid":
        _detach_terminal(log)
        take_terminal = True
    else:
        take_terminal = config.session == "pgroup" and terminal_is_ours()
    plan = Plan(
        list(config.command),
        dict(os.environ),
        session=config.session,
        take_terminal=take_terminal,
        restore_mask=inherited_mask,
        restore_sigchld=inherited_sigchld,
        credentials=credentials,
        sh_fallback=config.sh_fallback,
    )
    # Everything pyinit allocates from here on is small and short-lived: freeze what start-up
    # made (collections skip it, and the forked child touches fewer shared pages), and turn the
    # collector back on if a launcher paused it for start-up.
    gc.freeze()
    gc.enable()
    try:
        child = spawn(plan)
    except ExecFailed as failure:
        return _report_setup_error(config, log, failure.error)
    except OSError as exc:  # fork (EAGAIN: pids limit) or pipe (EMFILE) failed
        text = {
            "tini": "fork failed: %s" % exc.strerror,
            "dumb-init": "[dumb-init] Unable to fork. Exiting.",
        }.get(config.flavor, "cannot start %r: %s" % (config.command[0], exc.strerror))
        log.error("fatal", text, errno=exc.errno)
        return failed
    log.info(
        "spawned",
        "started %r as pid %d (process group %d)" % (" ".join(config.command), child.pid, child.pgid),
        pid=child.pid,
        pgid=child.pgid,
        command=list(config.command),
    )
    for note, errno in child.notes:
        if note == "tcsetpgrp":
            log.warn("tty-handoff", "could not hand the terminal to the program: %s" % os.strerror(errno))
        elif note == "tty-attach":
            log.debug(
                "tty-attach", "the program could not take the terminal: %s" % os.strerror(errno), errno=errno
            )
        elif note == "setsid":
            log.debug("setsid", "the program runs in its own session")
    return Supervisor(config, log, child, took_terminal=take_terminal).run()


def _run_exec(config: Config, log: Log, inherited_mask: set[int]) -> int:
    try:
        credentials = _credentials(config)
    except _Failure as failure:
        log.error("fatal", failure.text)
        return FAILURE_CODE[config.flavor]
    lookup = None
    if config.flavor == "gosu":  # Go's PATH search, after the switch
        from .compat.gosu import look_path as lookup
    plan = Plan(
        list(config.command),
        dict(os.environ),
        session="none",
        # Exec mode, under every name: an empty mask and no inherited ignores but SIGHUP's and
        # SIGINT's (spawn._reset_ignored_dispositions).  A signal an entrypoint script left
        # blocked or ignored is never what the long-lived program after it expects.
        restore_mask=set(),
        restore_sigchld=signal.SIG_DFL,
        reset_ignored=True,
        credentials=credentials,
        sh_fallback=config.sh_fallback,
        lookup=lookup,
    )
    try:
        exec_in_place(plan)
    except SetupError as error:
        # The mask must not stay blocked if we return to a caller (tests call main()).
        signal.pthread_sigmask(signal.SIG_SETMASK, inherited_mask)
        return _report_setup_error(config, log, error)
    return FAILURE_CODE[config.flavor]  # not reached: exec replaced us


class _Failure(Exception):
    """A refusal before anything ran, with its one-line text."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _credentials(config: Config):  # -> Credentials | None
    if config.user is None and config.groups is None and not config.no_new_privs and not config.clear_caps:
        return None
    from . import privileges

    try:
        return privileges.resolve(config)
    except privileges.PrivilegeError as exc:
        raise _Failure(str(exc)) from None


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
                "no-subreaper",
                "not PID 1 and not a child subreaper: orphans will not be reaped by pyinit",
            )
        return
    try:
        linux.set_child_subreaper()
    except OSError as exc:
        if config.subreaper == "on":
            if config.flavor == "tini":
                if exc.errno == 22:
                    raise _Failure(
                        "PR_SET_CHILD_SUBREAPER is unavailable on this platform. Are you using Linux >= 3.4?"
                    ) from None
                raise _Failure("Failed to register as child subreaper: %s" % exc.strerror) from None
            raise _Failure("cannot register as child subreaper: %s" % exc.strerror) from None
        log.warn(
            "no-subreaper",
            "cannot register as child subreaper (%s): orphans will not be reaped" % exc.strerror,
        )
        return
    log.info("subreaper", "not PID 1: registered as child subreaper")


def _detach_terminal(log: Log) -> None:
    """setsid mode: let go of the controlling terminal so the child's new session can take it.

    When pyinit leads its session (docker run -t), the kernel sends SIGHUP and SIGCONT to the
    foreground group -- pyinit's own -- during this very ioctl (dumb-init #136).  They are
    blocked, so they wait in the queue: take exactly those out now, before any real signal
    could join them, instead of ignoring "the next" HUP and CONT later.
    """
    import fcntl
    import termios

    try:
        fcntl.ioctl(0, termios.TIOCNOTTY)
    except OSError as exc:
        log.debug("tty-detach", "no controlling terminal to hand over: %s" % exc.strerror, errno=exc.errno)
        return
    leader = os.getsid(0) == os.getpid()
    log.debug("tty-detach", "detached from the controlling terminal", session_leader=leader)
    if not leader:
        return
    for signo in (signal.SIGHUP, signal.SIGCONT):
        if signal.sigtimedwait([signo], 0) is not None:
            log.debug(
                "handoff-ignored",
                "ignored the terminal hand-off %s" % signame(signo),
                signo=signo,
            )


def _report_setup_error(config: Config, log: Log, error: SetupError) -> int:
    command = config.command[0] if config.command else ""
    if config.flavor == "dumb-init":
        log.error("exec-failed", "", command=list(config.command), reason=error.reason)
        return 2
    if config.flavor in ("gosu", "su-exec"):  # their own texts; every failure exits 1
        if config.flavor == "gosu":
            from .compat import gosu as personality
        else:
            from .compat import su_exec as personality
        log.error("exec-failed", personality.setup_error_text(config, error), reason=error.reason)
        return FAILURE_CODE[config.flavor]
    if error.step != "exec":
        log.error("fatal", "cannot start %r: %s failed: %s" % (command, error.step, error.reason))
        return FAILURE_CODE[config.flavor]
    if error.not_found:
        code = EXIT_NOT_FOUND
        why = "command not found" if "/" not in command else error.reason
    else:
        code = EXIT_CANNOT_EXECUTE if (config.flavor != "tini" or error.errno == 13) else 1
        why = error.reason
    log.error(
        "exec-failed",
        "cannot execute %r: %s" % (command, why),
        command=list(config.command),
        reason=error.reason,
        errno=error.errno,
    )
    return code


def reserve_standard_fds() -> None:
    """Hold closed fds 0-2 with /dev/null (close-on-exec) so pyinit's own pipes never land there.

    Otherwise a log line meant for a closed stderr could go into the exec-status pipe.  The
    child still sees them closed: close-on-exec gives them back at exec.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            except OSError:
                return
            if null != fd:
                os.dup2(null, fd, inheritable=False)
                os.close(null)


def _exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code & 0xFF)
