"""Test program: start a daemon, then exit with CODE, leaving the daemon behind.

Usage: leaver.py FILE CODE [--setsid] [--takes SECONDS] [--ignore-term]
The daemon (optionally in its own session, out of the program's process group) appends
"term <monotonic time>" to FILE when SIGTERM arrives, then "done" after SECONDS and exits 0.
With --ignore-term it ignores SIGTERM and waits forever.  The program prints "ready" once the
daemon is set up, then exits CODE.
"""

import os
import signal
import sys
import time

path, code = sys.argv[1], int(sys.argv[2])
takes = float(sys.argv[sys.argv.index("--takes") + 1]) if "--takes" in sys.argv else 0.0
read_end, write_end = os.pipe()
if os.fork() == 0:
    os.close(read_end)
    if "--setsid" in sys.argv:
        os.setsid()
    out = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def on_term(signo, frame):
        os.write(out, b"term %f\n" % time.monotonic())
        time.sleep(takes)
        os.write(out, b"done\n")
        os._exit(0)

    signal.signal(signal.SIGTERM, signal.SIG_IGN if "--ignore-term" in sys.argv else on_term)
    os.write(out, b"started %d\n" % os.getsid(0))
    os.close(write_end)  # tells the program the daemon is ready
    while True:
        signal.pause()
os.close(write_end)
os.read(read_end, 1)
print("ready", flush=True)
sys.exit(code)
