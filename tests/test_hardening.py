"""PID 1 under storms, faults and hostile input: pyinit keeps working, loses no exit status and
leaks nothing.  Figures (orphans reaped, CPU per orphan, RSS growth, signals survived) are
reported in the run's "figures" section (tests/conftest.py); none is asserted tightly."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from support import (
    BASE_ENV,
    CLEAN_SIGNALS,
    PYINIT,
    UNSHARE,
    compile_program,
    needs_pidns,
    proc_status,
    program,
    run,
    wait_until,
)
from sync import Gone, all_events, assert_idle, event, sigwait_timeout

# --- storms -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def orphan_bursts(tmp_path_factory):
    return compile_program("orphan_bursts", tmp_path_factory.mktemp("bin"), "the orphan-storm helper")


def complete_lines(text):
    """The lines a writer has finished: what follows the last newline may be half-written."""
    return text.split("\n")[:-1]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    return int(proc_status(pid)["VmRSS"].split()[0])


@pytest.mark.timeout(600)
def test_a_hundred_thousand_orphans_in_bursts_are_all_reaped_with_flat_memory(
    start_init, orphan_bursts, figure
):
    init = start_init([orphan_bursts, "100", "1000"])
    program_pid = init.program_pid
    rss_before, cpu_before = rss_kib(init.init_pid), cpu_seconds(init.init_pid)
    init.wait_for_output("done", timeout=500)
    wait_until(
        lambda: [p.pid for p in init.descendants()] == [program_pid],
        timeout=120,
        message="every orphan to be reaped",
    )
    assert init.zombies() == []
    rss_after, cpu = rss_kib(init.init_pid), cpu_seconds(init.init_pid) - cpu_before
    figure(
        "100,000 orphans: pyinit CPU %.2f s (%.1f us per orphan), RSS %d -> %d KiB (%+d KiB)"
        % (cpu, cpu * 1e6 / 100_000, rss_before, rss_after, rss_after - rss_before)
    )
    assert rss_after - rss_before < 4096  # flat: a leak per orphan would be tens of MB
    init.send(signal.SIGTERM)
    assert init.wait() == 0


@pytest.mark.timeout(300)
def test_ten_thousand_mixed_signals_leave_pyinit_alive_and_exact(start_init, tmp_path, figure):
    record = tmp_path / "signals"
    # Only TERM starts the grace period: the storm's SIGHUPs must not (with HUP a stop signal,
    # a storm slower than the grace period on a loaded machine would end in SIGKILL mid-test).
    args = ["--grace", "1", "--stop-signals", "TERM", "--log-format", "json"]
    init = start_init([*args, *program("recorder", str(record))])
    init.wait_for_output("ready")
    standard = [signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGALRM, signal.SIGURG]
    realtime = [signal.SIGRTMIN + n for n in range(4)]
    sent_rt = 0
    for n in range(10_000):
        signo = (standard + realtime)[n % 10]
        os.kill(init.init_pid, signo)
        sent_rt += signo in realtime
    # Guaranteed: pyinit survives; every real-time signal is queued and forwarded exactly once;
    # a standard signal sent while one of its kind is pending merges with it (kernel rule), so
    # each kind arrives at least once after it was last sent.

    def forwarded(kinds):
        log = [json.loads(line) for line in complete_lines(init.stderr) if line.startswith("{")]
        return sum(1 for e in log if e["event"] == "forwarded" and e["signo"] in kinds)

    wait_until(lambda: forwarded(realtime) == sent_rt, timeout=120, message="all real-time signals forwarded")
    kinds = set(standard) | set(realtime)
    wait_until(
        lambda: kinds <= {int(line.split()[1]) for line in complete_lines(record.read_text())},
        timeout=120,
        message="every kind of signal to reach the program",
    )
    figure(
        "10,000 signals: %d real-time sent, %d forwarded; %d standard sent, %d forwarded (merged)"
        % (sent_rt, forwarded(realtime), 10_000 - sent_rt, forwarded(standard))
    )
    assert init.proc.poll() is None
    init.send(signal.SIGTERM)  # the recorder catches it too: the grace period ends it
    assert init.wait(timeout=60) == 128 + signal.SIGKILL


@pytest.mark.timeout(120)
def test_a_sighup_storm_does_not_starve_reaping(start_init, figure):
    # SIGHUP (1) is always handed out before SIGCHLD (17): pyinit must still reap meanwhile.
    init = start_init(program("orphans", "0", "--ignore-hup", "--forever"))
    init.wait_for_output("done")
    deadline = time.monotonic() + 3
    sent = 0
    while time.monotonic() < deadline:
        for _ in range(200):
            os.kill(init.init_pid, signal.SIGHUP)
            sent += 1
        zombies = len(init.zombies())
        assert zombies < 50, "zombies piling up during the storm: %d" % zombies
    figure("SIGHUP storm: %d signals in 3 s while orphans kept coming" % sent)
    init.send(signal.SIGTERM)
    assert init.wait() == 0


# --- pyinit's own bugs -----------------------------------------------------------------------------

# A launcher that plants a bug in pyinit's loop, on every real-time signal, then runs pyinit
# (isolated, -I -S, as the fast launcher does: pyinit does not start over).  The fault is in
# pyinit's own Python code; the signals, processes and namespace are real.
INJECTED_BUG = """
import os, signal, sys
sys.path.insert(0, ROOT)
_real = os.kill
def _buggy(pid, signo):  # every forward, the hot path's and the general one, calls os.kill
    if signo >= signal.SIGRTMIN:
        raise RuntimeError("injected bug for signal %d" % signo)
    return _real(pid, signo)
os.kill = _buggy
from pyinit.main import main
main()
"""


def start_buggy_init(start_init, tmp_path):
    launcher = tmp_path / "buggy_pyinit.py"
    launcher.write_text(INJECTED_BUG.replace("ROOT", repr(BASE_ENV["PYTHONPATH"])))
    record = tmp_path / "record"
    record.write_text("")
    init = start_init(program("recorder", str(record)), pyinit=[sys.executable, "-I", "-S", str(launcher)])
    init.wait_for_output("ready")
    return init, record


@pytest.mark.timeout(60)
def test_an_exception_in_pyinits_loop_is_logged_and_pyinit_carries_on(start_init, tmp_path):
    init, record = start_buggy_init(start_init, tmp_path)
    init.send(signal.SIGRTMIN)
    wait_until(lambda: "internal error, carrying on" in init.stderr, message="the bug to be logged")
    assert "Traceback" not in init.stderr
    init.send(signal.SIGUSR1)  # still forwarded
    wait_until(lambda: "program %d" % signal.SIGUSR1 in record.read_text(), message="SIGUSR1 forwarded")
    os.kill(init.program_pid, signal.SIGKILL)
    assert init.wait() == 128 + signal.SIGKILL  # and the program's status still comes back


@pytest.mark.timeout(60)
def test_fifty_errors_in_a_row_fall_back_to_plain_reaping_and_still_return_the_status(start_init, tmp_path):
    init, _record = start_buggy_init(start_init, tmp_path)
    for _ in range(60):  # real-time signals queue: each one is a separate failing iteration
        init.send(signal.SIGRTMIN)
    wait_until(
        lambda: init.stderr.count("internal error, carrying on") >= 50,
        message="fifty internal errors in a row",
    )
    os.kill(init.program_pid, signal.SIGKILL)
    assert init.wait() == 128 + signal.SIGKILL
    assert init.stderr.count("internal error, carrying on") == 50  # then it stopped trying
    assert "Traceback" not in init.stderr


@pytest.mark.timeout(60)
def test_a_program_that_kills_everything_it_can_leaves_pyinit_standing(start_init):
    # kill -9 -1 from inside the namespace reaches every process but PID 1 and the caller: here
    # two orphans, pyinit's children once their subshells have exited, so pyinit reaps them
    # (children of the shell, the shell might reap them itself).
    script = "(sleep 100 &); (sleep 100 &); kill -9 -1; exit 7"
    init = start_init(["--log-format", "json", "sh", "-c", script])
    assert init.wait() == 7
    killed = all_events(init, "reaped", main=False)
    assert [e.get("signal") for e in killed] == [signal.SIGKILL] * 2, killed


# --- faults -------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_broken_stderr_pipe_costs_nothing_and_loses_no_status(fmt):
    proc = subprocess.Popen(
        PYINIT + ["-vvv", "--log-format", fmt, "sh", "-c", "read -r line; exit 5"],
        env=BASE_ENV,
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    proc.stderr.read(1)
    proc.stderr.close()  # the reader goes away: every later log line meets EPIPE and SIGPIPE
    proc.stdin.close()  # only now does the program exit: its lines are among those
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 5
    assert usage.ru_utime + usage.ru_stime < 1.0  # no feedback loop of SIGPIPE and log lines


@pytest.mark.timeout(60)
@pytest.mark.parametrize("stderr", ["closed", "/dev/full"])
def test_logging_to_a_closed_or_full_stderr_never_crashes(stderr):
    redirect = "2>&-" if stderr == "closed" else "2>/dev/full"
    for fmt in ("text", "json"):
        command = "%s -vvv --log-format %s sh -c 'exit 4' %s" % (" ".join(PYINIT), fmt, redirect)
        assert subprocess.run(["sh", "-c", command], env=BASE_ENV, timeout=60).returncode == 4
        command = "%s no-such-command %s" % (" ".join(PYINIT), redirect)
        assert subprocess.run(["sh", "-c", command], env=BASE_ENV, timeout=60).returncode == 127


@pytest.mark.timeout(60)
def test_fork_failing_under_a_pids_limit_is_one_line_and_125(tmp_path):
    if os.geteuid() != 0 or not os.path.isdir("/sys/fs/cgroup/pids"):
        pytest.skip("needs root and a cgroup-v1 pids controller at /sys/fs/cgroup/pids")
    group = "/sys/fs/cgroup/pids/pyinit-test-%d" % os.getpid()
    os.mkdir(group)
    try:
        with open(group + "/pids.max", "w") as f:
            f.write("1")  # pyinit itself, and not one process more
        script = 'echo $$ > %s/cgroup.procs && exec "$@"' % group
        result = subprocess.run(
            ["sh", "-c", script, "sh", *PYINIT, "true"],
            env=BASE_ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.rmdir(group)
    assert result.returncode == 125
    assert result.stderr == "[pyinit] error: cannot start 'true': Resource temporarily unavailable\n"


@pytest.mark.timeout(60)
def test_a_very_low_descriptor_limit_still_works():
    # CPython itself needs a few descriptors to start; pyinit needs two more for its pipe.
    result = subprocess.run(
        ["sh", "-c", 'ulimit -n 5 && exec "$@"', "sh", *PYINIT, "sh", "-c", "exit 3"],
        env=BASE_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (3, "")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("args", [[], ["--no-new-privs"]], ids=["subreaper", "no-new-privs"])
def test_pyinit_holds_no_descriptor_of_its_own_while_it_supervises(start_init, args):
    # Both load ctypes for prctl.  A libffi with static trampolines (Debian sid's, Fedora's) then
    # keeps a descriptor on its own file for good, from Python 3.14 on: pyinit closes it.
    init = start_init([*args, "sleep", "100"], pid1=False)
    # In its loop, idle: start-up is over (the exec-status pipe read and closed), and nothing
    # but a signal would make pyinit do anything more.
    assert_idle(init.init_pid)
    held = {
        fd: os.readlink("/proc/%d/fd/%s" % (init.init_pid, fd))
        for fd in os.listdir("/proc/%d/fd" % init.init_pid)
    }
    assert set(held) == {"0", "1", "2"}, held


@pytest.mark.timeout(60)
def test_without_proc_pyinit_falls_back_to_the_process_group_and_still_ends(tmp_path):
    needs_pidns()
    record = tmp_path / "daemon"
    # A PID namespace without a /proc of its own: /proc is an empty tmpfs.
    hide_proc = 'mount -t tmpfs none /proc && exec "$@"'
    leaver = program("leaver", str(record), "6")
    command = [
        "unshare",
        "--pid",
        "--fork",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        hide_proc,
        "sh",
        *CLEAN_SIGNALS,
        *PYINIT,
        "--grace",
        "1",
        *leaver,
    ]
    result = subprocess.run(command, env=BASE_ENV, capture_output=True, text=True, timeout=60)
    assert result.returncode == 6
    assert "term" in record.read_text()  # the daemon stayed in the program's group: found there


# --- signals at every phase ---------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_sigterm_arriving_at_any_phase_of_start_up_ends_the_program():
    # SIGTERM is sent to pyinit over and over from the moment it exists, earlier each attempt:
    # before its mask is set (as PID 1 the kernel drops those), before the fork, before the
    # exec, in the loop.  Whatever the phase, the program ends and the status is right.
    needs_pidns()
    for attempt in range(10):
        proc = subprocess.Popen(UNSHARE + PYINIT + ["sleep", "100"], env=BASE_ENV, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    for child in psutil.Process(proc.pid).children():  # pyinit, PID 1 inside
                        child.send_signal(signal.SIGTERM)
                except psutil.NoSuchProcess:
                    pass
                time.sleep(0.002 * attempt)
            assert proc.wait(timeout=5) == 128 + signal.SIGTERM, attempt
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.mark.timeout(60)
def test_signals_while_an_exec_failure_is_reported_change_nothing():
    # A PATH of 12,000 missing directories makes the failing search last long enough to flood
    # pyinit with SIGTERM while its child is still looking and the parent waits on the pipe.
    path = ":".join("/n%d" % n for n in range(12_000))  # under the 128 KiB limit of one string
    proc = subprocess.Popen(
        PYINIT + ["no-such-command-xyz"], env=dict(BASE_ENV, PATH=path), stderr=subprocess.PIPE, text=True
    )
    wait_until(lambda: int(proc_status(proc.pid).get("SigBlk", "0"), 16) != 0)  # pyinit's mask is set
    try:
        while proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.001)
    except ProcessLookupError:
        pass
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 127 and len(err.splitlines()) == 1, err


def _term_handled_or_escalated(init, sent: int) -> bool:
    """pyinit logged the sent-th SIGTERM and is back in its wait -- or it escalated already."""
    if event(init, "escalation") is not None:
        return True
    if len(all_events(init, "signal", signo=signal.SIGTERM)) < sent:
        return False
    try:
        return sigwait_timeout(init.init_pid) is not None
    except Gone:
        return True


@pytest.mark.timeout(60)
def test_more_stop_signals_during_the_grace_period_do_not_restart_it(start_init):
    grace = 2
    init = start_init(["--grace", str(grace), "--log-format", "json", *program("stubborn")])
    init.wait_for_output("ready")
    # SIGTERM after SIGTERM, each once pyinit has taken the one before and waits again, until it
    # escalates -- or, should they push the deadline back, until well past the first deadline
    # (pyinit's clock, CLOCK_MONOTONIC, is the test's too).
    sent = 0
    while event(init, "escalation") is None:
        first = event(init, "grace")
        if first is not None and time.monotonic() > first["deadline"] + 2 * grace:
            break
        try:
            init.send(signal.SIGTERM)
        except ProcessLookupError:  # it escalated and exited meanwhile
            break
        sent += 1
        wait_until(lambda n=sent: _term_handled_or_escalated(init, n), message="SIGTERM %d taken" % sent)
    assert init.wait() == 128 + signal.SIGKILL
    graces = all_events(init, "grace")
    escalation = event(init, "escalation")
    terms = [e["ts"] for e in all_events(init, "signal", signo=signal.SIGTERM) if e["ts"] < escalation["ts"]]
    start, deadline = graces[0]["ts"], graces[0]["deadline"]
    assert len(graces) == 1, graces
    assert escalation["ts"] >= deadline, (graces, escalation)  # never early
    assert [ts for ts in terms if start < ts < deadline], terms  # TERMs came during the period
    # Once the first deadline has passed, pyinit escalates in the wait that follows: at most the
    # TERM it was taking then comes first (two, should the test's next one overtake that
    # zero-timeout wait) -- not the dozens a deadline pushed back would let in.
    late = [ts for ts in terms if ts >= deadline]
    assert len(late) <= 2, (deadline, late, escalation)


# --- what pyinit passes on, and what it never touches -------------------------------------------


def test_pyinit_keeps_inherited_descriptors_and_leaks_none_of_its_own():
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    try:
        result = run(["sh", "-c", "ls /proc/$$/fd"], pass_fds=(write_end,))
    finally:
        os.close(read_end)
        os.close(write_end)
    assert sorted(map(int, result.stdout.split())) == sorted({0, 1, 2, write_end})


def test_socket_activation_listen_pid_is_rewritten_to_the_program():
    launcher = (
        "import os, sys; os.environ['LISTEN_PID'] = str(os.getpid()); os.environ['LISTEN_FDS'] = '1'; "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    result = subprocess.run(
        [sys.executable, "-c", launcher, *PYINIT, "sh", "-c", 'echo "$LISTEN_PID $$ $LISTEN_FDS"'],
        env=BASE_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    listen_pid, pid, fds = result.stdout.split()
    assert listen_pid == pid and fds == "1"
    other = run(["sh", "-c", 'echo "$LISTEN_PID"'], env={"LISTEN_PID": "12345"})
    assert other.stdout.strip() == "12345"  # not pyinit's: left alone


def test_pyinit_adds_no_environment_variables():
    dump = [sys.executable, "-c", "import os, json; print(json.dumps(dict(os.environ)))"]
    env = dict(BASE_ENV, SOME_SETTING="x")
    result = subprocess.run(PYINIT + dump, env=env, capture_output=True, text=True, timeout=60)
    seen = json.loads(result.stdout)
    seen.pop("LC_CTYPE", None)  # CPython's own locale coercion on some systems
    assert seen == env


@pytest.mark.timeout(60)
def test_pyinit_never_signals_a_process_outside_its_tree(tmp_path):
    # A bystander in pyinit's own process group (not its descendant) records every signal.
    # pyinit forwards, shuts down leftovers and escalates; the bystander must hear nothing.
    record = tmp_path / "bystander"
    daemon = tmp_path / "daemon"
    bystander = subprocess.Popen(
        program("recorder", str(record)), stdout=subprocess.PIPE, text=True, preexec_fn=os.setpgrp
    )
    try:
        assert bystander.stdout.readline().startswith("ready")  # its handlers are in place
        result = subprocess.run(
            PYINIT + ["--grace", "1", *program("leaver", str(daemon), "0", "--ignore-term")],
            env=BASE_ENV,
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=lambda: os.setpgid(0, bystander.pid),  # in the bystander's group
        )
        assert result.returncode == 0, result.stderr
        assert "sent SIGKILL to 1 process(es) that ignore SIGTERM" in result.stderr  # the daemon
        # pyinit has exited: whatever it sent the bystander is pending there, and is delivered
        # before this marker, numbered above every standard signal.
        marker = signal.SIGRTMIN + 1
        bystander.send_signal(marker)
        wait_until(lambda: "program %d\n" % marker in record.read_text(), message="the marker")
        assert record.read_text().split() == ["program", str(marker)]  # only ours
    finally:
        bystander.kill()
        bystander.wait()


def test_a_stale_process_identity_is_never_signalled():
    from pyinit import procfs

    proc = subprocess.Popen(["sleep", "30"])
    try:
        listed = procfs.read(proc.pid)
        stale = procfs.Proc(listed.pid, listed.ppid, listed.pgid, listed.state, listed.starttime + 1)
        assert not procfs.send(stale, signal.SIGKILL)  # a different process
        assert proc.poll() is None
        assert procfs.send(listed, signal.SIGTERM)
        assert proc.wait(timeout=30) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()
