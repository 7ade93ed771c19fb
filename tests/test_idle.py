"""An idle pyinit costs nothing: it sleeps in sigwaitinfo with no timeout (tini wakes up
once a second)."""

import signal
import time

import pytest

from support import proc_status
from sync import assert_idle, names, threads, wait_event, wait_in_sigwait

# How long the test watches an idle pyinit.  The structural proof is the timeout argument of its
# wait (none: only a signal can wake it); the window checks that it really stays there, and is
# long enough to catch a periodic wake-up such as tini's, once a second.
IDLE_WINDOW = 1.5


def context_switches(pid):
    fields = proc_status(pid)
    return int(fields["voluntary_ctxt_switches"]) + int(fields["nonvoluntary_ctxt_switches"])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("as_pid1", [True, False], ids=["pid1", "subreaper"])
def test_idle_pyinit_never_wakes_up(start_init, as_pid1):
    init = start_init(["--log-format", "json", "sleep", "100"], pid1=as_pid1)
    pid = init.init_pid
    wait_event(init, "spawned")
    # In its loop, in sigwaitinfo with no timeout, and alone (no thread that could keep a
    # timer): nothing but a signal can wake it.
    assert wait_in_sigwait(pid) == 0, "pyinit waits with a timeout although it is idle"
    assert threads(pid) == 1
    before = context_switches(pid)
    time.sleep(IDLE_WINDOW)  # the window: no event can end it, absence is what is measured
    assert context_switches(pid) == before
    assert_idle(pid)  # still the same kind of wait
    # The window's other end, a positive event: a signal does wake pyinit, it forwards it
    # (SIGWINCH: `sleep` ignores it), and the counter sees that wake-up.  So the counter was
    # live, and nothing happened in the window but what the log shows.
    init.send(signal.SIGWINCH)
    wait_event(init, "forwarded", signo=signal.SIGWINCH)
    assert_idle(pid)
    assert context_switches(pid) > before
    logged = names(init)
    assert logged[logged.index("spawned") + 1 :] == ["signal", "forwarded"]  # nothing in between
