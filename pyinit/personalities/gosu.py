"""gosu's personality (tianon/gosu 1.19): `gosu user-spec command [args]`, exec in place.

Its rules, texts and exit codes: no options but --help/-h/-?/--version/-v as the first word
(there is no `--`: every word after the spec is the command's); every failure is one
`error: ...` line and exit 1; the PATH search is Go's exec.LookPath, done after the switch, with
no /bin/sh fallback for a file without #!.  Its user rules: moby/sys/user v0.1.0
`GetExecUser`, as gosu 1.19 uses it (the primary gid is not added; a uid without an entry gets
the caller's gid).
"""

from __future__ import annotations

import os
import stat

from .. import __version__, users
from ..config import Config
from ..errors import Exit, StartError, refused
from . import ExecTool

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..users import Credentials, Group, User

#: The gosu release whose behaviour this reproduces (scripts parse `gosu --version`).
GOSU_VERSION = "1.19"
_ENOENT, _EACCES = 2, 13
INT64_MAX = (1 << 63) - 1
_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def version() -> str:
    arch = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm"}
    machine = os.uname().machine
    return "%s (pyinit %s on linux/%s; python)" % (GOSU_VERSION, __version__, arch.get(machine, machine))


def usage(prog: str) -> str:
    return (
        "Usage: %(prog)s user-spec command [args]\n"
        "   eg: %(prog)s app python -m myapp\n"
        "       %(prog)s nobody:root sh -c 'id'\n"
        "       %(prog)s 1000:1 id\n"
        "\n"
        "Runs COMMAND in place of this process as USER-SPEC (user, uid, user:group, uid:gid,\n"
        ":group) with gosu %(gosu)s's rules: pyinit's implementation ('pyinit exec --help').\n"
        "\n"
        "%(prog)s version: %(version)s\n"
    ) % {"prog": prog, "gosu": GOSU_VERSION, "version": version()}


def parse(prog: str, argv: list[str], environ: dict[str, str]) -> Config:
    _refuse_setuid_install(prog)
    if argv and argv[0] in ("--help", "-h", "-?"):
        raise Exit(0, usage(prog) + "\n", fd=1)
    if argv and argv[0] in ("--version", "-v"):
        raise Exit(0, version() + "\n", fd=1)
    if len(argv) < 2:
        raise Exit(1, usage(prog) + "\n", fd=2)
    return Config(
        exec_only=True, personality="gosu", sh_fallback=False, user=argv[0], command=tuple(argv[1:])
    )


def _refuse_setuid_install(prog: str) -> None:
    """gosu refuses to run setuid or setgid (what you want then is sudo or su).

    gosu's escape hatch (an environment variable) is not offered: a setuid Python interpreter
    is never a configuration to keep.
    """
    try:
        mode = os.stat("/proc/self/exe").st_mode
    except OSError as exc:
        raise Exit(1, "error: stat /proc/self/exe: %s\n" % go_error(exc.errno)) from None
    if mode & stat.S_ISUID:
        raise Exit(
            1,
            "error: %s appears to be installed with the 'setuid' bit set, which is an *extremely*"
            " insecure and completely unsupported configuration! (what you want instead is likely"
            " 'sudo' or 'su')\n" % prog,
        )
    if mode & stat.S_ISGID:
        raise Exit(
            1,
            "error: %s appears to be installed with the 'setgid' bit set, which is not quite *as*"
            " insecure as 'setuid', but still not great, and definitely a completely unsupported"
            " configuration! (what you want instead is likely 'sudo' or 'su')\n" % prog,
        )


def go_error(errno: int | None) -> str:
    """An errno as Go's syscall.Errno prints it: the C text, lower-cased first letter."""
    text = os.strerror(errno or 0)
    return text[:1].lower() + text[1:]


def look_path(file: str, env: dict[str, str]) -> str:
    """Go 1.19's exec.LookPath, with its error texts; raises StartError("lookup", ...).

    A name with a '/' is only checked; otherwise each PATH entry is tried ('' is '.'), and a hit
    through a relative entry is refused (Go's ErrDot).  "Executable" means any x bit on a
    non-directory, so a file the target may not run fails at the exec, not here.
    """
    if "/" in file:
        problem = _find_executable(file)
        if problem is None:
            return file
        raise StartError("lookup", problem[0], "exec: %s: %s" % (_go_quote(file), problem[1]))
    search = env.get("PATH", "")
    for directory in search.split(":") if search else []:
        path = _go_join(directory or ".", file)
        if _find_executable(path) is None:
            if not path.startswith("/"):
                text = "exec: %s: cannot run executable found relative to current directory"
                raise StartError("lookup", _EACCES, text % _go_quote(file))
            return path
    raise StartError("lookup", _ENOENT, "exec: %s: executable file not found in $PATH" % _go_quote(file))


def _find_executable(path: str) -> tuple[int, str] | None:
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return exc.errno or _ENOENT, "stat %s: %s" % (path, go_error(exc.errno))
    if not stat.S_ISDIR(mode) and mode & 0o111:
        return None
    return _EACCES, "permission denied"


def _go_join(directory: str, file: str) -> str:
    """filepath.Join: the joined path, cleaned ('./ls' is 'ls'; '//x' is '/x')."""
    path = os.path.normpath(directory + "/" + file)
    return "/" + path.lstrip("/") if path.startswith("//") else path


def _go_quote(text: str) -> str:
    """strconv.Quote for what a command name holds: printable text kept, the rest escaped."""
    out = []
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif "\udc80" <= char <= "\udcff":  # an undecodable byte (surrogateescape)
            out.append("\\x%02x" % (ord(char) - 0xDC00))
        elif char.isprintable():
            out.append(char)
        elif char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif ord(char) < 0x10000:
            out.append("\\x%02x" % ord(char) if ord(char) < 0x80 else "\\u%04x" % ord(char))
        else:
            out.append("\\U%08x" % ord(char))
    return '"' + "".join(out) + '"'


def _failure_text(config: Config, error: StartError) -> str:
    """gosu's line (after "error: ") for a failure after parsing."""
    if error.step == "credentials":
        return "failed switching to '%s': %s" % (config.user, go_error(error.errno))
    if error.step == "lookup":
        return error.detail
    if error.step == "exec":
        return "exec failed: %s" % go_error(error.errno)
    return error.reason


# --- user rules: moby/sys/user v0.1.0 GetExecUser, as gosu 1.19 uses it ---------------------------


def go_atoi(text: str) -> tuple[int, bool]:
    """Go's strconv.Atoi on 64 bits: (value, ok).  Out of range: clamped, not ok; bad: (0, False)."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not (digits.isascii() and digits.isdigit()):
        return 0, False
    value = -int(digits) if text[0] == "-" else int(digits)
    if value > INT64_MAX:
        return INT64_MAX, False
    if value < -INT64_MAX - 1:
        return -INT64_MAX - 1, False
    return value, True


def _gosu_users() -> list[User]:
    # name:password:uid:gid:gecos:home:shell; no comments; a bad number reads as 0 (Go ignores
    # the conversion error); fields may be missing.
    entries = []
    for line in users.read_lines(users.PASSWD_FILE, strict=False):
        fields = line.split(":") + [""] * 6
        uid, gid = go_atoi(fields[2])[0], go_atoi(fields[3])[0]
        entries.append(users.User(fields[0], uid, gid, fields[5]))
    return entries


def _gosu_groups() -> list[Group]:
    # name:password:gid:members; here lines starting with '#' are comments.
    groups = []
    for line in users.read_lines(users.GROUP_FILE, strict=False):
        if line.startswith("#"):
            continue
        fields = line.split(":") + [""] * 3
        groups.append(
            users.Group(fields[0], go_atoi(fields[2])[0], fields[3].split(",") if fields[3] else [])
        )
    return groups


def resolve_user(spec: str) -> Credentials:
    """gosu's reading of a user spec -> Credentials, or raise StartError."""

    def refuse(reason: str) -> StartError:
        return refused("failed switching to '%s': %s" % (spec, reason))

    uid, gid, home, sgids = os.getuid(), os.getgid(), "/", []
    fields = spec.split(":")  # only the first two count: 0:0:0 is 0:0
    user_arg, group_arg = fields[0], (fields[1] if len(fields) > 1 else "")
    uid_arg, uid_numeric = go_atoi(user_arg)
    gid_arg, gid_numeric = go_atoi(group_arg)

    if user_arg == "":
        matches = [user for user in _gosu_users() if user.uid == uid]  # the caller's entry
    elif uid_numeric:
        matches = [user for user in _gosu_users() if user.uid == uid_arg]  # never by name
    else:
        matches = [user for user in _gosu_users() if user.name == user_arg]
    matched_name = ""
    if matches:
        matched_name = matches[0].name
        uid, gid, home = matches[0].uid, matches[0].gid, matches[0].home
    elif user_arg != "":
        if not uid_numeric:
            raise refuse("unable to find user %s: no matching entries in passwd file" % user_arg)
        uid = uid_arg
        if not 0 <= uid <= users.MAX_ID:
            raise refuse("uids and gids must be in range 0-%d" % users.MAX_ID)

    if group_arg != "" or matched_name != "":
        if group_arg == "":
            found = [group for group in _gosu_groups() if matched_name in group.members]
        elif gid_numeric:
            found = [group for group in _gosu_groups() if group.gid == gid_arg]
        else:
            found = [group for group in _gosu_groups() if group.name == group_arg]
        if group_arg != "":
            if found:
                gid = found[0].gid
            else:
                if not gid_numeric:
                    raise refuse("unable to find group %s: no matching entries in group file" % group_arg)
                gid = gid_arg
                if not 0 <= gid <= users.MAX_ID:
                    raise refuse("uids and gids must be in range 0-%d" % users.MAX_ID)
        else:
            sgids = [group.gid for group in found]  # the primary gid only if listed: gosu's way
    # Go passes an int to a uid_t argument: the kernel sees the low 32 bits.
    mask = users.UID_T
    return users.Credentials(uid & mask, gid & mask, [g & mask for g in sgids], home=home)


class Gosu(ExecTool):
    name = "gosu"
    prefix = "error: "

    def parse(self, prog: str, argv: list[str], environ: dict[str, str]) -> Config:
        return parse(prog, argv, environ)

    def credentials(self, config: Config) -> Credentials:
        return users.finish(resolve_user(config.user or ""), config)

    def lookup(self, file: str, env: dict[str, str]) -> str | None:
        return look_path(file, env)

    def failure_text(self, config: Config, error: StartError) -> str:
        return _failure_text(config, error)


PERSONALITY = Gosu()
