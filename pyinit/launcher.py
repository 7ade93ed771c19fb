"""Write the fastest way to start pyinit: `python3 -m pyinit.launcher /usr/local/bin/pyinit`.

The script it writes runs this interpreter with -I -S: isolated (no PYTHONPATH, no user site:
a file named like a standard module in the application's directory cannot shadow one of
pyinit's imports) and without `site` (whose import of site-packages costs milliseconds, and
whose .pth files and sitecustomize are the application's code), with pyinit's own directory put
on sys.path by hand.  Its first statement blocks every signal, so the window in which a signal
sent to a starting PID 1 is lost is the interpreter's own start-up, nothing more.  The garbage
collector is paused while pyinit imports and parses (a collection then finds nothing to free);
main() turns it back on.
"""

from __future__ import annotations

import os
import sys

TEMPLATE = """\
#!{python} -IS
# pyinit's fast launcher, written by `{python} -m pyinit.launcher`.
# Signals first: from here on a signal to pyinit waits in the queue instead of being dropped.
import _signal
mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, _signal.valid_signals())
import gc
gc.disable()
import sys
sys.path.insert(0, {path!r})
from pyinit.main import main
main(inherited_mask=mask)
"""


def write(path: str, python: str = sys.executable) -> None:
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    text = TEMPLATE.format(python=python, path=package_parent)
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        f.write(text)
    os.chmod(temporary, 0o755)
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        sys.stderr.write("usage: python3 -m pyinit.launcher PATH  (e.g. /usr/local/bin/pyinit)\n")
        return 2
    try:
        write(args[0])
    except OSError as exc:
        sys.stderr.write("pyinit.launcher: cannot write %s: %s\n" % (args[0], exc.strerror))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
