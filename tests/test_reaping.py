"""pyinit reaps every child, orphans included, as PID 1 and as a subreaper."""

import os
import signal
import subprocess

import psutil
import pytest

from support import BASE_ENV, PYINIT, compile_program, program, run, run_pid1, signal_mask, wait_until
from sync import event, events, pending, sigwait_timeout


def assert_all_orphans_reaped(init, count):
    init.wait_for_output("done", timeout=120)
    program_pid = init.program_pid
    # Every orphan was re-parented to pyinit and must be reaped: nothing but the program is
    # left below pyinit, and no zombie anywhere.
    wait_until(
        lambda: [p.pid for p in init.descendants()] == [program_pid],
        timeout=60,
        message="the %d orphans to be reaped" % count,
    )
    assert init.zombies() == []
    assert init.proc.poll() is None


@pytest.mark.timeout(180)
def test_a_thousand_orphaned_grandchildren_are_all_reaped_as_pid1(start_init):
    init = start_init(program("orphans", "1000"))
    assert_all_orphans_reaped(init, 1000)


@pytest.mark.timeout(180)
def test_orphans_are_reaped_by_a_subreaper_when_not_pid1(start_init):
    init = start_init(["-v", *program("orphans", "300", "--linger", "0.2")], pid1=False)
    assert_all_orphans_reaped(init, 300)
    assert "registered as child subreaper" in init.stderr


@pytest.mark.timeout(120)
def test_orphans_still_alive_when_the_program_exits_are_stopped_and_reaped(start_init):
    init = start_init(["--log-format", "json", "sh", "-c", "sleep 100 & sleep 100 & exit 6"])
    assert init.wait() == 6
    # The status alone would not tell: as PID 1, pyinit's exit kills whatever is left anyway.
    # pyinit's log does: the program first, then SIGTERM to both orphans, both reaped (killed by
    # that SIGTERM, well before any escalation), and only then the exit.
    log = events(init)
    assert [e["event"] for e in log if e["event"] != "signal"] == [
        "spawned",
        "reaped",
        "grace",
        "stopping-others",
        "reaped",
        "reaped",
        "exit",
    ], log
    reaped = [e for e in log if e["event"] == "reaped"]
    assert reaped[0]["main"] and reaped[0]["code"] == 6
    assert event(init, "stopping-others")["count"] == 2
    assert event(init, "stopping-others")["signo"] == signal.SIGTERM
    assert [(e["main"], e.get("signal")) for e in reaped[1:]] == [(False, signal.SIGTERM)] * 2
    assert event(init, "exit")["status"] == 6


@pytest.mark.timeout(180)
@pytest.mark.parametrize("runner", [run, run_pid1], ids=["subreaper", "pid1"])
def test_a_program_that_exits_at_once_is_reaped_and_its_status_returned(runner):
    # `true` is gone long before pyinit reaches its loop; its SIGCHLD must wait in the queue.
    for attempt in range(40):
        assert runner(["true"]).returncode == 0, attempt
        assert runner(["sh", "-c", "exit 7"]).returncode == 7, attempt


@pytest.mark.timeout(180)
def test_the_program_exiting_just_after_an_orphan_still_has_its_status_returned():
    # An orphan's reaping defers the next SIGCHLD briefly (batches under a herd of exits): the
    # program's own exit, arriving inside that pause, must still be reaped and returned.
    script = "for i in 1 2 3 4 5 6 7 8; do (sleep 0.05 &); done; sleep 0.05; exit 7"
    for attempt in range(20):
        done = run_pid1(["--leftovers", "wait", "sh", "-c", script])
        assert done.returncode == 7, (attempt, done.stderr)


@pytest.fixture(scope="module")
def orphan_bursts(tmp_path_factory):
    return compile_program("orphan_bursts", tmp_path_factory.mktemp("bin"), "the orphan-storm helper")


def holding_sigchld(pid):
    """pyinit is batching: blocked in sigtimedwait with a timeout while a SIGCHLD is pending.
    (Nothing else arms a timeout here: no grace period, no --delay.)"""
    return sigwait_timeout(pid) not in (None, 0) and bool(pending(pid) & signal_mask(signal.SIGCHLD))


@pytest.mark.timeout(120)
def test_signals_are_forwarded_while_orphans_keep_coming(start_init, tmp_path, orphan_bursts):
    # While SIGCHLD waits for the next batch, every other signal must still be forwarded.  The
    # program records every signal it gets; a storm of orphans (bursts of 200 exiting together)
    # runs in its group.  Each round catches pyinit holding a SIGCHLD back, sends a signal then,
    # and waits for the program to get it.  Rounds, because a batch lasts 0.5 ms: a signal that
    # lands just after one proves nothing, five of them almost surely do not all miss.
    record = tmp_path / "signals"
    script = '"$1" 1000 200 & shift; exec "$@"'
    init = start_init(
        ["--leftovers", "leave", "sh", "-c", script, "sh", orphan_bursts, *program("recorder", str(record))]
    )
    init.wait_for_output("ready")
    pid = init.init_pid
    for n in range(1, 6):
        wait_until(lambda: holding_sigchld(pid), interval=0.0005, message="pyinit to hold a SIGCHLD back")
        init.send(signal.SIGWINCH)  # ignored by orphan_bursts, recorded by the program
        wait_until(
            lambda n=n: recorded(record).count(signal.SIGWINCH) == n,
            message="SIGWINCH number %d to reach the program" % n,
        )
    # And pyinit, mid-storm, still reaps it.  (init.program_pid would take pyinit's first
    # child: here, among the orphans.)
    (program_pid,) = [p.pid for p in psutil.Process(pid).children() if "recorder.py" in command_of(p)]
    os.kill(program_pid, signal.SIGKILL)
    assert init.wait() == 128 + signal.SIGKILL


def command_of(process):
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # an orphan that ended meanwhile
        return ""


def recorded(path):
    return [int(line.split()[1]) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def deny_subreaper(tmp_path_factory):
    """A wrapper whose seccomp filter makes prctl(PR_SET_CHILD_SUBREAPER) fail with EPERM."""
    return compile_program("deny_subreaper", tmp_path_factory.mktemp("bin"), "the seccomp helper")


def run_denied(wrapper, args):
    return subprocess.run([wrapper, *PYINIT, *args], env=BASE_ENV, capture_output=True, text=True, timeout=60)


@pytest.mark.timeout(60)
def test_a_refused_subreaper_registration_is_one_warning_and_the_program_still_runs(deny_subreaper):
    done = run_denied(deny_subreaper, ["-v", "sh", "-c", "exit 3"])
    assert done.returncode == 3, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "subreaper" in line]
    assert warnings == [
        "[pyinit] warning: cannot register as child subreaper (Operation not permitted):"
        " orphans will not be reaped"
    ], done.stderr


@pytest.mark.timeout(60)
def test_tini_s_fails_as_tini_does_when_the_registration_is_refused(deny_subreaper):
    done = run_denied(deny_subreaper, ["--compat", "tini", "-s", "true"])
    assert done.returncode == 1
    assert "Failed to register as child subreaper: Operation not permitted" in done.stderr
