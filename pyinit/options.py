"""Command-line option scanning as glibc's getopt_long does it, with glibc's messages.

One scanner for every command line pyinit speaks: its own (which stops at the first operand, so
`pyinit sh -c 'exit 3'` runs `sh -c 'exit 3'`), tini's (GNU permutation unless POSIXLY_CORRECT)
and dumb-init's ('+': stops at the first operand).  Options are yielded one at a time, in argv
order, so a parser can act when it reaches one (dumb-init's `-V -r bad` prints the version,
`-r bad -V` the rewrite error).
"""

from __future__ import annotations

from .errors import one_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


class Opt:
    """One option: its short letter and/or long name, whether it takes a value, and its key."""

    __slots__ = ("key", "long", "short", "takes_arg")

    def __init__(self, short: str | None, long: str | None, takes_arg: bool = False, key: str = "") -> None:
        self.short = short
        self.long = long
        self.takes_arg = takes_arg
        self.key = key or long or short or ""


class OptionError(Exception):
    """A scanning error, worded as glibc words it (without the leading 'prog: ')."""


# What the user typed goes into an error line: a newline or an escape sequence in an argument
# must not split that line or rewrite the terminal (glibc prints the raw bytes).
printable = one_line


def scan(
    argv: list[str], options: list[Opt], operands: list[str], *, permute: bool = False
) -> Iterator[tuple[str, str | None]]:
    """Yield (key, value) per option in argv order; append the operands to `operands`.

    Without permute, scanning stops at the first operand (it and everything after it are
    operands).  With permute (GNU default), operands are collected and scanning goes on.
    `--` always ends the options.
    """
    shorts = {opt.short: opt for opt in options if opt.short}
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            operands.extend(argv[index + 1 :])
            return
        if not arg.startswith("-") or arg == "-":
            if not permute:
                operands.extend(argv[index:])
                return
            operands.append(arg)
            index += 1
            continue
        if arg.startswith("--"):
            name, has_value, value = arg[2:].partition("=")
            opt = _match_long(name, arg[2:], options)
            if opt.takes_arg:
                if not has_value:
                    if index + 1 >= len(argv):
                        raise OptionError("option '--%s' requires an argument" % opt.long)
                    index += 1
                    value = argv[index]
                index += 1
                yield opt.key, value
            else:
                if has_value:
                    raise OptionError("option '--%s' doesn't allow an argument" % opt.long)
                index += 1
                yield opt.key, None
            continue
        # A cluster of short options: -vc, -r15:3, -r 15:3
        position = 1
        index += 1
        while position < len(arg):
            letter = arg[position]
            opt = shorts.get(letter)
            if opt is None:
                raise OptionError("invalid option -- '%s'" % printable(letter))
            if not opt.takes_arg:
                position += 1
                yield opt.key, None
                continue
            if position + 1 < len(arg):
                value = arg[position + 1 :]
            elif index < len(argv):
                value = argv[index]
                index += 1
            else:
                raise OptionError("option requires an argument -- '%s'" % printable(letter))
            yield opt.key, value
            break


def _match_long(name: str, typed: str, options: list[Opt]) -> Opt:
    """Exact name, else the only option the name is a prefix of (glibc's rules and texts)."""
    candidates = []
    for opt in options:
        if opt.long is None:
            continue
        if opt.long == name:
            return opt
        if opt.long.startswith(name):
            candidates.append(opt)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise OptionError("unrecognized option '--%s'" % printable(typed))
    return _ambiguous(name, candidates)


def _ambiguous(name: str, candidates: list[Opt]) -> Opt:
    # Prefixes of several spellings of one option are not ambiguous (glibc checks the same).
    if all(opt.key == candidates[0].key for opt in candidates):
        return candidates[0]
    listed = " ".join("'--%s'" % opt.long for opt in candidates)
    raise OptionError("option '--%s' is ambiguous; possibilities: %s" % (printable(name), listed))
