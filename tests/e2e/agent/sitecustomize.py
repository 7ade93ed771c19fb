"""What an auto-instrumentation agent does at interpreter start-up (test_defaults.py mounts this
directory and names it in PYTHONPATH, or as a user site-packages): start a thread.  In pyinit
such a thread, with no signals blocked, could take SIGTERM or SIGCHLD away from sigwaitinfo."""

import threading
import time

threading.Thread(target=time.sleep, args=(10**6,), name="agent", daemon=True).start()
