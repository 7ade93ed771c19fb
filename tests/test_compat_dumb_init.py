"""pyinit under dumb-init's command line: same flags, environment, texts, exit codes, and the
setsid-mode behaviour (session, group signals, job-control stops, SIGTERM to the group at exit)."""

import os
import re
import signal
import subprocess
import time

import psutil
import pytest

from support import BASE_ENV, PYINIT, proc_state, program, run, wait_until
from ttys import Terminal

DI = ["--compat", "dumb-init"]
USAGE = "Usage: dumb-init [option] program [args]\nTry dumb-init --help for full usage.\n"
REWRITE_HELP = (
    "Usage: -r option takes <signum>:<signum>, where <signum> is between 1 and 31.\n"
    "This option can be specified multiple times.\n"
    "Use --help for full usage.\n"
)


def di(args, **kwargs):
    return run(DI + args, **kwargs)


def kill_recorders(output: str) -> None:
    """Kill the recorders that outlive a test's pyinit, found by the "ready PID" each printed.

    A recorder catches every catchable signal, so one left in the group pyinit leaves behind at
    exit (dumb-init does not stop it) or in its own session (--setsid) lives on otherwise.
    """
    for pid in re.findall(r"^ready (\d+)\r?$", output, re.MULTILINE):
        try:
            recorder = psutil.Process(int(pid))
            if any(arg.endswith("recorder.py") for arg in recorder.cmdline()):
                recorder.kill()
        except psutil.NoSuchProcess:
            pass


def test_help_and_version_go_to_stderr_and_exit_0():
    for flag in ("-h", "--help", "--he"):
        result = di([flag])
        assert result.returncode == 0 and result.stdout == ""
        assert result.stderr.startswith("dumb-init v1.2.5\nUsage: dumb-init [option] command [[arg] ...]\n")
    for flag in ("-V", "--version"):
        assert di([flag]).stderr == "dumb-init v1.2.5\n"


def test_no_command_prints_the_two_line_usage():
    for args in ([], ["--"], ["-v", "--"]):
        result = di(args, env={"DUMB_INIT_DEBUG": "1"})
        assert result.returncode == 1
        assert result.stderr == USAGE


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--yolo", "true"], "dumb-init: unrecognized option '--yolo'\n"),
        (["-x", "true"], "dumb-init: invalid option -- 'x'\n"),
        (
            ["--ver", "true"],
            "dumb-init: option '--ver' is ambiguous; possibilities: '--verbose' '--version'\n",
        ),
        (["--help=1", "true"], "dumb-init: option '--help' doesn't allow an argument\n"),
        (["-r"], "dumb-init: option requires an argument -- 'r'\n"),
    ],
)
def test_getopt_errors_use_glibcs_texts(args, message):
    result = di(args)
    assert (result.returncode, result.stderr) == (1, message)


@pytest.mark.parametrize(
    "value", ["", "herp", "herp:derp", "15", "15::12", "15:derp", "0", "1:32", "32:1", "-1:2"]
)
def test_bad_rewrites_print_the_three_line_help(value):
    result = di(["-r", value, "echo", "hi"], env={"DUMB_INIT_DEBUG": "1"})
    assert (result.returncode, result.stderr, result.stdout) == (1, REWRITE_HELP, "")


def test_options_act_in_argv_order():
    assert di(["-V", "-r", "bad"]).returncode == 0
    assert di(["-r", "bad", "-V"]).stderr == REWRITE_HELP
    assert di(["-r", "15:3abc", "-r", " 15: 3", "true"]).returncode == 0  # sscanf's leniency


def test_exec_failure_is_one_line_and_exit_2():
    for args in (["/doesnotexist"], ["-c", "/doesnotexist"], ["--", "/doesnotexist"]):
        result = di(args)
        assert result.returncode == 2
        assert result.stderr == "[dumb-init] /doesnotexist: No such file or directory\n"


def test_verbose_single_child_prints_exactly_dumb_inits_debug_lines():
    result = di(["-v", "-c", "echo", "oh,", "hi"])
    assert (result.returncode, result.stdout) == (0, "oh, hi\n")
    assert re.fullmatch(
        r"\[dumb-init\] Child spawned with PID \d+\.\n"
        r"\[dumb-init\] Received signal 17\.\n"
        r"\[dumb-init\] A child with PID \d+ exited with exit status 0\.\n"
        r"\[dumb-init\] Forwarded signal 15 to children\.\n"
        r"\[dumb-init\] Child exited with status 0\. Goodbye\.\n",
        result.stderr,
    ), result.stderr


def test_verbose_setsid_mode_reports_the_childs_setup():
    result = di(["-v", "echo", "hi"], stdin=subprocess.DEVNULL)
    detach = "[dumb-init] Unable to detach from controlling tty (errno=25 Inappropriate ioctl for device).\n"
    assert detach in result.stderr
    assert "[dumb-init] setsid complete.\n" in result.stderr
    assert result.stderr.endswith("[dumb-init] Child exited with status 0. Goodbye.\n")


def test_environment_is_read_after_the_command_line():
    result = di(["true"], env={"DUMB_INIT_DEBUG": "1", "DUMB_INIT_SETSID": "0"})
    notes = "[dumb-init] Running in debug mode.\n[dumb-init] Not running in setsid mode.\n"
    assert result.stderr.startswith(notes)
    assert di(["true"], env={"DUMB_INIT_DEBUG": "true"}).stderr == ""


def test_setsid_mode_puts_the_program_in_its_own_session():
    own = di(["sh", "-c", 'test "$(ps -o sid= -p $$)" -eq $$'])
    assert own.returncode == 0
    shared = di(["-c", "sh", "-c", 'test "$(ps -o sid= -p $$)" -eq "$(ps -o sid= -p $PPID)"'])
    assert shared.returncode == 0


def test_dumb_init_setsid_0_in_the_environment_keeps_the_callers_session():
    shared = 'test "$(ps -o sid= -p $$)" -eq "$(ps -o sid= -p $PPID)"'
    assert di(["sh", "-c", shared], env={"DUMB_INIT_SETSID": "0"}).returncode == 0
    assert di(["sh", "-c", shared]).returncode != 0  # without it: a session of its own


@pytest.mark.timeout(60)
@pytest.mark.parametrize("single", [False, True], ids=["group", "single-child"])
def test_c_forwards_to_the_child_alone_and_default_to_its_whole_group(start_init, tmp_path, single):
    record = tmp_path / "signals"
    init = start_init(DI + (["-c"] if single else []) + program("recorder", str(record), "--grandchild"))
    init.wait_for_output("ready")
    init.send(signal.SIGUSR1)
    wait_until(lambda: record.exists() and "program %d" % signal.SIGUSR1 in record.read_text())
    time.sleep(0.3)  # time enough for the grandchild's copy, if it was sent one
    got_it = "grandchild %d" % signal.SIGUSR1 in record.read_text()
    assert got_it is not single


@pytest.mark.timeout(60)
def test_exit_sends_the_rewritten_sigterm_to_the_remaining_group(start_init, tmp_path):
    record = tmp_path / "signals"
    recorder = " ".join(program("recorder", str(record)))
    init = start_init(DI + ["-r", "15:10", "sh", "-c", "%s & sleep 1" % recorder], pid1=False)
    try:
        assert init.wait() == 0
        wait_until(lambda: record.exists() and "program 10" in record.read_text())
    finally:
        kill_recorders(init.stdout)  # dumb-init leaves it, alive after its SIGUSR1


@pytest.mark.timeout(60)
def test_tstp_stops_the_group_and_pyinit_and_cont_resumes_both(start_init, tmp_path):
    record = tmp_path / "signals"
    init = start_init(DI + program("recorder", str(record)), pid1=False)
    init.wait_for_output("ready")
    program_pid = init.program_pid
    init.send(signal.SIGTSTP)
    wait_until(lambda: proc_state(program_pid) == "T" and proc_state(init.init_pid) == "T")
    assert not record.exists() or "program 20" not in record.read_text()  # rewritten to SIGSTOP
    init.send(signal.SIGCONT)
    wait_until(
        lambda: proc_state(init.init_pid) != "T" and record.exists() and "program 18" in record.read_text()
    )


@pytest.mark.timeout(60)
def test_terminal_hand_off_sighup_and_sigcont_never_reach_the_program(tmp_path):
    # pyinit leads the session (as under `docker run -t`): letting go of the terminal makes the
    # kernel send SIGHUP and SIGCONT to pyinit's group; they must not be forwarded.
    term = Terminal(PYINIT + DI + ["-v", "sleep", "20"], BASE_ENV)
    try:
        assert term.read_until(b"Child spawned"), term.output
        term.read_until(b"\x00never\x00", timeout=0.5)
        os.kill(term.pid, signal.SIGHUP)
        assert term.read_until(b"Goodbye"), term.output
        text = term.output.decode(errors="replace")
        assert "Ignoring tty hand-off signal 1." in text and "Ignoring tty hand-off signal 18." in text
        assert "Forwarded signal 1 to children." in text
        assert "Forwarded signal 18 to children." not in text
    finally:
        term.close()


@pytest.mark.timeout(60)
def test_pyinit_setsid_hand_off_signals_never_reach_the_program(tmp_path):
    # The same hand-off under pyinit's own --setsid: the program records every signal it gets.
    # (The kernel sends both in pyinit's own name, during pyinit's ioctl: besides the explicit
    # drain, pyinit's rule of never acting on a signal it raised itself would stop them too.)
    record = tmp_path / "signals"
    term = Terminal(PYINIT + ["--setsid", *program("recorder", str(record))], BASE_ENV)
    try:
        assert term.read_until(b"ready"), term.output
        os.kill(term.pid, signal.SIGUSR1)  # a real signal, after the hand-off: forwarded
        wait_until(lambda: "program %d" % signal.SIGUSR1 in record.read_text(), message="SIGUSR1")
        got = {int(line.split()[1]) for line in record.read_text().splitlines()}
        assert signal.SIGHUP not in got and signal.SIGCONT not in got, got
    finally:
        term.close()  # kills pyinit's session; the recorder has a session of its own
        kill_recorders(term.output.decode(errors="replace"))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("flavor", [["--setsid"], DI], ids=["pyinit-setsid", "dumb-init"])
def test_bash_in_its_own_session_has_job_control(flavor):
    env = dict(BASE_ENV, PS1="$ ", TERM="dumb")
    term = Terminal(PYINIT + flavor + ["bash", "--norc", "--noprofile", "-m", "-i"], env)
    try:
        assert term.read_until(b"$ "), term.output
        term.write(b"echo flags=$- ok-$((1+1))\n")
        assert term.read_until(b"ok-2"), term.output
        term.write(b"exit 0\n")
        assert term.wait() == 0
        text = term.output.decode(errors="replace")
        assert "no job control" not in text
        assert "m" in text.split("flags=")[-1].split()[0]
    finally:
        term.close()
