"""Write the fastest way to start pyinit: `python3 -m pyinit.launcher /usr/local/bin/pyinit`.

The script it writes runs this interpreter with -I -S: isolated (no PYTHONHOME, PYTHONPATH or
user site: a file named like a standard module in the application's directory cannot shadow
one of pyinit's imports) and without `site` (whose import of site-packages costs milliseconds,
and whose .pth files and sitecustomize are the application's code), with pyinit's own
directory put on sys.path by hand.  The garbage collector is paused while pyinit imports and
parses (a collection then finds nothing to free); main() turns it back on.

Signals are blocked before the interpreter starts, where GNU env can do it (coreutils 8.31+:
`#!/usr/bin/env -S --block-signal python3 -IS`): a signal sent to a starting PID 1 then waits
in the queue instead of being dropped by the kernel, and the window in which a `docker stop`
is lost shrinks from the interpreter's start-up (8-20 ms, far more under a CPU quota) to env's
own (under 1 ms).  The program then starts with an empty signal mask, which is what every
container runtime gives PID 1.  Where env cannot (busybox), the script's first statement blocks
them, and the program gets the mask pyinit was started with.
"""

from __future__ import annotations

import os
import sys

HEADER = "# pyinit's fast launcher, written by `{python} -m pyinit.launcher`.\n"

#: Signals blocked by env before python starts: the mask pyinit was started with is lost, and
#: the program starts with the empty one every container runtime gives.
BLOCKED_BY_ENV = """\
#!{env} -S --block-signal {python} -IS
{header}import gc
gc.disable()
import sys
sys.path.insert(0, {path!r})
from pyinit.main import main
main(inherited_mask=())
"""

#: Signals blocked by the script's first statement.
BLOCKED_FIRST = """\
#!{python} -IS
{header}# Signals first: from here on a signal to pyinit waits in the queue instead of being dropped.
import _signal
mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, _signal.valid_signals())
import gc
gc.disable()
import sys
sys.path.insert(0, {path!r})
from pyinit.main import main
main(inherited_mask=mask)
"""

ENV = "/usr/bin/env"
_SHEBANG_MAX = 127  # what the kernel reads of a #! line (BINPRM_BUF_SIZE - 1, before 5.1)


def env_blocks_signals(env: str = ENV) -> bool:
    """Whether this env can block signals before it execs (GNU coreutils 8.31 and later)."""
    import subprocess  # only when a launcher is written, never when pyinit starts

    try:
        done = subprocess.run(
            [env, "-S", "--block-signal true"], capture_output=True, timeout=30, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def text(python: str = sys.executable, *, block_with_env: bool | None = None) -> str:
    """The launcher script for this interpreter and this pyinit."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    fields = {"python": python, "path": package_parent, "env": ENV}
    fields["header"] = HEADER.format(**fields)
    if block_with_env is None:
        block_with_env = env_blocks_signals()
    template = BLOCKED_BY_ENV if block_with_env else BLOCKED_FIRST
    script = template.format(**fields)
    if len(script.split("\n", 1)[0]) > _SHEBANG_MAX:
        script = BLOCKED_FIRST.format(**fields)
    return script


def write(path: str, python: str = sys.executable, *, block_with_env: bool | None = None) -> None:
    script = text(python, block_with_env=block_with_env)
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        f.write(script)
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
