"""su-exec's command line (ncopa/su-exec 0.3): `su-exec user-spec command [args]`, exec in place.

No options at all; fewer than two words print the usage on stdout and exit 1.  Failures are
`su-exec: <call>: <strerror>` (err(3) style), exit 1.  The command is found with execvp(3)
semantics after the switch, /bin/sh fallback included.  The user rules (strtol numbers, NSS
lookups, getgrouplist groups) are in privileges.py.
"""

from __future__ import annotations

import os

from ..cli import Exit
from ..config import Config

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..spawn import SetupError


def parse(prog: str, argv: list[str], environ: dict[str, str]) -> Config:
    if len(argv) < 2:
        raise Exit(1, "Usage: %s user-spec command [args]\n" % prog, fd=1)
    return Config(exec_only=True, flavor="su-exec", user=argv[0], command=tuple(argv[1:]))


def setup_error_text(config: Config, error: SetupError) -> str:
    """su-exec's line (after "su-exec: ") for a failure after parsing."""
    if error.step == "exec":
        return "%s: %s" % (config.command[0], os.strerror(error.errno))
    return error.reason
