"""A worker beside the web server: takes a job every second; on SIGTERM finishes the job in
hand, then exits 0.  `FAIL_AFTER=N` makes it fail (exit 3) after N jobs, to see fail-fast."""

import os
import signal
import sys
import time

stopping = False


def on_sigterm(signo: int, frame: object) -> None:
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, on_sigterm)
fail_after = int(os.environ.get("FAIL_AFTER", "0"))
print("worker ready", flush=True)
job = 0
while not stopping:
    job += 1
    time.sleep(1)
    print("job %d done" % job, flush=True)
    if fail_after and job >= fail_after:
        print("giving up", file=sys.stderr, flush=True)
        sys.exit(3)
print("worker stopped after job %d" % job, flush=True)
