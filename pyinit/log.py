"""The one place that writes pyinit's own messages.

Code elsewhere reports *events*: a level, a name, a template in pyinit's words, and raw fields
(numbers, mostly).  Nothing is formatted unless it will be written: the level is checked first,
and only then does a renderer turn the event into a line -- one JSON object (every event, with
pyinit's text as "msg"), or the personality's text (`[pyinit] ...`, or tini's and dumb-init's
exact texts for their command lines: personalities/).  Writing never raises: a closed stderr,
a broken pipe or a full disk must not kill PID 1 (the line is dropped).

Levels are tini's scale, so one number serves every command line:
0 errors, 1 warnings, 2 info, 3 debug, 4 trace.
"""

from __future__ import annotations

import errno
import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    #: A personality's renderer: (log, level, event, template, fields) -> (fd, line) or None.
    Renderer = Callable[["Log", int, str, str, dict], "tuple[int, str] | None"]

ERROR, WARN, INFO, DEBUG, TRACE = 0, 1, 2, 3, 4
LEVEL_NAMES = ("error", "warning", "info", "debug", "trace")


# Descriptors whose reader is gone (EPIPE) or that are closed (EBADF): writing to them again
# would only fail again -- and raise SIGPIPE each time.
_dead_fds: set[int] = set()


def write_fd(fd: int, data: bytes) -> None:
    """Write all of data, or give up silently: logging must never take pyinit down.

    A full disk or a full non-blocking pipe loses the line; a broken pipe or a closed
    descriptor is not written to again.
    """
    if fd in _dead_fds:
        return
    try:
        while data:
            written = os.write(fd, data)
            data = data[written:]
    except OSError as exc:
        if exc.errno in (errno.EPIPE, errno.EBADF):
            _dead_fds.add(fd)


class _Fields(dict):
    """An event's fields, plus names derived on demand for templates: %(signal)s from signo,
    %(to_signal)s from to (the target of a rewrite; 0 reads "nothing")."""

    def __missing__(self, key: str) -> object:
        from .signals import name

        if key == "signal":
            return name(self["signo"])
        if key == "to_signal":
            return name(self["to"]) if self["to"] else "nothing"
        raise KeyError(key)


def format_text(template: str, fields: dict) -> str:
    """pyinit's text of an event: template % fields (with the derived names)."""
    return template % _Fields(fields) if fields else template


class Log:
    """Writes the events worth writing at this verbosity, as JSON or with the given renderer."""

    def __init__(self, verbosity: int, fmt: str, render: Renderer) -> None:
        self.verbosity = verbosity
        self.pid = os.getpid()
        self._json = None
        if fmt == "json":
            import json  # only when asked for: it costs start-up time

            self._json = json.dumps
        self._render = render

    def wants(self, level: int) -> bool:
        """Whether an event at this level would be written (JSON writes every one)."""
        return self._json is not None or level <= self.verbosity

    def emit(self, level: int, event: str, template: str, **fields: object) -> None:
        if self._json is not None:
            record = {"ts": round(time.monotonic(), 6), "event": event, "level": LEVEL_NAMES[level]}
            record.update(fields)
            if "signo" in fields and "signal" not in fields:
                record["signal"] = _Fields(fields)["signal"]
            record["msg"] = format_text(template, fields)
            line = self._json(record, default=str, ensure_ascii=False) + "\n"
            write_fd(2, line.encode("utf-8", "replace"))
            return
        out = self._render(self, level, event, template, fields)
        if out is not None:
            fd, line = out
            write_fd(fd, line.encode("utf-8", "replace"))

    # Shorthands for the levels.
    def error(self, event: str, template: str, **fields: object) -> None:
        self.emit(ERROR, event, template, **fields)

    def warn(self, event: str, template: str, **fields: object) -> None:
        self.emit(WARN, event, template, **fields)

    def info(self, event: str, template: str, **fields: object) -> None:
        if self._json is not None or self.verbosity >= INFO:
            self.emit(INFO, event, template, **fields)

    def debug(self, event: str, template: str, **fields: object) -> None:
        if self._json is not None or self.verbosity >= DEBUG:
            self.emit(DEBUG, event, template, **fields)

    def trace(self, event: str, template: str, **fields: object) -> None:
        if self._json is not None or self.verbosity >= TRACE:
            self.emit(TRACE, event, template, **fields)
