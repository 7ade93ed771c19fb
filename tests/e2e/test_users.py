"""Users: the image's non-root USER, `docker run --user`, and pyinit's own privilege drop
(`pyinit --user`, and `pyinit exec --user` in the entrypoint-script pattern).
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from e2e.dockerlib import APP_IMAGE, ENGINE, ENTRYPOINT_IMAGE, REPORT, Container, run
from support import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.podman]


class Proc(NamedTuple):
    pid: int
    ppid: int
    user: str
    group: str
    groups: str  # supplementary groups, comma-separated
    args: str


def owners(container: Container) -> dict[str, Proc]:
    """Command line -> its process, as `ps` inside sees it; "PID 1" -> the container's init."""
    ps = container.exec("ps", "-eo", "pid=,ppid=,user=,group=,supgrp=,args=").stdout
    table = {}
    for line in ps.splitlines():
        pid, ppid, user, group, groups, args = line.split(None, 5)
        proc = Proc(int(pid), int(ppid), user, group, groups, args)
        table[args] = proc
        if proc.pid == 1:
            table["PID 1"] = proc
    return table


def started_or_refused(container: Container, args: str) -> None:
    """Wait until `args` runs in the container; skip if pyinit refused --user and exited."""
    wait_until(
        lambda: any(row[2] == args for row in container.processes()) or not container.running(),
        60,
        interval=0.1,
        message="%r to start" % args,
    )
    if not container.running():
        raise AssertionError("the container exited: %s" % container.logs())


@pytest.mark.timeout(120)
def test_the_image_runs_pyinit_and_the_program_as_its_non_root_user(containers):
    assert run(APP_IMAGE, "id", "-un").stdout.strip() == "app"
    container = containers.start(APP_IMAGE, "sleep", "100")
    container.wait_for_process("sleep 100")
    table = owners(container)
    assert table["PID 1"].user == "app" and "pyinit" in table["PID 1"].args, table
    assert (table["sleep 100"].user, table["sleep 100"].group) == ("app", "app"), table
    # A non-root PID 1 can still signal its own program: docker stop is prompt.
    took = container.stop()
    assert container.exit_code() == 143
    assert took < 5.0, "docker stop took %.2f s" % took


@pytest.mark.timeout(120)
def test_docker_run_user_runs_pyinit_and_the_program_as_that_user():
    result = run(APP_IMAGE, "sh", "-c", "id -u; id -g; id -G", options=("--user", "65534:65534"))
    assert result.returncode == 0, result
    assert result.stdout.split() == ["65534", "65534", "65534"]


@pytest.mark.timeout(120)
def test_pyinit_user_drops_to_nobody_with_no_groups_left_over():
    result = run(
        APP_IMAGE,
        "--user",
        "nobody",
        "--",
        "sh",
        "-c",
        "id -u; id -g; id -G",
        options=("--user", "root", "--entrypoint", "pyinit"),
    )
    assert result.returncode == 0, result
    assert result.stdout.split() == ["65534", "65534", "65534"], "uid, gid, groups: %s" % result.stdout


@pytest.mark.timeout(120)
def test_pyinit_user_root_pid1_supervises_an_unprivileged_program(containers):
    container = containers.start(
        APP_IMAGE,
        "--user",
        "nobody",
        "--",
        "sleep",
        "100",
        options=("--user", "root", "--entrypoint", "pyinit"),
    )
    started_or_refused(container, "sleep 100")
    table = owners(container)
    assert table["PID 1"].user == "root", table
    sleep = table["sleep 100"]
    assert (sleep.user, sleep.group, sleep.groups) == ("nobody", "nogroup", "nogroup"), table
    took = container.stop()
    assert container.exit_code() == 143
    assert took < 5.0, "docker stop took %.2f s" % took


@pytest.mark.timeout(120)
def test_entrypoint_script_sets_up_as_root_then_runs_the_program_as_app():
    result = run(ENTRYPOINT_IMAGE, "sh", "-c", "id -un; id -Gn; stat -c %U /data")
    assert result.returncode == 0, result
    assert result.stdout.split() == ["app", "app", "app"], "user, groups, owner of /data: %s" % result.stdout


@pytest.mark.timeout(120)
def test_entrypoint_pattern_pyinit_exec_leaves_no_process_in_between(containers):
    container = containers.start(ENTRYPOINT_IMAGE, "sleep", "100")
    started_or_refused(container, "sleep 100")
    table = owners(container)
    assert table["PID 1"].user == "root", table
    # `pyinit exec` replaced the entrypoint shell: the program is PID 1's own child, as app.
    assert table["sleep 100"].user == "app" and table["sleep 100"].ppid == 1, table
    took = container.stop()
    REPORT.append("%s stop, entrypoint pattern (root pyinit, program as app): %.2f s" % (ENGINE, took))
    assert container.exit_code() == 143
    assert took < 5.0, "docker stop took %.2f s" % took


@pytest.mark.timeout(120)
def test_entrypoint_script_started_as_non_root_skips_the_root_setup():
    result = run(ENTRYPOINT_IMAGE, "id", "-un", options=("--user", "app"))
    assert result.returncode == 0, result
    assert result.stdout.strip() == "app"
