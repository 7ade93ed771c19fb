"""Drop-in command lines: tini, dumb-init, gosu and su-exec, each parsed into the same Config.

Each module has `parse(prog, argv, environ) -> Config` and raises cli.Exit for help, version
and errors, with that tool's texts and exit codes.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import Config

_MODULES = {"tini": "tini", "dumb-init": "dumb_init", "gosu": "gosu", "su-exec": "su_exec"}


def parse(personality: str, prog: str, argv: list[str], environ: dict[str, str]) -> Config:
    module = importlib.import_module("." + _MODULES[personality], __name__)
    return module.parse(prog, argv, environ)
