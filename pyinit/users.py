"""Users and groups as pyinit reads them, and Credentials: what the program switches to.

The personalities hold the rules that turn a user spec into Credentials (pyinit's initgroups
rules, gosu's, su-exec's: personalities/); they are all resolved in the parent before anything
runs, so a refusal is one line and nothing starts.  Credentials.apply() runs in the child.

pyinit and gosu read /etc/passwd and /etc/group themselves, as gosu's static binary does:
NSS (LDAP, sssd, systemd's synthesized users) is not consulted.
"""

from __future__ import annotations

import errno as errno_codes
import os

from .errors import StartError, refused

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from .config import Config

PASSWD_FILE = "/etc/passwd"
GROUP_FILE = "/etc/group"
#: Highest uid/gid a spec may name (gosu, runc and docker refuse more: 32-bit safety).
MAX_ID = 2147483647
UID_T = 0xFFFFFFFF  # ids become uid_t/gid_t at the system call, as in C and Go
ASCII_SPACE = " \t\n\v\f\r"


class Credentials:
    """What the child switches to.  apply() runs in the child, between fork and exec.

    uid, gid: None keeps them.  groups: the supplementary groups, None keeps them.
    """

    __slots__ = (
        "caller_name",
        "clear_caps",
        "gid",
        "groups",
        "home",
        "label",
        "name",
        "no_new_privs",
        "switch",
        "uid",
        "user_vars",
    )

    def __init__(
        self,
        uid: int | None = None,
        gid: int | None = None,
        groups: list[int] | None = None,
        *,
        home: str | None = None,
        label: Callable[[str, int | list[int]], str] | None = None,
    ) -> None:
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.home = home  # HOME for the program; None leaves it alone
        # How a failed call is named in the error (a personality may word it its own way).
        self.label = label or call_label
        self.name: str | None = None  # the target's passwd name (USER, LOGNAME)
        self.caller_name: str | None = None  # pyinit's own passwd name
        self.user_vars = False  # update USER and LOGNAME (pyinit's rule, see environ())
        self.switch = True  # False: nothing would change (a non-root caller asking for itself)
        self.no_new_privs = False
        self.clear_caps = False

    def apply(self) -> None:
        """Switch for good, then prove it; raises StartError("credentials", errno, detail).

        Runs in the child between fork and exec (or in place, in exec mode).
        """
        if self.clear_caps:
            # Before setuid: dropping from the bounding set needs CAP_SETPCAP, which the switch
            # to a non-root uid takes away.
            from . import linux

            try:
                linux.clear_capabilities()
            except OSError as exc:
                detail = "--clear-caps: %s" % os.strerror(exc.errno or errno_codes.EPERM)
                raise StartError("credentials", exc.errno or errno_codes.EPERM, detail) from None
        if self.switch:
            # Groups, then gid, then uid: each call needs the privilege the next one drops.
            if self.groups is not None:
                self._call("setgroups", os.setgroups, self.groups)
            if self.gid is not None:
                self._call("setgid", os.setgid, self.gid)
            if self.uid is not None:
                self._call("setuid", os.setuid, self.uid)
        if self.no_new_privs:
            from . import linux

            try:
                linux.set_no_new_privs()
            except OSError as exc:
                detail = "--no-new-privs: %s" % os.strerror(exc.errno)
                raise StartError("credentials", exc.errno, detail) from None
        self._verify()

    def _call(self, name: str, func: Callable[[int | list[int]], None], arg: int | list[int]) -> None:
        try:
            func(arg)
        except OSError as exc:
            number = exc.errno
        except (OverflowError, ValueError):  # outside uid_t: what the kernel says to -1
            number = errno_codes.EINVAL
        else:
            return
        raise StartError("credentials", number, "%s: %s" % (self.label(name, arg), os.strerror(number)))

    def _verify(self) -> None:
        """The kernel's view must be the target, in every slot, before anything runs."""
        wrong = []
        if self.uid is not None and os.getresuid() != (self.uid,) * 3:
            wrong.append("uids %s" % (os.getresuid(),))
        if self.gid is not None and os.getresgid() != (self.gid,) * 3:
            wrong.append("gids %s" % (os.getresgid(),))
        if self.groups is not None and sorted(set(os.getgroups())) != sorted(set(self.groups)):
            wrong.append("groups %s" % sorted(os.getgroups()))
        if wrong:
            detail = "the switch did not take: " + ", ".join(wrong)
            raise StartError("credentials", errno_codes.EPERM, detail)
        if self.uid:
            # No way back: with caps kept across setuid (securebits set by someone) this
            # would succeed -- and then nothing may run.
            try:
                os.setuid(0)
            except OSError:
                return
            detail = "uid %d could become root again after the switch" % self.uid
            raise StartError("credentials", errno_codes.EPERM, detail)

    def environ(self, env: dict[str, str]) -> dict[str, str]:
        """The program's environment: HOME always; USER and LOGNAME by pyinit's rule.

        USER and LOGNAME are updated only while they are unset or still name the caller (its
        passwd entry): they become the target's name, or are removed when the target has no
        passwd entry.  Any other value was set on purpose (docker run -e USER=...) and stays.
        """
        if self.home is None and not self.user_vars:
            return env
        env = dict(env)
        if self.home is not None:
            env["HOME"] = self.home
        if self.user_vars:
            for variable in ("USER", "LOGNAME"):
                value = env.get(variable)
                if value is None or value == self.caller_name:
                    if self.name is None:
                        env.pop(variable, None)
                    else:
                        env[variable] = self.name
        return env

    def describe(self) -> str:
        parts = []
        if self.uid is not None:
            parts.append("uid %d" % self.uid)
        if self.gid is not None:
            parts.append("gid %d" % self.gid)
        if self.groups is not None:
            parts.append("groups %s" % (",".join(str(gid) for gid in self.groups) or "none"))
        return " ".join(parts)


def call_label(name: str, arg: int | list[int]) -> str:
    """pyinit's wording of a call: setgid(1000), setgroups(1000,27) or setgroups(none)."""
    if isinstance(arg, int):
        return "%s(%d)" % (name, arg)
    return "setgroups(%s)" % (",".join(str(gid) for gid in arg) or "none")


def finish(credentials: Credentials, config: Config) -> Credentials:
    """What every personality's rules add: --no-new-privs and --clear-caps, checked up front."""
    credentials.no_new_privs = config.no_new_privs
    credentials.clear_caps = config.clear_caps
    if config.no_new_privs or config.clear_caps:
        from . import linux

        linux.load()  # ctypes now, in the parent, not between fork and exec
        if config.clear_caps and os.geteuid() != 0 and linux.bounding_set():
            raise refused(
                "--clear-caps: pyinit runs as uid %d, not root: it cannot empty the capability"
                " bounding set" % os.geteuid()
            )
    return credentials


# --- the files ------------------------------------------------------------------------------


class User:
    __slots__ = ("gid", "home", "name", "uid")

    def __init__(self, name: str, uid: int, gid: int, home: str) -> None:
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home


class Group:
    __slots__ = ("gid", "members", "name")

    def __init__(self, name: str, gid: int, members: list[str]) -> None:
        self.name = name
        self.gid = gid
        self.members = members


def read_lines(path: str, *, strict: bool) -> list[str]:
    """The file's non-blank lines, trimmed.  A missing file is empty (so numbers still work).

    Not strict (gosu): a file that cannot be opened counts as missing.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    except OSError as exc:
        if not strict:
            return []
        raise refused("cannot read %s: %s" % (path, exc.strerror)) from None
    # Bytes as the command line's words are decoded, so names compare equal either way.
    text = data.decode("utf-8", "surrogateescape")
    return [line.strip(ASCII_SPACE) for line in text.split("\n") if line.strip(ASCII_SPACE)]


def _file_id(text: str) -> int | None:
    """An id field in pyinit's reading: ASCII digits, a valid uid_t (not -1)."""
    if text.isascii() and text.isdigit() and int(text) < UID_T:
        return int(text)
    return None


def users() -> list[User]:
    """pyinit's reading: comments and malformed lines are skipped, as glibc's files backend does."""
    found = []
    for line in read_lines(PASSWD_FILE, strict=True):
        fields = line.split(":")
        if line.startswith("#") or len(fields) < 4:
            continue
        uid, gid = _file_id(fields[2]), _file_id(fields[3])
        if uid is not None and gid is not None:
            found.append(User(fields[0], uid, gid, fields[5] if len(fields) > 5 else ""))
    return found


def groups() -> list[Group]:
    found = []
    for line in read_lines(GROUP_FILE, strict=True):
        fields = line.split(":")
        if line.startswith("#") or len(fields) < 3:
            continue
        gid = _file_id(fields[2])
        if gid is not None:
            members = fields[3].split(",") if len(fields) > 3 and fields[3] else []
            found.append(Group(fields[0], gid, members))
    return found


def first(items: Iterable[User]) -> User | None:
    for item in items:
        return item
    return None


def unique(gids: Iterable[int]) -> list[int]:
    """Order kept, duplicates dropped."""
    seen: list[int] = []
    for gid in gids:
        if gid not in seen:
            seen.append(gid)
    return seen
