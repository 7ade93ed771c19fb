"""Job control as a shell user expects it, through a real pseudo-terminal and a real bash.

Group mode (default): Ctrl-Z stops the program's group, pyinit stops itself once the program
has stopped, so the shell sees the job stopped; `fg` resumes both and gives the terminal back to
the program.  --single-child forwards TSTP/TTIN/TTOU as sent.
"""

import os
import re
import signal

import psutil
import pytest

from support import BASE_ENV, PYINIT, proc_state, program, wait_until
from ttys import Terminal

PYINIT_CMD = " ".join(PYINIT)


def shell():
    env = dict(BASE_ENV, PS1="$ ", TERM="dumb")
    term = Terminal(["bash", "--norc", "--noprofile", "-i"], env)
    assert term.read_until(b"$ "), term.output
    return term


def run_line(term, line, marker):
    """Type line; wait for marker in the output (markers are computed, like $((40+2)), so that
    the terminal's echo of the typed line cannot match them)."""
    start = len(term.output)
    term.write(line.encode() + b"\n")
    assert term.read_until(marker.encode(), since=start), term.output.decode(errors="replace")


@pytest.mark.timeout(90)
def test_ctrl_z_stops_the_job_and_fg_resumes_it_with_the_terminal():
    term = shell()
    try:
        # exec: dash would vfork sleep, and a Ctrl-Z inside the vfork window stops the vfork child
        # while sh waits uninterruptibly for it -- the job never reports stopped, pyinit or not.
        run_line(term, PYINIT_CMD + " sh -c 'echo STARTED-$((40+2)); exec sleep 100'", "STARTED-42")
        term.write(b"\x1a")  # Ctrl-Z
        assert term.read_until(b"Stopped"), term.output
        run_line(term, "fg", "sleep 100")  # bash echoes the command it resumes
        sleeper = wait_until(
            lambda: next(
                (p for p in psutil.Process(term.pid).children(recursive=True) if p.name() == "sleep"), None
            ),
            message="the program under pyinit",
        )
        # The program's group has the terminal again (not pyinit's: a Ctrl-C would still give
        # 130 then, through pyinit's forwarding, so the foreground group is checked directly).
        wait_until(lambda: os.tcgetpgrp(term.fd) == os.getpgid(sleeper.pid), message="the terminal back")
        term.write(b"\x03")  # Ctrl-C must reach the program again: it has the terminal back
        run_line(term, "echo STATUS=$?", "STATUS=130")
        term.write(b"exit\n")
        term.wait()
    finally:
        term.close()


def jobs_until(term, state):
    """Type `jobs` until bash lists the job in `state`.  bash learns that a job stopped or went on
    from a SIGCHLD, which it may handle only after the next command line: poll, never sleep."""
    attempts = iter(range(1000, 10_000))

    def listed():
        n = next(attempts)
        start = len(term.output)
        run_line(term, "jobs; echo JOBS-$((%d+1))" % n, "JOBS-%d" % (n + 1))
        return state in term.output[start:].decode(errors="replace")

    wait_until(listed, interval=0.2, message="bash to list the job as %s" % state)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("stop", ["TSTP", "TTIN", "TTOU"])
def test_a_stop_signal_sent_to_pyinit_stops_the_program_then_pyinit(tmp_path, stop):
    # Not a terminal keystroke: `kill -TSTP` (or TTIN, TTOU) to pyinit, a background job of bash.
    term = shell()
    try:
        run_line(term, PYINIT_CMD + " sleep 100 & echo BG-$((1+1)) $! DONE-$((2*3))", "DONE-6")
        found = re.search(rb"BG-2 (\d+) DONE-6", term.output)
        assert found, term.output
        pyinit = int(found.group(1))
        # The program runs: pyinit has blocked its signals and waits for them.
        program_pid = wait_until(lambda: next(iter(psutil.Process(pyinit).children()), None)).pid
        run_line(term, "kill -%s %%1; echo SENT-$((4+4))" % stop, "SENT-8")
        wait_until(
            lambda: proc_state(program_pid) == "T" and proc_state(pyinit) == "T",
            message="the program, then pyinit, to stop",
        )
        jobs_until(term, "Stopped")
        run_line(term, "kill -CONT %1; echo SENT-$((5+5))", "SENT-10")
        wait_until(
            lambda: proc_state(program_pid) != "T" and proc_state(pyinit) != "T",
            message="pyinit and the program to go on",
        )
        jobs_until(term, "Running")
        # `wait PID`, not `wait %1`: bash 5.3 may report the job done, and forget the job, before
        # `wait` runs; the status of a background pid it keeps.
        run_line(term, "kill %%1; wait %d; echo STATUS=$?" % pyinit, "STATUS=143")
        term.write(b"exit\n")
        term.wait()
    finally:
        term.close()


@pytest.mark.timeout(60)
def test_single_child_forwards_stop_signals_as_sent(start_init, tmp_path):
    record = tmp_path / "signals"
    init = start_init(["--single-child", *program("recorder", str(record))], pid1=False)
    init.wait_for_output("ready")
    for signo in (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
        init.send(signo)
        wait_until(lambda signo=signo: record.exists() and ("program %d" % signo) in record.read_text())
    assert init.proc.poll() is None


@pytest.mark.timeout(60)
def test_pyinit_as_pid1_is_never_wedged_by_a_stopped_program(start_init):
    # Under `docker run -it`, Ctrl-Z stops the program and nobody above can resume pyinit:
    # pyinit must not stop itself, and `docker stop` (SIGTERM) must still end the container.
    init = start_init(["sleep", "100"])
    program_pid = init.program_pid
    # Stop the program, not pyinit's child between fork and exec (pyinit waits for its exec).
    wait_until(lambda: psutil.Process(program_pid).name() == "sleep", message="the exec of sleep")
    os.kill(program_pid, signal.SIGTSTP)
    wait_until(lambda: proc_state(program_pid) == "T")
    init.send(signal.SIGTERM)
    assert init.wait() == 128 + signal.SIGTERM
