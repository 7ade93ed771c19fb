"""Drop-in command lines: tini, dumb-init, gosu and su-exec, each parsed into the same Config."""

from __future__ import annotations

from ..cli import usage_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import Config


def parse(personality: str, prog: str, argv: list[str], environ: dict[str, str]) -> Config:
    raise usage_error("the %s command line is not available in this version" % personality, prog)
