"""Exit codes, and the two ways a run ends before the program runs.  The bottom layer.

- `Exit`: leave now, printing a text: --help, --version, a usage error.  Raised by parsers.
- `StartError`: a step of starting failed (a refused user spec, the subreaper registration,
  fork, a child-side step, exec), with its errno and detail.  The personality turns it into its
  own line and exit code (personalities/).

Imports nothing of pyinit: every layer may import it.
"""

from __future__ import annotations

import os

#: pyinit's own failures: bad usage, bad environment, unknown user, no fork, ...
#: (the convention of env(1), timeout(1), chroot(1) and `docker run`).
EXIT_PYINIT_FAILED = 125
#: The command was found but could not be executed.
EXIT_CANNOT_EXECUTE = 126
#: The command was not found.
EXIT_NOT_FOUND = 127

_NOT_FOUND_ERRNOS = frozenset({2, 20})  # ENOENT, ENOTDIR


class Exit(Exception):
    """Leave now: print text (if any) to fd, exit with code."""

    def __init__(self, code: int, text: str = "", fd: int = 2) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text
        self.fd = fd


def usage_error(message: str, prog: str = "pyinit") -> Exit:
    """One line: what is wrong, and where to look; exit 125."""
    return Exit(EXIT_PYINIT_FAILED, "%s: %s (see '%s --help')\n" % (prog, one_line(message), prog))


class StartError(Exception):
    """A step of starting failed.

    step: "refused" (the configuration cannot be honoured: detail says why), "subreaper",
    "pdeathsig", "fork", "exec", "lookup", "credentials", or a child-side step ("setpgid",
    "setsid", "fchdir", "internal").  errno: the system's error number (0 for a refusal).
    detail: the text to show instead of strerror(errno), if any.
    """

    def __init__(self, step: str, errno: int = 0, detail: str = "") -> None:
        detail = one_line(detail)
        super().__init__(step, errno, detail)
        self.step = step
        self.errno = errno
        self.detail = detail

    @property
    def reason(self) -> str:
        return self.detail or os.strerror(self.errno)

    @property
    def not_found(self) -> bool:
        return self.step == "exec" and self.errno in _NOT_FOUND_ERRNOS


def refused(text: str) -> StartError:
    """A configuration that cannot be honoured (unknown user, not root, ...): one line."""
    return StartError("refused", 0, text)


def one_line(text: str) -> str:
    """text with control characters escaped, so a message echoing input stays one line."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
