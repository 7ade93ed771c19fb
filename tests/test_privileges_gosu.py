"""The gosu personality: gosu 1.19's behaviour, item by item (gosu.md §6), and gosu's own suite.

Asserted from the target's /proc/self/status, not from id(1).  The caller is root with
supplementary groups 4 and 27 (which must never reach the target) and HOME=/omg/nowhere, unless
a test says otherwise.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from privs import (
    ALL_GIDS,
    CALLER_HOME,
    PROBE,
    ROOT_PYTHON,
    Fixture,
    Probe,
    environment,
    one_line,
    parse_status,
)
from support import BASE_ENV, sigign

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]

GOSU = ["--compat", "gosu"]


@pytest.fixture
def fixture(tmp_path):
    return Fixture(tmp_path)


def gosu(fixture, spec, *command, **kwargs):
    return fixture.run([*GOSU, spec, *command], **kwargs)


def probe(fixture, spec, **kwargs):
    return Probe(gosu(fixture, spec, *PROBE, **kwargs))


# --- §6 items 1-11: who the target becomes -----------------------------------------------------

NOBODY = (65534, 65534, ALL_GIDS, "/nonexistent")

SUCCESS = [
    # 1: the user's entry; groups are the groups that list the user (root: none)
    ("0", (0, 0, [], "/root")),
    ("root", (0, 0, [], "/root")),
    ("0:", (0, 0, [], "/root")),
    ("root:", (0, 0, [], "/root")),
    # 2: an explicit group clears the supplementary groups
    ("0:0", (0, 0, [], "/root")),
    ("0:root", (0, 0, [], "/root")),
    ("root:0", (0, 0, [], "/root")),
    ("root:root", (0, 0, [], "/root")),
    # 3: the primary gid (60) is not added: gosu's rule
    ("games", (5, 60, [100], "/usr/games")),
    # 4
    ("games:daemon", (5, 1, [], "/usr/games")),
    # 5: no entry: the caller's gid
    ("1000", (1000, 0, [], "/")),
    # 6
    ("1000:1000", (1000, 1000, [], "/")),
    ("1000:root", (1000, 0, [], "/")),
    ("1000:daemon", (1000, 1, [], "/")),
    # 7
    ("0:1000", (0, 1000, [], "/root")),
    ("root:1000", (0, 1000, [], "/root")),
    # 8: '' is the caller's own entry; ':g' the caller with group g
    ("", (0, 0, [], "/root")),
    (":0", (0, 0, [], "/root")),
    (":daemon", (0, 1, [], "/root")),
    # 9
    ("65534", NOBODY),
    ("nobody", NOBODY),
    # 10: a number never matches a name (the user named 2000 has uid 3000)
    ("2000", (2000, 0, [], "/")),
    # 11: optional sign and leading zeros are numbers; a third field is ignored (gosu 1.19)
    ("+0", (0, 0, [], "/root")),
    ("-0", (0, 0, [], "/root")),
    ("007", (7, 0, [], "/")),
    ("0:0:0", (0, 0, [], "/root")),
    ("games:daemon:whatever", (5, 1, [], "/usr/games")),
]


@pytest.mark.parametrize(("spec", "expected"), SUCCESS, ids=[repr(spec) for spec, _ in SUCCESS])
def test_target_credentials_groups_and_home(fixture, spec, expected):
    uid, gid, groups, home = expected
    target = probe(fixture, spec)
    assert (target.uid, target.gid, target.groups, target.env["HOME"]) == (uid, gid, groups, home)


def test_caller_groups_never_reach_the_target(fixture):
    for spec in ("games", "games:daemon", "1000", "0"):
        assert not {4, 27} & set(probe(fixture, spec).groups), spec


# --- §6 items 12-16: bad specs, one line, exit 1, nothing run ---------------------------------


def unknown_user(spec, name):
    return "error: failed switching to '%s': unable to find user %s: no matching entries in passwd file" % (
        spec,
        name,
    )


def unknown_group(spec, name):
    return "error: failed switching to '%s': unable to find group %s: no matching entries in group file" % (
        spec,
        name,
    )


def out_of_range(spec):
    return "error: failed switching to '%s': uids and gids must be in range 0-2147483647" % spec


BAD_SPECS = [
    # 12: not ^[+-]?[0-9]+$, so names (Python's int() would take the first three)
    ("1_000", unknown_user("1_000", "1_000")),
    (" 0", unknown_user(" 0", " 0")),
    ("\uff11\uff12\uff13", unknown_user("\uff11\uff12\uff13", "\uff11\uff12\uff13")),
    ("0x10", unknown_user("0x10", "0x10")),
    # 13
    ("-1", out_of_range("-1")),
    ("2147483648", out_of_range("2147483648")),
    ("4294967295", out_of_range("4294967295")),
    ("0:4294967295", out_of_range("0:4294967295")),
    # 14
    ("bogus", unknown_user("bogus", "bogus")),
    ("0day", unknown_user("0day", "0day")),
    # 15
    ("0:bogus", unknown_group("0:bogus", "bogus")),
    ("0:0day", unknown_group("0:0day", "0day")),
    # beyond int64 is not a number for Go's Atoi either: a name
    ("99999999999999999999", unknown_user("99999999999999999999", "99999999999999999999")),
]


@pytest.mark.parametrize(("spec", "line"), BAD_SPECS, ids=[repr(spec) for spec, _ in BAD_SPECS])
def test_bad_spec_is_one_line_exit_1_and_runs_nothing(fixture, spec, line):
    result = gosu(fixture, spec, "echo", "RAN")
    assert (result.returncode, result.stdout) == (1, "")
    assert one_line(result.stderr) == line


def test_empty_passwd_file_names_fail_numbers_and_the_caller_work(tmp_path):
    fixture = Fixture(tmp_path, passwd="")
    result = gosu(fixture, "nobody", "echo", "RAN")
    assert (result.returncode, result.stdout) == (1, "")
    assert one_line(result.stderr) == unknown_user("nobody", "nobody")
    target = probe(fixture, "1000")
    assert (target.uid, target.gid, target.groups, target.env["HOME"]) == (1000, 0, [], "/")
    target = probe(fixture, "")
    assert (target.uid, target.gid, target.groups, target.env["HOME"]) == (0, 0, [], "/")


# --- §6 items 17-20: the command line -----------------------------------------------------------


@pytest.mark.parametrize("argv", [[], ["nobody"]], ids=["no-args", "spec-only"])
def test_missing_command_prints_usage_on_stderr_exit_1(fixture, argv):
    result = fixture.run(GOSU + argv)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("Usage: gosu user-spec command [args]\n")


@pytest.mark.parametrize("flag", ["--help", "-h", "-?"])
def test_help_as_first_word_prints_usage_on_stdout_exit_0(fixture, flag):
    result = fixture.run([*GOSU, flag])
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("Usage: gosu user-spec command [args]\n")


@pytest.mark.parametrize("flag", ["--version", "-v"])
def test_version_as_first_word_exit_0(fixture, flag):
    result = fixture.run([*GOSU, flag])
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("1.19 (pyinit ")


def test_words_after_the_command_are_the_commands_own(fixture):
    result = gosu(fixture, "nobody", "id", "-h")  # id's invalid option, not gosu's help
    assert result.returncode == 1
    assert "invalid option" in result.stderr and "Usage: gosu" not in result.stdout + result.stderr


def test_there_is_no_double_dash(fixture):
    result = gosu(fixture, "root", "echo", "--", "hi")
    assert (result.returncode, result.stdout) == (0, "-- hi\n")
    result = fixture.run([*GOSU, "--", "root", "id"])
    assert result.returncode == 1
    assert one_line(result.stderr) == unknown_user("--", "--")


# --- §6 items 21-22: finding and running the command --------------------------------------------


def test_command_not_in_path(fixture):
    result = gosu(fixture, "nobody", "nonexistent-cmd")
    assert result.returncode == 1
    assert one_line(result.stderr) == 'error: exec: "nonexistent-cmd": executable file not found in $PATH'


def test_missing_path_is_a_stat_error(fixture):
    result = gosu(fixture, "nobody", "/nonexistent")
    assert result.returncode == 1
    expected = 'error: exec: "/nonexistent": stat /nonexistent: no such file or directory'
    assert one_line(result.stderr) == expected


@pytest.mark.parametrize("path", ["/etc/passwd", "/tmp"])
def test_not_executable_or_directory_is_permission_denied(fixture, path):
    result = gosu(fixture, "root", path)
    assert result.returncode == 1
    assert one_line(result.stderr) == 'error: exec: "%s": permission denied' % path


def test_garbage_executable_has_no_sh_fallback(fixture, tmp_path):
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"echo RAN\n\x00\x01\x02")
    garbage.chmod(0o755)
    result = gosu(fixture, "root", str(garbage))
    assert (result.returncode, result.stdout) == (1, "")
    assert one_line(result.stderr) == "error: exec failed: exec format error"


def test_path_is_searched_after_the_switch(fixture, tmp_path):
    # tmp_path is under a 0700 directory of root's: root finds the command, nobody cannot.
    hidden = tmp_path / "bin"
    hidden.mkdir()
    tool = hidden / "hidden-tool"
    tool.write_text("#!/bin/sh\necho found\n")
    tool.chmod(0o755)
    env = {"PATH": "%s:/usr/bin:/bin" % hidden}
    assert gosu(fixture, "root", "hidden-tool", env=env).stdout == "found\n"
    result = gosu(fixture, "nobody", "hidden-tool", env=env)
    assert result.returncode == 1
    assert one_line(result.stderr) == 'error: exec: "hidden-tool": executable file not found in $PATH'


def test_relative_path_entry_hit_is_refused(fixture, tmp_path):
    tool = tmp_path / "local-tool"
    tool.write_text("#!/bin/sh\necho RAN\n")
    tool.chmod(0o755)
    result = gosu(fixture, "root", "local-tool", env={"PATH": ".:/usr/bin:/bin"}, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (1, "")
    assert one_line(result.stderr) == (
        'error: exec: "local-tool": cannot run executable found relative to current directory'
    )


# --- §6 item 23: a caller that is not root ---------------------------------------------------------


def test_non_root_caller_fails_at_setgroups(fixture):
    result = gosu(fixture, "root", "echo", "RAN", caller="nobody")
    assert (result.returncode, result.stdout) == (1, "")
    assert one_line(result.stderr) == "error: failed switching to 'root': operation not permitted"


def test_gosu_under_gosu_cannot_get_root_back(fixture):
    inner = fixture.command([*GOSU, "root", "echo", "RAN"], caller="nobody")
    python_and_args = inner[inner.index("-m") - 1 :]  # the inner pyinit, run by the nobody target
    result = gosu(fixture, "nobody", *python_and_args)
    assert (result.returncode, result.stdout) == (1, "")
    assert one_line(result.stderr) == "error: failed switching to 'root': operation not permitted"


# --- §6 items 24-27: environment and process state ------------------------------------------------


def test_home_is_always_replaced(fixture):
    assert probe(fixture, "homeless").env["HOME"] == ""  # an empty passwd field: HOME=
    assert probe(fixture, "1000").env["HOME"] == "/"
    assert probe(fixture, "nobody", env={"HOME": None}).env["HOME"] == "/nonexistent"


def test_only_home_changes(fixture, tmp_path):
    workdir = tmp_path  # games cannot reach it, but may stay in it (getcwd needs no access)
    stdin = tmp_path / "stdin"
    stdin.write_text("from the caller\n")
    keep = {"USER": "root", "LOGNAME": "root", "SHELL": "/bin/bash", "PATH": "/usr/bin:/bin"}
    script = "cat; cat /proc/self/status; pwd; echo =====; env"
    with open(stdin) as stdin_file:
        result = gosu(
            fixture,
            "games",
            "sh",
            "-c",
            script,
            env=keep,
            cwd=workdir,
            stdin=stdin_file,
            preexec_fn=lambda: os.umask(0o027),
        )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "from the caller"
    target = Probe(result)
    assert target.status["Umask"] == "0027"
    assert lines[lines.index("=====") - 1] == str(workdir)
    assert {key: target.env.get(key) for key in keep} == keep
    assert target.env["HOME"] == "/usr/games"
    # Nothing else added or changed (the shell adds only its own PWD, SHLVL, _).
    shells = ("PWD", "OLDPWD", "SHLVL", "_")
    given = {k: v for k, v in dict(environment(keep), HOME="/usr/games").items() if k not in shells}
    assert {k: v for k, v in target.env.items() if k not in shells} == given


def test_execs_in_place_same_pid(fixture):
    fixture.assert_execs_in_place([*GOSU, "nobody", "sh", "-c", "echo $$"])


def test_target_is_pid_1_and_alone_in_a_new_pid_namespace(fixture):
    script = "echo $$; for p in /proc/[0-9]*; do echo ${p#/proc/}; done"
    result = fixture.run([*GOSU, "nobody", "sh", "-c", script], pidns=True)
    assert result.returncode == 0, result.stderr
    pid, *listed = result.stdout.split()
    assert (pid, listed) == ("1", ["1"])


def test_signals_are_neither_ignored_nor_blocked(fixture):
    blocked = (signal.SIGUSR1, signal.SIGTERM)  # by the caller: gosu clears the mask
    result = gosu(fixture, "nobody", "cat", "/proc/self/status", blocked=blocked)
    status = parse_status(result.stdout)
    assert (sigign(status["SigIgn"]), int(status["SigBlk"], 16)) == (0, 0)


def test_sigpipe_kills_the_target_in_a_pipeline(fixture):
    command = " ".join("'%s'" % word for word in fixture.command([*GOSU, "nobody", "yes"]))
    result = subprocess.run(
        ["bash", "-c", "%s | head -1; exit ${PIPESTATUS[0]}" % command],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert (result.returncode, result.stdout) == (128 + signal.SIGPIPE, "y\n")


def test_non_root_target_has_no_capabilities_and_equal_ids(fixture):
    target = probe(fixture, "games")
    assert target.uids == [5] * 4 and target.gids == [60] * 4
    assert [target.cap(name) for name in ("CapPrm", "CapEff", "CapAmb")] == [0, 0, 0]
    # gosu leaves the bounding and inheritable sets alone (pyinit --clear-caps empties them)
    ours = parse_status(Path("/proc/self/status").read_text())
    assert target.cap("CapBnd") == int(ours["CapBnd"], 16)
    assert target.cap("CapInh") == int(ours["CapInh"], 16)
    assert target.status["NoNewPrivs"] == "0"


# --- the program name selects the personality; setuid installs are refused ------------------------


def test_gosu_program_name_selects_the_personality(fixture, tmp_path):
    script = tmp_path / "gosu"
    script.write_text("#!%s\nfrom pyinit.main import main\nmain()\n" % ROOT_PYTHON)
    script.chmod(0o755)
    command = fixture.command(["games", *PROBE])
    launcher = command.index(ROOT_PYTHON)
    command[launcher : launcher + 3] = [str(script)]  # `python -m pyinit` -> `gosu`
    result = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=60, cwd="/")
    target = Probe(result)
    assert (target.uid, target.gid, target.groups) == (5, 60, [100])


def test_setgid_interpreter_is_refused(tmp_path):
    system_python = os.path.realpath("/usr/bin/python3")
    if os.geteuid() != 0 or not os.path.exists(system_python):
        pytest.skip("needs root and /usr/bin/python3 to make a setgid copy of the interpreter")
    copy = tmp_path / "python-setgid"
    shutil.copyfile(system_python, copy)
    copy.chmod(0o2755)
    result = subprocess.run(
        [str(copy), "-m", "pyinit", *GOSU, "root", "echo", "RAN"],
        env=dict(BASE_ENV),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (1, "")
    line = one_line(result.stderr)
    assert line.startswith("error: gosu appears to be installed with the 'setgid' bit set")


# --- gosu's own suite (Dockerfile.test-*: 34 cases), for a root caller and for gosu's caller ------

# gosu's suite runs a setuid gosu as nobody: real uid nobody, effective root.  The expected ids
# are what `id -u`, `id -g` and `id -G` print (egid first); `$(...)` in gosu's expectations is
# the caller's view, hence the two columns.
CALLER_IDS = {
    "root": {"uid": 0, "gid": 0, "G": [0], "name": "root", "gname": "root", "Gn": ["root"]},
    "nobody-ruid": {
        "uid": 65534,
        "gid": 65534,
        "G": [65534, *ALL_GIDS[:-1]],
        "name": "nobody",
        "gname": "nogroup",
        "Gn": ["nogroup", "root", "daemon", "bin", "sys", "adm", "tty", "sudo", "games", "users"],
    },
}
SUITE_IDS = [
    ("0", "0:0:{root_G}", "root:root:{root_Gn}"),
    ("0:0", "0:0:0", "root:root:root"),
    ("root", "0:0:{root_G}", "root:root:{root_Gn}"),
    ("0:root", "0:0:0", "root:root:root"),
    ("root:0", "0:0:0", "root:root:root"),
    ("root:root", "0:0:0", "root:root:root"),
    ("1000", "1000:{gid}:{gid}", "1000:{gname}:{gname}"),
    ("0:1000", "0:1000:1000", "root:1000:1000"),
    ("1000:1000", "1000:1000:1000", "1000:1000:1000"),
    ("root:1000", "0:1000:1000", "root:1000:1000"),
    ("1000:root", "1000:0:0", "1000:root:root"),
    ("1000:daemon", "1000:1:1", "1000:daemon:daemon"),
    ("games", "5:60:60 100", "games:games:games users"),
    ("games:daemon", "5:1:1", "games:daemon:daemon"),
    ("0:", "0:0:{root_G}", "root:root:{root_Gn}"),
    ("", "{uid}:{gid}:{G}", "{name}:{gname}:{Gn}"),
    (":0", "{uid}:0:0", "{name}:root:root"),
]
SUITE_HOMES = [
    ("0", "/root"),
    ("0:0", "/root"),
    ("root", "/root"),
    ("0:root", "/root"),
    ("root:0", "/root"),
    ("root:root", "/root"),
    ("0:1000", "/root"),
    ("1000", "/"),
    ("1000:0", "/"),
    ("1000:root", "/"),
    ("games", "/usr/games"),
    ("games:daemon", "/usr/games"),
    ("root:1000", "/root"),
]
SUITE_FAILURES = ["bogus", "0day", "0:bogus", "0:0day"]
USER_NAMES = {0: "root", 1: "daemon", 2: "bin", 3: "sys", 5: "games", 65534: "nobody"}
GROUP_NAMES = {0: "root", 1: "daemon", 2: "bin", 3: "sys", 4: "adm", 5: "tty", 27: "sudo", 60: "games"}
GROUP_NAMES.update({100: "users", 65534: "nogroup"})
CALLER_PARAMS = pytest.mark.parametrize("caller", ["root", "nobody-ruid"])


def id_view(target):
    """(`id -u`, `id -g`, `id -G`) and the -n variants, computed from /proc status."""
    uid, gid = target.uid, target.gid
    listed = [gid] + [g for g in target.groups if g != gid]
    ids = "%d:%d:%s" % (uid, gid, " ".join(str(g) for g in listed))
    names = "%s:%s:%s" % (
        USER_NAMES.get(uid, uid),
        GROUP_NAMES.get(gid, gid),
        " ".join(str(GROUP_NAMES.get(g, g)) for g in listed),
    )
    return ids, names


def expand(template, caller):
    values = dict(CALLER_IDS[caller])
    values.update(root_G="0", root_Gn="root")
    values["G"] = " ".join(str(g) for g in values["G"])
    values["Gn"] = " ".join(values["Gn"])
    return template.format(**values)


def sorted_groups(view):
    # compare `id -G` as gosu's suite sees it: egid first, then the rest (file order may differ)
    head, _, rest = view.rpartition(":")
    first, *others = rest.split()
    return head, first, sorted(others)


@CALLER_PARAMS
@pytest.mark.parametrize(("spec", "ids", "names"), SUITE_IDS, ids=[repr(s) for s, _, _ in SUITE_IDS])
def test_gosu_suite_ids_and_names(fixture, caller, spec, ids, names):
    target = probe(fixture, spec, caller=caller)
    got_ids, got_names = id_view(target)
    assert sorted_groups(got_ids) == sorted_groups(expand(ids, caller))
    assert sorted_groups(got_names) == sorted_groups(expand(names, caller))


@CALLER_PARAMS
@pytest.mark.parametrize(("spec", "home"), SUITE_HOMES, ids=[repr(s) for s, _ in SUITE_HOMES])
def test_gosu_suite_home(fixture, caller, spec, home):
    env = {"HOME": "/omg/really/gosu/nowhere"}
    result = gosu(fixture, spec, "env", caller=caller, env=env)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if line.startswith("HOME=")] == ["HOME=" + home]


@CALLER_PARAMS
@pytest.mark.parametrize("spec", SUITE_FAILURES)
def test_gosu_suite_failures(fixture, caller, spec):
    result = gosu(fixture, spec, "true", caller=caller)
    assert result.returncode != 0
    assert one_line(result.stderr).startswith("error: failed switching to '%s': unable to find " % spec)


def test_caller_home_is_not_passed_on(fixture):
    assert CALLER_HOME not in gosu(fixture, "root", "env").stdout
