"""Test program: leave COUNT orphaned grandchildren behind, then print "done" and wait.

Usage: orphans.py COUNT [--linger SECONDS] [--ignore-hup] [--forever]
Each orphan exits at once (or after SECONDS), after its parent -- our child -- has exited, so
it is re-parented to the nearest reaper.  Exits 0 on SIGTERM.  --ignore-hup: survive a SIGHUP
storm; --forever: keep leaving a new orphan every 10 ms after "done".
"""

import os
import signal
import sys
import time

count = int(sys.argv[1])
linger = float(sys.argv[sys.argv.index("--linger") + 1]) if "--linger" in sys.argv else 0.0
signal.signal(signal.SIGTERM, lambda signo, frame: sys.exit(0))
if "--ignore-hup" in sys.argv:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def leave_orphan():
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:  # the grandchild: orphaned as soon as its parent exits
            if linger:
                time.sleep(linger)
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)


for _ in range(count):
    leave_orphan()
print("done", flush=True)
while "--forever" in sys.argv:
    leave_orphan()
    time.sleep(0.01)
while True:
    signal.pause()
