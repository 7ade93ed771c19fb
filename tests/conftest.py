import signal

import pytest

from support import Init

# The suite's commands must start with the dispositions a container's PID 1 gives them: run under
# `nohup` (or a CI runner that ignores SIGHUP), every command the tests start would inherit the
# ignore, and pyinit passes inherited ignores on by design (README).  Python's own ignores of
# SIGPIPE and SIGXFSZ are reset by subprocess already.
for _signo in set(signal.Signals) - {signal.SIGKILL, signal.SIGSTOP, signal.SIGPIPE, signal.SIGXFSZ}:
    if signal.getsignal(_signo) == signal.SIG_IGN:
        signal.signal(_signo, signal.default_int_handler if _signo == signal.SIGINT else signal.SIG_DFL)


@pytest.fixture
def start_init(tmp_path):
    """Factory: start_init(args, pid1=True, env=None) -> a running Init; all are killed after."""
    started = []

    def start(args, **kwargs):
        init = Init(tmp_path, args, **kwargs)
        started.append(init)
        return init

    yield start
    for init in started:
        init.cleanup()


# Figures the hardening tests measure (CPU per orphan, RSS growth, signals survived): shown in
# a section of their own at the end of every run, so CI logs carry them without -s.
FIGURES: list[str] = []


@pytest.fixture
def figure():
    """figure(text): report a measured figure in the run's "figures" section."""
    return FIGURES.append


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("pyinit's figures (tests/test_hardening.py)")
        for line in FIGURES:
            terminalreporter.write_line(line)
