"""Run pyinit from a clean slate: what `pyinit probe` and the pytest plugin execute.

    python -I /path/to/pyinit/probe/bootstrap.py FD|- [PYINIT ARGS...]

Runs in the process that becomes pyinit, before pyinit's main():
- the directory this pyinit package lives in goes first on sys.path (-I keeps the caller's
  PYTHONPATH and current directory out, and nothing is added to the program's environment);
- FD, the program's stderr, moves to fd 3, where harness.TRAMPOLINE expects it (sh cannot name
  an fd above 9, and only here is fd 3 known to be free); `-` when there is none (several
  programs: their stderr goes through pyinit's relay, and no program gets an extra fd);
- the signal mask is emptied and inherited SIG_IGN dispositions go back to default, as a
  container runtime starts PID 1.  SIGPIPE and SIGXFSZ stay as CPython set them: pyinit
  itself must not die writing to a closed pipe, and it resets both for the program.
Kept out of a `-c` string so it can be read, and out of pyinit's own start-up path.
"""

import os
import signal
import sys


def main() -> None:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    fd = -1 if sys.argv[1] == "-" else int(sys.argv[1])
    if fd not in (-1, 3):
        os.dup2(fd, 3)  # inheritable: pyinit passes it on to the program
        os.close(fd)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    keep = {signal.SIGKILL, signal.SIGSTOP, signal.SIGPIPE, signal.SIGXFSZ}
    for signo in signal.valid_signals():
        if signo not in keep and signal.getsignal(signo) == signal.SIG_IGN:
            signal.signal(signo, signal.SIG_DFL)
    from pyinit.main import main as pyinit_main

    pyinit_main(["pyinit", *sys.argv[2:]])


if __name__ == "__main__":
    main()
