"""pyinit under dumb-init's command line: same flags, environment, texts, exit codes, and the
setsid-mode behaviour (session, group signals, job-control stops, SIGTERM to the group at exit).

A signal that must not arrive is shown absent by a marker numbered above it (the lowest-numbered
pending signal is delivered first), sent once whatever pyinit sent is pending: pyinit is back in
its wait, or has exited.
"""

import os
import re
import shlex
import signal
import subprocess
import sys

import psutil
import pytest

from support import BASE_ENV, PYINIT, proc_state, program, run, signal_mask, wait_until
from sync import assert_idle, pending, wait_in_sigwait
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


def recorded(path) -> list[str]:
    """A recorder's lines so far: "<role> <signo>"."""
    return path.read_text().splitlines() if path.exists() else []


def send_marker(pid: int, record, role: str = "program") -> int:
    """Send pid a real-time signal, above every standard one, and wait until it is recorded."""
    marker = signal.SIGRTMIN + 1
    os.kill(pid, marker)
    line = "%s %d" % (role, marker)
    wait_until(lambda: line in recorded(record), message="the marker %r" % line)
    return marker


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
    program_pid = init.program_pid
    (grandchild,) = [p.pid for p in init.descendants() if p.pid != program_pid]
    init.send(signal.SIGUSR1)
    wait_until(lambda: "program %d" % signal.SIGUSR1 in recorded(record), message="SIGUSR1 forwarded")
    # Back in its wait, pyinit's kill() has returned: a copy sent to the grandchild is pending
    # there, and is delivered before the marker.
    wait_in_sigwait(init.init_pid)
    marker = send_marker(grandchild, record, "grandchild")
    got = [int(line.split()[1]) for line in recorded(record) if line.startswith("grandchild")]
    assert got == ([] if single else [signal.SIGUSR1]) + [marker]


@pytest.mark.timeout(60)
def test_exit_sends_the_rewritten_sigterm_to_the_remaining_group(start_init, tmp_path):
    record = tmp_path / "signals"
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    # The shell exits once the recorder has its handlers: it reads the recorder's "ready" line.
    recorder = shlex.join(program("recorder", str(record)))
    script = '%s > %s & read -r line < %s; echo "$line"' % (
        recorder,
        shlex.quote(str(fifo)),
        shlex.quote(str(fifo)),
    )
    init = start_init(DI + ["-r", "15:10", "sh", "-c", script], pid1=False)
    try:
        assert init.wait() == 0
        init.wait_for_output("ready")
        recorder_pid = int(init.stdout.split()[1])
        # pyinit has exited: whatever it sent the group is pending, and comes before the marker.
        marker = send_marker(recorder_pid, record)
        assert recorded(record) == ["program %d" % signal.SIGUSR1, "program %d" % marker]
    finally:
        kill_recorders(init.stdout)  # dumb-init leaves it, alive after its SIGUSR1


@pytest.mark.timeout(60)
def test_tstp_stops_the_group_and_pyinit_and_cont_resumes_both(start_init, tmp_path):
    record = tmp_path / "signals"
    init = start_init(DI + program("recorder", str(record)), pid1=False)
    init.wait_for_output("ready")
    program_pid = init.program_pid
    init.send(signal.SIGTSTP)
    # The recorder catches SIGTSTP: it stops only because SIGTSTP was rewritten to SIGSTOP.
    wait_until(lambda: proc_state(program_pid) == "T" and proc_state(init.init_pid) == "T")
    init.send(signal.SIGCONT)
    wait_until(
        lambda: proc_state(init.init_pid) != "T" and "program %d" % signal.SIGCONT in recorded(record),
        message="pyinit to go on and forward SIGCONT",
    )
    # pyinit is back in its wait: what it forwarded is pending, and comes before the marker.
    # Nothing but SIGCONT was handled: no SIGTSTP before the stop (a SIGTSTP pending during it,
    # the kernel discards when SIGCONT comes).
    wait_in_sigwait(init.init_pid)
    marker = send_marker(program_pid, record)
    assert recorded(record) == ["program %d" % signal.SIGCONT, "program %d" % marker]


@pytest.mark.timeout(60)
def test_terminal_hand_off_sighup_and_sigcont_never_reach_the_program(tmp_path):
    # pyinit leads the session (as under `docker run -t`): letting go of the terminal makes the
    # kernel send SIGHUP and SIGCONT to pyinit's group; they must not be forwarded.
    term = Terminal(PYINIT + DI + ["-v", "sleep", "20"], BASE_ENV)
    try:
        assert term.read_until(b"Child spawned"), term.output
        # In its loop with no timeout, pyinit has nothing pending: the hand-off signals are
        # taken already, and the SIGHUP sent now is a real one.
        assert_idle(term.pid)
        os.kill(term.pid, signal.SIGHUP)
        assert term.read_until(b"Goodbye"), term.output
        text = term.output.decode(errors="replace")
        assert "Ignoring tty hand-off signal 1." in text and "Ignoring tty hand-off signal 18." in text
        assert "Forwarded signal 1 to children." in text
        assert "Forwarded signal 18 to children." not in text
    finally:
        term.close()


# Starts a command with SIGHUP and SIGCONT blocked.
BLOCK_HUP_AND_CONT = (
    "import os, signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP, signal.SIGCONT}); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


@pytest.mark.timeout(60)
def test_pyinit_setsid_hand_off_signals_never_reach_the_program(tmp_path):
    # The same hand-off under pyinit's own --setsid, on its hot path (no debug log).  pyinit hands
    # the mask it was started with on to the program: with SIGHUP and SIGCONT blocked there, one
    # forwarded to it stays pending, in /proc, even if it came before the program was ready.
    hand_off = signal_mask(signal.SIGHUP, signal.SIGCONT)
    command = [sys.executable, "-c", BLOCK_HUP_AND_CONT, *PYINIT, "--setsid", "sleep", "20"]
    term = Terminal(command, BASE_ENV)
    sleeper = None
    try:
        sleeper = wait_until(
            lambda: next((p for p in psutil.Process(term.pid).children() if p.name() == "sleep"), None),
            message="the program to start",
        )
        # In its loop with no timeout, pyinit has nothing left pending: it passed on all it will.
        assert_idle(term.pid)
        assert pending(sleeper.pid) & hand_off == 0
        os.kill(term.pid, signal.SIGHUP)  # a real one, after the hand-off: forwarded, seen pending
        wait_until(lambda: pending(sleeper.pid) & hand_off == signal_mask(signal.SIGHUP), message="SIGHUP")
    finally:
        term.close()
        if sleeper is not None:
            sleeper.kill()  # in a session of its own, out of the terminal's reach


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


@pytest.mark.timeout(60)
def test_verbose_reports_no_reap_after_the_programs_own(start_init, tmp_path):
    """dumb-init exits in the step that reaps its child: a zombie that died beside the program
    is reaped by pyinit before it exits, but never reported after the program's line."""
    go = tmp_path / "go"
    os.mkfifo(go)
    # The program leaves an orphan that exits at once, then exits 3 itself: while pyinit is
    # stopped both become its zombies (it is a subreaper), and one SIGCHLD reaps both.
    init = start_init(DI + ["-v", "sh", "-c", "read x < %s; (true &); exit 3" % go], pid1=False)
    wait_until(lambda: "Child spawned with PID" in init.stderr, message="the program to start")
    program_pid = init.program_pid  # while pyinit runs: its only child
    os.kill(init.init_pid, signal.SIGSTOP)
    try:
        go.write_text("go\n")

        def both_zombies():
            kids = psutil.Process(init.init_pid).children()
            return len(kids) == 2 and all(kid.status() == psutil.STATUS_ZOMBIE for kid in kids)

        wait_until(both_zombies, message="the program and the orphan to be pyinit's zombies")
    finally:
        os.kill(init.init_pid, signal.SIGCONT)
    assert init.wait() == 3
    assert init.stderr.splitlines()[-3:] == [
        "[dumb-init] A child with PID %d exited with exit status 3." % program_pid,
        "[dumb-init] Forwarded signal 15 to children.",
        "[dumb-init] Child exited with status 3. Goodbye.",
    ], init.stderr
    assert "exit status 0" not in init.stderr  # the orphan: reaped, not reported
