"""Start the command: fork, set the child up, exec.  The only place that forks.

The child-side setup is one straight function, `_setup_and_exec`, whose order is the design:
process group or session -> terminal -> signal dispositions -> credentials -> environment ->
signal mask -> exec.  It never writes to stderr; it reports to the parent through a
close-on-exec pipe (as CPython's subprocess does), so the parent can print one clear line and
exit 127 or 126 when the exec fails, and log the child's notes in order.

The same function, minus the fork, is exec mode (`pyinit exec`, gosu): switch and exec in place.
"""

from __future__ import annotations

import errno as errno_codes
import os
import time

from .errors import StartError
from .signals import signal  # the C module: see signals.py

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable

    from .users import Credentials

# Exec errors that mean "try the next PATH entry", as execvp(3) does.
_TRY_NEXT = frozenset(
    {errno_codes.ENOENT, errno_codes.ENOTDIR, errno_codes.ESTALE, errno_codes.ENODEV, errno_codes.ETIMEDOUT}
)


class Plan:
    """What the child-side setup needs, decided by the parent before the fork."""

    __slots__ = (
        "argv",
        "credentials",
        "cwd_fd",
        "env",
        "lookup",
        "oom_score",
        "parent_pid",
        "reset_ignored",
        "restore_mask",
        "restore_sigchld",
        "session",
        "sh_fallback",
        "stdio",
        "take_terminal",
    )

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        *,
        session: str = "pgroup",
        take_terminal: bool = False,
        restore_mask: set[int] | frozenset[int] = frozenset(),
        restore_sigchld: object = signal.SIG_DFL,
        reset_ignored: bool = False,
        credentials: Credentials | None = None,
        sh_fallback: bool = True,
        lookup: Callable[[str, dict[str, str]], str | None] | None = None,
        oom_score: int | None = None,
        stdio: tuple[int, int, int] | None = None,
    ) -> None:
        self.argv = argv
        self.env = env
        self.session = session
        self.take_terminal = take_terminal
        self.restore_mask = restore_mask
        self.restore_sigchld = restore_sigchld
        self.reset_ignored = reset_ignored  # exec mode: see _reset_ignored_dispositions
        self.credentials = credentials
        self.sh_fallback = sh_fallback
        self.lookup = lookup  # a personality's own PATH search (gosu); raises StartError
        self.oom_score = oom_score  # the program's oom_score_adj (oom.py), None: as inherited
        self.stdio = stdio  # descriptors to become the program's 0, 1, 2; None: pyinit's own
        self.parent_pid = os.getpid()
        self.cwd_fd = -1  # set by spawn(): the caller's working directory, for the child


class Child:
    """A started child: its pid, its process group, the notes its setup sent back, and its name
    (several programs: the Procfile's; one program: None)."""

    __slots__ = ("name", "notes", "pgid", "pid")

    def __init__(self, pid: int, pgid: int, notes: list[tuple[str, int]], name: str | None = None) -> None:
        self.pid = pid
        self.pgid = pgid
        self.notes = notes
        self.name = name


def spawn(plan: Plan) -> Child:
    """Fork and exec plan.argv; return once the exec happened, or raise StartError (the child
    that failed has been reaped).

    The caller must have blocked every signal it handles *before* calling: a child that exits
    at once then leaves a pending SIGCHLD instead of a lost one (dumb-init #102), and signals
    that arrive while the child starts wait for the supervisor loop.
    """
    # PID 1 lives as long as the container: it must not keep a directory (a mount point) busy.
    # Move to / before the fork, so there is no moment at which the program could see pyinit
    # still in the old directory; the child goes back to it through an O_PATH handle.
    try:
        read_end, write_end = os.pipe()  # both close-on-exec: the exec itself closes write_end
    except OSError as exc:  # EMFILE
        raise StartError("fork", exc.errno or 0) from None
    # After the pipe, which is essential: with very few descriptors left pyinit stays put.
    plan.cwd_fd = _leave_working_directory()
    try:
        pid = os.fork()
    except OSError as exc:  # EAGAIN: a pids limit
        _close_quietly(read_end, write_end, plan.cwd_fd)
        raise StartError("fork", exc.errno or 0) from None
    if pid == 0:  # child: never return into the parent's code, whatever happens
        try:
            os.close(read_end)
            _setup_and_exec(plan, lambda record: _send(write_end, record))
        except StartError as exc:
            _send(write_end, "F %s %d %s" % (exc.step, exc.errno, exc.detail))
        except BaseException as exc:
            detail = ("%s: %s" % (type(exc).__name__, exc)).replace("\n", " ")
            _send(write_end, "F internal %d %s" % (errno_codes.EIO, detail))
        finally:
            os._exit(127)
    _close_quietly(write_end, plan.cwd_fd)
    if plan.session == "pgroup":
        # Set the group from both sides, as shells do, so the parent never forwards to a group
        # that does not exist yet.  EACCES: the child already exec'd (it set it itself).
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
    report = _read_report(read_end, pid)
    os.close(read_end)
    notes: list[tuple[str, int]] = []
    for line in report.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "N":
            note, _, number = rest.partition(" ")
            notes.append((note, int(number or 0)))
        elif kind == "F":
            step, _, rest = rest.partition(" ")
            number, _, detail = rest.partition(" ")
            os.waitpid(pid, 0)  # reap it here: the exec failed, nothing else will
            raise StartError(step, int(number), detail)
    pgid = pid if plan.session in ("pgroup", "setsid") else os.getpgrp()
    return Child(pid, pgid, notes)


def _leave_working_directory() -> int:
    """chdir to / and return a close-on-exec handle on the old working directory (-1: stay)."""
    try:
        handle = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return -1
    try:
        os.chdir("/")
    except OSError:
        os.close(handle)
        return -1
    return handle


def _close_quietly(*fds: int) -> None:
    for fd in fds:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


def exec_in_place(plan: Plan, note: Callable[[str], None] | None = None) -> None:
    """Exec mode: the same setup, without a fork; raises StartError when it fails."""
    _setup_and_exec(plan, note or (lambda record: None))


def _send(fd: int, record: str) -> None:
    try:
        os.write(fd, (record + "\n").encode("utf-8", "replace"))
    except OSError:
        pass


def _read_report(fd: int, pid: int) -> str:
    """The child's report, up to the end of file its exec (or its death) makes.

    A child stopped before its exec -- a Ctrl-Z or a SIGSTOP pending when it unblocked its
    signals -- makes no end of file until it runs again, and pyinit must not hang on it: the
    read polls (from 50 us, doubling to 5 ms; an exec takes about a millisecond) and returns
    what came so far once the child is stopped.  The supervisor then sees the stop as usual.
    """
    os.set_blocking(fd, False)
    chunks = []
    pause = 0.00005
    while True:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            try:
                if os.waitid(os.P_PID, pid, os.WSTOPPED | os.WNOHANG | os.WNOWAIT) is not None:
                    break
            except ChildProcessError:
                pass  # it exited already: the end of file is there
            time.sleep(pause)
            pause = min(pause * 2, 0.005)
            continue
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


# Exec mode hands the program clean dispositions, as gosu does: gosu is a Go program, whose
# runtime catches every signal (exec then resets caught ones to default) except SIGHUP and
# SIGINT when they were inherited ignored -- nohup's and a shell's background job's wish.
_KEEP_IGNORED = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGKILL, signal.SIGSTOP})


def _reset_ignored_dispositions() -> None:
    for signo in signal.valid_signals():
        if signo in _KEEP_IGNORED:
            continue
        try:
            if signal.getsignal(signo) == signal.SIG_IGN:
                signal.signal(signo, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # a signal the libc reserves for itself (glibc's 32 and 33)


def _setup_and_exec(plan: Plan, report: Callable[[str], None]) -> None:
    """Child side.  Runs with every signal blocked (inherited from the parent across fork)."""
    # 0. Back to the caller's working directory (the parent moved to / before the fork), first:
    #    relative command paths and PATH entries are resolved there, and while still privileged
    #    (the program keeps a directory its new user could not enter, as with su or gosu).
    if plan.cwd_fd >= 0:
        try:
            os.fchdir(plan.cwd_fd)
        except OSError as exc:
            raise StartError("fchdir", exc.errno) from None
    # 0b. Standard descriptors (several programs: stdin on /dev/null, output to the relay):
    #    before anything can report through them; dup2's copies are inheritable, the
    #    originals close at exec.
    if plan.stdio is not None:
        for target, fd in enumerate(plan.stdio):
            if fd != target:
                try:
                    os.dup2(fd, target)
                except OSError as exc:
                    raise StartError("dup2", exc.errno) from None
    # 1. Process group or session first: the terminal steps below act on it, and the parent
    #    forwards signals to this group from the moment spawn() returns.
    if plan.session == "pgroup":
        try:
            os.setpgid(0, 0)
        except OSError as exc:
            raise StartError("setpgid", exc.errno) from None
    elif plan.session == "setsid":
        try:
            os.setsid()
        except OSError as exc:
            raise StartError("setsid", exc.errno) from None

    # 2. Terminal.  SIGTTOU is still blocked here, so tcsetpgrp from a background group cannot
    #    stop us; doing it in the child (not the parent) avoids racing the program's own
    #    terminal calls (tini does the same).
    if plan.take_terminal:
        if plan.session == "pgroup":
            try:
                os.tcsetpgrp(0, os.getpgrp())
            except OSError as exc:
                if exc.errno not in (errno_codes.ENOTTY, errno_codes.ENXIO):
                    report("N tcsetpgrp %d" % exc.errno)
        elif plan.session == "setsid":
            import fcntl
            import termios

            try:
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            except OSError as exc:
                report("N tty-attach %d" % exc.errno)
    if plan.session == "setsid":
        report("N setsid 0")

    # 3. Signal dispositions.  CPython ignores SIGPIPE and SIGXFSZ at start-up, and an ignored
    #    disposition survives exec: undo that, or `yes | head -1` would not die of SIGPIPE.
    #    SIGCHLD goes back to what pyinit inherited (pyinit itself needs the default).  Python's
    #    own SIGINT handler must go before the mask is restored below, or a pending SIGINT would
    #    raise KeyboardInterrupt here instead of reaching the program.  Every other disposition
    #    is left as inherited (exec resets caught ones to default by itself).
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    if plan.reset_ignored:
        _reset_ignored_dispositions()
    signal.signal(signal.SIGCHLD, plan.restore_sigchld)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    # 3b. The program's OOM score (oom.py), while still privileged: after a switch to another
    #    user the process is no longer dumpable and /proc/self is root's.  A failure costs only
    #    the protection, so it is a note, not an error.
    if plan.oom_score is not None:
        from .oom import set_own

        if not set_own(plan.oom_score):
            report("N oom-score 0")

    # 4. Credentials: groups, then gid, then uid (each needs the privilege the next one drops),
    #    then verified.  After this the program cannot regain root.
    env = plan.env
    if plan.credentials is not None:
        plan.credentials.apply()
        env = plan.credentials.environ(env)

    # 5. Socket activation: LISTEN_PID named pyinit; the sockets are now the child's.
    if env.get("LISTEN_PID") == str(plan.parent_pid):
        env = dict(env, LISTEN_PID=str(os.getpid()))

    # 6. The signal mask pyinit inherited, last: from here on a pending signal acts on this
    #    process with the program's (default) dispositions, never with Python code.
    signal.pthread_sigmask(signal.SIG_SETMASK, plan.restore_mask)

    # 7. Exec.  Nothing after this runs on success.  A command line with its own search rules
    #    (gosu: Go's LookPath) searches here, after the switch, with the target's permissions.
    path = plan.lookup(plan.argv[0], env) if plan.lookup is not None else None
    if path is not None:
        try:
            os.execve(path, plan.argv, env)
        except OSError as exc:
            raise StartError("exec", exc.errno) from None
    execvpe(plan.argv, env, sh_fallback=plan.sh_fallback)


def execvpe(argv: list[str], env: dict[str, str], *, sh_fallback: bool = True) -> None:
    """execvp(3) semantics with an explicit environment; raises StartError("exec", errno).

    PATH search as glibc does it: names containing '/' are not searched; EACCES from one entry
    is remembered while the search goes on; a file that is not a binary and has no #! line is
    run by /bin/sh when sh_fallback (POSIX execvp; gosu does not).
    """
    file = argv[0] if argv else ""
    if not file:
        raise StartError("exec", errno_codes.ENOENT)
    if "/" in file:
        candidates = [file]
    else:
        search_path = env.get("PATH", os.defpath)
        candidates = [os.path.join(entry or ".", file) for entry in search_path.split(":")]
    saw_eacces = False
    for path in candidates:
        try:
            os.execve(path, argv, env)
        except OSError as exc:
            if exc.errno == errno_codes.ENOEXEC and sh_fallback:
                try:
                    os.execve("/bin/sh", ["/bin/sh", path] + argv[1:], env)
                except OSError as sh_exc:
                    raise StartError("exec", sh_exc.errno) from None
            if exc.errno == errno_codes.EACCES:
                saw_eacces = True
                continue
            if exc.errno in _TRY_NEXT and len(candidates) > 1:
                continue
            raise StartError("exec", exc.errno) from None
    raise StartError("exec", errno_codes.EACCES if saw_eacces else errno_codes.ENOENT)
