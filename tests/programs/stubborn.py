"""Test program: ignore SIGTERM (and SIGINT), with COUNT children that ignore it too.

Usage: stubborn.py [COUNT]
Prints "ready" once every process ignores the signals, then waits forever.
"""

import os
import signal
import sys

signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 0):
    if os.fork() == 0:
        while True:
            signal.pause()
print("ready", flush=True)
while True:
    signal.pause()
