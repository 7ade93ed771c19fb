"""The same agent as sitecustomize.py, loaded from a user site-packages (~/.local/lib/...)."""

import threading
import time

threading.Thread(target=time.sleep, args=(10**6,), name="agent", daemon=True).start()
