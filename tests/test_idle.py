"""An idle pyinit costs nothing: it sleeps in sigwaitinfo with no timeout (tini wakes up
once a second)."""

import time

import pytest

from support import proc_status


def context_switches(pid):
    fields = proc_status(pid)
    return int(fields["voluntary_ctxt_switches"]) + int(fields["nonvoluntary_ctxt_switches"])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("as_pid1", [True, False], ids=["pid1", "subreaper"])
def test_idle_pyinit_never_wakes_up(start_init, as_pid1):
    init = start_init(["sleep", "100"], pid1=as_pid1)
    assert init.program_pid  # started, and pyinit is in its loop soon after
    time.sleep(0.5)
    before = context_switches(init.init_pid)
    time.sleep(3)
    assert context_switches(init.init_pid) == before
