"""`pyinit probe`: run a command under pyinit as it would run in a container, signal it, and
judge how it shuts down."""

from __future__ import annotations

from .cli import usage_error


def main(argv: list[str], environ: dict[str, str]) -> int:
    raise usage_error("'pyinit probe' is not available in this version", "pyinit probe")
