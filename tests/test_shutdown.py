"""Graceful shutdown of the whole tree (real PID namespaces): stop signals, grace, SIGKILL
escalation, leftovers of the program, --delay, --success-code, --pdeathsig.

Timings are read from pyinit's own JSON log (monotonic clock), not measured by the test.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from support import BASE_ENV, PYINIT, program, wait_until


def events(init):
    """pyinit's JSON log as a list of dicts (complete lines only)."""
    result = []
    for line in init.stderr.splitlines():
        if line.startswith("{"):
            result.append(json.loads(line))
    return result


def event(init, name, **match):
    for item in events(init):
        if item["event"] == name and all(item.get(k) == v for k, v in match.items()):
            return item
    return None


@pytest.mark.timeout(60)
def test_a_program_ignoring_sigterm_is_killed_when_the_grace_period_ends(start_init):
    init = start_init(["--grace", "1.5", "--log-format", "json", *program("stubborn", "3")])
    init.wait_for_output("ready")
    init.send(signal.SIGTERM)
    assert init.wait() == 128 + signal.SIGKILL  # the program was SIGKILLed
    grace = event(init, "grace")
    escalation = event(init, "escalation")
    assert grace["seconds"] == 1.5
    # The timer fired on time by pyinit's own clock: grace +/- 100 ms, counted from the grace
    # period's start (never early; the ts are pyinit's monotonic clock).
    assert 0 <= escalation["overdue"] < 0.1, escalation
    assert 1.5 <= escalation["ts"] - grace["ts"] < 1.6, (grace, escalation)
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


@pytest.mark.timeout(60)
def test_leftovers_leave_exits_at_once_like_tini(start_init, tmp_path):
    record = tmp_path / "daemon"
    init = start_init(["--leftovers", "leave", "--log-format", "json", *program("leaver", str(record), "3")])
    assert init.wait() == 3
    assert event(init, "stopping-others") is None
    assert "term" not in record.read_text()  # the kernel's SIGKILL at namespace teardown, no TERM


@pytest.mark.timeout(60)
def test_leftovers_wait_keeps_running_until_the_last_descendant_exits(start_init, tmp_path):
    init = start_init(
        ["--leftovers", "wait", "--", "sh", "-c", "(sleep 1.5; echo late) & exit 2"], pid1=False
    )
    assert init.wait() == 2
    assert "late" in init.stdout


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
    time.sleep(1.5)
    assert init.proc.poll() is None and event(init, "grace") is None
    init.send(signal.SIGTERM)
    assert init.wait() == 128 + signal.SIGKILL


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
    assert init.program_pid
    init.send(signal.SIGTERM)
    wait_until(lambda: event(init, "delayed"))
    init.send(second)
    assert init.wait(timeout=30) in (128 + signal.SIGTERM, 128 + signal.SIGINT)
    assert event(init, "forwarded", signo=signal.SIGTERM)


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
            "import subprocess, sys, time; subprocess.Popen(sys.argv[1:]); time.sleep(100)",
            *PYINIT,
            "--pdeathsig",
            "TERM",
            *program("recorder", str(record)),
        ],
        env=BASE_ENV,
        stdout=subprocess.PIPE,
    )
    try:
        assert parent.stdout.readline().startswith(b"ready")
        parent.kill()
        parent.wait()
        wait_until(lambda: "program 15" in record.read_text())
    finally:
        parent.kill()
        subprocess.run(["pkill", "-KILL", "-f", str(record)])


@pytest.mark.timeout(60)
def test_every_json_event_is_one_object_per_line_with_a_monotonic_timestamp(start_init, tmp_path):
    record = tmp_path / "daemon"
    init = start_init(
        ["--log-format", "json", "--grace", "3", *program("leaver", str(record), "0", "--takes", "5")],
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
    wait_until(lambda: event(init, "forwarded", signo=signal.SIGQUIT))
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
