"""Procfiles: the programs pyinit runs side by side, one `name: command` line each.

The format is Heroku's, as honcho and foreman read it:

    # a comment
    web: gunicorn app:app --bind 0.0.0.0:$PORT
    worker: python -m worker

- A line is `NAME: COMMAND`.  The name is everything before the first colon, the command is
  everything after it; both are stripped of surrounding spaces and tabs.  The command is later
  run as `/bin/sh -c COMMAND`, so quoting, `$VARS`, `&&` and `exec` are the shell's business.
- Names: 1 to 64 of `A-Z a-z 0-9 _ -` (honcho's and foreman's set, so a Procfile that works
  there works here).  They are case-sensitive and unique.  The limit keeps the aligned output
  prefix (`web    | ...`) readable; nothing else depends on it.
- Blank lines and lines whose first non-blank character is `#` are ignored.  A `#` inside a
  command is the shell's (a comment there too).
- Where honcho and foreman skip a line they cannot read, pyinit refuses the whole file: a
  malformed line, a bad or duplicate name, an empty command, a NUL byte, a command longer than
  the kernel takes for one argument (MAX_ARG_STRLEN, 128 KiB), a file with no program, a file
  larger than 1 MiB, or one that cannot be read.  Every refusal is a ProcfileError whose str()
  is one line that starts with where it happened (`Procfile:3: ...`), for the caller to print
  and exit 125 before anything starts.
- Encoding: UTF-8; bytes that are not UTF-8 are kept as they are (surrogateescape), so the
  shell receives the command's exact bytes (os.execve encodes arguments the same way back).
  Names are ASCII, so a non-UTF-8 byte in a name is a bad name.  Windows line ends (CRLF) and a
  leading UTF-8 byte order mark are accepted.

The same rules parse one line given on the command line (`parse_option`), so a program can be
given without a file; `parse_lines` checks a mix of both for duplicates.

Programs come back as Program tuples, in order: immutable, `name, command = program`.
No dataclass: see config.py (importing dataclasses costs more than pyinit's whole start-up).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Iterable

NAME_MAX = 64
#: Linux's limit for one argument string of execve (MAX_ARG_STRLEN, 32 pages), NUL included.
COMMAND_MAX = 32 * 4096 - 1
#: A Procfile is a handful of lines; anything bigger is a mistake (or /dev/zero).
FILE_MAX = 1 << 20

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_BLANK = " \t"
_SHOWN = 40  # how much of an offending line a message quotes


class ProcfileError(Exception):
    """A Procfile or a program line pyinit refuses; str() is `WHERE: REASON` on one line."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(where, reason)
        self.where = where
        self.reason = reason

    def __str__(self) -> str:
        from .errors import one_line  # only on this path: the parser imports nothing else

        return "%s: %s" % (one_line(self.where), self.reason)  # a path may hold a newline


class Program(tuple):
    """One program: its name and its shell command.  A tuple: immutable, unpackable, comparable."""

    __slots__ = ()

    def __new__(cls, name: str, command: str) -> Program:
        return tuple.__new__(cls, (name, command))

    @property
    def name(self) -> str:
        return self[0]

    @property
    def command(self) -> str:
        return self[1]

    def __repr__(self) -> str:
        return "Program(%r, %r)" % (self[0], self[1])


def _show(text: str) -> str:
    """A safe one-line quotation of (the start of) text: control characters and bad bytes escaped."""
    cut = text[:_SHOWN]
    shown = repr(cut.encode("utf-8", "surrogateescape"))[2:-1] if not cut.isprintable() else cut
    return "'%s'%s" % (shown, "..." if len(text) > _SHOWN else "")


def parse_line(line: str, where: str) -> Program | None:
    """Parse one line; None for a blank line or a comment; ProcfileError(where, ...) if malformed."""
    text = line.strip(_BLANK)
    if not text or text.startswith("#"):
        return None
    name, colon, command = text.partition(":")
    name = name.rstrip(_BLANK)
    if not colon:
        raise ProcfileError(where, "expected 'name: command', got %s" % _show(text))
    if not name:
        raise ProcfileError(where, "no program name before ':'")
    if len(name) > NAME_MAX or not _NAME_CHARS.issuperset(name):
        raise ProcfileError(
            where,
            "bad program name %s: use 1 to %d letters, digits, '_' or '-'" % (_show(name), NAME_MAX),
        )
    command = command.strip(_BLANK)
    if not command:
        raise ProcfileError(where, "program '%s' has no command" % name)
    if "\0" in command:
        raise ProcfileError(where, "program '%s': the command contains a NUL byte" % name)
    size = len(command.encode("utf-8", "surrogateescape"))
    if size > COMMAND_MAX:
        raise ProcfileError(
            where, "program '%s': the command is %d bytes, more than %d" % (name, size, COMMAND_MAX)
        )
    return Program(name, command)


def parse_lines(lines: Iterable[tuple[str, str]], source: str) -> tuple[Program, ...]:
    """Parse (where, line) pairs into programs; at least one, no name twice.

    `source` names the whole for the message when no line holds a program.
    """
    programs: list[Program] = []
    first_seen: dict[str, str] = {}
    for where, line in lines:
        program = parse_line(line, where)
        if program is None:
            continue
        if program.name in first_seen:
            raise ProcfileError(
                where,
                "program '%s' is defined twice (first at %s)" % (program.name, first_seen[program.name]),
            )
        first_seen[program.name] = where
        programs.append(program)
    if not programs:
        raise ProcfileError(source, "no program (expected 'name: command' lines)")
    return tuple(programs)


def parse_text(text: str, source: str) -> tuple[Program, ...]:
    """Parse a whole Procfile's text; messages say `SOURCE:LINE: ...`."""
    if text.startswith("\ufeff"):
        text = text[1:]
    # Only "\n" ends a line (str.splitlines would also split at \v, \f, \x1c.. and U+2028,
    # all of which the shell takes as ordinary characters); "\r\n" is accepted.
    rows = text.split("\n")
    return parse_lines(
        (
            ("%s:%d" % (source, number), row[:-1] if row.endswith("\r") else row)
            for number, row in enumerate(rows, 1)
        ),
        source,
    )


def load(path: str) -> tuple[Program, ...]:
    """Read and parse the Procfile at path (messages name it as given)."""
    try:
        with open(path, "rb") as file:
            data = file.read(FILE_MAX + 1)
    except OSError as exc:
        raise ProcfileError(path, "cannot read: %s" % (exc.strerror or exc)) from None
    if len(data) > FILE_MAX:
        raise ProcfileError(path, "larger than %d bytes: not a Procfile" % FILE_MAX)
    return parse_text(data.decode("utf-8", "surrogateescape"), path)


def combine(path: str | None, values: list[str], label: str = "-P") -> tuple[Program, ...]:
    """The programs of a Procfile (if a path is given), then those given one per option value,
    with no name twice across both."""
    programs = load(path) if path is not None else ()
    extra = parse_option(values, label) if values else ()
    first = {program.name for program in programs}
    for number, program in enumerate(extra, 1):
        if program.name in first:
            raise ProcfileError(
                "%s #%d" % (label, number),
                "program '%s' is defined twice (also in %s)" % (program.name, path),
            )
    return programs + extra


def parse_option(values: Iterable[str], label: str = "-P") -> tuple[Program, ...]:
    """Programs given one per option value (`-P 'web: gunicorn app'`); messages say `LABEL #N: ...`.

    Unlike a file's line, an option's value must hold a program: blank or comment is an error.
    """
    pairs = []
    for number, value in enumerate(values, 1):
        where = "%s #%d" % (label, number)
        if parse_line(value, where) is None:
            raise ProcfileError(where, "expected 'name: command', got %s" % _show(value))
        pairs.append((where, value))
    return parse_lines(pairs, label)
