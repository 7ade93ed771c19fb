"""The controlling terminal, parent side: whose it is, letting go of it, giving it back.

The child-side steps (tcsetpgrp into the program's group, TIOCSCTTY in its session) belong to
the ordered child setup in spawn.py.
"""

from __future__ import annotations

import os

from .signals import signal  # the C module: see signals.py

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .log import Log


def is_ours() -> bool:
    """stdin is our controlling terminal and our process group is in its foreground.

    Only then may the terminal be handed to the program: a pyinit started in the background
    (`pyinit cmd &`) must not steal the foreground from the shell.
    """
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


def detach(log: Log) -> None:
    """setsid mode: let go of the controlling terminal so the program's new session can take it.

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
        log.debug(
            "tty-detach",
            "no controlling terminal to hand over: %(reason)s",
            reason=exc.strerror,
            errno=exc.errno,
        )
        return
    leader = os.getsid(0) == os.getpid()
    log.debug("tty-detach", "detached from the controlling terminal", session_leader=leader)
    if not leader:
        return
    for signo in (signal.SIGHUP, signal.SIGCONT):
        if signal.sigtimedwait([signo], 0) is not None:
            log.debug("handoff-ignored", "ignored the terminal hand-off %(signal)s", signo=signo)


def give_back(pgid: int) -> None:
    """After `fg` resumed pyinit, the program's group gets the foreground again."""
    if is_ours():
        try:
            os.tcsetpgrp(0, pgid)
        except OSError:
            pass
