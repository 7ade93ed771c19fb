"""Test program: on SIGTERM, exit CODE (default 0) -- or die of SIGSEGV -- at once, whatever follows.

Usage: graceful.py [CODE | segv] [--ready-file PATH]
Prints "ready" (flushed), and creates PATH if given, once the handler is set; then waits for
signals.  It leaves with os._exit: a Python program leaving with sys.exit runs the
interpreter's finalization, which puts SIGTERM back to its default action, so a second SIGTERM
arriving meanwhile (pyinit sends one to the other programs when the first one ends) would kill
it by the signal instead.
"""

import os
import signal
import sys

args = sys.argv[1:]
ready_file = None
if "--ready-file" in args:
    at = args.index("--ready-file")
    ready_file = args[at + 1]
    del args[at : at + 2]
how = args[0] if args else "0"


def on_term(signo, frame):
    if how == "segv":
        signal.signal(signal.SIGSEGV, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGSEGV)
    os._exit(int(how))


signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
if ready_file is not None:
    with open(ready_file, "w"):
        pass
while True:
    signal.pause()
