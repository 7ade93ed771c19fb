"""Graceful shutdown of the whole tree (real PID namespaces): stop signals, grace, SIGKILL
escalation, leftovers of the program, --delay, --success-code, --pdeathsig.

Timings are read from pyinit's own JSON log (monotonic clock), not measured by the test, and
only on which side of a bound they fall.  The tests wait on pyinit's events and on /proc
(sync.py), never on the clock.
"""

import os
import signal
import subprocess
import sys

import psutil
import pytest

from support import BASE_ENV, PYINIT, proc_status, program, signal_mask, wait_until
from sync import assert_idle, event, events, names, wait_blocked_in, wait_event


@pytest.mark.timeout(60)
def test_a_program_ignoring_sigterm_is_killed_when_the_grace_period_ends(start_init):
    init = start_init(["--grace", "1.5", "--log-format", "json", *program("stubborn", "3")])
    init.wait_for_output("ready")
    init.send(signal.SIGTERM)
    assert init.wait() == 128 + signal.SIGKILL  # the program was SIGKILLed
    grace = event(init, "grace")
    escalation = event(init, "escalation")
    assert grace["seconds"] == 1.5
    # By pyinit's own clock: the deadline is the grace period counted from its start (the
    # event's ts is read just after the deadline is set), and the timer never fires early.  How
    # late it fires is the machine's scheduling latency: bounded only loosely (a shared 2-CPU
    # machine), against a timer that would not fire at all without some other wake-up.
    assert 0 <= grace["ts"] - (grace["deadline"] - 1.5) < 1.0, grace
    assert escalation["ts"] >= grace["deadline"] and 0 <= escalation["overdue"] < 5, (grace, escalation)
    # All four processes (program + 3 children) were killed and reaped before pyinit exited.
    reaped = [e for e in events(init) if e["event"] == "reaped"]
    assert len(reaped) == 4 and all(e.get("signal") == signal.SIGKILL for e in reaped)
    assert events(init)[-1]["event"] == "exit"


@pytest.mark.timeout(60)
def test_escalation_kills_a_process_that_left_the_group_while_the_program_lives(start_init, tmp_path):
    # The program ignores SIGTERM and has started a daemon in a session of its own, which
    # ignores it too: at the end of the grace period both die of SIGKILL.  As a subreaper, so
    # that no PID-namespace teardown could do pyinit's work for it.
    pidfile = tmp_path / "daemon.pid"
    daemon = tmp_path / "daemon.sh"
    daemon.write_text("trap '' TERM; echo $$ > %s; exec sleep 1000\n" % pidfile)
    script = "trap '' TERM; setsid sh %s & echo READY; while :; do sleep 0.1; done" % daemon
    init = start_init(["--grace", "1", "--log-format", "json", "sh", "-c", script], pid1=False)
    init.wait_for_output("READY")
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), message="the daemon to start")
    daemon_pid = int(pidfile.read_text())
    assert os.getsid(daemon_pid) == daemon_pid  # it did leave the program's group and session
    init.send(signal.SIGTERM)
    assert init.wait() == 128 + signal.SIGKILL
    assert event(init, "escalation") is not None
    assert not os.path.exists("/proc/%d" % daemon_pid)  # killed and reaped, not left behind


@pytest.mark.timeout(60)
def test_escalation_leaves_nothing_behind_as_a_subreaper(start_init):
    init = start_init(["--grace", "1", *program("stubborn", "2")], pid1=False)
    init.wait_for_output("ready")
    processes = init.descendants()
    assert len(processes) == 3
    init.send(signal.SIGTERM)
    assert init.wait() == 128 + signal.SIGKILL
    for proc in processes:
        assert not os.path.exists("/proc/%d" % proc.pid)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("setsid", [False, True], ids=["same-group", "own-session"])
def test_a_daemon_left_behind_gets_sigterm_and_its_grace_time(start_init, tmp_path, setsid):
    record = tmp_path / "daemon"
    args = [str(record), "7", "--takes", "1.0"] + (["--setsid"] if setsid else [])
    init = start_init(["--grace", "5", "--log-format", "json", *program("leaver", *args)])
    assert init.wait() == 7  # the main child's status, not the daemon's
    lines = record.read_text().splitlines()
    assert lines[0].startswith("started") and lines[1].startswith("term") and lines[2] == "done"
    if setsid:  # it left the program's group and session, and was still found
        assert int(lines[0].split()[1]) != 1
    names = [e["event"] for e in events(init)]
    assert names.index("stopping-others") > names.index("reaped")  # the program first
    assert "escalation" not in names  # it finished within its grace time
    assert names[-1] == "exit" and events(init)[-1]["code"] == 7


@pytest.mark.timeout(60)
def test_a_daemon_ignoring_sigterm_is_killed_at_once_and_said_so(start_init, tmp_path):
    # It would never act on SIGTERM: waiting the grace period (30 s) for it gains nothing.
    record = tmp_path / "daemon"
    init = start_init(["--grace", "30", *program("leaver", str(record), "4", "--ignore-term")])
    assert init.wait(timeout=20) == 4
    warning = [line for line in init.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1, init.stderr
    assert "sent SIGKILL to 1 process(es) that ignore SIGTERM" in warning[0]


def running_with(path):
    """The processes with path (unique to the test) in their command line."""
    return [
        p
        for p in psutil.process_iter(["cmdline"])
        if str(path) in (p.info["cmdline"] or []) and p.pid != os.getpid()
    ]


@pytest.mark.timeout(60)
def test_leftovers_leave_exits_at_once_like_tini(start_init, tmp_path):
    # As a subreaper, so that the daemon outlives pyinit (as PID 1, pyinit's exit would SIGKILL
    # it, TERM or not) and can show what it got: nothing.
    record = tmp_path / "daemon"
    args = ["--leftovers", "leave", "--log-format", "json", *program("leaver", str(record), "3")]
    init = start_init(args, pid1=False)
    try:
        assert init.wait() == 3
        assert names(init)[-2:] == ["reaped", "exit"]  # the program's reaping, then out at once
        assert event(init, "stopping-others") is None and event(init, "grace") is None
        daemons = running_with(record)  # the leaver's daemon
        assert len(daemons) == 1, "the daemon did not survive pyinit: %r" % record.read_text()
        daemon = daemons[0]
        # It never got a SIGTERM: one would be pending, or its handler would have written
        # "term" before the daemon could be back in pause(2) (and then it exits).
        wait_blocked_in(daemon.pid, "pause")
        assert not (int(proc_status(daemon.pid)["ShdPnd"], 16) & signal_mask(signal.SIGTERM))
        assert "term" not in record.read_text()
        daemon.terminate()  # and a SIGTERM is what it would have shown
        wait_until(lambda: record.read_text().endswith("done\n"), message="the daemon's own TERM")
    finally:
        for process in running_with(record):  # pass or fail, nothing left behind
            process.kill()


@pytest.mark.timeout(60)
def test_leftovers_wait_keeps_running_until_the_last_descendant_exits(start_init, tmp_path):
    # The program leaves a child that waits to be released through a FIFO.
    release = tmp_path / "release"
    os.mkfifo(release)
    script = '(read go < "$1"; echo late) & exit 2'
    args = ["--leftovers", "wait", "--log-format", "json", "--", "sh", "-c", script, "sh", str(release)]
    init = start_init(args, pid1=False)
    try:
        wait_event(init, "reaped", main=True)
        # The program is gone and pyinit stays, in its loop with no deadline: neither stopping
        # the child nor counting down to anything.
        assert_idle(init.init_pid)
        assert init.proc.poll() is None and event(init, "stopping-others") is None
    except BaseException:
        for process in running_with(release):  # the child, blocked on the FIFO: not left behind
            process.kill()
        raise
    with open(release, "w") as fifo:  # blocks until the child opens it: then it ends
        fifo.write("go\n")
    assert init.wait() == 2
    assert "late" in init.stdout
    assert names(init)[-1] == "exit"


@pytest.mark.timeout(60)
def test_at_the_default_verbosity_the_first_stop_forwards_arms_the_grace_and_the_next_ones_pass(
    start_init, tmp_path
):
    """The first stop signal's own hot path (no JSON log, no -v: no debug lines wanted)."""
    record = tmp_path / "signals"
    init = start_init(["--grace", "1", *program("recorder", str(record))])
    init.wait_for_output("ready")
    init.send(signal.SIGTERM)
    wait_until(lambda: record.exists() and record.read_text() == "program 15\n", message="the first TERM")
    init.send(signal.SIGTERM)  # the grace period runs: a second one is forwarded too
    wait_until(lambda: record.read_text() == "program 15\nprogram 15\n", message="the second TERM")
    # No other wake-up comes: only the timer armed with the first TERM ends the grace period.
    assert init.wait() == 128 + signal.SIGKILL
    assert "grace period of 1s is over" in init.stderr


@pytest.mark.timeout(60)
def test_stop_signals_are_configurable(start_init):
    # USR1 as the stop signal, sent to a program that ignores it: the grace period starts.
    script = "trap '' USR1; echo ready; while :; do sleep 0.2; done"
    init = start_init(["--grace", "1", "--stop-signals", "USR1", "--log-format", "json", "sh", "-c", script])
    init.wait_for_output("ready")
    init.send(signal.SIGUSR1)
    assert init.wait() == 128 + signal.SIGKILL
    assert event(init, "grace") and event(init, "escalation")


@pytest.mark.timeout(60)
def test_a_signal_not_in_the_stop_set_never_starts_the_grace_period(start_init):
    init = start_init(["--grace", "0.5", "--log-format", "json", *program("stubborn")])
    init.wait_for_output("ready")
    init.send(signal.SIGWINCH)
    wait_event(init, "forwarded", signo=signal.SIGWINCH)
    # A grace period would start in the same step as the forwarding: its event would be logged
    # by now, and pyinit would wait with a timeout (the deadline).  It waits with none.
    assert_idle(init.init_pid)
    assert event(init, "grace") is None
    init.send(signal.SIGTERM)  # a stop signal does start it
    assert init.wait() == 128 + signal.SIGKILL
    after_term = names(init)[names(init).index("forwarded") + 1 :]
    assert after_term[after_term.index("forwarded") + 1] == "grace"


@pytest.mark.timeout(60)
def test_delay_holds_a_signal_then_forwards_it(start_init):
    init = start_init(["--delay", "TERM:1", "--log-format", "json", "sleep", "100"])
    assert init.program_pid
    init.send(signal.SIGTERM)
    assert init.wait() == 128 + signal.SIGTERM
    delayed, forwarded = event(init, "delayed"), event(init, "forwarded", signo=signal.SIGTERM)
    assert delayed["seconds"] == 1
    assert forwarded["ts"] - delayed["ts"] >= 1.0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT], ids=["same-again", "sigint"])
def test_a_second_copy_or_sigint_forwards_a_held_signal_at_once(start_init, second):
    init = start_init(["--delay", "TERM:60", "--log-format", "json", "sleep", "100"])
    wait_event(init, "spawned")
    init.send(signal.SIGTERM)
    wait_event(init, "delayed", signo=signal.SIGTERM)
    init.send(second)
    # Released long before its 60 s: the held TERM goes first (a SIGINT follows it), and `sleep`
    # dies of that TERM -- the kernel settles a process's fate on the first fatal signal.
    assert init.wait(timeout=30) == 128 + signal.SIGTERM
    forwarded = [e["signo"] for e in events(init) if e["event"] == "forwarded"]
    expected = [signal.SIGTERM] if second == signal.SIGTERM else [signal.SIGTERM, signal.SIGINT]
    assert forwarded == expected


@pytest.mark.parametrize(
    ("args", "status"), [(["-e", "3"], 0), (["--success-code", "3,4"], 0), (["-e", "4"], 3)]
)
def test_success_codes_are_reported_as_0(args, status):
    result = subprocess.run(PYINIT + args + ["sh", "-c", "exit 3"], env=BASE_ENV, timeout=60)
    assert result.returncode == status


@pytest.mark.timeout(60)
def test_pdeathsig_makes_pyinit_forward_it_when_its_parent_dies(tmp_path):
    # A parent starts pyinit and is SIGKILLed: pyinit gets SIGTERM from the kernel (pdeathsig),
    # forwards it, and the program ends.
    record = tmp_path / "signals"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; print(subprocess.Popen(sys.argv[1:]).pid, flush=True); "
            "time.sleep(100)",
            *PYINIT,
            "--pdeathsig",
            "TERM",
            *program("recorder", str(record)),
        ],
        env=BASE_ENV,
        stdout=subprocess.PIPE,
    )
    started = []  # pyinit's pid and the program's ("ready PID"), whichever is printed first
    try:
        started += [parent.stdout.readline().split()[-1], parent.stdout.readline().split()[-1]]
        parent.kill()
        parent.wait()
        wait_until(lambda: "program 15" in record.read_text())
    finally:
        parent.kill()
        parent.wait()
        for pid in started:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.timeout(60)
def test_every_json_event_is_one_object_per_line_with_a_monotonic_timestamp(start_init, tmp_path):
    record = tmp_path / "daemon"
    init = start_init(
        ["--log-format", "json", "--grace", "1", *program("leaver", str(record), "0", "--takes", "5")],
    )
    init.wait_for_output("ready")
    assert init.wait(timeout=30) == 0
    log = events(init)
    assert all({"ts", "event", "level", "msg"} <= set(e) for e in log)
    assert [e["ts"] for e in log] == sorted(e["ts"] for e in log)
    names = {e["event"] for e in log}
    assert {"spawned", "signal", "reaped", "stopping-others", "grace", "escalation", "exit"} <= names
    assert len(init.stderr.splitlines()) == len(log)  # nothing else on stderr


@pytest.mark.timeout(60)
def test_signal_events_rewritten_dropped_delayed_forwarded(start_init, tmp_path):
    record = tmp_path / "signals"
    init = start_init(
        [
            "--log-format",
            "json",
            "-r",
            "USR1:USR2",
            "-r",
            "HUP:none",
            "--delay",
            "QUIT:0.2",
            *program("recorder", str(record)),
        ]
    )
    init.wait_for_output("ready")
    for signo in (signal.SIGUSR1, signal.SIGHUP, signal.SIGQUIT):
        init.send(signo)
    wait_event(init, "forwarded", signo=signal.SIGQUIT)
    assert event(init, "signal", signo=signal.SIGUSR1)["sender"] == 0  # from outside the namespace
    assert event(init, "rewritten", signo=signal.SIGUSR1)["to"] == signal.SIGUSR2
    assert event(init, "forwarded", signo=signal.SIGUSR2)
    assert event(init, "dropped", signo=signal.SIGHUP)
    assert event(init, "delayed", signo=signal.SIGQUIT)["seconds"] == 0.2
    spawned = event(init, "spawned")
    assert spawned["pid"] == 2 and spawned["command"][0] == sys.executable


def test_default_grace_is_below_docker_stops_ten_seconds():
    from pyinit.config import DEFAULT_GRACE

    assert DEFAULT_GRACE < 10
