"""Integers read as C reads them -- strtol(3), atoi(3), scanf's %d -- for the drop-in command
lines whose C originals (tini, dumb-init, su-exec) accept exactly what these accept.

pyinit's own command line does not use them: it accepts plain decimal numbers only.
"""

from __future__ import annotations

C_SPACE = " \t\n\v\f\r"  # isspace() in the C locale
LONG_MAX = (1 << 63) - 1
LONG_MIN = -LONG_MAX - 1


def _leading(text: str) -> tuple[int | None, str]:
    """(the value of the leading [space][sign]digits, the rest), or (None, text) without digits."""
    body = text.lstrip(C_SPACE)
    sign = -1 if body[:1] == "-" else 1
    if body[:1] in ("+", "-"):
        body = body[1:]
    count = len(body) - len(body.lstrip("0123456789"))
    if count == 0:
        return None, text
    return sign * int(body[:count]), body[count:]


def strtol(text: str) -> int | None:
    """strtol(text, &end, 10) when *end == '\\0' after it (the whole text is the number), clamped
    to LONG_MIN..LONG_MAX as strtol does; None otherwise.  "" gives 0 (end is at its '\\0')."""
    value, rest = _leading(text)
    if value is None:
        return 0 if text == "" else None
    if rest:
        return None
    return max(LONG_MIN, min(LONG_MAX, value))


def atoi(text: str) -> int:
    """atoi(3): the leading number, 0 without one; trailing text is ignored."""
    value, _ = _leading(text)
    return 0 if value is None else value


def scan_int(text: str, index: int) -> tuple[int, int] | None:
    """scanf's %d at text[index]: (value, index after it), or None when no digits follow."""
    value, rest = _leading(text[index:])
    return None if value is None else (value, len(text) - len(rest))
