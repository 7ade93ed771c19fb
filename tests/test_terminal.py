"""Through a real pseudo-terminal: Ctrl-C reaches the program, and a shell under pyinit has job
control (pyinit hands the terminal's foreground to the program's process group)."""

import re

import pytest

from support import BASE_ENV, PYINIT, UNSHARE, can_unshare
from ttys import Terminal

MODES = ["plain", "pid1"]


def command(mode, args):
    if mode == "pid1":
        reason = can_unshare()
        if reason:
            pytest.skip(reason)
        return UNSHARE + PYINIT + args
    return PYINIT + args


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", MODES)
def test_ctrl_c_stops_the_program_with_130(mode):
    # `exec`: dash defers a SIGINT that lands between its makejob() and the fork of `sleep`
    # until `sleep` ends (100 s) -- a race of the shell, not of pyinit.
    # The program reports its process group and the terminal's foreground group (/proc's pgrp
    # and tpgid): equal once pyinit has handed the terminal over.  Without the hand-off, Ctrl-C
    # would still give 130 (pyinit would get the SIGINT and forward it): this is the proof.
    show = "read -r pid comm state ppid pgrp sid tty tpgid rest < /proc/$$/stat; echo GROUPS-$pgrp-$tpgid-"
    term = Terminal(command(mode, ["sh", "-c", show + "; echo READY; exec sleep 100"]), BASE_ENV)
    try:
        assert term.read_until(b"READY"), term.output
        pgrp, tpgid = term.output.split(b"GROUPS-")[1].split(b"-")[:2]
        assert pgrp == tpgid, term.output  # the program's group is in the foreground
        term.write(b"\x03")
        assert term.wait() == 130
    finally:
        term.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", MODES)
def test_interactive_bash_under_pyinit_has_job_control(mode):
    env = dict(BASE_ENV, PS1="$ ", TERM="dumb")
    term = Terminal(command(mode, ["bash", "--norc", "--noprofile", "-i"]), env)
    try:
        assert term.read_until(b"$ "), term.output
        term.write(b"echo flags=$-\n")
        assert term.read_until(b"flags="), term.output
        term.write(b"sleep 100 &\n")
        # bash learns of the stop from its SIGCHLD: poll its own job table (`jobs` in a command
        # substitution still sees it), then list it.
        term.write(
            b"kill -STOP %1; until [[ $(jobs %1) == *Stop* ]]; do sleep 0.01; done; jobs;"
            b" kill -CONT %1; kill %1; wait; echo JOBS-$((1+1))-DONE\n"
        )
        assert term.read_until(b"JOBS-2-DONE"), term.output  # computed: not the typing
        term.write(b"exit 0\n")
        assert term.wait() == 0
        text = term.output.decode(errors="replace")
        assert "no job control" not in text and "cannot set terminal process group" not in text
        flags = text.split("flags=")[-1].split()[0]
        assert "m" in flags, text
        assert re.search(r"\[1\]\+ +Stopped +sleep 100", text), text  # bash's job table, not the typing
    finally:
        term.close()
