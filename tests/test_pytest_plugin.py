"""The pytest plugin, through pytest's own pytester: generated test files use the fixture and
the marker exactly as a user's would, found through the pytest11 entry point alone."""

from __future__ import annotations

import os
import sys
import textwrap

import psutil
import pytest

from support import PROGRAMS, ROOT, program, wait_until

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.timeout(120)

# A program that exits 0 on SIGTERM once it printed "ready".
GRACEFUL = """["sh", "-c", "trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done"]"""


# A program that leaves a child unreaped (a zombie), and says "ready" once it is one.
UNREAPED = repr(program("unreaped"))


def write(pytester: pytest.Pytester, source: str) -> None:
    source = textwrap.dedent(source).replace("GRACEFUL", GRACEFUL).replace("UNREAPED", UNREAPED)
    pytester.makepyfile(test_generated=source)


def test_a_test_using_the_fixture_passes(pytester):
    write(
        pytester,
        """
        import signal
        import pytest

        @pytest.mark.pyinit_pid1
        def test_stops_cleanly(pyinit_run):
            proc = pyinit_run(GRACEFUL, ready_line="^ready$")
            assert proc.pid1 and proc.mode == "pid1"
            assert proc.program_pid in [p.pid for p in proc.processes()]
            assert proc.zombies() == []
            assert proc.returncode is None
            assert proc.stop(signal.SIGTERM) == 0
            assert proc.program_exit()["code"] == 0
            assert proc.processes() == []
        """,
    )
    # --strict-markers: the marker is registered by the plugin, not by this test's config.
    result = pytester.runpytest_subprocess("--strict-markers")
    result.assert_outcomes(passed=1)


def test_a_failing_expectation_fails_with_pyinits_view_of_it(pytester):
    write(
        pytester,
        """
        import signal

        def test_expects_a_clean_exit(pyinit_run):
            proc = pyinit_run(["sh", "-c", "trap 'exit 3' TERM; echo ready; while :; do sleep 0.05; done"],
                              ready_line="ready")
            assert proc.stop(signal.SIGTERM) == 0
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*assert 3 == 0*"])


def test_the_pid1_marker_skips_with_the_reason_when_namespaces_are_unavailable(pytester, monkeypatch):
    monkeypatch.setenv("PYINIT_PLUGIN_NO_PIDNS", "1")
    write(
        pytester,
        """
        import signal
        import pytest

        @pytest.mark.pyinit_pid1
        def test_needs_pid1(pyinit_run):
            raise AssertionError("must not run")

        def test_needs_pid1_by_argument(pyinit_run):
            pyinit_run(["true"], pid1=True)
            raise AssertionError("must not run")

        def test_runs_as_a_subreaper_instead(pyinit_run):
            proc = pyinit_run(GRACEFUL, ready_line="^ready$")
            assert not proc.pid1 and proc.mode == "subreaper"
            assert proc.stop(signal.SIGTERM) == 0
        """,
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*SKIPPED*PID namespaces disabled by PYINIT_PLUGIN_NO_PIDNS=1*"])


def test_everything_started_is_killed_when_the_test_fails(pytester):
    marker = "%d.%d" % (90000 + os.getpid() % 9000, os.getpid())  # a sleep no one else runs
    write(
        pytester,
        """
        import time

        def test_fails_while_running(pyinit_run):
            # As PID 1: a program, and a daemon in a session of its own that ignores SIGTERM.
            first = pyinit_run(["sh", "-c", "setsid sh -c 'trap \\"\\" TERM; exec sleep %(marker)s' & "
                                "echo ready; exec sleep %(marker)s"], ready_line="ready")
            # As a subreaper: a program.
            pyinit_run(["sh", "-c", "echo ready; exec sleep %(marker)s"], ready_line="ready", pid1=False)
            while len(first.processes()) < 2:
                time.sleep(0.05)
            raise AssertionError("failing on purpose")
        """
        % {"marker": marker},
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*failing on purpose*"])
    wait_until(lambda: not _sleeping(marker), 30, message="every 'sleep %s' to be gone" % marker)


def test_signals_to_the_program_exit_status_and_zombies_are_visible(pytester):
    write(
        pytester,
        """
        import signal
        import time

        def test_program_killed_behind_pyinits_back(pyinit_run):
            # The program says "ready" once its child is a zombie it leaves unreaped.  (Not
            # `sh -c 'sleep 0 & exec sleep 1000'`: when `sleep 0` ends first, dash reaps it.)
            proc = pyinit_run(UNREAPED, ready_line="ready")
            deadline = time.monotonic() + 30
            while not proc.zombies():
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert [z.ppid() for z in proc.zombies()] == [proc.program_pid]
            proc.send_program(signal.SIGKILL)
            assert proc.wait() == 137
            assert proc.program_exit()["signal"] == signal.SIGKILL
            assert any(e["event"] == "exit" for e in proc.events)
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_waiting_for_a_line_that_never_comes_fails_with_the_programs_output(pytester):
    write(
        pytester,
        """
        def test_waits_in_vain(pyinit_run):
            pyinit_run(["sh", "-c", "echo something else; echo oops >&2"], ready_line="ready", timeout=20)
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*pyinit exited (status 0) before a line matching 'ready' on stdout*",
            "*something else*",
            "*oops*",
        ]
    )


# --- several programs (a Procfile) ------------------------------------------------------------

# The web server of examples/graceful_http beside a worker that stops at once on SIGTERM.
GRACEFUL_HTTP = r'''
import http.client
import signal
import threading

PROCFILE = """
web: exec PYTHON -u SERVER
worker: echo worker starting >&2; exec PYTHON -u WORKER
"""


def get_in_background(port, path):
    answers = []

    def get():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", path)
        response = connection.getresponse()
        answers.append((response.status, response.read()))

    threading.Thread(target=get, daemon=True).start()
    return answers


def test_an_in_flight_request_is_answered_after_sigterm_beside_a_worker(pyinit_run, tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text(PROCFILE)
    app = pyinit_run(procfile=procfile, ready_line={"web": "listening on", "worker": "^ready$"})
    assert app.program_names == ["web", "worker"]
    port = int(app.wait_for_line(r"listening on [\d.]+:(\d+)", program="web").group(1))
    answers = get_in_background(port, "/slow?seconds=2")
    app.wait_for_line("started /slow", program="web")  # the request is in flight
    web, worker = app.pid_of("web"), app.pid_of("worker")
    assert web != worker and app.program_pid == web
    # Every process below pyinit but its output relay: the two programs.
    assert sorted(proc.pid for proc in app.processes()) == sorted([web, worker])

    assert app.stop(signal.SIGTERM) == 0  # docker stop

    assert answers == [(200, b"done\n")]
    assert "drained" in app.lines("web")
    assert app.first_ended == "worker"  # it stopped at once; web finished its request first
    assert app.program_exit()["program"] == "worker"
    assert (app.program_exit("web")["code"], app.program_exit("worker")["code"]) == (0, 0)
    # The programs' stderr, through pyinit's relay, is apart from pyinit's events.
    assert app.lines("worker", "stderr") == ["worker starting"]
    assert "worker | worker starting" in app.stderr
    assert all(line.startswith(("web    | ", "worker | ")) for line in app.stderr.splitlines())
'''


@pytest.mark.parametrize("mode", ["auto", "subreaper"])
def test_the_fixture_runs_a_procfile_and_gives_each_program_by_name(pytester, monkeypatch, mode):
    if mode == "subreaper":
        monkeypatch.setenv("PYINIT_PLUGIN_NO_PIDNS", "1")
    source = GRACEFUL_HTTP
    for name, value in (
        ("PYTHON", sys.executable),
        ("SERVER", str(ROOT / "examples" / "graceful_http" / "server.py")),
        ("WORKER", str(PROGRAMS / "graceful.py")),
    ):
        source = source.replace(name, value)
    pytester.makepyfile(test_generated=source)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


ONE_KILLED = r"""
import signal
import sys


def test_one_killed(pyinit_run):
    app = pyinit_run(
        programs=["web: exec %s -u GRACEFUL" % sys.executable, "worker: exec sleep 1000"],
        ready_line="^ready$",
    )
    assert app.program_names == ["web", "worker"]
    assert app.first_ended is None and app.program_exit("worker") is None
    app.send_program(signal.SIGKILL, program="worker")
    assert app.wait() == 137  # the status of the first program to end
    assert app.first_ended == "worker"
    assert app.program_exit()["signal"] == signal.SIGKILL
    assert app.program_exit("web")["code"] == 0  # stopped by pyinit's SIGTERM, handled
    assert app.lines("web") == ["ready"] and app.lines() == ["ready"]
    assert app.stdout == "web    | ready\n"
"""


def test_programs_given_as_lines_fail_fast_when_one_is_killed(pytester):
    pytester.makepyfile(test_generated=ONE_KILLED.replace("GRACEFUL", str(PROGRAMS / "graceful.py")))
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


BAD_USE = r"""
import pytest


def test_a_bad_procfile(pyinit_run, tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("web: sleep 100\nweb: sleep 200\n")
    app = pyinit_run(procfile=procfile)
    assert app.wait() == 125
    assert "%s:2: program 'web' is defined twice" % procfile in app.stderr
    assert app.program_names == []


def test_a_command_and_programs(pyinit_run):
    with pytest.raises(ValueError, match="not both"):
        pyinit_run(["true"], programs=["web: true"])
    with pytest.raises(ValueError, match="not both"):
        pyinit_run()
"""


def test_a_bad_procfile_is_pyinits_status_125_and_its_line_and_misuse_is_a_value_error(pytester):
    pytester.makepyfile(test_generated=BAD_USE)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)


def test_the_plugin_module_imports_nothing_but_itself():
    # Every pytest run where pyinit is installed imports it: no psutil, no probe, no subprocess.
    import subprocess
    import sys

    from support import BASE_ENV

    code = (
        "import sys, pytest; before = set(sys.modules); import pyinit.pytest_plugin; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=BASE_ENV, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) <= {"pyinit", "pyinit.pytest_plugin"}


def _sleeping(seconds: str) -> list[int]:
    return [
        proc.info["pid"]
        for proc in psutil.process_iter(["cmdline", "pid"])
        if (proc.info["cmdline"] or [])[:2] == ["sleep", seconds]
    ]
