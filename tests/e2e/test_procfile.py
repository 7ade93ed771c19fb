"""Several programs in one container (issue 17), as a user sees them: an image whose ENTRYPOINT is
`["pyinit", "--procfile", "/app/Procfile"]` (examples/procfile/Dockerfile, on top of the image
docker/Dockerfile builds), driven by `docker run`, `docker stop`, `docker kill` and read with
`docker logs`.

The Procfile (examples/procfile/Procfile) runs the web server of examples/graceful_http, which
answers its in-flight requests on SIGTERM, beside the worker of examples/procfile, which finishes
its job on SIGTERM and fails (exit 3) after FAIL_AFTER jobs.  Requests come from a second
container in the first one's network namespace (`--network container:NAME`): a client inside the
first container would be one of the processes pyinit stops after the programs.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from e2e.dockerlib import APP_IMAGE, CLI, ENGINE, LABEL, REPORT, ROOT, Container, build_image
from support import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.podman]

HERE = Path(__file__).resolve().parent
PROCFILE_IMAGE = "pyinit-e2e/procfile:test"
#: Each program's lines in `docker logs`: its name padded to the longest ("worker"), then " | ".
WEB, WORKER = "web    | ", "worker | "
NAMED = re.compile(r"^(web   |worker) \| ")
SLOW = "/slow?seconds=2"
#: What the client container runs: one GET, its body on stdout.
CLIENT = (
    "import urllib.request\n"
    "print(urllib.request.urlopen('http://127.0.0.1:8000%s', timeout=60).read().decode(), end='')\n" % SLOW
)


@pytest.fixture(scope="module", autouse=True)
def procfile_image() -> None:
    examples = ROOT / "examples"
    build_image(examples / "procfile" / "Dockerfile", PROCFILE_IMAGE, examples, {"BASE": APP_IMAGE})


def unnamed(text: str) -> list[str]:
    """The lines of text that are not a program's named line."""
    return [line for line in text.splitlines() if not NAMED.match(line)]


def warnings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("[pyinit] warning:")]


def events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def wait_for_all(container: Container, *texts: str) -> None:
    for text in texts:
        container.wait_for_log(text)


@pytest.mark.timeout(180)
def test_docker_stop_lets_the_web_server_answer_its_request_stops_both_and_names_every_line(containers):
    container = containers.start(PROCFILE_IMAGE)
    wait_for_all(container, WEB + "listening on 127.0.0.1:8000", WORKER + "job 1 done")
    client_name = containers.name()
    client = subprocess.Popen(
        [
            *CLI,
            "run",
            "--rm",
            "--name",
            client_name,
            "--label",
            LABEL,
            "--network",
            "container:" + container.name,
        ]
        + [APP_IMAGE, "python3", "-c", CLIENT],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        container.wait_for_log(WEB + "started " + SLOW)  # the request is in flight
        took = container.stop()
        answer, client_errors = client.communicate(timeout=60)
    finally:
        if client.poll() is None:
            client.kill()
            client.communicate()
    code = container.exit_code()
    stdout, stderr = container.streams()
    REPORT.append(
        "%s stop, Procfile web (a 2 s request in flight) + worker: %.2f s, exit %d" % (ENGINE, took, code)
    )
    assert (client.returncode, answer) == (0, "done\n"), "the in-flight request: %r %r" % (
        answer,
        client_errors,
    )
    # Both ended on SIGTERM, cleanly: 0 is the status of the first to end (either), and pyinit
    # printed nothing of its own (a stop asked for is no warning).
    assert code == 0, stdout + stderr
    assert WEB + "drained" in stdout, stdout
    assert re.search(r"^worker \| worker stopped after job \d+$", stdout, re.M), stdout
    # Every line of both streams named, stderr on stderr: the server's request log is there.
    assert not unnamed(stdout) and not unnamed(stderr), (stdout, stderr)
    assert re.search(r'^web    \| .*"GET /slow\?seconds=2 HTTP/1.1" 200', stderr, re.M), stderr


@pytest.mark.timeout(180)
def test_a_failing_worker_stops_the_web_server_and_the_container_exits_with_its_status(containers):
    container = containers.start(PROCFILE_IMAGE, options=("--env", "FAIL_AFTER=2"))
    code = container.exit_code(timeout=90)
    stdout, stderr = container.streams()
    assert code == 3, "the worker's status: %d\n%s%s" % (code, stdout, stderr)
    assert WORKER + "job 2 done" in stdout and WORKER + "giving up" in stderr, (stdout, stderr)
    # The web server got the stop signal and drained, as under docker stop.
    assert WEB + "drained" in stdout, (stdout, stderr)
    lines = warnings(stderr)
    expected = "[pyinit] warning: program worker ended first (exited with status 3): stopping web"
    assert lines == [expected], stderr
    assert unnamed(stdout) == [] and unnamed(stderr) == lines, (stdout, stderr)


@pytest.mark.timeout(180)
def test_docker_kill_hup_reaches_both_programs_and_stops_nothing(containers):
    options = (
        "--volume",
        "%s:/app/Procfile:ro" % (HERE / "Procfile.reload"),
        "--volume",
        "%s:/e2e/apps.py:ro" % (HERE / "apps.py"),
        "--env",
        "PYINIT_GRACE=1",
        "--env",
        "PYINIT_LOG_FORMAT=json",
    )
    container = containers.start(PROCFILE_IMAGE, options=options)
    wait_for_all(container, WEB + "READY", WORKER + "READY")
    container.kill("HUP")
    wait_for_all(container, WEB + "got SIGHUP", WORKER + "got SIGHUP")
    logs = container.logs()
    groups = {e["program"]: e["pgid"] for e in events(logs) if e["event"] == "spawned"}
    hups = [e for e in events(logs) if e["event"] == "forwarded" and e.get("signal") == "SIGHUP"]
    assert sorted(e["target"] for e in hups) == sorted(-pgid for pgid in groups.values()), logs
    # Nothing to wait for but time: well past the 1 s grace period a stop signal would start.
    last = max(e["ts"] for e in hups)
    wait_until(lambda: time.monotonic() > last + 2.5, 30, interval=0.1, message="2.5 s after SIGHUP")
    logs = container.logs()
    stopping = [e for e in events(logs) if e["event"] in ("grace", "escalation", "first-ended", "reaped")]
    assert not stopping, "SIGHUP stopped something: %s" % stopping
    assert container.running(), logs
    # ... and both still answer.
    container.kill("HUP")
    wait_until(
        lambda: container.logs().count("| got SIGHUP") >= 4,
        30,
        interval=0.1,
        message="a second SIGHUP in both programs",
    )
    assert container.running()
