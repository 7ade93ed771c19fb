"""What a PID 1 owes the container: orphans reaped (no zombies in `docker exec ps`), and a
command that cannot run reported in one line with exit 127/126."""

from __future__ import annotations

import pytest

from e2e.dockerlib import APP_IMAGE, Container, run
from support import PROGRAMS, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.podman]

ORPHANS = 5


def processes(container: Container) -> list[tuple[int, str, str]]:
    """(pid, state, command line) of the container's processes but the `ps` itself."""
    ps = container.exec("ps", "-eo", "pid=,stat=,args=").stdout
    rows = [line.split(None, 2) for line in ps.splitlines() if line.strip()]
    return [(int(pid), stat, args) for pid, stat, args in rows if not args.startswith("ps ")]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("init", ["pyinit", "no-init-control"])
def test_orphans_are_reaped_no_zombies_in_docker_exec_ps(containers, init):
    # tests/programs/orphans.py leaves ORPHANS grandchildren behind; they die at once, orphaned.
    options = ("--volume", "%s:/programs:ro" % PROGRAMS)
    if init == "pyinit":
        container = containers.start(
            APP_IMAGE, "python3", "/programs/orphans.py", str(ORPHANS), options=options
        )
    else:  # the same program as PID 1 itself, which never reaps what is re-parented to it
        container = containers.start(
            APP_IMAGE, "/programs/orphans.py", str(ORPHANS), options=(*options, "--entrypoint", "python3")
        )
    container.wait_for_log("done")

    def zombies() -> list[tuple[int, str, str]]:
        return [row for row in processes(container) if row[1].startswith("Z")]

    if init == "pyinit":
        # Every orphan gone for good: neither running nor a zombie; left are pyinit and the program.
        wait_until(lambda: len(processes(container)) == 2, 30, interval=0.1, message="the orphans to go")
        assert zombies() == [], processes(container)
        assert processes(container)[0][0] == 1, "PID 1 first"
    else:
        # The control: the check above would see zombies if there were any.
        wait_until(lambda: len(zombies()) == ORPHANS, 30, interval=0.1, message="zombies under no init")


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "command, code, reason",
    [("no-such-command", 127, "command not found"), ("/etc/passwd", 126, "Permission denied")],
)
def test_docker_run_of_a_bad_command_exits_127_or_126_with_one_line(command, code, reason):
    result = run(APP_IMAGE, command)
    assert result.returncode == code, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert command in lines[0] and reason in lines[0], lines[0]
    assert result.stdout == ""
