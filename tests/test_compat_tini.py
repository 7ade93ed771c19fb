"""pyinit under tini's command line: same flags, environment, texts and exit codes."""

import os
import signal
import subprocess

import pytest

from pyinit import license_text
from support import BASE_ENV, PYINIT, program, run, wait_until

TINI = ["--compat", "tini"]


def tini(args, **kwargs):
    return run(TINI + args, **kwargs)


def test_options_are_permuted_as_glibc_getopt_does_so_sh_c_needs_double_dash():
    result = tini(["sh", "-c", "exit 3"])
    assert result.returncode == 1
    assert result.stderr.startswith("tini: invalid option -- 'c'\n")
    assert "supervision of a valid init process" in result.stderr
    assert tini(["--", "sh", "-c", "exit 3"]).returncode == 3
    assert tini(["sh", "-c", "exit 3"], env={"POSIXLY_CORRECT": "1"}).returncode == 3


def test_version_only_as_the_sole_argument():
    result = tini(["--version"])
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("tini version 0.19.0")
    assert tini(["--version", "true"]).returncode == 1


def test_help_on_stdout_and_usage_errors_on_stderr():
    result = tini(["-h"])
    assert result.returncode == 0 and "more verbose" in result.stdout and result.stderr == ""
    result = tini([])
    assert result.returncode == 1 and "Usage: tini" in result.stderr
    result = tini(["-w"])
    assert result.returncode == 1 and "Usage: tini" in result.stderr


def test_license_is_pyinits_own():
    # tini prints its own LICENSE file; pyinit prints the license pyinit is under.
    result = tini(["-l"])
    assert (result.returncode, result.stdout) == (0, license_text())


@pytest.mark.parametrize(("value", "status"), [("3", 0), ("+3", 0), ("", 3)])  # '' reads as 0
def test_e_remaps_an_exit_code_to_0(value, status):
    assert tini(["-e", value, "--", "sh", "-c", "exit 3"]).returncode == status


@pytest.mark.parametrize("value", ["256", "3x", "-1", " ", "0x3"])
def test_e_refuses_what_strtol_does_not_read_whole(value):
    result = tini(["-e", value, "--", "true"])
    assert result.returncode == 1
    assert result.stderr.startswith("[FATAL tini (")
    assert result.stderr.endswith("] Not a valid option for -e: %s\n" % value)


def test_p_takes_only_tinis_exact_signal_names():
    assert tini(["-p", "SIGKILL", "true"]).returncode == 0
    for bad in ("KILL", "9", "sigkill", ""):
        result = tini(["-p", bad, "true"])
        assert result.returncode == 1 and result.stderr.endswith("Not a valid option for -p: %s\n" % bad)


def test_not_pid1_without_s_warns_that_reaping_wont_work():
    result = tini(["true"])
    assert "zombie reaping won't work" in result.stderr and result.stderr.startswith("[WARN  tini (")
    quiet = ((["-s", "true"], {}), (["true"], {"TINI_SUBREAPER": ""}), (["true"], {"TINI_VERBOSITY": "0"}))
    for args, env in quiet:
        assert "zombie reaping" not in tini(args, env=env).stderr


def test_verbosity_levels_go_to_stdout_and_tini_verbosity_replaces_v():
    result = tini(["-s", "-v", "true"])
    assert "[INFO  tini (" in result.stdout and "Spawned child process 'true' with pid" in result.stdout
    assert "Received SIGCHLD" not in result.stdout
    assert "Received SIGCHLD" in tini(["-s", "-vv", "true"]).stdout
    assert tini(["-s", "-vvv", "true"], env={"TINI_VERBOSITY": "0"}).stdout == ""
    assert "Received SIGCHLD" in tini(["-s", "true"], env={"TINI_VERBOSITY": "3"}).stdout


def test_exec_failures_use_tinis_texts_and_codes():
    result = tini(["-s", "no-such-cmd-xyz"])
    assert result.returncode == 127
    assert "] exec no-such-cmd-xyz failed: No such file or directory" in result.stderr
    assert result.stderr.startswith("[FATAL tini (")
    result = tini(["-s", "/etc"])
    assert result.returncode == 126 and "exec /etc failed: Permission denied" in result.stderr


def test_w_warns_for_each_reaped_zombie():
    result = tini(["-s", "-w", "--", "sh", "-c", "(sh -c 'exit 0' &); sleep 0.5"])  # an orphan
    assert "Reaped zombie process with pid=" in result.stderr


@pytest.mark.timeout(60)
def test_exits_at_once_when_the_main_child_exits_leaving_the_rest(start_init):
    init = start_init(TINI + ["-s", "--", "sh", "-c", "sleep 30 & exit 5"], pid1=False)
    assert init.wait(timeout=20) == 5


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("args", "env", "group"),
    [([], {}, False), (["-g"], {}, True), ([], {"TINI_KILL_PROCESS_GROUP": "0"}, True)],
)
def test_g_forwards_to_the_process_group(start_init, tmp_path, args, env, group):
    record = tmp_path / "signals"
    init = start_init(
        TINI + ["-s", *args, "--", *program("recorder", str(record), "--grandchild")], pid1=False, env=env
    )
    init.wait_for_output("ready")
    init.send(signal.SIGUSR1)
    wait_until(lambda: record.exists() and "program 10" in record.read_text())
    init.send(signal.SIGUSR2)
    wait_until(lambda: "program 12" in record.read_text())
    assert ("grandchild 10" in record.read_text()) == group


@pytest.mark.timeout(60)
def test_tini_never_escalates_a_program_that_ignores_sigterm(start_init):
    init = start_init(TINI + ["--", "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"])
    init.wait_for_output("ready")
    init.send(signal.SIGTERM)
    with pytest.raises(AssertionError):
        wait_until(lambda: init.proc.poll() is not None, timeout=2)


def test_called_by_the_name_tini_it_speaks_tinis_command_line(tmp_path):
    script = os.path.join(os.path.dirname(PYINIT[0]), "pyinit")
    if not os.path.exists(script):
        pytest.skip("the pyinit console script is not installed next to %s" % PYINIT[0])
    link = tmp_path / "tini"
    link.symlink_to(script)
    result = subprocess.run(
        [str(link), "--version"], capture_output=True, text=True, env=BASE_ENV, timeout=60
    )
    assert result.returncode == 0
    assert result.stdout.startswith("tini version")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pyinit-tini", "tini version 0.19.0"),
        ("pyinit-dumb-init", "dumb-init v1.2.5"),
        ("pyinit-gosu", "1.19"),
    ],
)
def test_the_console_scripts_speak_their_tools_command_lines(name, expected):
    script = os.path.join(os.path.dirname(PYINIT[0]), name)
    if not os.path.exists(script):
        pytest.skip("the %s console script is not installed next to %s" % (name, PYINIT[0]))
    result = subprocess.run([script, "--version"], capture_output=True, text=True, env=BASE_ENV, timeout=60)
    assert result.returncode == 0
    assert (result.stdout + result.stderr).startswith(expected)


def test_compat_takes_its_value_after_an_equals_sign_too():
    for form in (["--compat=tini"], ["--compat", "tini"]):
        result = run([*form, "--version"])
        assert (result.returncode, result.stdout.startswith("tini version")) == (0, True), form
