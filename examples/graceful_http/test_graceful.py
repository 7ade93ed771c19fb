"""Example: prove that server.py finishes its in-flight request when `docker stop` sends
SIGTERM, using the `pyinit_run` fixture of pyinit's pytest plugin.

The plugin comes with pyinit (`pip install 'pyinit-supervisor[pytest]'`): no conftest needed.
"""

import http.client
import signal
import sys
import threading
from pathlib import Path

import pytest

SERVER = [sys.executable, str(Path(__file__).with_name("server.py"))]


def get_in_background(port: int, path: str) -> list:
    """Start GET path in a thread; the returned list receives (status, body) once answered."""
    answers: list = []

    def get() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", path)
        response = connection.getresponse()
        answers.append((response.status, response.read()))

    threading.Thread(target=get, daemon=True).start()
    return answers


@pytest.mark.timeout(60)
def test_an_in_flight_request_is_answered_after_sigterm(pyinit_run):
    server = pyinit_run(SERVER, ready_line=r"listening on")
    port = int(server.wait_for_line(r"listening on [\d.]+:(\d+)").group(1))
    answers = get_in_background(port, "/slow?seconds=1")
    server.wait_for_line("started /slow")  # the request is in flight

    status = server.stop(signal.SIGTERM)  # what `docker stop` does: SIGTERM to PID 1, wait

    assert status == 0
    assert answers == [(200, b"done\n")]
    assert "drained" in server.stdout


@pytest.mark.timeout(60)
@pytest.mark.pyinit_pid1  # a PID namespace of its own: the only processes there are ours
def test_the_server_leaves_nothing_behind(pyinit_run):
    server = pyinit_run(SERVER, ready_line=r"listening on")
    assert [proc.pid for proc in server.processes()] == [server.program_pid]

    assert server.stop(signal.SIGTERM) == 0

    names = [event["event"] for event in server.events]
    assert "stopping-others" not in names  # nothing else was running when the server exited
    assert "escalation" not in names  # and nothing needed SIGKILL
