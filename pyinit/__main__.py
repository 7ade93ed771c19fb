"""python -m pyinit"""

import gc

gc.disable()  # during start-up only: main() turns it back on (see pyinit/launcher.py)

from pyinit.main import main  # noqa: E402

main()
