"""The pipeline, and nothing else: block signals, pick the personality, parse, start, supervise
(or exec in place), exit.

    argv + environ --> Config --> startup.start --> Supervisor.run --> exit status
                    (personality)                   (exec mode: startup.exec_program)
"""

from __future__ import annotations

import os
import sys

from .errors import EXIT_PYINIT_FAILED, Exit, StartError
from .log import Log, write_fd
from .signals import HANDLED, signal


def main(argv: list[str] | None = None, inherited_mask: set[int] | None = None) -> None:
    """Run pyinit; never returns (exits with the status the run produced).

    inherited_mask: the signal mask pyinit was started with, when an entry point (the
    launcher, `python -m pyinit`, the zipapp) blocked every signal before importing pyinit.
    """
    # Block every handled signal before anything else: from here on a signal sent to pyinit
    # waits in the queue for the supervisor loop instead of killing pyinit (or, as PID 1,
    # being dropped by the kernel).  The mask pyinit inherited goes to the program.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    inherited_mask = blocked if inherited_mask is None else set(inherited_mask)
    args = list(sys.argv if argv is None else argv)
    if not (sys.flags.isolated and sys.flags.no_site):
        _reexec_isolated(args, inherited_mask)  # returns only if that is impossible
    if _is_probe(args):  # an ordinary program, not an init: it keeps the caller's signal state
        signal.pthread_sigmask(signal.SIG_SETMASK, inherited_mask)
        from . import probe

        _exit(_leave_on_exit(lambda: probe.main(args[2:], dict(os.environ))))
    reserve_standard_fds()
    # No flush: the run path writes with os.write only (log.write_fd), and a stop waits on
    # every microsecond between the program's exit and pyinit's.
    _exit(_leave_on_exit(lambda: run(args, os.environ, inherited_mask)), flush=False)


_KEPT: list[object] = []  # what pyinit's last moments must not spend time freeing

#: The -c program of the isolated re-exec: pyinit's location, then main with the mask.
_ISOLATED = "import sys; sys.path.insert(0, %r); from pyinit.main import main; main(sys.argv[1:], %r)"


def _reexec_isolated(argv: list[str], inherited_mask: set[int]) -> None:
    """Start over as `python -I -S`, same pid, when this interpreter was not started so (pip's
    console script, `python -m pyinit`, a zipapp run directly).

    PID 1 must not run the application's Python environment: a thread that a sitecustomize.py
    or a .pth file started before pyinit blocked its signals can take SIGCHLD or SIGTERM away
    from sigwaitinfo; PYTHONPATH can shadow a module pyinit imports; PYTHONWARNINGS can turn a
    warning into an exception.  exec ends every thread, -I ignores PYTHON* variables and the
    user site, -S skips site (its .pth files and sitecustomize).  The signals stay blocked
    across exec (the mask is inherited), so nothing sent meanwhile is lost; the mask pyinit
    was started with travels in the -c program.  (PYTHONHOME reaches an interpreter before any
    line of pyinit runs: only the -IS launcher is immune to it; see the README.)
    """
    executable = sys.executable
    if not executable:
        return  # an embedded interpreter: no way to start another one
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # a directory, or a zipapp
    code = _ISOLATED % (here, sorted(inherited_mask))
    try:
        os.execv(executable, [executable, "-I", "-S", "-c", code, *argv])
    except OSError:
        return  # carry on here: better an init in a shared environment than none


def run(argv: list[str], environ: dict[str, str] | os._Environ[str], inherited_mask: set[int]) -> int:
    """argv and environ -> the program run to its end (or exec'd) -> the exit status."""
    from . import personalities

    personality, prog, rest = personalities.select(argv)
    # A drop-in keeps the name it was called by (tini-static, docker-init: what the real binary
    # would show), but for the pyinit- console scripts; pyinit is pyinit.
    names = personalities.PROGRAM_NAMES.get(personality.name, ())
    _name_process(prog if prog in names and not prog.startswith("pyinit-") else personality.name)
    config = personality.parse(prog, rest, dict(environ))
    log = Log(config.verbosity, config.log_format, personality.render)
    from . import startup

    try:
        if config.exec_only:
            startup.exec_program(config, personality)  # returns only by raising
        started = startup.start(config, personality, log, inherited_mask)
    except StartError as error:
        if config.exec_only:  # exec mode changed the mask in place: back to what was inherited
            signal.pthread_sigmask(signal.SIG_SETMASK, inherited_mask)
        return personality.start_failed(log, config, error)
    from .supervisor import Supervisor

    supervisor = Supervisor(config, log, started)
    _KEPT.append(supervisor)  # to the end: os._exit frees it at once, a return object by object
    return supervisor.run()


def _name_process(name: str) -> None:
    """ps, top and `docker top` show PID 1's name (comm): pyinit, or the drop-in's, not python3.

    The program takes its own name at exec; compliance checks that look at PID 1 see an init.
    """
    try:
        with open("/proc/self/comm", "wb", buffering=0) as comm:
            comm.write(name.encode()[:15])
    except OSError:
        pass


def _leave_on_exit(body) -> int:  # body: () -> int
    """body's status; an Exit's text and code; one line, not a traceback, for a bug."""
    try:
        return body()
    except Exit as done:
        write_fd(done.fd, done.text.encode("utf-8", "replace"))
        return done.code
    except Exception as exc:  # a bug before the program started
        text = "pyinit: internal error: %s: %s\n" % (type(exc).__name__, exc)
        write_fd(2, text.encode("utf-8", "replace"))
        return EXIT_PYINIT_FAILED


def _is_probe(argv: list[str]) -> bool:
    """`pyinit probe ...`: a program of its own that runs pyinit and judges the shutdown."""
    from .personalities import PROGRAM_NAMES

    prog = os.path.basename(argv[0]) if argv else "pyinit"
    return argv[1:2] == ["probe"] and not any(prog in names for names in PROGRAM_NAMES.values())


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


def _exit(code: int, flush: bool = True) -> None:
    """Leave now: no interpreter teardown (nothing of it matters to an init, and it costs)."""
    for stream in (sys.stdout, sys.stderr) if flush else ():
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code & 0xFF)
