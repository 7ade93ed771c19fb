"""The su-exec personality: ncopa/su-exec 0.3's rules (strtol numbers, NSS, getgrouplist groups).

Against fixture /etc/passwd and /etc/group (NSS reads them through the bind mounts); the caller is
root with supplementary groups 4 and 27.
"""

from __future__ import annotations

import signal

import pytest

from privs import PROBE, Fixture, Probe, one_line, parse_status
from support import sigign

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]

SU_EXEC = ["--compat", "su-exec"]


@pytest.fixture
def fixture(tmp_path):
    return Fixture(tmp_path)


def su_exec(fixture, spec, *command, **kwargs):
    return fixture.run([*SU_EXEC, spec, *command], **kwargs)


CASES = [
    # getgrouplist: the primary gid and the groups listing the user
    ("games", 5, 60, [60, 100], "/usr/games"),
    ("+5", 5, 60, [60, 100], "/usr/games"),  # a number finds its entry with getpwuid
    ("", 0, 0, [0], "/root"),  # the caller
    # an explicit group, or no entry: setgroups(1, &gid)
    ("games:daemon", 5, 1, [1], "/usr/games"),
    (":daemon", 0, 1, [1], "/root"),
    ("1000", 1000, 0, [0], "/"),  # the caller's gid
    ("2000", 2000, 0, [0], "/"),  # a number, not the user named 2000
    (" 0", 0, 0, [0], "/root"),  # strtol skips leading blanks
    ("-2", 4294967294, 0, [0], "/"),  # strtol, then uid_t
]


@pytest.mark.parametrize(("spec", "uid", "gid", "groups", "home"), CASES, ids=[repr(c[0]) for c in CASES])
def test_su_exec_rules(fixture, spec, uid, gid, groups, home):
    target = Probe(su_exec(fixture, spec, *PROBE))
    assert (target.uid, target.gid, target.groups, target.env["HOME"]) == (uid, gid, groups, home)


@pytest.mark.parametrize(
    ("spec", "line"),
    [
        ("bogus", "su-exec: getpwnam(bogus): Success"),
        ("0:bogus", "su-exec: getgrnam(bogus): Success"),
        ("-1", "su-exec: setuid(-1): Invalid argument"),
    ],
)
def test_failures_are_one_err_line_exit_1(fixture, spec, line):
    result = su_exec(fixture, spec, "echo", "RAN")
    assert (result.returncode, result.stdout) == (1, "")
    assert one_line(result.stderr) == line


@pytest.mark.parametrize("argv", [[], ["nobody"], ["--help"]])
def test_usage_on_stdout_exit_1(fixture, argv):
    result = fixture.run(SU_EXEC + argv)
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout == "Usage: su-exec user-spec command [args]\n"


def test_words_after_the_command_are_the_commands_own(fixture):
    result = su_exec(fixture, "nobody", "id", "-h")
    assert result.returncode == 1 and "invalid option" in result.stderr


def test_exec_failure(fixture):
    result = su_exec(fixture, "nobody", "no-such-command-xyz")
    assert (result.returncode, result.stdout) == (1, "")
    assert one_line(result.stderr) == "su-exec: no-such-command-xyz: No such file or directory"


def test_file_without_shebang_runs_through_sh_as_execvp_does(fixture, tmp_path):
    script = tmp_path / "noshebang"
    script.write_text("echo ran by sh\n")
    script.chmod(0o755)
    assert su_exec(fixture, "root", str(script)).stdout == "ran by sh\n"


def test_non_root_caller(fixture):
    result = su_exec(fixture, "root", "echo", "RAN", caller="nobody")
    assert (result.returncode, result.stdout) == (1, "")
    assert one_line(result.stderr) == "su-exec: setgroups: Operation not permitted"


def test_execs_in_place(fixture):
    fixture.assert_execs_in_place([*SU_EXEC, "nobody", "sh", "-c", "echo $$"])


def test_the_mask_is_cleared_and_sigpipe_is_default(fixture):
    # su-exec (C) would pass on the mask it was given; pyinit's exec mode clears it under every
    # name (README), and Python's own ignore of SIGPIPE never reaches the program.
    result = su_exec(fixture, "nobody", "cat", "/proc/self/status", blocked=(signal.SIGUSR1,))
    status = parse_status(result.stdout)
    assert int(status["SigBlk"], 16) == 0
    assert sigign(status["SigIgn"]) == 0
