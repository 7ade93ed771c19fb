"""python -m pyinit"""

# Signals first: from this statement on, a signal sent to pyinit waits in the queue (as PID 1
# the kernel would drop it, otherwise SIGTERM would end pyinit before it could forward it).
import _signal

_inherited_mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, _signal.valid_signals())

import gc  # noqa: E402

gc.disable()  # during start-up only: main() turns it back on (see pyinit/launcher.py)

from pyinit.main import main  # noqa: E402

main(inherited_mask=_inherited_mask)
