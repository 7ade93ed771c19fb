"""Several programs in one container (a Procfile), with pyinit as PID 1 of a real namespace:
each program in its own process group, every signal to each, fail fast with the first one's
status, every line named, orphans of each reaped."""

import signal
import socket
import sys
import threading

import pytest

from support import PROGRAMS, ROOT, wait_until
from sync import events

SERVER = ROOT / "examples" / "graceful_http" / "server.py"
PY = sys.executable


def procfile(tmp_path, text: str):
    path = tmp_path / "Procfile"
    path.write_text(text)
    return str(path)


def lines_of(init, name: str) -> list[str]:
    """The lines program `name` wrote on stdout, without the prefix."""
    return [
        line.split(" | ", 1)[1]
        for line in init.stdout.splitlines()
        if line.split(" | ", 1)[0].strip() == name
    ]


def get(port: int, path: str, result: list) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(b"GET %s HTTP/1.0\r\n\r\n" % path.encode())
        data = b""
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    result.append(data)


@pytest.mark.timeout(90)
def test_a_failing_worker_stops_the_web_server_which_finishes_its_request_first(start_init, tmp_path):
    # The worker exits 3 while the server has a request in flight: pyinit stops the server
    # (SIGTERM), which answers the request, then exits 0; pyinit exits with the worker's 3.
    gate = tmp_path / "gate"
    worker = "while [ ! -e %s ]; do sleep 0.05; done; echo giving up >&2; exit 3" % gate
    path = procfile(tmp_path, "web: exec %s -u %s\nworker: %s\n" % (PY, SERVER, worker))
    init = start_init(["--procfile", path, "--log-format", "json"])
    port = int(
        wait_until(lambda: [x for x in lines_of(init, "web") if x.startswith("listening on")])[0].split(":")[
            -1
        ]
    )
    answers: list = []
    client = threading.Thread(target=get, args=(port, "/slow?seconds=1", answers))
    client.start()
    wait_until(lambda: "started /slow?seconds=1" in lines_of(init, "web"), message="the request in flight")
    gate.touch()
    assert init.wait() == 3
    client.join(30)
    assert answers and answers[0].endswith(b"done\n")  # the in-flight request was answered
    assert "drained" in lines_of(init, "web")
    first = [e for e in events(init) if e["event"] == "first-ended"]
    assert len(first) == 1 and first[0]["program"] == "worker" and first[0]["stopping"] == ["web"]
    reaped = {e["program"]: e["code"] for e in events(init) if e["event"] == "reaped" and e.get("main")}
    assert reaped == {"worker": 3, "web": 0}
    assert "worker | giving up" in init.stderr  # its stderr, named, on pyinit's stderr


@pytest.mark.timeout(60)
def test_a_program_that_dies_at_once_gives_its_status_and_stops_the_others(start_init, tmp_path):
    path = procfile(tmp_path, "slow: exec sleep 1000\ncrash: exit 7\nalso: exec sleep 1000\n")
    init = start_init(["--procfile", path])
    assert init.wait() == 7
    expected = "[pyinit] warning: program crash ended first (exited with status 7): stopping slow, also"
    assert expected in init.stderr


@pytest.mark.timeout(60)
def test_every_signal_reaches_each_programs_own_group(start_init, tmp_path):
    records = {name: tmp_path / name for name in ("a", "b")}
    recorder = "%s: exec " + PY + " -I " + str(PROGRAMS / "recorder.py") + " %s --grandchild\n"
    text = "".join(recorder % (name, record) for name, record in records.items())
    init = start_init(["--grace", "0.5", "--log-format", "json", "--procfile", procfile(tmp_path, text)])
    wait_until(lambda: all(lines_of(init, name) for name in records), message="both ready")
    spawned = [e for e in events(init) if e["event"] == "spawned"]
    assert [e["program"] for e in spawned] == ["a", "b"]  # in file order
    assert len({e["pgid"] for e in spawned}) == 2 and all(e["pid"] == e["pgid"] for e in spawned)
    init.send(signal.SIGUSR1)
    for record in records.values():
        wait_until(
            lambda r=record: {"program 10", "grandchild 10"} <= set(r.read_text().splitlines()),
            message="USR1 in each group, grandchildren included",
        )
    init.send(signal.SIGTERM)  # recorded, not obeyed: the grace period ends in SIGKILL
    assert init.wait() == 128 + signal.SIGKILL


@pytest.mark.timeout(60)
def test_every_line_is_named_aligned_and_whole(start_init, tmp_path):
    big = tmp_path / "big"
    big.write_bytes(b"x" * (1 << 20) + b"\n")
    text = (
        "long-name: cat %s; exec sleep 1000\n"  # a 1 MiB line
        "raw: printf '\\377\\376 not utf-8\\n'; exec sleep 1000\n"  # bytes that are not UTF-8
        "q: sleep 0.5; printf 'no newline at the end'\n"  # ends first, its last line unfinished
    ) % big
    init = start_init(["--procfile", procfile(tmp_path, text)])
    assert init.wait() == 0  # q ended first, with 0; the others were stopped
    raw = init.stdout_path.read_bytes().splitlines()
    assert b"long-name | " + b"x" * (1 << 20) in raw  # whole, one prefix
    assert b"q         | no newline at the end" in raw
    assert b"raw       | \xff\xfe not utf-8" in raw  # bytes unchanged


@pytest.mark.timeout(60)
def test_a_quiet_programs_line_gets_through_while_another_floods(start_init, tmp_path):
    text = "noisy: exec yes flood\nquiet: sleep 0.3; echo I am here; exec sleep 1000\n"
    init = start_init(["--procfile", procfile(tmp_path, text)])
    wait_until(
        lambda: "quiet | I am here" in init.stdout_path.read_bytes().decode("ascii", "replace"),
        message="the quiet line",
    )
    init.send(signal.SIGTERM)
    assert init.wait() == 128 + signal.SIGTERM
    data = init.stdout_path.read_bytes()
    body = data[: data.rfind(b"\n") + 1].splitlines()
    assert all(line in (b"noisy | flood", b"quiet | I am here") for line in body)  # none cut or mixed


@pytest.mark.timeout(60)
def test_the_orphans_of_each_program_are_reaped(start_init, tmp_path):
    text = "".join("p%d: (sleep 0.2 &); exec sleep 1000\n" % n for n in range(3))
    init = start_init(["--procfile", procfile(tmp_path, text), "--log-format", "json"])
    wait_until(
        lambda: len([e for e in events(init) if e["event"] == "reaped" and not e["main"]]) >= 3,
        message="three orphans reaped",
    )
    assert init.zombies() == []
    init.send(signal.SIGTERM)
    assert init.wait() == 128 + signal.SIGTERM


@pytest.mark.timeout(60)
def test_programs_from_the_command_line_and_stdin_on_dev_null(start_init, tmp_path):
    init = start_init(["-P", "a: sleep 0.5; read line || echo eof", "-P", "b: echo b; exec sleep 1000"])
    assert init.wait() == 0  # a ended first
    assert "a | eof" in init.stdout and "b | b" in init.stdout


@pytest.mark.timeout(60)
def test_no_prefix_hands_the_programs_pyinits_own_streams(start_init, tmp_path):
    init = start_init(["--no-prefix", "-P", "a: echo plain"])
    assert init.wait() == 0
    assert init.stdout == "plain\n"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("web: ok\nweb: again\n", "Procfile:3: program 'web' is defined twice"),
        ("web ok\n", "Procfile:2: expected 'name: command'"),
        ("web:\n", "Procfile:2: program 'web' has no command"),
        (": cmd\n", "Procfile:2: no program name"),
    ],
)
def test_a_bad_procfile_is_one_line_naming_file_and_line_and_nothing_starts(
    start_init, tmp_path, text, message
):
    marker = tmp_path / "started"
    init = start_init(["--procfile", procfile(tmp_path, "other: touch %s\n" % marker + text)], pid1=False)
    assert init.wait() == 125
    assert len(init.stderr.splitlines()) == 1 and message in init.stderr, init.stderr
    assert not marker.exists()


@pytest.mark.timeout(60)
def test_a_procfile_without_programs_is_refused(start_init, tmp_path):
    init = start_init(["--procfile", procfile(tmp_path, "# nothing here\n\n")], pid1=False)
    assert init.wait() == 125
    assert init.stderr == "pyinit: %s: no program (expected 'name: command' lines)\n" % (
        tmp_path / "Procfile"
    )


@pytest.mark.timeout(60)
def test_a_stop_stops_every_program_and_exits_with_the_first_ones_status(start_init, tmp_path):
    text = "a: trap 'exit 10' TERM; echo ready; while :; do sleep 0.05; done\nb: exec sleep 1000\n"
    init = start_init(["--procfile", procfile(tmp_path, text), "--log-format", "json"])
    wait_until(lambda: "ready" in lines_of(init, "a"))
    init.send(signal.SIGTERM)
    code = init.wait()
    first = [e for e in events(init) if e["event"] == "first-ended"]
    assert first and first[0]["level"] == "info"  # asked for: not a warning
    reaped = {e["program"]: e["code"] for e in events(init) if e["event"] == "reaped" and e.get("main")}
    assert code == reaped[first[0]["program"]]


@pytest.mark.timeout(60)
def test_a_stop_gives_each_program_one_sigterm_even_when_one_ends_first(start_init, tmp_path):
    # After docker stop, the first program to end makes pyinit stop the others: those got the
    # stop signal already and must not get a second one (Python exits on a second SIGTERM
    # during its shutdown, with 143 instead of its own status).
    shutdown = "exec %s -I %s exit\n" % (PY, PROGRAMS / "shutdown.py")
    init = start_init(
        ["--log-format", "json", "--procfile", procfile(tmp_path, "a: " + shutdown + "b: " + shutdown)]
    )
    wait_until(
        lambda: lines_of(init, "a") == ["ready"] and lines_of(init, "b") == ["ready"], message="both ready"
    )
    init.send(signal.SIGTERM)
    assert init.wait() == 0
    forwarded = [
        e["target"] for e in events(init) if e["event"] == "forwarded" and e["signo"] == signal.SIGTERM
    ]
    assert len(forwarded) == 2 and len(set(forwarded)) == 2  # once to each program's group
    reaped = {e["program"]: e["code"] for e in events(init) if e["event"] == "reaped" and e.get("main")}
    assert reaped == {"a": 0, "b": 0}
