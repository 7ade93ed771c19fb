"""Running pyinit against fixture /etc/passwd and /etc/group, as root or as a simulated non-root caller.

The fixture files are bind-mounted over /etc/passwd and /etc/group inside a private mount
namespace (`unshare --mount --propagation private`), so the machine's files are never touched and
every tool in the chain (setpriv, id, NSS) sees the fixture.  Every program in the chain execs
the next, so pyinit keeps the pid of the process the test started.

The fixture copies gosu's test setup: nobody is a member of every group; games (5:60, home
/usr/games) is a member of users (100); uid and gid 1000 do not exist; a user is *named* 2000
(uid 3000); homeless has an empty home field.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import BASE_ENV, ROOT, UNSHARE

PASSWD = """\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
games:x:5:60:games:/usr/games:/usr/sbin/nologin
2000:x:3000:3000:named with digits:/home/2000:/bin/sh
homeless:x:2001:2001:empty home field::/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
"""

GROUP = """\
root:x:0:nobody
daemon:x:1:nobody
bin:x:2:nobody
sys:x:3:nobody
adm:x:4:nobody
tty:x:5:nobody
sudo:x:27:nobody
games:x:60:nobody
users:x:100:games,nobody
nogroup:x:65534:nobody
"""

#: Every gid in GROUP: nobody's supplementary groups.
ALL_GIDS = [0, 1, 2, 3, 4, 5, 27, 60, 100, 65534]

#: The interpreter binary itself: a shell (or pyenv's bash shim) in between would reset the
#: effective uid to the real one, which the setpriv --ruid caller relies on.
ROOT_PYTHON = os.path.realpath(sys.executable)

#: The caller's HOME, which gosu must always replace.
CALLER_HOME = "/omg/nowhere"

#: A PATH with no directory that a non-root target cannot search (those turn "not found" into
#: "permission denied", as in execvp(3)).
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: How the caller is made.  root carries supplementary groups 4 and 27, which must never reach
#: the target.  nobody-ruid is gosu's own test setup (a setuid gosu run by nobody): real uid
#: nobody, effective uid root.  nobody is a plain non-root caller.
CALLERS = {
    "root": ["setpriv", "--groups=4,27", "--"],
    # root with inheritable and ambient capabilities to clear (the CVE-2022-27649 pattern)
    "root-capsets": [
        "setpriv",
        "--groups=4,27",
        "--inh-caps=+net_bind_service,+kill",
        "--ambient-caps=+net_bind_service,+kill",
        "--",
    ],
    # root that cannot read a file its mode forbids (no CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)
    "root-nodac": ["setpriv", "--groups=4,27", "--bounding-set=-dac_override,-dac_read_search", "--"],
    # root whose setuid() keeps the capabilities: a switch that could be undone
    "root-nofixup": ["setpriv", "--groups=4,27", "--securebits=+no_setuid_fixup", "--"],
    "nobody-ruid": ["setpriv", "--ruid=nobody", "--rgid=nogroup", "--init-groups", "--"],
    "nobody": ["setpriv", "--reuid=nobody", "--regid=nogroup", "--init-groups", "--"],
}

_MOUNT = 'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && shift 2 && exec "$@"'
_NAMESPACE = ["unshare", "--mount", "--propagation", "private"]
_PIDNS = UNSHARE  # with the clean signal dispositions of support.UNSHARE
# The shell that mounts clears the signal mask (dash does), so a caller's blocked and ignored
# signals are set by this link, after it.
_BLOCK = (
    "import os, signal, sys\n"
    "signal.pthread_sigmask(signal.SIG_BLOCK, [int(s) for s in sys.argv[1].split(',') if s])\n"
    "for s in sys.argv[2].split(','):\n"
    "    s and signal.signal(int(s), signal.SIG_IGN)\n"
    "os.execvp(sys.argv[3], sys.argv[3:])"
)


@functools.cache
def _cannot_mount() -> str | None:
    if os.geteuid() != 0:
        return "needs root to bind-mount fixture /etc/passwd and /etc/group (unshare --mount)"
    try:
        result = subprocess.run(
            _NAMESPACE + ["sh", "-c", "mount --bind /etc/passwd /etc/passwd"], capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "unshare --mount unavailable: %s" % exc
    if result.returncode != 0:
        return "cannot bind-mount in a private mount namespace: %s" % result.stderr.decode().strip()
    return None


def needs_root() -> None:
    reason = _cannot_mount()
    if reason:
        pytest.skip(reason)


@functools.cache
def nobody_python() -> str | None:
    """An interpreter (>= 3.9) that uid 65534 can run, with pyinit importable; None if none.

    The test's own interpreter may live where nobody cannot go (pyenv under /root).
    """
    candidates = [ROOT_PYTHON, "/usr/bin/python3", "/usr/local/bin/python3"]
    for candidate in dict.fromkeys(os.path.realpath(path) for path in candidates):
        if not os.path.exists(candidate):
            continue
        # stat too: some file systems let nobody exec a file it cannot stat, which gosu's PATH
        # check (a stat) would then refuse
        check = "import os, sys, pyinit.users; assert sys.version_info >= (3, 9); os.stat(%r)"
        check %= candidate
        try:
            result = subprocess.run(
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", candidate, "-c", check],
                env=dict(BASE_ENV, PYTHONPATH=str(ROOT)),
                capture_output=True,
                timeout=60,
                cwd="/",
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0:
            return candidate
    return None


def needs_nobody_python() -> str:
    python = nobody_python()
    if python is None:
        pytest.skip("no Python >= 3.9 that uid 65534 may run (the test's own lives under /root)")
    return python


class Fixture:
    """The fixture files in a directory, and a runner that mounts them."""

    def __init__(self, directory: Path, passwd: str = PASSWD, group: str = GROUP) -> None:
        needs_root()
        self.passwd = directory / "passwd"
        self.group = directory / "group"
        self.passwd.write_text(passwd)
        self.group.write_text(group)
        self.passwd.chmod(0o644)
        self.group.chmod(0o644)

    def command(
        self,
        argv: list[str],
        *,
        caller: str = "root",
        pidns: bool = False,
        python: str | None = None,
        blocked: tuple[int, ...] = (),
        ignored: tuple[int, ...] = (),
    ) -> list[str]:
        """The full command line: namespace, mounts, caller, then `python -m pyinit ARGV`."""
        if python is None:
            python = needs_nobody_python() if caller == "nobody" else ROOT_PYTHON
        block = []
        if blocked or ignored:
            # int(): str() of a Signals member is 'Signals.SIGUSR1' before Python 3.11
            numbers = [",".join(str(int(signo)) for signo in signals) for signals in (blocked, ignored)]
            block = [ROOT_PYTHON, "-c", _BLOCK, *numbers]
        return (
            _NAMESPACE
            + ["sh", "-c", _MOUNT, "sh", str(self.passwd), str(self.group)]
            + (_PIDNS if pidns else [])
            + block
            + CALLERS[caller]
            + [python, "-m", "pyinit"]
            + argv
        )

    def run(
        self,
        argv: list[str],
        *,
        caller: str = "root",
        env: dict | None = None,
        pidns: bool = False,
        python: str | None = None,
        blocked: tuple[int, ...] = (),
        ignored: tuple[int, ...] = (),
        timeout: float = 60,
        **kwargs,
    ) -> subprocess.CompletedProcess:
        kwargs.setdefault("cwd", "/")
        return subprocess.run(
            self.command(argv, caller=caller, pidns=pidns, python=python, blocked=blocked, ignored=ignored),
            env=environment(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            **kwargs,
        )

    def assert_execs_in_place(self, argv: list[str]) -> None:
        """argv ends in `sh -c 'echo $$'`: the shell must print the pid the launcher started."""
        process = subprocess.Popen(
            self.command(argv),
            env=environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd="/",
        )
        out, err = process.communicate(timeout=60)
        assert (process.returncode, err) == (0, "")
        assert int(out) == process.pid


def environment(extra: dict | None = None) -> dict:
    """BASE_ENV with the caller's HOME and a PATH every target can search."""
    env = dict(BASE_ENV, HOME=CALLER_HOME, PATH=SYSTEM_PATH)
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


#: The command that shows what the target got: its /proc status, then its environment.
PROBE = ["sh", "-c", "cat /proc/self/status; echo =====; env"]


class Probe:
    """What PROBE printed: status fields, ids, groups, environment."""

    def __init__(self, result: subprocess.CompletedProcess) -> None:
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 0, "rc=%s stderr=%s" % (result.returncode, result.stderr)
        status_text, _, env_text = result.stdout.partition("=====\n")
        self.status = parse_status(status_text)
        self.env = dict(line.split("=", 1) for line in env_text.splitlines() if "=" in line)

    @property
    def uids(self) -> list[int]:
        return [int(field) for field in self.status["Uid"].split()]

    @property
    def gids(self) -> list[int]:
        return [int(field) for field in self.status["Gid"].split()]

    @property
    def uid(self) -> int:
        assert len(set(self.uids)) == 1, "real, effective, saved and fs uids differ: %s" % self.uids
        return self.uids[0]

    @property
    def gid(self) -> int:
        assert len(set(self.gids)) == 1, "real, effective, saved and fs gids differ: %s" % self.gids
        return self.gids[0]

    @property
    def groups(self) -> list[int]:
        return sorted(int(field) for field in self.status["Groups"].split())

    def cap(self, name: str) -> int:
        return int(self.status[name], 16)


def parse_status(text: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]
