"""User specs -> credentials; setgroups/setgid/setuid and their verification.  Leaf module.

A spec is `user`, `uid`, `user:group`, `uid:gid`, `:group` (or '' for gosu).  There are three
rule sets, one per command line, all resolved in the parent before anything runs, so a refusal
is one line and nothing starts:

- pyinit's own (`--user`, `--groups`, `pyinit exec`): initgroups semantics (the groups that list
  the user *and* its primary gid), an explicit group replaces them, `--groups` sets them.
- gosu: moby/sys/user v0.1.0 `GetExecUser` exactly, as gosu 1.19 uses it (the primary gid is not
  added; a uid without an entry gets the caller's gid).
- su-exec: its C code's rules, through NSS (`getpwnam`, `getgrouplist`) as it does.

pyinit and gosu read /etc/passwd and /etc/group themselves, as gosu's static binary does:
NSS (LDAP, sssd, systemd's synthesized users) is not consulted.
"""

from __future__ import annotations

import errno as errno_codes
import os

from .spawn import SetupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from .config import Config

PASSWD_FILE = "/etc/passwd"
GROUP_FILE = "/etc/group"
#: Highest uid/gid a spec may name (gosu, runc and docker refuse more: 32-bit safety).
MAX_ID = 2147483647
_UID_T = 0xFFFFFFFF  # ids become uid_t/gid_t at the system call, as in C and Go
_INT64_MAX = (1 << 63) - 1
_ASCII_SPACE = " \t\n\v\f\r"


class PrivilegeError(Exception):
    """A refusal: unknown user or group, bad spec, not allowed.  str() is the one-line reason.

    Control characters in it (a spec holding a newline, echoed back) are escaped, so the
    message stays on one line whatever the input was.
    """

    def __init__(self, message: str) -> None:
        super().__init__("".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message))


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
        "name",
        "no_new_privs",
        "single_group",
        "style",
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
        style: str = "pyinit",
    ) -> None:
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.home = home  # HOME for the program; None leaves it alone
        self.style = style  # "pyinit", "gosu" or "su-exec": the wording of a failed call
        self.name: str | None = None  # the target's passwd name (USER, LOGNAME)
        self.caller_name: str | None = None  # pyinit's own passwd name
        self.user_vars = False  # update USER and LOGNAME (pyinit's rule, see environ())
        self.single_group = False  # su-exec words setgroups(1, &gid) differently
        self.switch = True  # False: nothing would change (a non-root caller asking for itself)
        self.no_new_privs = False
        self.clear_caps = False

    def apply(self) -> None:
        """Switch for good, then prove it; raises SetupError("credentials", errno, detail)."""
        if self.clear_caps:
            # Before setuid: dropping from the bounding set needs CAP_SETPCAP, which the switch
            # to a non-root uid takes away.
            from . import linux

            try:
                linux.clear_capabilities()
            except OSError as exc:
                detail = "--clear-caps: %s" % os.strerror(exc.errno or errno_codes.EPERM)
                raise SetupError("credentials", exc.errno or errno_codes.EPERM, detail) from None
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
                raise SetupError("credentials", exc.errno, detail) from None
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
        raise SetupError("credentials", number, "%s: %s" % (self._label(name, arg), os.strerror(number)))

    def _label(self, name: str, arg: int | list[int]) -> str:
        if self.style == "su-exec":  # su-exec prints ids with %i (signed)
            if isinstance(arg, int):
                return "%s(%d)" % (name, _signed(arg))
            return "setgroups(%d)" % _signed(arg[0]) if self.single_group else "setgroups"
        if isinstance(arg, int):
            return "%s(%d)" % (name, arg)
        return "setgroups(%s)" % (",".join(str(gid) for gid in arg) or "none")

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
            raise SetupError("credentials", errno_codes.EPERM, detail)
        if self.uid:
            # No way back: with caps kept across setuid (securebits set by someone) this
            # would succeed -- and then nothing may run.
            try:
                os.setuid(0)
            except OSError:
                return
            detail = "uid %d could become root again after the switch" % self.uid
            raise SetupError("credentials", errno_codes.EPERM, detail)

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


def resolve(config: Config) -> Credentials:
    """The credentials config asks for, with the command line's rules; or PrivilegeError."""
    if config.flavor == "gosu":
        credentials = _resolve_gosu(config.user or "")
    elif config.flavor == "su-exec":
        credentials = _resolve_su_exec(config.user or "")
    else:
        credentials = _resolve_pyinit(config)
    credentials.no_new_privs = config.no_new_privs
    credentials.clear_caps = config.clear_caps
    if config.no_new_privs or config.clear_caps:
        from . import linux

        linux.load()  # ctypes now, in the parent, not between fork and exec
        if config.clear_caps and os.geteuid() != 0 and linux.bounding_set():
            raise PrivilegeError(
                "--clear-caps: pyinit runs as uid %d, not root: it cannot empty the capability"
                " bounding set" % os.geteuid()
            )
    return credentials


# --- the files ------------------------------------------------------------------------------


class _User:
    __slots__ = ("gid", "home", "name", "uid")

    def __init__(self, name: str, uid: int, gid: int, home: str) -> None:
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home


class _Group:
    __slots__ = ("gid", "members", "name")

    def __init__(self, name: str, gid: int, members: list[str]) -> None:
        self.name = name
        self.gid = gid
        self.members = members


def _lines(path: str, *, strict: bool) -> list[str]:
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
        raise PrivilegeError("cannot read %s: %s" % (path, exc.strerror)) from None
    # Bytes as the command line's words are decoded, so names compare equal either way.
    text = data.decode("utf-8", "surrogateescape")
    return [line.strip(_ASCII_SPACE) for line in text.split("\n") if line.strip(_ASCII_SPACE)]


def _file_id(text: str) -> int | None:
    """An id field in pyinit's reading: ASCII digits, a valid uid_t (not -1)."""
    if text.isascii() and text.isdigit() and int(text) < _UID_T:
        return int(text)
    return None


def _users() -> list[_User]:
    """pyinit's reading: comments and malformed lines are skipped, as glibc's files backend does."""
    users = []
    for line in _lines(PASSWD_FILE, strict=True):
        fields = line.split(":")
        if line.startswith("#") or len(fields) < 4:
            continue
        uid, gid = _file_id(fields[2]), _file_id(fields[3])
        if uid is not None and gid is not None:
            users.append(_User(fields[0], uid, gid, fields[5] if len(fields) > 5 else ""))
    return users


def _groups() -> list[_Group]:
    groups = []
    for line in _lines(GROUP_FILE, strict=True):
        fields = line.split(":")
        if line.startswith("#") or len(fields) < 3:
            continue
        gid = _file_id(fields[2])
        if gid is not None:
            members = fields[3].split(",") if len(fields) > 3 and fields[3] else []
            groups.append(_Group(fields[0], gid, members))
    return groups


# --- pyinit's own rules ---------------------------------------------------------------------


def is_number(text: str) -> bool:
    """`^[+-]?[0-9]+$`: what a spec treats as an id.

    Not int(): `1_000`, `' 0'` and fullwidth digits are names.
    """
    digits = text[1:] if text[:1] in ("+", "-") else text
    return digits.isascii() and digits.isdigit()


def _spec_id(text: str, what: str, kind: str) -> int:
    value = int(text)  # is_number(text) holds: a sign and ASCII digits
    if not 0 <= value <= MAX_ID:
        raise PrivilegeError("%s: %s %s is out of range 0-%d" % (what, kind, text, MAX_ID))
    return value


def _group_id(text: str, what: str, groups: list[_Group]) -> int:
    """A number is a gid (never a name), used as is; a name is the first group of that name."""
    if is_number(text):
        return _spec_id(text, what, "gid")
    for group in groups:
        if group.name == text:
            return group.gid
    raise PrivilegeError("%s: no group named %s in %s" % (what, _quote(text), GROUP_FILE))


def _resolve_pyinit(config: Config) -> Credentials:
    credentials = Credentials()
    spec = config.user
    groups = _groups() if (spec is not None or config.groups is not None) else []
    if spec is not None:
        _pyinit_user(spec, credentials, groups)
    if config.groups is not None:
        credentials.groups = _unique(_group_id(text, "--groups", groups) for text in config.groups)
    _check_caller(credentials, "--user %s" % _quote(spec) if spec is not None else "--groups")
    return credentials


def _pyinit_user(spec: str, credentials: Credentials, groups: list[_Group]) -> None:
    what = "--user %s" % _quote(spec)
    user_part, _, group_part = spec.partition(":")
    if ":" in group_part:
        raise PrivilegeError("%s: expected user[:group], with one ':' at most" % what)
    if not user_part and not group_part:
        # '' is the caller for gosu; for pyinit, an empty PYINIT_USER=$UNSET_VARIABLE must not
        # quietly mean root (the class of su-exec #6).
        raise PrivilegeError("--user: empty user spec: give a user name or uid (and :group)")
    users = _users()
    caller = _first(user for user in users if user.uid == os.getuid())
    if not user_part:  # ':group': the caller, with another group
        uid, entry = os.getuid(), caller
    elif is_number(user_part):  # a number is a uid, never a name (a user may be *named* 2000)
        uid = _spec_id(user_part, what, "uid")
        entry = _first(user for user in users if user.uid == uid)
    else:
        entry = _first(user for user in users if user.name == user_part)
        if entry is None:
            raise PrivilegeError("%s: no user named %s in %s" % (what, _quote(user_part), PASSWD_FILE))
        uid = entry.uid
    if group_part:
        # An explicit group replaces the supplementary groups; it stays one of them itself.
        gid = _group_id(group_part, what, groups)
        supplementary = [gid]
    elif entry is not None:
        # initgroups(3): the primary gid and every group that lists the user.  Leaving the
        # primary out (as gosu does) is the negative-group-permission bypass of CVE-2022-36109.
        gid = entry.gid
        supplementary = _unique([gid] + [group.gid for group in groups if entry.name in group.members])
    else:
        # A uid without an entry: its own gid, not the caller's (gid 0 under root, gosu's rule).
        gid = uid
        supplementary = [gid]
    credentials.uid, credentials.gid, credentials.groups = uid, gid, supplementary
    credentials.home = (entry.home if entry is not None else "") or "/"
    credentials.name = entry.name if entry is not None else None
    credentials.caller_name = caller.name if caller is not None else None
    credentials.user_vars = True


def _check_caller(credentials: Credentials, what: str) -> None:
    """Refuse, in the parent, what a non-root pyinit cannot do; asking for itself is a no-op."""
    if os.geteuid() == 0:
        return
    same = (
        (credentials.uid is None or os.getresuid() == (credentials.uid,) * 3)
        and (credentials.gid is None or os.getresgid() == (credentials.gid,) * 3)
        and (credentials.groups is None or sorted(set(os.getgroups())) == sorted(set(credentials.groups)))
    )
    if same:
        credentials.switch = False  # setgroups would fail with EPERM even for the same list
        return
    raise PrivilegeError(
        "%s: pyinit runs as uid %d, not root: it cannot switch to %s"
        % (what, os.geteuid(), credentials.describe())
    )


# --- gosu's rules (moby/sys/user v0.1.0 GetExecUser) ------------------------------------------


def go_atoi(text: str) -> tuple[int, bool]:
    """Go's strconv.Atoi on 64 bits: (value, ok).  Out of range: clamped, not ok; bad: (0, False)."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not (digits.isascii() and digits.isdigit()):
        return 0, False
    value = -int(digits) if text[0] == "-" else int(digits)
    if value > _INT64_MAX:
        return _INT64_MAX, False
    if value < -_INT64_MAX - 1:
        return -_INT64_MAX - 1, False
    return value, True


def _gosu_users() -> list[_User]:
    # name:password:uid:gid:gecos:home:shell; no comments; a bad number reads as 0 (Go ignores
    # the conversion error); fields may be missing.
    users = []
    for line in _lines(PASSWD_FILE, strict=False):
        fields = line.split(":") + [""] * 6
        uid, gid = go_atoi(fields[2])[0], go_atoi(fields[3])[0]
        users.append(_User(fields[0], uid, gid, fields[5]))
    return users


def _gosu_groups() -> list[_Group]:
    # name:password:gid:members; here lines starting with '#' are comments.
    groups = []
    for line in _lines(GROUP_FILE, strict=False):
        if line.startswith("#"):
            continue
        fields = line.split(":") + [""] * 3
        groups.append(_Group(fields[0], go_atoi(fields[2])[0], fields[3].split(",") if fields[3] else []))
    return groups


def _resolve_gosu(spec: str) -> Credentials:
    def refuse(reason: str) -> PrivilegeError:
        return PrivilegeError("failed switching to '%s': %s" % (spec, reason))

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
        if not 0 <= uid <= MAX_ID:
            raise refuse("uids and gids must be in range 0-%d" % MAX_ID)

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
                if not 0 <= gid <= MAX_ID:
                    raise refuse("uids and gids must be in range 0-%d" % MAX_ID)
        else:
            sgids = [group.gid for group in found]  # the primary gid only if listed: gosu's way
    # Go passes an int to a uid_t argument: the kernel sees the low 32 bits.
    return Credentials(uid & _UID_T, gid & _UID_T, [g & _UID_T for g in sgids], home=home, style="gosu")


# --- su-exec's rules (ncopa/su-exec 0.3, through NSS) --------------------------------------------


def strtol(text: str) -> int | None:
    """C strtol(text, &end, 10) with *end == '\\0' required; None when that fails."""
    stripped = text.lstrip(_ASCII_SPACE)
    digits = stripped[1:] if stripped[:1] in ("+", "-") else stripped
    if not (digits.isascii() and digits.isdigit()):
        return None
    value = -int(digits) if stripped[0] == "-" else int(digits)
    return max(-_INT64_MAX - 1, min(_INT64_MAX, value))  # LONG_MIN/LONG_MAX on overflow


def _resolve_su_exec(spec: str) -> Credentials:
    import grp
    import pwd

    uid, gid = os.getuid(), os.getgid()
    user, _, group = spec.partition(":")
    entry = None
    if user:
        number = strtol(user)
        if number is not None:
            uid = number & _UID_T
        else:
            try:
                entry = pwd.getpwnam(user)
            except (KeyError, ValueError):  # ValueError: a NUL byte, which no C string holds
                raise PrivilegeError("getpwnam(%s): Success" % user) from None
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
            gid = number & _UID_T
        else:
            try:
                gid = grp.getgrnam(group).gr_gid
            except (KeyError, ValueError):
                raise PrivilegeError("getgrnam(%s): Success" % group) from None
    if entry is None:
        credentials = Credentials(uid, gid, [gid], home=home, style="su-exec")
        credentials.single_group = True
        return credentials
    groups = os.getgrouplist(entry.pw_name, gid)  # the primary included
    return Credentials(uid, gid, groups, home=home, style="su-exec")


# --- small helpers ----------------------------------------------------------------------------


def _first(items: Iterable[_User]) -> _User | None:
    for item in items:
        return item
    return None


def _unique(gids: Iterable[int]) -> list[int]:
    """Order kept, duplicates dropped."""
    seen: list[int] = []
    for gid in gids:
        if gid not in seen:
            seen.append(gid)
    return seen


def _signed(value: int) -> int:
    return value - (1 << 32) if value > MAX_ID else value


def _quote(text: str) -> str:
    return repr(text)
