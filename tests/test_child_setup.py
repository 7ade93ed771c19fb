"""The program starts clean: in its own process group, with the signal dispositions and mask
pyinit inherited -- except SIGPIPE and SIGXFSZ, which CPython ignores at start-up and pyinit puts
back to default (an inherited SIG_IGN for those two cannot be told apart and is not kept)."""

import os
import signal
import subprocess
import sys

import pytest

from support import BASE_ENV, PYINIT, run, run_pid1, signal_mask


def status_fields(text):
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


# Prints its own SigIgn/SigBlk to stderr, then execs pyinit: so the test knows exactly what pyinit
# inherited, whatever the process that runs the tests was given by its own parent.
LAUNCHER = (
    "import os, sys; "
    "sys.stderr.write(open('/proc/self/status').read()); sys.stderr.flush(); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def launch(setup=None):
    """(what pyinit inherited, what its program got): SigIgn and SigBlk of both, as ints."""
    result = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *PYINIT, "cat", "/proc/self/status"],
        env=BASE_ENV,
        capture_output=True,
        text=True,
        preexec_fn=setup,
        timeout=60,
    )
    inherited, got = status_fields(result.stderr), status_fields(result.stdout)
    return (
        {key: int(inherited[key], 16) for key in ("SigIgn", "SigBlk")},
        {key: int(got[key], 16) for key in ("SigIgn", "SigBlk")},
    )


CPYTHON_IGNORES = signal_mask(signal.SIGPIPE, signal.SIGXFSZ)


def test_program_gets_the_dispositions_and_mask_pyinit_inherited_but_sigpipe_and_sigxfsz():
    inherited, got = launch()
    assert inherited["SigIgn"] & CPYTHON_IGNORES == CPYTHON_IGNORES  # the launcher is Python too
    assert got["SigIgn"] == inherited["SigIgn"] & ~CPYTHON_IGNORES
    assert got["SigBlk"] == inherited["SigBlk"]


def test_program_keeps_ignored_and_blocked_signals_that_pyinit_inherited():
    ignored = (signal.SIGINT, signal.SIGTTOU, signal.SIGSEGV, signal.SIGUSR2)
    blocked = (signal.SIGTTIN, signal.SIGILL, signal.SIGTERM)

    def parent_setup():  # what a caller of pyinit might have done
        for signo in ignored:
            signal.signal(signo, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, blocked)

    inherited, got = launch(parent_setup)
    assert inherited["SigIgn"] & signal_mask(*ignored) == signal_mask(*ignored)
    assert got["SigIgn"] == inherited["SigIgn"] & ~CPYTHON_IGNORES
    assert got["SigBlk"] == inherited["SigBlk"] == signal_mask(*blocked)


def test_sigpipe_ends_a_pipeline_as_it_would_without_pyinit():
    result = run(["bash", "-c", "yes | head -1; exit ${PIPESTATUS[0]}"])
    assert (result.returncode, result.stdout) == (128 + signal.SIGPIPE, "y\n")
    piped = subprocess.run(
        ["bash", "-c", " ".join(PYINIT) + " yes | head -1; exit ${PIPESTATUS[0]}"],
        env=BASE_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert piped.returncode == 128 + signal.SIGPIPE


def test_program_leads_its_own_process_group_and_keeps_the_working_directory(tmp_path):
    script = 'echo "$$ $(ps -o pgid= -p $$) $(pwd) $(readlink /proc/$PPID/cwd)"'
    result = run(["sh", "-c", script], cwd=tmp_path)
    pid, pgid, cwd, init_cwd = result.stdout.split()
    assert pid == pgid
    assert cwd == str(tmp_path)
    assert init_cwd == "/"  # PID 1 must not keep a mount point busy


def test_pyinit_fds_do_not_leak_into_the_program():
    fds = run_pid1(["ls", "/proc/self/fd"]).stdout.split()
    assert sorted(int(fd) for fd in fds) == [0, 1, 2, 3]  # 3 is ls's own directory fd


@pytest.mark.timeout(30)
def test_a_child_stopped_before_its_exec_does_not_hang_pyinits_start():
    # A Ctrl-Z (or SIGSTOP) pending when the child unblocks its signals stops it before exec:
    # no end of file comes on the exec-status pipe until it runs again.  pyinit reads the
    # report and goes on to supervise (the stop is then reported like any other).
    from pyinit.spawn import _read_report

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        os.write(write_end, b"N setsid 0\n")
        os.kill(os.getpid(), signal.SIGSTOP)  # stopped, the write end still open
        os._exit(0)
    os.close(write_end)
    try:
        assert _read_report(read_end, pid) == "N setsid 0\n"
    finally:
        os.close(read_end)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
