"""The engine's CLI for the end-to-end tests: is there an engine, run containers, clean up, time.

Two engines, one at a time: Docker (the default; the `docker` command against $DOCKER_HOST,
which docker/e2e.sh points at its private engine) or rootless Podman (PYINIT_E2E_ENGINE=podman;
docker/podman-e2e.sh sets PYINIT_E2E_CLI to a wrapper that runs `podman` as its rootless user).
Everything goes through that command, as a user would type it; the two CLIs agree on every
command used here but `top`.  Waits poll with generous deadlines: the machines are shared and
noisy, so no test asserts a tight duration.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
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
#: docker or podman: which engine the suite drives (a test runs only if marked for it).
ENGINE = os.environ.get("PYINIT_E2E_ENGINE", "") or "docker"
#: The command that is the engine's CLI (a wrapper, for the rootless user's podman).
CLI = shlex.split(os.environ.get("PYINIT_E2E_CLI", "")) or [ENGINE]
#: What `run --init` makes PID 1: docker-init (a link to tini) or podman's catatonit.
BUILTIN_INIT = {"docker": "tini", "podman": "catatonit"}.get(ENGINE, "?")
#: How to get an engine, for the messages.
HINT = {
    "docker": "`make docker-test` (docker/e2e.sh) sets one up",
    "podman": "`make podman-test` (docker/podman-e2e.sh) sets one up",
}
#: CI sets it: no engine is then a failure, not a reason to skip.
REQUIRED = os.environ.get("PYINIT_E2E_REQUIRED", "") == "1"

#: A row of `top`: pid, state (with ps's flags like `Ss+`), command line.
_TOP_ROW = re.compile(r"^\s*(\d+)\s+([A-Za-z][A-Za-z<+]*)\s+(.*)$")

#: Measurements to print at the end of the run (in the CI log), one line each.
REPORT: list[str] = []


def cli(*args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the engine's CLI; fail the test with its output when check and it fails."""
    result = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if check and result.returncode != 0:
        raise AssertionError(
            "%s %s: exit %d\nstdout: %s\nstderr: %s"
            % (ENGINE, " ".join(args), result.returncode, result.stdout[-2000:], result.stderr[-2000:])
        )
    return result


@functools.cache
def engine_problem() -> str | None:
    """None if an engine answers and has the base image; else why the suite cannot run."""
    if ENGINE not in HINT:
        return "PYINIT_E2E_ENGINE=%s: the engines are docker and podman" % ENGINE
    hint = HINT[ENGINE]
    if ENGINE == "docker":
        where = "at DOCKER_HOST=%s" % os.environ.get("DOCKER_HOST", "(unset)")
        version_format = "{{.Server.Version}}"  # the daemon's: the client alone is no engine
    else:
        where = "through %s" % " ".join(CLI)
        version_format = "{{.Client.Version}}"  # no daemon: the CLI is the engine
    try:
        version = cli("version", "--format", version_format, timeout=60, check=False)
    except FileNotFoundError:
        return "no %s CLI installed; %s" % (CLI[0], hint)
    except subprocess.TimeoutExpired:
        return "the %s engine %s does not answer within 60 s" % (ENGINE, where)
    if version.returncode != 0:
        first = (version.stderr.strip().splitlines() or ["?"])[0]
        return "no %s engine %s (%s); %s" % (ENGINE, where, first, hint)
    if cli("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        return "the %s engine %s has no %s image; %s" % (ENGINE, where, BASE_IMAGE, hint)
    return None


@functools.cache
def rootless() -> bool:
    """Does the engine run its containers in a user namespace of an ordinary user?"""
    if ENGINE == "podman":
        return cli("info", "--format", "{{.Host.Security.Rootless}}").stdout.strip() == "true"
    return "rootless" in cli("info", "--format", "{{.SecurityOptions}}").stdout


def build_image(
    dockerfile: Path, tag: str, context: Path = ROOT, build_args: dict[str, str] | None = None
) -> None:
    """`build` dockerfile into tag, from context (this checkout by default: the code under test)."""
    # Podman's RUN steps would share the host's network (Docker's have none here): no network.
    network = ("--network", "none") if ENGINE == "podman" else ()
    args: list[str] = []
    for name, value in sorted((build_args or {}).items()):
        args += ["--build-arg", "%s=%s" % (name, value)]
    cli(
        "build",
        "--quiet",
        *network,
        *args,
        "--file",
        str(dockerfile),
        "--tag",
        tag,
        str(context),
        timeout=600,
    )


def build_images() -> None:
    """The two example images, from this checkout (so the tests run the code under test)."""
    for dockerfile, tag in (("Dockerfile", APP_IMAGE), ("Dockerfile.entrypoint", ENTRYPOINT_IMAGE)):
        build_image(ROOT / "docker" / dockerfile, tag, build_args={"BASE": BASE_IMAGE})


def new_name() -> str:
    return "pyinit-e2e-%s" % uuid.uuid4().hex[:12]


class Container:
    """A container started with `docker run -d`, by name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def logs(self) -> str:
        result = cli("logs", self.name, check=False)
        return result.stdout + result.stderr

    def streams(self) -> tuple[str, str]:
        """The container's stdout and its stderr, apart."""
        result = cli("logs", self.name)
        return result.stdout, result.stderr

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        wait_until(
            lambda: text in self.logs() or not self.running(),
            timeout,
            interval=0.1,
            message="%r in the logs of %s" % (text, self.name),
        )
        assert text in self.logs(), "%s ended before logging %r: %s" % (self.name, text, self.logs())

    def has_line(self, line: str) -> bool:
        """Whether the logs hold this exact line (not just the text: pyinit's JSON log quotes the
        command, and a program's source may hold the line it prints)."""
        return line in self.logs().splitlines()

    def wait_for_line(self, line: str, timeout: float = 60.0) -> None:
        wait_until(
            lambda: self.has_line(line) or not self.running(),
            timeout,
            interval=0.1,
            message="the line %r in the logs of %s" % (line, self.name),
        )
        assert self.has_line(line), "%s ended before logging %r: %s" % (self.name, line, self.logs())

    def inspect(self, template: str) -> str:
        """`inspect --format TEMPLATE`, stripped."""
        return cli("inspect", "--format", template, self.name).stdout.strip()

    def running(self) -> bool:
        state = cli("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return state.stdout.strip() == "true"

    def processes(self) -> list[tuple[int, str, str]]:
        """(host pid, state, command line) of every process in the container, PID 1 first."""
        if ENGINE == "podman":  # its own descriptors (ps options would run ps inside)
            result = cli("top", self.name, "hpid", "state", "args", check=False)
        else:  # options for the ps(1) that dockerd runs on the host
            result = cli("top", self.name, "-o", "pid,stat,args", check=False)
        rows: list[tuple[int, str, str]] = []
        for line in result.stdout.splitlines()[1:]:
            row = _TOP_ROW.match(line)
            if row:
                rows.append((int(row.group(1)), row.group(2), row.group(3).strip()))
            elif rows:  # podman prints a newline inside an argument as is: the row goes on
                pid, stat, args = rows[-1]
                rows[-1] = (pid, stat, (args + "\n" + line).strip())
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
        return int(cli("wait", self.name, timeout=timeout).stdout.strip())

    def stop(self, *, timeout: float = 60.0) -> float:
        """`docker stop` (its default 10 s before SIGKILL); how long it took, in seconds."""
        start = time.monotonic()
        cli("stop", self.name, timeout=timeout)
        return time.monotonic() - start

    def kill(self, signal_name: str) -> None:
        cli("kill", "--signal", signal_name, self.name)

    def exec(self, *command: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        return cli("exec", *(["--user", user] if user else []), self.name, *command)


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
        cli("run", "--detach", "--name", name, "--label", LABEL, *options, image, *command)
        return Container(name)

    def remove_all(self) -> None:
        if self.names:
            cli("rm", "--force", "--volumes", *self.names, check=False, timeout=120)


def run(image: str, *command: str, options: tuple[str, ...] = (), timeout: float = 120.0):
    """docker run --rm, to completion: the CompletedProcess (exit code, stdout, stderr)."""
    return cli("run", "--rm", "--label", LABEL, *options, image, *command, timeout=timeout, check=False)
