"""Test program: exit 0 on SIGTERM at once, while a child in the same process group (so it gets
the signal too) takes SECONDS more to finish: the child outlives the program.

Usage: lingerer.py SECONDS
Prints "ready" (flushed) once the child's handler is set, then waits for signals.
"""

import os
import signal
import sys
import time

seconds = float(sys.argv[1])
read_end, write_end = os.pipe()
if os.fork() == 0:
    os.close(read_end)

    def finish(signo, frame):
        time.sleep(seconds)
        os._exit(0)

    signal.signal(signal.SIGTERM, finish)
    os.close(write_end)  # the handler is set: the parent may say ready
    while True:
        signal.pause()
os.close(write_end)
os.read(read_end, 1)
signal.signal(signal.SIGTERM, lambda signo, frame: os._exit(0))
print("ready", flush=True)
while True:
    signal.pause()
