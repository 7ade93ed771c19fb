"""Test program: an application container's main process, for the Kubernetes simulations.

Usage: pod_app.py FILE CODE [--daemon] [--daemon-takes SECONDS]
Appends "<role> <signal name> <monotonic seconds>" to FILE for every SIGTERM, SIGUSR1 and
SIGUSR2 it gets.  The program (role "program") exits CODE on SIGTERM or SIGUSR1 (SIGUSR1: an
exit of its own, which starts no grace period).  With --daemon it first starts a daemon (role
"daemon") the classic way -- fork, setsid, fork, the middle process exits -- so the daemon is
an orphan in a session of its own; it exits 0 on SIGUSR2, and on SIGTERM it exits 0 after
SECONDS (default: it never does).  Prints "ready" (flushed) once everything is set up.
"""

import os
import signal
import sys
import time

path, code = sys.argv[1], int(sys.argv[2])
takes = float(sys.argv[sys.argv.index("--daemon-takes") + 1]) if "--daemon-takes" in sys.argv else None
out = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
role = b"program"


def record(signo):
    os.write(out, b"%s %s %f\n" % (role, signal.Signals(signo).name.encode(), time.monotonic()))


def program_exit(signo, frame):
    record(signo)
    os._exit(code)


def daemon_term(signo, frame):
    record(signo)
    if takes is not None:
        time.sleep(takes)
        os._exit(0)


def daemon_usr2(signo, frame):
    record(signo)
    os._exit(0)


def start_daemon():
    global role
    read_end, write_end = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            role = b"daemon"
            signal.signal(signal.SIGTERM, daemon_term)
            signal.signal(signal.SIGUSR2, daemon_usr2)
            os.close(write_end)  # the program's read sees EOF: the handlers are in place
            while True:
                signal.pause()
        os._exit(0)
    os.close(write_end)
    os.read(read_end, 1)
    os.close(read_end)
    os.wait()  # the middle process: the daemon is an orphan from here on


if "--daemon" in sys.argv:
    start_daemon()
signal.signal(signal.SIGTERM, program_exit)
signal.signal(signal.SIGUSR1, program_exit)
print("ready", flush=True)
while True:
    signal.pause()
