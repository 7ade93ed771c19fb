"""The one place that writes pyinit's own messages.

Code elsewhere reports *events* (a name, a level, pyinit's text, and fields); a renderer turns
each into a line: pyinit's `[pyinit] ...` text, one JSON object per line, or tini's and
dumb-init's exact texts for the drop-in command lines.  Writing never raises: a closed stderr, a
broken pipe or a full disk must not kill PID 1 (the line is dropped).

Levels follow tini's verbosity scale, so one number serves every command line:
0 errors only, 1 also warnings (default), 2 info (-v), 3 debug (-vv), 4 trace (-vvv).
"""

from __future__ import annotations

import errno
import os
import time

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


class Log:
    """Renders events for one flavor ("pyinit", "tini", "dumb-init", "gosu", "su-exec") and format."""

    def __init__(self, verbosity: int = 1, fmt: str = "text", flavor: str = "pyinit") -> None:
        self.verbosity = verbosity
        self.fmt = fmt
        self.flavor = flavor
        self.pid = os.getpid()
        self._json = None
        if fmt == "json":
            import json  # only when asked for: it costs start-up time

            self._json = json.dumps
        renderer = _RENDERERS.get(flavor, _render_pyinit) if fmt == "text" else None
        self._render = renderer

    def emit(self, level: int, event: str, text: str, **fields: object) -> None:
        if self._json is not None:
            record = {"ts": round(time.monotonic(), 6), "event": event, "level": LEVEL_NAMES[level]}
            record.update(fields)
            record["msg"] = text
            line = self._json(record, default=str, ensure_ascii=False) + "\n"
            write_fd(2, line.encode("utf-8", "replace"))
            return
        out = self._render(self, level, event, text, fields)
        if out is not None:
            fd, line = out
            write_fd(fd, line.encode("utf-8", "replace"))

    # Shorthands for the common levels.
    def error(self, event: str, text: str, **fields: object) -> None:
        self.emit(ERROR, event, text, **fields)

    def warn(self, event: str, text: str, **fields: object) -> None:
        self.emit(WARN, event, text, **fields)

    def info(self, event: str, text: str, **fields: object) -> None:
        self.emit(INFO, event, text, **fields)

    def debug(self, event: str, text: str, **fields: object) -> None:
        self.emit(DEBUG, event, text, **fields)

    def trace(self, event: str, text: str, **fields: object) -> None:
        self.emit(TRACE, event, text, **fields)

    def wants(self, level: int) -> bool:
        """Whether a message at this level would be shown (to skip costly formatting)."""
        return self._json is not None or level <= self.verbosity


def _render_pyinit(log: Log, level: int, event: str, text: str, fields: dict) -> tuple[int, str] | None:
    if level > log.verbosity:
        return None
    prefix = "[pyinit] error: " if level == ERROR else "[pyinit] warning: " if level == WARN else "[pyinit] "
    return 2, prefix + text + "\n"


def _render_gosu(log: Log, level: int, event: str, text: str, fields: dict) -> tuple[int, str] | None:
    # gosu prints nothing but its errors, as "error: ..."
    if level != ERROR:
        return None
    return 2, "error: " + text + "\n"


def _render_su_exec(log: Log, level: int, event: str, text: str, fields: dict) -> tuple[int, str] | None:
    # su-exec prints nothing but its errors, err(3) style
    if level != ERROR:
        return None
    return 2, "su-exec: " + text + "\n"


# --- tini (krallin/tini 0.19): "[LEVEL tini (PID)] text"; INFO and below go to stdout. ---------

_TINI_LEVELS = ("FATAL", "WARN ", "INFO ", "DEBUG", "TRACE")

_TINI_SUBREAPER_WARNING = (
    "Tini is not running as PID 1 and isn't registered as a child subreaper.\n"
    "Zombie processes will not be re-parented to Tini, so zombie reaping won't work.\n"
    "To fix the problem, use the -s option or set the environment variable TINI_SUBREAPER to"
    " register Tini as a child subreaper, or run Tini as PID 1."
)


def _tini_text(event: str, text: str, fields: dict) -> tuple[int, str] | None:
    """(tini level, tini's text) for the events tini itself reports; None for the rest."""
    if event == "spawned":
        return INFO, "Spawned child process '%s' with pid '%i'" % (fields["command"][0], fields["pid"])
    if event == "signal":
        if fields["signo"] == 17:
            return DEBUG, "Received SIGCHLD"
        return DEBUG, "Passing signal: '%s'" % fields["description"]
    if event == "reaped":
        if fields.get("main"):
            if "signal" in fields:
                return INFO, "Main child exited with signal (with signal '%s')" % fields["description"]
            return INFO, "Main child exited normally (with status '%i')" % fields["code"]
        if fields.get("warn_on_reap"):
            return WARN, "Reaped zombie process with pid=%i" % fields["pid"]
        return None
    if event == "no-subreaper":
        return WARN, _TINI_SUBREAPER_WARNING
    if event == "subreaper":
        return TRACE, "Registered as child subreaper"
    if event == "exec-failed":
        return ERROR, "exec %s failed: %s" % (fields["command"][0], fields["reason"])
    if event == "forward-failed" and fields.get("errno") == 3:
        return WARN, "Child was dead when forwarding signal"
    if event in ("fatal", "usage"):
        return ERROR, text
    return None


def _render_tini(log: Log, level: int, event: str, text: str, fields: dict) -> tuple[int, str] | None:
    mapped = _tini_text(event, text, fields)
    if mapped is None:
        return None
    tini_level, tini_text = mapped
    if tini_level > log.verbosity and tini_level != ERROR:
        return None
    fd = 2 if tini_level <= WARN else 1
    return fd, "[%s tini (%i)] %s\n" % (_TINI_LEVELS[tini_level], fields.get("log_pid", log.pid), tini_text)


# --- dumb-init (Yelp/dumb-init 1.2.5): "[dumb-init] text" on stderr in debug mode. ------------


def _dumb_init_text(event: str, fields: dict) -> str | None:
    if event == "spawned":
        return "Child spawned with PID %d." % fields["pid"]
    if event == "signal":
        return "Received signal %d." % fields["signo"]
    if event == "handoff-ignored":
        return "Ignoring tty hand-off signal %d." % fields["signo"]
    if event == "rewritten":
        return "Translating signal %d to %d." % (fields["signo"], fields["to"])
    if event == "forwarded":
        return "Forwarded signal %d to children." % fields["signo"]
    if event == "dropped":
        # dumb-init 1.2.5 prints the translated number here, which is always 0
        return "Not forwarding signal 0 to children (ignored)."
    if event == "suspending":
        return "Suspending self due to TTY signal."
    if event == "reaped":
        if "signal" in fields:
            return "A child with PID %d was terminated by signal %d." % (fields["pid"], fields["signal"])
        return "A child with PID %d exited with exit status %d." % (fields["pid"], fields["code"])
    if event == "exit":
        return "Child exited with status %d. Goodbye." % fields["code"]
    if event == "tty-detach":
        errno = fields.get("errno")
        if errno:
            return "Unable to detach from controlling tty (errno=%d %s)." % (errno, os.strerror(errno))
        if fields.get("session_leader"):
            return "Detached from controlling tty, ignoring the first SIGHUP and SIGCONT we receive."
        return "Detached from controlling tty, but was not session leader."
    if event == "tty-attach":
        errno = fields["errno"]
        return "Unable to attach to controlling tty (errno=%d %s)." % (errno, os.strerror(errno))
    if event == "setsid":
        return "setsid complete."
    if event == "note":
        return fields["dumb_init_text"]  # type: ignore[return-value]
    return None


def _render_dumb_init(log: Log, level: int, event: str, text: str, fields: dict) -> tuple[int, str] | None:
    if event == "exec-failed":
        # printed whatever the debug setting: "[dumb-init] cmd: strerror"
        return 2, "[dumb-init] %s: %s\n" % (fields["command"][0], fields["reason"])
    if event in ("fatal", "usage"):
        return 2, text + "\n"
    if log.verbosity < DEBUG:
        return None
    dumb_text = _dumb_init_text(event, fields)
    if dumb_text is None:
        return None
    return 2, "[dumb-init] " + dumb_text + "\n"


_RENDERERS = {
    "pyinit": _render_pyinit,
    "tini": _render_tini,
    "dumb-init": _render_dumb_init,
    "gosu": _render_gosu,
    "su-exec": _render_su_exec,
}
