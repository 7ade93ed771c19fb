"""pyinit as Podman's own init: `podman run --init --init-path FILE`, in an image that has python3
but no pyinit (the bare base image).

Podman bind-mounts FILE at /run/podman-init and runs `/run/podman-init -- COMMAND...` as PID 1
(what catatonit, its default init, expects).  pyinit's own command line takes exactly that: the
name podman-init selects no drop-in, and `--` ends the (no) options.  The FILE is pyinit as one
file, the zipapp of tools/build_pyz.py: as `make zipapp` builds it (`#!/usr/bin/env python3`),
and with `#!/usr/bin/python3 -IS`, which keeps the container's Python environment out of PID 1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.dockerlib import BASE_IMAGE, REPORT, ROOT, Containers, run
from support import PROGRAMS, wait_until

pytestmark = pytest.mark.podman

#: The two builds of the zipapp: its #! line.
BUILDS = {"env-python3": "/usr/bin/env python3", "isolated": "/usr/bin/python3 -IS"}
#: The start of PID 1's command line under each: the kernel runs the #! line; a python3 found by
#: env starts over as `python3 -I -S -c CODE` (the path env found, and pyinit's own code) before
#: pyinit does anything (README, "In a Dockerfile"); None stands for that CODE.
PID1_PYTHON = {
    "env-python3": ["/usr/bin/python3", "-I", "-S", "-c", None],
    "isolated": ["/usr/bin/python3", "-IS"],
}


@pytest.fixture(scope="module")
def shared() -> Iterator[Path]:
    """A folder the rootless engine user can read: the zipapps, a sitecustomize, the programs."""
    folder = Path(tempfile.mkdtemp(prefix="pyinit-e2e-init-"))
    try:
        folder.chmod(0o755)
        for name, interpreter in BUILDS.items():
            subprocess.run(
                [sys.executable, str(ROOT / "tools" / "build_pyz.py")]
                + ["--output", str(folder / (name + ".pyz")), "--python", interpreter],
                check=True,
                capture_output=True,
                timeout=120,
            )
        site = folder / "site"
        site.mkdir(mode=0o755)
        # Run by `site` at the start of any python3 that has /site on its path.
        (site / "sitecustomize.py").write_text(
            "import os, sys\nsys.stderr.write('sitecustomize ran in pid %d\\n' % os.getpid())\n"
        )
        shutil.copytree(PROGRAMS, folder / "programs")
        for path in folder.rglob("*"):
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def init_path(shared: Path, build: str = "isolated") -> tuple[str, ...]:
    return ("--init", "--init-path", str(shared / (build + ".pyz")))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("build", sorted(BUILDS))
def test_init_path_zipapp_is_pid1_gets_double_dash_command_and_passes_the_exit_status(shared, build):
    show = "tr '\\0' '\\001' </proc/1/cmdline; echo; ps -o pid=,ppid=,args= -p $$; exit 3"
    result = run(BASE_IMAGE, "sh", "-c", show, options=init_path(shared, build))
    assert result.returncode == 3, result
    pid1, shell = result.stdout.splitlines()
    argv = pid1.split("\x01")[:-1]  # each argument ended in a NUL
    python = PID1_PYTHON[build]
    python = [argv[i] if word is None else word for i, word in enumerate(python)]
    # How podman calls its init: the file at /run/podman-init, `--`, then the command.
    assert argv == [*python, "/run/podman-init", "--", "sh", "-c", show], pid1
    if None in PID1_PYTHON[build]:  # the restart runs pyinit from the same file
        assert "'/run/podman-init'" in argv[PID1_PYTHON[build].index(None)], pid1
    pid, ppid, _ = shell.split(None, 2)
    assert int(ppid) == 1 and int(pid) != 1, "the command is PID 1's child: %s" % shell
    assert result.stderr == "", result.stderr


@pytest.mark.timeout(120)
def test_init_path_podman_stop_forwards_sigterm_exit_143_promptly(containers: Containers, shared):
    container = containers.start(BASE_IMAGE, "sleep", "100", options=init_path(shared))
    container.wait_for_process("sleep 100")
    took = container.stop()
    code = container.exit_code()
    REPORT.append("podman stop, pyinit as --init-path, sleep 100: %.2f s, exit %d" % (took, code))
    assert code == 143, container.logs()
    assert took < 5.0, "podman stop took %.2f s" % took


@pytest.mark.timeout(120)
def test_init_path_reaps_orphans(containers: Containers, shared):
    container = containers.start(
        BASE_IMAGE,
        "python3",
        "/programs/orphans.py",
        "5",
        options=(*init_path(shared), "--volume", "%s:/programs:ro" % (shared / "programs")),
    )
    container.wait_for_log("done")

    # Left: pyinit (PID 1) and the program; no orphan running, none a zombie.
    wait_until(lambda: len(container.processes()) == 2, 30, interval=0.1, message="the orphans to go")
    table = container.processes()
    assert "/run/podman-init -- python3 /programs/orphans.py 5" in table[0][2], table
    assert not any(stat.startswith("Z") for _, stat, _ in table), table


@pytest.mark.timeout(120)
@pytest.mark.parametrize("build, runs_site", [("env-python3", True), ("isolated", False)])
def test_only_the_isolated_zipapp_keeps_the_containers_python_path_out_of_pid1(shared, build, runs_site):
    # PYTHONPATH of the container (for the application) reaches PID 1 too, unless it runs -I -S:
    # a sitecustomize there would run inside the init, before it blocks its signals.
    options = (
        *init_path(shared, build),
        "-e",
        "PYTHONPATH=/site",
        "--volume",
        "%s:/site:ro" % (shared / "site"),
    )
    result = run(BASE_IMAGE, "true", options=options)
    assert result.returncode == 0, result
    assert ("sitecustomize ran in pid 1" in result.stderr) == runs_site, result.stderr


@pytest.mark.timeout(120)
def test_podman_inspect_names_the_init_as_the_containers_path(containers: Containers, shared):
    # Docker's .Path stays the command (its --init is hidden); podman's is the init.
    container = containers.start(BASE_IMAGE, "sleep", "100", options=init_path(shared))
    path = container.inspect("{{.Path}} {{.Args}}")
    assert path == "/run/podman-init [-- sleep 100]", path
