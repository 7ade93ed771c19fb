"""Signal names are Linux's on every Python pyinit supports: the `signal` module of Python < 3.11
has no SIGSTKFLT, so names must not come from it alone."""

import signal

import pytest

from pyinit import signals
from support import run

LINUX = (  # noqa: SIM905 (one line per name would hide the numbering)
    "HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT "
    "CHLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS"
).split()


def test_every_standard_linux_signal_has_its_name_and_number_on_every_python():
    if signal.SIGUSR1 != 10:
        pytest.skip("this architecture numbers signals its own way (not x86, arm, ...)")
    for number, name in enumerate(LINUX, 1):
        assert signals.name(number) == "SIG" + name
        assert signals.parse(name) == signals.parse("sig" + name.lower()) == number


def test_names_are_the_signal_modules_wherever_it_has_one():
    # Unchanged output where Python names the signal (all of them from 3.11 on).
    for number in range(1, signals.SIGRTMIN):
        try:
            expected = signal.Signals(number).name
        except ValueError:  # 32 and 33 (glibc's own), and SIGSTKFLT before 3.11
            continue
        assert signals.name(number) == expected
    for member_name, member in signal.Signals.__members__.items():
        if member_name not in ("SIGRTMIN", "SIGRTMAX"):
            assert signals.parse(member_name) == member


def test_the_second_names_users_type_are_understood():
    assert signals.parse("IOT") == signal.SIGABRT
    assert signals.parse("SIGPOLL") == signal.SIGIO
    assert signals.parse("cld") == signal.SIGCHLD


def test_numbers_libc_keeps_or_real_time_ones_are_named_as_before():
    assert [signals.name(n) for n in (32, 33)] == ["32", "33"]
    assert signals.name(signals.SIGRTMIN) == "SIGRTMIN"
    assert signals.name(signals.SIGRTMIN + 3) == "SIGRTMIN+3"


def test_a_rewrite_of_stkflt_is_accepted_on_every_python():
    result = run(["--rewrite", "STKFLT:TERM", "--", "sh", "-c", "exit 3"])
    assert (result.returncode, result.stderr) == (3, "")
