"""Test program: append "<role> <signo>" to FILE for every signal received.

Usage: recorder.py FILE [--grandchild]
The role is "program"; with --grandchild, a second process in the same process group records
too, as "grandchild" (pids would differ inside and outside a PID namespace).  Prints
"ready" once every recorder has its handlers, then waits for signals forever.
"""

import os
import signal
import sys

out = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
role = b"program"


def record(signo, frame):
    os.write(out, b"%s %d\n" % (role, signo))


for signo in signal.valid_signals():
    if signo not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(signo, record)

if "--grandchild" in sys.argv:
    read_end, write_end = os.pipe()
    if os.fork() == 0:
        role = b"grandchild"
        os.close(read_end)
        os.close(write_end)  # the parent's read sees EOF: handlers are in place
        while True:
            signal.pause()
    os.close(write_end)
    os.read(read_end, 1)
print("ready", os.getpid(), flush=True)
while True:
    signal.pause()
