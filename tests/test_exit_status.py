"""pyinit exits with the program's status: its exit code, or 128+N when signal N killed it."""

import signal
import sys

import pytest

from support import run, run_pid1


@pytest.mark.timeout(300)
def test_every_exit_code_from_0_to_255_passes_through():
    wrong = {}
    for code in range(256):
        result = run(["sh", "-c", "exit %d" % code])
        if result.returncode != code:
            wrong[code] = result.returncode
    assert wrong == {}


@pytest.mark.parametrize("code", [0, 1, 3, 42, 126, 127, 128, 255])
def test_exit_code_passes_through_as_pid1(code):
    assert run_pid1(["sh", "-c", "exit %d" % code]).returncode == code


@pytest.mark.parametrize(
    "signo",
    [
        signal.SIGHUP,
        signal.SIGINT,
        signal.SIGQUIT,
        signal.SIGABRT,
        signal.SIGKILL,
        signal.SIGSEGV,
        signal.SIGUSR1,
        signal.SIGTERM,
        signal.SIGRTMIN + 2,
    ],
)
@pytest.mark.parametrize("as_pid1", [False, True], ids=["subreaper", "pid1"])
def test_program_killed_by_signal_n_gives_128_plus_n(signo, as_pid1):
    # The program restores the default action (Python ignores SIGPIPE, handles SIGINT), then
    # kills itself with the signal.
    reset = "" if signo == signal.SIGKILL else "signal.signal(%d, signal.SIG_DFL); " % signo
    script = "import os, signal; %sos.kill(os.getpid(), %d)" % (reset, signo)
    result = (run_pid1 if as_pid1 else run)([sys.executable, "-c", script])
    assert result.returncode == 128 + signo, result.stderr


def test_options_stop_at_the_first_non_option():
    # tini would take -c for itself here; pyinit runs `sh -c 'exit 3'`
    assert run(["sh", "-c", "exit 3"]).returncode == 3
    result = run(["echo", "-v", "--help", "-c"])
    assert (result.returncode, result.stdout) == (0, "-v --help -c\n")


def test_double_dash_ends_the_options():
    assert run(["--", "sh", "-c", "exit 4"]).returncode == 4
    result = run(["-v", "--", "echo", "--", "x"])
    assert result.stdout == "-- x\n"
