"""Bad input: one clear line on stderr and a documented exit code, never a traceback."""

import os
import stat
import subprocess

import pytest

from support import BASE_ENV, PYINIT, run


def one_line(stderr):
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_command_not_found_exits_127_naming_it():
    result = run(["no-such-command-xyz"])
    assert result.returncode == 127
    line = one_line(result.stderr)
    assert "no-such-command-xyz" in line and "not found" in line


def test_missing_path_exits_127():
    result = run(["/no/such/file"])
    assert result.returncode == 127
    assert "/no/such/file" in one_line(result.stderr)


def test_directory_is_not_executable_126():
    result = run(["/etc"])
    assert result.returncode == 126
    assert "'/etc'" in one_line(result.stderr) and "Permission denied" in result.stderr


def test_file_without_execute_permission_126(tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    result = run([str(script)])
    assert result.returncode == 126
    assert str(script) in one_line(result.stderr)


def test_script_without_shebang_runs_with_sh_as_execvp_does(tmp_path):
    script = tmp_path / "noshebang"
    script.write_text("exit 9\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    assert run([str(script)]).returncode == 9


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--yolo", "true"], {}, "unrecognized option '--yolo'"),
        (["-x", "true"], {}, "invalid option -- 'x'"),
        ([], {}, "no command given"),
        (["-v"], {}, "no command given"),
        (["--grace"], {}, "requires an argument"),
        (["--grace", "soon", "true"], {}, "--grace"),
        (["--grace", "-1", "true"], {}, "--grace"),
        (["--rewrite", "TERM", "true"], {}, "FROM:TO"),
        (["--rewrite", "TERM:BOGUS", "true"], {}, "TO part"),
        (["--rewrite", "KILL:TERM", "true"], {}, "SIGKILL"),
        (["--leftovers", "maybe", "true"], {}, "stop, leave or wait"),
        (["--log-format", "xml", "true"], {}, "text or json"),
        (["--help=yes", "true"], {}, "doesn't allow an argument"),
        (["--ver", "true"], {}, "ambiguous"),
        (["true"], {"PYINIT_GRACE": "abc"}, "PYINIT_GRACE"),
        (["true"], {"PYINIT_SINGLE_CHILD": "maybe"}, "PYINIT_SINGLE_CHILD"),
        (["true"], {"PYINIT_REWRITE": "15:99"}, "PYINIT_REWRITE"),
        (["true"], {"PYINIT_VERBOSITY": "lots"}, "PYINIT_VERBOSITY"),
        (["true"], {"PYINIT_VERBOSITY": "5"}, "expected a level 0-4"),
        (["true"], {"PYINIT_VERBOSITY": "-1"}, "expected a level 0-4"),
        (["true"], {"PYINIT_STOP_SIGNALS": "KILL"}, "SIGKILL cannot be a stop signal"),
        (["true"], {"PYINIT_STOP_SIGNALS": "TERM,STOP"}, "SIGSTOP cannot be a stop signal"),
        (["--stop-signals", "CHLD", "true"], {}, "SIGCHLD cannot be a stop signal"),
        (["--delay", "KILL:3", "true"], {}, "SIGKILL cannot be held back"),
    ],
)
def test_usage_errors_give_one_line_and_exit_125(args, env, expected):
    result = run(args, env=env)
    assert result.returncode == 125
    line = one_line(result.stderr)
    assert expected in line
    assert "--help" in line  # the hint


def test_help_and_version_exit_0_on_stdout():
    for flag in ("-h", "--help"):
        result = run([flag])
        assert result.returncode == 0 and "Usage: pyinit" in result.stdout and result.stderr == ""
    for flag in ("-V", "--version"):
        result = run([flag])
        assert result.returncode == 0 and result.stdout.startswith("pyinit ")


def test_help_to_an_unwritable_stdout_does_not_crash():
    with open(os.devnull, "rb") as read_only:  # every write to it fails with EBADF
        result = subprocess.run(
            PYINIT + ["--help"], stdout=read_only, stderr=subprocess.PIPE, text=True, env=BASE_ENV, timeout=60
        )
    assert result.returncode == 0 and result.stderr == ""


@pytest.mark.timeout(60)
def test_a_clean_run_is_silent_by_default_and_each_v_adds_prefixed_lines():
    quiet = run(["sh", "-c", "exit 3"])
    assert (quiet.returncode, quiet.stderr) == (3, "")
    info = run(["-v", "sh", "-c", "exit 3"]).stderr.splitlines()
    debug = run(["-vv", "sh", "-c", "exit 3"]).stderr.splitlines()
    assert info and all(line.startswith("[pyinit] ") for line in info + debug)
    assert "[pyinit] the program (pid %s) exited with status 3" % info[1].split()[-4] in info
    assert not any("received SIGCHLD" in line for line in info)
    assert any("received SIGCHLD" in line for line in debug)  # -vv: every signal, too
    # PYINIT_VERBOSITY is the level itself: 2 is info (-v), 3 debug (-vv)
    assert run(["sh", "-c", "exit 3"], env={"PYINIT_VERBOSITY": "2"}).stderr.count("\n") == len(info)
    assert run(["sh", "-c", "exit 3"], env={"PYINIT_VERBOSITY": "3"}).stderr.count("\n") == len(debug)
    assert run(["sh", "-c", "exit 3"], env={"PYINIT_VERBOSITY": "0"}).stderr == ""
