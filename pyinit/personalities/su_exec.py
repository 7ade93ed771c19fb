"""su-exec's personality (ncopa/su-exec 0.3): `su-exec user-spec command [args]`, exec in place.

No options at all; fewer than two words print the usage on stdout and exit 1.  Failures are
`su-exec: <call>: <strerror>` (err(3) style), exit 1.  The command is found with execvp(3)
semantics after the switch, /bin/sh fallback included.  Its user rules: strtol numbers, NSS
lookups (getpwnam, getgrnam), getgrouplist groups.
"""

from __future__ import annotations

import os

from .. import users
from ..config import Config
from ..cparse import strtol
from ..errors import Exit, StartError, refused
from . import ExecTool

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..users import Credentials


def parse(prog: str, argv: list[str], environ: dict[str, str]) -> Config:
    if len(argv) < 2:
        raise Exit(1, "Usage: %s user-spec command [args]\n" % prog, fd=1)
    return Config(exec_only=True, personality="su-exec", user=argv[0], command=tuple(argv[1:]))


def _signed(value: int) -> int:
    return value - (1 << 32) if value > users.MAX_ID else value


def _call_label(name: str, arg: int | list[int]) -> str:
    """su-exec prints ids with %i (signed), and its setgroups(1, &gid) as setgroups(GID)."""
    if isinstance(arg, int):
        return "%s(%d)" % (name, _signed(arg))
    return "setgroups(%d)" % _signed(arg[0])


def _call_label_list(name: str, arg: int | list[int]) -> str:
    """With a group list from getgrouplist, su-exec's setgroups message names no id."""
    return "setgroups" if isinstance(arg, list) else _call_label(name, arg)


def resolve_user(spec: str) -> Credentials:
    """su-exec's reading of a user spec -> Credentials, or raise StartError."""
    import grp
    import pwd

    uid, gid = os.getuid(), os.getgid()
    user, _, group = spec.partition(":")
    entry = None
    if user:
        number = strtol(user)
        if number is not None:
            uid = number & users.UID_T
        else:
            try:
                entry = pwd.getpwnam(user)
            except (KeyError, ValueError):  # ValueError: a NUL byte, which no C string holds
                raise refused("getpwnam(%s): Success" % user) from None
    if entry is None:
        try:
            entry = pwd.getpwuid(uid)
        except (KeyError, OverflowError, ValueError):
            entry = None
    if entry is not None:
        uid, gid = entry.pw_uid, entry.pw_gid
    home = entry.pw_dir if entry is not None else "/"
    if group:
        entry = None  # an explicit group: no group list
        number = strtol(group)
        if number is not None:
            gid = number & users.UID_T
        else:
            try:
                gid = grp.getgrnam(group).gr_gid
            except (KeyError, ValueError):
                raise refused("getgrnam(%s): Success" % group) from None
    if entry is None:
        return users.Credentials(uid, gid, [gid], home=home, label=_call_label)
    groups = os.getgrouplist(entry.pw_name, gid)  # the primary included
    return users.Credentials(uid, gid, groups, home=home, label=_call_label_list)


def _failure_text(config: Config, error: StartError) -> str:
    """su-exec's line (after "su-exec: ") for a failure after parsing."""
    if error.step == "exec":
        return "%s: %s" % (config.command[0], os.strerror(error.errno))
    return error.reason


class SuExec(ExecTool):
    name = "su-exec"
    prefix = "su-exec: "  # err(3) style

    def parse(self, prog: str, argv: list[str], environ: dict[str, str]) -> Config:
        return parse(prog, argv, environ)

    def credentials(self, config: Config) -> Credentials:
        return users.finish(resolve_user(config.user or ""), config)

    def failure_text(self, config: Config, error: StartError) -> str:
        return _failure_text(config, error)


PERSONALITY = SuExec()
