"""Test program: leave COUNT orphaned grandchildren behind, then print "done" and wait.

Usage: orphans.py COUNT [--linger SECONDS]
Each orphan exits at once (or after SECONDS), after its parent -- our child -- has exited, so
it is re-parented to the nearest reaper.  Exits 0 on SIGTERM.
"""

import os
import signal
import sys
import time

count = int(sys.argv[1])
linger = float(sys.argv[sys.argv.index("--linger") + 1]) if "--linger" in sys.argv else 0.0
signal.signal(signal.SIGTERM, lambda signo, frame: sys.exit(0))
for _ in range(count):
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:  # the grandchild: orphaned as soon as its parent exits
            if linger:
                time.sleep(linger)
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
print("done", flush=True)
while True:
    signal.pause()
