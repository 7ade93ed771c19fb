"""pyinit's own --user, --groups, --no-new-privs, --clear-caps: supervised and `pyinit exec`.

Against fixture /etc/passwd and /etc/group (tests/privs.py); the caller is root with
supplementary groups 4 and 27 and HOME=/omg/nowhere unless a test says otherwise.  Everything is
read from the target's /proc/self/status.
"""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import pytest

from privs import ALL_GIDS, PROBE, Fixture, Probe, needs_nobody_python, one_line, parse_status
from pyinit.cparse import strtol
from pyinit.personalities.gosu import go_atoi
from pyinit.personalities.pyinit import is_number
from support import sigign, signal_mask

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]


@pytest.fixture
def fixture(tmp_path):
    return Fixture(tmp_path)


def probe(fixture, args, **kwargs):
    return Probe(fixture.run([*args, "--", *PROBE], **kwargs))


# --- who the program becomes ------------------------------------------------------------------

INITGROUPS = [
    # (spec, uid, gid, groups, HOME): initgroups semantics -- the primary gid and every group
    # that lists the user; an explicit group replaces them with itself.
    ("games", 5, 60, [60, 100], "/usr/games"),
    ("5", 5, 60, [60, 100], "/usr/games"),
    ("nobody", 65534, 65534, ALL_GIDS, "/nonexistent"),
    ("root", 0, 0, [0], "/root"),
    ("+0", 0, 0, [0], "/root"),
    ("games:daemon", 5, 1, [1], "/usr/games"),
    ("games:1000", 5, 1000, [1000], "/usr/games"),
    (":daemon", 0, 1, [1], "/root"),
    # no passwd entry: the uid's own gid, not the caller's 0
    ("1000", 1000, 1000, [1000], "/"),
    ("1000:0", 1000, 0, [0], "/"),
    # a number never matches a name: the user *named* 2000 has uid 3000
    ("2000", 2000, 2000, [2000], "/"),
    # an empty home field: /
    ("homeless", 2001, 2001, [2001], "/"),
]


@pytest.mark.parametrize("mode", ["supervised", "exec"])
@pytest.mark.parametrize(("spec", "uid", "gid", "groups", "home"), INITGROUPS, ids=[i[0] for i in INITGROUPS])
def test_user_spec_gives_ids_groups_and_home(fixture, mode, spec, uid, gid, groups, home):
    args = ["--user", spec] if mode == "supervised" else ["exec", "--user", spec]
    target = probe(fixture, args)
    assert (target.uid, target.gid, target.groups, target.env["HOME"]) == (uid, gid, groups, home)
    # after the switch nothing of root's is left
    if uid != 0:
        assert [target.cap(name) for name in ("CapPrm", "CapEff", "CapAmb")] == [0, 0, 0]


def test_caller_groups_never_leak(fixture):
    for args in (["--user", "games"], ["--user", "games:daemon"], ["--user", "1000"], ["--user", "0"]):
        assert not {4, 27} & set(probe(fixture, args).groups), args


@pytest.mark.parametrize(
    ("args", "uid", "gid", "groups"),
    [
        (["--user", "games", "--groups", "users,27"], 5, 60, [27, 100]),
        (["--user", "games", "--groups", ""], 5, 60, []),
        (["--user", "games:daemon", "--groups", "sudo"], 5, 1, [27]),
        (["--groups", "daemon, 5000"], 0, 0, [1, 5000]),  # the uid and gid stay root's
    ],
    ids=["names-and-numbers", "empty-is-none", "with-explicit-group", "without-user"],
)
def test_groups_option_sets_the_supplementary_groups_exactly(fixture, args, uid, gid, groups):
    target = probe(fixture, args)
    assert (target.uid, target.gid, target.groups) == (uid, gid, groups)


def test_supervisor_stays_root_while_the_program_runs_as_the_user(fixture):
    script = "grep -E '^(Uid|Gid|Groups):' /proc/self/status /proc/$PPID/status"
    result = fixture.run(["--user", "games", "--", "sh", "-c", script])
    assert result.returncode == 0, result.stderr
    mine = parse_status("\n".join(line.split(":", 1)[1] for line in result.stdout.splitlines()[:3]))
    pyinit = parse_status("\n".join(line.split(":", 1)[1] for line in result.stdout.splitlines()[3:]))
    assert (mine["Uid"].split(), mine["Gid"].split(), mine["Groups"].split()) == (
        ["5"] * 4,
        ["60"] * 4,
        ["60", "100"],
    )
    assert (pyinit["Uid"].split(), pyinit["Groups"].split()) == (["0"] * 4, ["4", "27"])


def test_exec_mode_keeps_the_pid(fixture):
    fixture.assert_execs_in_place(["exec", "--user", "nobody", "--", "sh", "-c", "echo $$"])


def test_words_after_the_command_are_the_commands_own_in_exec_mode(fixture):
    # no `--`: option parsing stops at the command, so `-h` is id's (pysu gets this wrong)
    result = fixture.run(["exec", "--user", "nobody", "sh", "-c", 'echo "$@"', "sh", "-h", "--user"])
    assert (result.returncode, result.stdout) == (0, "-h --user\n")


def test_exit_status_is_the_programs(fixture):
    assert fixture.run(["--user", "games", "--", "sh", "-c", "exit 7"]).returncode == 7
    assert fixture.run(["exec", "--user", "games", "--", "sh", "-c", "exit 7"]).returncode == 7


def test_user_comes_from_the_environment_too(fixture):
    target = Probe(fixture.run(["--", *PROBE], env={"PYINIT_USER": "games:daemon"}))
    assert (target.uid, target.gid, target.groups) == (5, 1, [1])


# --- HOME, USER, LOGNAME ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "given", "expected"),
    [
        # unset, or still naming the caller (root): the target's name
        ("games", {"USER": None, "LOGNAME": None}, {"USER": "games", "LOGNAME": "games"}),
        ("games", {"USER": "root", "LOGNAME": "root"}, {"USER": "games", "LOGNAME": "games"}),
        # set to someone else: set on purpose, kept
        ("games", {"USER": "deploy", "LOGNAME": None}, {"USER": "deploy", "LOGNAME": "games"}),
        # no passwd entry: a USER naming the caller would lie, so it goes
        ("1000", {"USER": "root", "LOGNAME": "root"}, {"USER": None, "LOGNAME": None}),
        ("1000", {"USER": "deploy", "LOGNAME": None}, {"USER": "deploy", "LOGNAME": None}),
        # :group keeps the caller's user
        (":daemon", {"USER": "root", "LOGNAME": None}, {"USER": "root", "LOGNAME": "root"}),
    ],
)
@pytest.mark.parametrize("mode", ["supervised", "exec"])
def test_user_and_logname_follow_the_target_unless_set_on_purpose(fixture, spec, given, expected, mode):
    prefix = ["exec"] if mode == "exec" else []
    target = probe(fixture, [*prefix, "--user", spec], env=given)
    assert {key: target.env.get(key) for key in expected} == expected


def test_home_is_always_the_targets(fixture):
    assert probe(fixture, ["--user", "games"], env={"HOME": "/custom"}).env["HOME"] == "/usr/games"
    assert probe(fixture, ["--user", "games"], env={"HOME": None}).env["HOME"] == "/usr/games"


def test_environment_is_untouched_without_user(fixture):
    target = probe(fixture, ["--groups", "daemon"], env={"USER": "root", "HOME": "/custom"})
    assert (target.env["USER"], target.env["HOME"]) == ("root", "/custom")


# --- no way back to root; no_new_privs; capabilities ----------------------------------------------

REGAIN = textwrap.dedent(
    """\
    import os
    for name, call in (("setuid", lambda: os.setuid(0)), ("setgid", lambda: os.setgid(0)),
                       ("setgroups", lambda: os.setgroups([0])), ("seteuid", lambda: os.seteuid(0))):
        try:
            call()
        except PermissionError:
            print(name, "EPERM")
        else:
            print(name, "SUCCEEDED")
    print(os.getresuid(), os.getresgid(), os.getgroups())
    """
)


@pytest.mark.parametrize("mode", ["supervised", "exec"])
def test_the_program_cannot_become_root_again(fixture, mode):
    python = needs_nobody_python()
    args = ["--user", "games"] if mode == "supervised" else ["exec", "--user", "games"]
    result = fixture.run([*args, "--", python, "-c", REGAIN])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == ["setuid EPERM", "setgid EPERM", "setgroups EPERM", "seteuid EPERM"]
    assert lines[4] == "(5, 5, 5) (60, 60, 60) [60, 100]"


@pytest.mark.parametrize("mode", ["supervised", "exec"])
def test_an_unreadable_passwd_file_is_one_line_and_125(fixture, mode):
    fixture.passwd.chmod(0)  # the bind-mounted fixture, never the machine's file
    prefix = ["exec"] if mode == "exec" else []
    result = fixture.run([*prefix, "--user", "games", "--", "echo", "RAN"], caller="root-nodac")
    assert (result.returncode, result.stdout) == (125, "")
    assert one_line(result.stderr) == "[pyinit] error: cannot read /etc/passwd: Permission denied"


@pytest.mark.parametrize("mode", ["supervised", "exec"])
def test_a_switch_that_could_be_undone_is_refused_and_nothing_runs(fixture, mode):
    # With SECBIT_NO_SETUID_FIXUP, setuid() keeps the capabilities: the check after the switch
    # (setuid(0) must fail) catches it.
    prefix = ["exec"] if mode == "exec" else []
    result = fixture.run([*prefix, "--user", "games", "--", "echo", "RAN"], caller="root-nofixup")
    assert (result.returncode, result.stdout) == (125, "")
    assert "uid 5 could become root again after the switch" in one_line(result.stderr)


def test_the_top_of_the_id_range_is_accepted(fixture):
    target = probe(fixture, ["--user", "2147483647:2147483647"])
    assert (target.uid, target.gid, target.groups) == (2147483647, 2147483647, [2147483647])
    assert probe(fixture, ["exec", "--user", "2147483647"]).uid == 2147483647


def test_no_new_privs(fixture):
    assert probe(fixture, ["--user", "games", "--no-new-privs"]).status["NoNewPrivs"] == "1"
    assert probe(fixture, ["exec", "--no-new-privs"]).status["NoNewPrivs"] == "1"
    assert probe(fixture, ["--user", "games"]).status["NoNewPrivs"] == "0"


@pytest.mark.parametrize("spec", ["games", "root"])
def test_clear_caps_empties_inheritable_bounding_and_ambient(fixture, spec):
    target = probe(fixture, ["--user", spec, "--clear-caps"])
    caps = {name: target.cap(name) for name in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
    # root keeps uid 0 but, with an empty bounding set, no capability survives the exec
    assert caps == dict.fromkeys(caps, 0)


@pytest.mark.parametrize("mode", ["supervised", "exec"])
def test_clear_caps_empties_inheritable_and_ambient_sets_the_caller_filled(fixture, mode):
    prefix = ["exec"] if mode == "exec" else []
    kept = probe(fixture, [*prefix, "--user", "games"], caller="root-capsets")
    assert kept.cap("CapInh") != 0  # the caller's inheritable set reaches the program...
    cleared = probe(fixture, [*prefix, "--user", "games", "--clear-caps"], caller="root-capsets")
    caps = {name: cleared.cap(name) for name in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
    assert caps == dict.fromkeys(caps, 0)  # ...unless --clear-caps


def test_without_clear_caps_the_bounding_set_is_left_alone(fixture):
    ours = parse_status(Path("/proc/self/status").read_text())
    assert probe(fixture, ["--user", "games"]).cap("CapBnd") == int(ours["CapBnd"], 16)


# --- a caller that is not root ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["supervised", "exec"])
def test_non_root_caller_asking_for_another_user_is_refused(fixture, mode):
    prefix = ["exec"] if mode == "exec" else []
    result = fixture.run([*prefix, "--user", "games", "--", "echo", "RAN"], caller="nobody")
    assert (result.returncode, result.stdout) == (125, "")
    assert one_line(result.stderr) == (
        "[pyinit] error: --user 'games': pyinit runs as uid 65534, not root: "
        "it cannot switch to uid 5 gid 60 groups 60,100"
    )


def test_non_root_caller_asking_for_itself_just_runs(fixture):
    # setpriv --init-groups gave the caller exactly nobody's initgroups list
    target = Probe(fixture.run(["exec", "--user", "nobody", "--", *PROBE], caller="nobody"))
    assert (target.uid, target.gid, target.groups) == (65534, 65534, ALL_GIDS)
    assert target.env["HOME"] == "/nonexistent"


def test_non_root_caller_cannot_clear_caps(fixture):
    result = fixture.run(["--clear-caps", "--", "echo", "RAN"], caller="nobody")
    assert (result.returncode, result.stdout) == (125, "")
    assert "--clear-caps" in one_line(result.stderr) and "not root" in result.stderr


# --- bad input: one line, exit 125, nothing run ---------------------------------------------------

BAD = [
    (["--user", "bogus"], {}, "--user 'bogus': no user named 'bogus' in /etc/passwd"),
    (["--user", "0day"], {}, "--user '0day': no user named '0day' in /etc/passwd"),
    (["--user", "1_000"], {}, "--user '1_000': no user named '1_000' in /etc/passwd"),
    (["--user", " 0"], {}, "--user ' 0': no user named ' 0' in /etc/passwd"),
    (["--user", "games:bogus"], {}, "--user 'games:bogus': no group named 'bogus' in /etc/group"),
    (["--groups", "users,bogus"], {}, "--groups: no group named 'bogus' in /etc/group"),
    (["--user", ""], {}, "--user: empty user spec: give a user name or uid (and :group)"),
    (["--user", ":"], {}, "--user: empty user spec: give a user name or uid (and :group)"),
    ([], {"PYINIT_USER": ""}, "--user: empty user spec: give a user name or uid (and :group)"),
    (["--user", "-1"], {}, "--user '-1': uid -1 is out of range 0-2147483647"),
    (["--user", "4294967295"], {}, "--user '4294967295': uid 4294967295 is out of range 0-2147483647"),
    (["--user", "0:2147483648"], {}, "--user '0:2147483648': gid 2147483648 is out of range 0-2147483647"),
    (["--groups", "-5"], {}, "--groups: gid -5 is out of range 0-2147483647"),
    (["--user", "0:0:0"], {}, "--user '0:0:0': expected user[:group], with one ':' at most"),
]


@pytest.mark.parametrize("mode", ["supervised", "exec"])
@pytest.mark.parametrize(("args", "env", "line"), BAD, ids=[repr(args) for args, _, _ in BAD])
def test_bad_input_is_one_line_exit_125_and_runs_nothing(fixture, mode, args, env, line):
    prefix = ["exec"] if mode == "exec" else []
    result = fixture.run([*prefix, *args, "--", "echo", "RAN"], env=env)
    assert (result.returncode, result.stdout) == (125, "")
    assert one_line(result.stderr) == "[pyinit] error: " + line


def test_exec_without_command_is_a_usage_error(fixture):
    result = fixture.run(["exec", "--user", "nobody"])
    assert result.returncode == 125
    assert "no command given" in one_line(result.stderr)


@pytest.mark.parametrize("mode", ["supervised", "exec"])
def test_exec_failures_as_the_target_are_126_and_127(fixture, mode, tmp_path):
    prefix = ["exec"] if mode == "exec" else []
    result = fixture.run([*prefix, "--user", "games", "--", "no-such-command-xyz"])
    assert result.returncode == 127
    assert "no-such-command-xyz" in one_line(result.stderr)
    # root could run it, games cannot reach it (tmp_path is under a 0700 directory of root's)
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\necho RAN\n")
    tool.chmod(0o755)
    assert fixture.run([*prefix, "--user", "root", "--", str(tool)]).stdout == "RAN\n"
    result = fixture.run([*prefix, "--user", "games", "--", str(tool)])
    assert (result.returncode, result.stdout) == (126, "")
    assert "Permission denied" in one_line(result.stderr)


# --- the spec grammar's numbers, without root ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "numeric"),
    [
        ("0", True),
        ("+0", True),
        ("-0", True),
        ("007", True),
        ("-1", True),
        ("99999999999999999999", True),
        ("", False),
        ("+", False),
        ("1_000", False),
        (" 0", False),
        ("0 ", False),
        ("0x10", False),
        ("0day", False),
        ("\uff11\uff12\uff13", False),
        ("\u00b2", False),
    ],
)
def test_is_number_is_ascii_sign_and_digits(text, numeric):
    assert is_number(text) is numeric


def test_go_atoi_and_strtol():
    assert go_atoi("+007") == (7, True)
    assert go_atoi("-0") == (0, True)
    assert go_atoi("1_000") == (0, False)
    assert go_atoi("99999999999999999999") == ((1 << 63) - 1, False)
    assert strtol(" +5") == 5
    assert strtol("5 ") is None
    assert strtol("-") is None
    assert strtol("-99999999999999999999") == -(1 << 63)


def test_the_supervised_program_gets_the_callers_mask_and_ignores_but_default_sigpipe(fixture):
    command = ["--user", "games", "--", "cat", "/proc/self/status"]
    ignored = (signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR2, signal.SIGPIPE)
    result = fixture.run(command, blocked=(signal.SIGUSR1,), ignored=ignored)
    status = parse_status(result.stdout)
    assert int(status["SigBlk"], 16) == signal_mask(signal.SIGUSR1)
    # SIGPIPE's ignore cannot be told from CPython's own: it is reset (README)
    assert sigign(status["SigIgn"]) == signal_mask(signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR2)


@pytest.mark.parametrize("name", ["exec", "gosu", "su-exec"])
def test_exec_mode_clears_the_mask_and_keeps_only_hup_and_int_ignored(fixture, name):
    # As gosu (a Go program) does: only an inherited ignore of SIGHUP (nohup) or SIGINT (a
    # background job) survives; the mask is emptied.
    command = {
        "exec": ["exec", "--user", "games", "--"],
        "gosu": ["--compat", "gosu", "games"],
        "su-exec": ["--compat", "su-exec", "games"],
    }[name] + ["cat", "/proc/self/status"]
    ignored = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR2, signal.SIGCHLD, signal.SIGRTMIN)
    result = fixture.run(command, blocked=(signal.SIGUSR1, signal.SIGTERM), ignored=ignored)
    assert result.returncode == 0, result.stderr
    status = parse_status(result.stdout)
    assert int(status["SigBlk"], 16) == 0
    assert sigign(status["SigIgn"]) == signal_mask(signal.SIGHUP, signal.SIGINT)


def test_setsid_with_user(fixture):
    # field 6 of /proc/PID/stat is the session id: the program leads its own session
    script = "read -r pid comm state ppid pgrp sid rest < /proc/$$/stat; echo $pid $sid"
    result = fixture.run(["--setsid", "--user", "games", "--", "sh", "-c", script])
    assert result.returncode == 0, result.stderr
    pid, sid = result.stdout.split()
    assert pid == sid
