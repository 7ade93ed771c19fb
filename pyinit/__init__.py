"""pyinit: a PID-1 init supervisor for containers, in pure Python (standard library only)."""

__version__ = "0.1.0"
