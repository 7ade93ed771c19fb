"""Personalities: everything that differs between the command lines pyinit speaks.

A personality is one module here with one `Personality` subclass instance named `PERSONALITY`.
It owns its command line (parse: argv + environment -> Config), its messages (render), its
failure code and how a failed start is reported (start_failed), and its user rules
(credentials).  Shared modules never ask which personality runs: they call these methods.
Adding a drop-in is one new module and one line in PROGRAM_NAMES.

Only the chosen personality's module is imported (pyinit's own on the default path).
"""

from __future__ import annotations

import os

from ..errors import EXIT_PYINIT_FAILED, StartError, refused, usage_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import Config
    from ..log import Log
    from ..users import Credentials

#: personality -> the program names (argv[0], a symlink's or a console script's) that select it.
#: pyinit's own personality is the default; `pyinit --compat NAME` selects another by name.
PROGRAM_NAMES = {
    "tini": ("tini", "tini-static", "docker-init", "pyinit-tini"),
    "dumb-init": ("dumb-init", "pyinit-dumb-init"),
    "gosu": ("gosu", "pyinit-gosu"),
    "su-exec": ("su-exec", "pyinit-su-exec"),
}
_BY_PROGRAM = {prog: name for name, progs in PROGRAM_NAMES.items() for prog in progs}


class Personality:
    """The defaults every personality starts from; a module overrides what differs."""

    name = ""
    #: Exit code of the init's own failures (a refusal, no fork, ...).
    failure = EXIT_PYINIT_FAILED

    def parse(self, prog: str, argv: list[str], environ: dict[str, str]) -> Config:
        """argv (without the program name) and the environment -> Config; raises errors.Exit."""
        raise NotImplementedError

    def render(self, log: Log, level: int, event: str, template: str, fields: dict) -> tuple[int, str] | None:
        """An event as (fd, line), or None to show nothing.  Never below the level it was
        emitted at: Log drops info, debug and trace events the verbosity does not ask for."""
        raise NotImplementedError

    def credentials(self, config: Config) -> Credentials:
        """The user rules: config.user/groups -> Credentials, or raise StartError (refused)."""
        raise refused("%s cannot switch users" % self.name)

    def lookup(self, file: str, env: dict[str, str]) -> str | None:
        """exec mode's own PATH search (returns the path, raises StartError), or None for
        execvp(3)'s search."""
        return None

    def start_failed(self, log: Log, config: Config, error: StartError) -> int:
        """Report a failed start in this command line's words; return the exit status."""
        raise NotImplementedError


class ExecTool(Personality):
    """gosu and su-exec: exec in place, nothing printed but errors, each one line after the
    tool's prefix, and every failure exits 1."""

    failure = 1
    prefix = ""

    def render(self, log: Log, level: int, event: str, template: str, fields: dict) -> tuple[int, str] | None:
        from ..log import ERROR, format_text

        return (2, self.prefix + format_text(template, fields) + "\n") if level == ERROR else None

    def start_failed(self, log: Log, config: Config, error: StartError) -> int:
        if error.step == "refused":
            log.error("fatal", "%(reason)s", reason=error.detail)
        else:
            log.error("exec-failed", "%(text)s", text=self.failure_text(config, error), reason=error.reason)
        return self.failure

    def failure_text(self, config: Config, error: StartError) -> str:
        """The tool's words for a failure after parsing (after its prefix)."""
        raise NotImplementedError


def select(argv: list[str]) -> tuple[Personality, str, list[str]]:
    """(personality, program name, the arguments it parses) from argv[0] or `--compat NAME`."""
    prog = os.path.basename(argv[0]) if argv else "pyinit"
    rest = argv[1:]
    name = _BY_PROGRAM.get(prog, "pyinit")
    if name == "pyinit" and rest and (rest[0] == "--compat" or rest[0].startswith("--compat=")):
        if rest[0] == "--compat":
            if len(rest) < 2:
                raise usage_error("--compat needs a NAME: %s" % _names())
            prog, rest = rest[1], rest[2:]
        else:
            prog, rest = rest[0].partition("=")[2], rest[1:]
        name = _BY_PROGRAM.get(prog, "")
        if not name:
            raise usage_error("--compat: unknown NAME %r: use %s" % (prog, _names()))
    return load(name), prog, rest


def parse(argv: list[str], environ: dict[str, str]) -> Config:
    """argv (with the program name) and the environment -> Config; raises errors.Exit."""
    personality, prog, rest = select(argv)
    return personality.parse(prog, rest, environ)


def load(name: str) -> Personality:
    """The personality of that name ("pyinit", "tini", "dumb-init", ...)."""
    # __import__ rather than importlib: nothing more to import on pyinit's start-up path.
    module = __import__("%s.%s" % (__name__, name.replace("-", "_")), fromlist=("PERSONALITY",))
    return module.PERSONALITY


def _names() -> str:
    names = list(PROGRAM_NAMES)
    return ", ".join(names[:-1]) + " or " + names[-1]
