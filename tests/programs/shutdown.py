"""Test program: a server-like process with a chosen way of handling SIGTERM.

Usage: shutdown.py BEHAVIOUR [SECONDS]
  exit      exit 0 on SIGTERM (a handled exit)
  default   no handler: SIGTERM kills it (the signal's default action)
  ignore    ignore SIGTERM
  slow S    on SIGTERM, work S seconds more, then exit 0
  segv      on SIGTERM, die of SIGSEGV
  fail      on SIGTERM, exit 3
  daemon    start a daemon (own session, double fork) that stays; exit 0 on SIGTERM
  stubborn  as daemon, but the daemon ignores SIGTERM
  zombie    leave a child unreaped (a zombie) for as long as it runs; exit 0 on SIGTERM
  stop-parent  on SIGTERM, SIGSTOP the parent (pyinit, when it is not PID 1) and keep running
Prints "ready" (flushed) once set up, then waits for signals.
"""

import os
import signal
import sys
import time

behaviour = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0


def leave(signo, frame):
    sys.exit(0)


def slow(signo, frame):
    time.sleep(seconds)
    sys.exit(0)


def segv(signo, frame):
    signal.signal(signal.SIGSEGV, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGSEGV)


def fail(signo, frame):
    sys.exit(3)


def stop_parent(signo, frame):
    os.kill(os.getppid(), signal.SIGSTOP)


def daemon(ignore_term):
    # The pipe's write end is close-on-exec: EOF once the daemon runs `sleep` (and its parent
    # is gone), so "ready" never comes before the daemon is what it will be.
    read_end, write_end = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN if ignore_term else signal.SIG_DFL)
            os.execvp("sleep", ["sleep", "1000"])
        os._exit(0)
    os.close(write_end)
    os.read(read_end, 1)
    os.wait()


handlers = {"exit": leave, "slow": slow, "segv": segv, "fail": fail, "stop-parent": stop_parent}
if behaviour in handlers:
    signal.signal(signal.SIGTERM, handlers[behaviour])
elif behaviour == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
elif behaviour in ("daemon", "stubborn"):
    daemon(ignore_term=behaviour == "stubborn")
    signal.signal(signal.SIGTERM, leave)
elif behaviour == "zombie":
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitid(os.P_PID, child, os.WEXITED | os.WNOWAIT)  # a zombie before "ready", not after
    signal.signal(signal.SIGTERM, leave)
elif behaviour != "default":
    sys.exit("unknown behaviour %r" % behaviour)
print("ready", flush=True)
while True:
    signal.pause()
