"""The program starts clean: in its own process group, with the signal dispositions and mask
pyinit inherited -- except SIGPIPE and SIGXFSZ, which CPython ignores at start-up and pyinit puts
back to default (an inherited SIG_IGN for those two cannot be told apart and is not kept)."""

import signal
import subprocess

from support import BASE_ENV, PYINIT, run, run_pid1, signal_mask

# glibc's own signals (32, 33): no program can change their disposition through libc, and a
# parent that started us with posix_spawn (GNU make does) leaves them ignored.  pyinit can
# neither see nor reset them, so they are not part of what these tests can demand.
LIBC_INTERNAL = sum(1 << (n - 1) for n in range(1, signal.NSIG) if n not in signal.valid_signals())


def ignored(fields):
    return int(fields["SigIgn"], 16) & ~LIBC_INTERNAL


def status_fields(text):
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def test_program_starts_with_no_ignored_and_no_blocked_signals():
    fields = status_fields(run(["cat", "/proc/self/status"]).stdout)
    assert ignored(fields) == 0
    assert int(fields["SigBlk"], 16) == 0


def test_program_keeps_the_dispositions_and_mask_pyinit_inherited():
    ignored_signals = (signal.SIGINT, signal.SIGTTOU, signal.SIGSEGV, signal.SIGUSR2)
    blocked = (signal.SIGTTIN, signal.SIGILL, signal.SIGTERM)

    def parent_setup():  # what a caller of pyinit might have done
        for signo in ignored_signals:
            signal.signal(signo, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, blocked)

    result = subprocess.run(
        PYINIT + ["cat", "/proc/self/status"],
        env=BASE_ENV,
        capture_output=True,
        text=True,
        preexec_fn=parent_setup,
        timeout=60,
    )
    fields = status_fields(result.stdout)
    assert ignored(fields) == signal_mask(*ignored_signals)
    assert int(fields["SigBlk"], 16) == signal_mask(*blocked)


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
