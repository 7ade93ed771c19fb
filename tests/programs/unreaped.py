"""Test program: leave a child unreaped (a zombie) for as long as it runs; exit 0 on SIGTERM.

Usage: unreaped.py
Prints "ready" (flushed) only once the child is a zombie (waitid with WNOWAIT: it has exited,
and is left unreaped), so whoever looks after "ready" sees the zombie.
"""

import os
import signal
import sys

pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
signal.signal(signal.SIGTERM, lambda signo, frame: sys.exit(0))
print("ready", flush=True)
while True:
    signal.pause()
