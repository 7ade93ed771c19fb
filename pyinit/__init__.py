"""pyinit: a PID-1 init supervisor for containers, in pure Python (standard library only)."""

__version__ = "0.1.0"


def license_text() -> str:
    """The license pyinit is distributed under (printed by `tini -l` in the tini command line)."""
    from ._license import TEXT

    return TEXT
