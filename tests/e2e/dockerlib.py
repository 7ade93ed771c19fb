"""The Docker CLI for the end-to-end tests: is there an engine, run containers, clean up, time.

Everything goes through the `docker` command, as a user would type it, against $DOCKER_HOST
(docker/e2e.sh sets it to its private engine).  Waits poll with generous deadlines: the
machines are shared and noisy, so no test asserts a tight duration.
"""

from __future__ import annotations

import functools
import os
import subprocess
import time
import uuid
from pathlib import Path

from support import wait_until

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = os.environ.get("PYINIT_BASE_IMAGE", "local/debian-py:bookworm")
APP_IMAGE = "pyinit-e2e/app:test"  # docker/Dockerfile: USER app, ENTRYPOINT ["pyinit", "--"]
ENTRYPOINT_IMAGE = "pyinit-e2e/entrypoint:test"  # docker/Dockerfile.entrypoint: root, then drop
LABEL = "pyinit-e2e"  # on every container the suite starts
#: CI sets it: no engine is then a failure, not a reason to skip.
REQUIRED = os.environ.get("PYINIT_E2E_REQUIRED", "") == "1"

#: Measurements to print at the end of the run (in the CI log), one line each.
REPORT: list[str] = []


def docker(*args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; fail the test with its output when check and it fails."""
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if check and result.returncode != 0:
        raise AssertionError(
            "docker %s: exit %d\nstdout: %s\nstderr: %s"
            % (" ".join(args), result.returncode, result.stdout[-2000:], result.stderr[-2000:])
        )
    return result


@functools.cache
def engine_problem() -> str | None:
    """None if an engine answers and has the base image; else why the suite cannot run."""
    where = "DOCKER_HOST=%s" % os.environ.get("DOCKER_HOST", "(unset)")
    hint = "`make docker-test` (docker/e2e.sh) sets one up"
    try:
        version = docker("version", "--format", "{{.Server.Version}}", timeout=30, check=False)
    except FileNotFoundError:
        return "no docker CLI installed; %s" % hint
    except subprocess.TimeoutExpired:
        return "the Docker engine at %s does not answer within 30 s" % where
    if version.returncode != 0:
        first = (version.stderr.strip().splitlines() or ["?"])[0]
        return "no Docker engine at %s (%s); %s" % (where, first, hint)
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        return "the engine at %s has no %s image; %s" % (where, BASE_IMAGE, hint)
    return None


def build_images() -> None:
    """The two example images, from this checkout (so the tests run the code under test)."""
    for dockerfile, tag in (("Dockerfile", APP_IMAGE), ("Dockerfile.entrypoint", ENTRYPOINT_IMAGE)):
        docker(
            "build",
            "--quiet",
            "--build-arg",
            "BASE=%s" % BASE_IMAGE,
            "--file",
            str(ROOT / "docker" / dockerfile),
            "--tag",
            tag,
            str(ROOT),
            timeout=600,
        )


def new_name() -> str:
    return "pyinit-e2e-%s" % uuid.uuid4().hex[:12]


class Container:
    """A container started with `docker run -d`, by name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def logs(self) -> str:
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        wait_until(
            lambda: text in self.logs() or not self.running(),
            timeout,
            interval=0.1,
            message="%r in the logs of %s" % (text, self.name),
        )
        assert text in self.logs(), "%s ended before logging %r: %s" % (self.name, text, self.logs())

    def running(self) -> bool:
        state = docker("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return state.stdout.strip() == "true"

    def processes(self) -> list[tuple[int, str, str]]:
        """(host pid, state, command line) of every process in the container, PID 1 first."""
        result = docker("top", self.name, "-o", "pid,stat,args", check=False)
        rows = []
        for line in result.stdout.splitlines()[1:]:
            pid, stat, args = line.split(None, 2)
            rows.append((int(pid), stat, args.strip()))
        return rows

    def wait_for_process(self, args: str, timeout: float = 60.0) -> None:
        """Until a process with exactly this command line runs in the container."""
        wait_until(
            lambda: any(row[2] == args for row in self.processes()),
            timeout,
            interval=0.1,
            message="%r to run in %s" % (args, self.name),
        )

    def exit_code(self, timeout: float = 60.0) -> int:
        """Wait for the container to exit; its exit code."""
        return int(docker("wait", self.name, timeout=timeout).stdout.strip())

    def stop(self, *, timeout: float = 60.0) -> float:
        """`docker stop` (its default 10 s before SIGKILL); how long it took, in seconds."""
        start = time.monotonic()
        docker("stop", self.name, timeout=timeout)
        return time.monotonic() - start

    def kill(self, signal_name: str) -> None:
        docker("kill", "--signal", signal_name, self.name)

    def exec(self, *command: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        return docker("exec", *(["--user", user] if user else []), self.name, *command)


class Containers:
    """Start containers for one test and remove them all afterwards, whatever happened."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def name(self) -> str:
        """A fresh name to pass to `docker run --name` yourself; removed at the end."""
        name = new_name()
        self.names.append(name)
        return name

    def start(self, image: str, *command: str, options: tuple[str, ...] = ()) -> Container:
        """docker run -d [options] image [command...]"""
        name = self.name()
        docker("run", "--detach", "--name", name, "--label", LABEL, *options, image, *command)
        return Container(name)

    def remove_all(self) -> None:
        if self.names:
            docker("rm", "--force", "--volumes", *self.names, check=False, timeout=120)


def run(image: str, *command: str, options: tuple[str, ...] = (), timeout: float = 120.0):
    """docker run --rm, to completion: the CompletedProcess (exit code, stdout, stderr)."""
    return docker("run", "--rm", "--label", LABEL, *options, image, *command, timeout=timeout, check=False)
