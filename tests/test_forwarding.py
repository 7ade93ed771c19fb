"""Every catchable signal sent to pyinit reaches the program: its whole group by default, the
program alone with --single-child.  SIGCHLD is pyinit's own and is never forwarded.

What must not arrive is shown absent by a marker that would have to come after it: a signal
numbered above it, since the lowest-numbered pending signal is delivered first (real-time
signals queue, in order), sent once whatever pyinit sent is pending.
"""

import os
import signal

import pytest

from pyinit.signals import name
from support import CATCHABLE, program, wait_until
from sync import wait_in_sigwait


def received(path):
    """{role: [signo, ...]} from a recorder's output file."""
    result = {}
    if path.exists():
        for line in path.read_text().splitlines():
            role, signo = line.split()
            result.setdefault(role, []).append(int(signo))
    return result


def send_and_wait(init, record, signo, roles):
    """Send signo to pyinit and wait until each of `roles` has recorded it once more."""
    before = {role: received(record).get(role, []).count(signo) for role in roles}
    init.send(signo)
    wait_until(
        lambda: all(received(record).get(role, []).count(signo) > before[role] for role in roles),
        message="%s to reach %s" % (name(signo), roles),
    )


@pytest.mark.timeout(180)
@pytest.mark.parametrize("as_pid1", [True, False], ids=["pid1", "subreaper"])
def test_every_catchable_signal_reaches_every_process_in_the_group(start_init, tmp_path, as_pid1):
    record = tmp_path / "signals"
    init = start_init(program("recorder", str(record), "--grandchild"), pid1=as_pid1)
    init.wait_for_output("ready")
    program_pid = init.program_pid
    group = [p.pid for p in init.descendants()]
    assert len(group) == 2 and all(os.getpgid(pid) == program_pid for pid in group)
    for signo in CATCHABLE:
        send_and_wait(init, record, signo, ["program", "grandchild"])
    for role in ("program", "grandchild"):
        assert sorted(set(received(record)[role])) == CATCHABLE
    assert init.proc.poll() is None


@pytest.mark.timeout(120)
def test_single_child_forwards_to_the_program_alone(start_init, tmp_path):
    record = tmp_path / "signals"
    init = start_init(["--single-child", *program("recorder", str(record), "--grandchild")])
    init.wait_for_output("ready")
    assert len(init.descendants()) == 2
    program_pid = init.program_pid
    (grandchild,) = [p.pid for p in init.descendants() if p.pid != program_pid]
    forwarded = (signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP, signal.SIGRTMIN + 1)
    for signo in forwarded:
        send_and_wait(init, record, signo, ["program"])
    # pyinit is back in its wait: every kill() it made has returned, so a copy sent to the
    # grandchild is pending there; the marker, numbered above them all, comes after it.
    wait_in_sigwait(init.init_pid)
    marker = signal.SIGRTMIN + 2
    os.kill(grandchild, marker)
    wait_until(lambda: marker in received(record).get("grandchild", []), message="the marker")
    assert received(record)["grandchild"] == [marker]


@pytest.mark.timeout(60)
def test_sigchld_is_not_forwarded(start_init, tmp_path):
    record = tmp_path / "signals"
    init = start_init(["--", *program("recorder", str(record))])
    init.wait_for_output("ready")
    init.send(signal.SIGCHLD)
    # A marker sent after it, numbered above it: a forwarded SIGCHLD would be recorded first.
    marker = signal.SIGRTMIN + 3
    send_and_wait(init, record, marker, ["program"])
    assert received(record)["program"] == [marker]


@pytest.mark.timeout(60)
def test_sigterm_to_pid1_ends_the_program_and_pyinit_with_143(start_init):
    init = start_init(["sleep", "100"])
    assert init.program_pid
    init.send(signal.SIGTERM)
    assert init.wait() == 128 + signal.SIGTERM


@pytest.mark.timeout(60)
def test_pyinits_own_timer_is_never_forwarded_but_a_sent_sigalrm_is(start_init, tmp_path):
    # pyinit keeps its deadlines with an interval timer whose SIGALRM comes from the kernel; a
    # SIGALRM someone sends (docker kill -s ALRM) is the program's.
    record = tmp_path / "record"
    init = start_init(["--delay", "USR1:0.3", *program("recorder", str(record))])
    init.wait_for_output("ready")
    init.send(signal.SIGUSR1)  # held 0.3 s: the timer's SIGALRM releases it
    # Released in the same step as the timer's SIGALRM: a forwarded one would come first.
    wait_until(lambda: received(record).get("program"), message="USR1, released by the timer")
    assert received(record)["program"] == [signal.SIGUSR1]
    init.send(signal.SIGALRM)
    wait_until(lambda: len(received(record)["program"]) == 2, message="the sent SIGALRM")
    assert received(record)["program"] == [signal.SIGUSR1, signal.SIGALRM]
