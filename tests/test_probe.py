"""`pyinit probe`: every verdict, the report's shapes, readiness, and bad input.

The probe runs pyinit as PID 1 of a new PID namespace when it may (root here), else as a
subreaper; a few tests force the subreaper mode with --no-pidns.  Durations are never asserted
tightly: only on which side of a threshold they fall, with wide margins.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import psutil
import pytest

from support import BASE_ENV, PYINIT, can_unshare, program, wait_until

pytestmark = pytest.mark.timeout(60)


def probe(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PYINIT, "probe", *args],
        env=dict(BASE_ENV, **(env or {})),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def probe_json(*args: str, **kwargs) -> tuple[subprocess.CompletedProcess, dict]:
    done = probe("--json", *args, **kwargs)
    lines = done.stdout.splitlines()
    assert len(lines) == 1, "stdout must be one JSON object: %r\nstderr: %s" % (done.stdout, done.stderr)
    report = json.loads(lines[0])
    assert report["exit_code"] == done.returncode, done.stderr
    return done, report


def shutdown(behaviour: str, *args: str) -> list[str]:
    """A test program that prints "ready" and then handles SIGTERM its way."""
    return ["--ready-line", "^ready$", "--", *program("shutdown", behaviour, *args)]


# --- verdicts ---------------------------------------------------------------------------------


def test_a_program_that_exits_on_sigterm_is_clean():
    done, report = probe_json(*shutdown("exit"))
    assert done.returncode == 0
    assert report["verdict"] == "clean"
    assert report["findings"] == []
    assert report["status"] == 0
    assert report["program"]["ended_by"] == "handled-exit"
    assert report["program"]["exit_code"] == 0
    assert report["left_behind"] == [] and report["zombies"] == []
    assert report["escalated"] is False


def test_a_program_killed_by_the_default_action_of_sigterm_is_clean_with_status_143():
    done, report = probe_json(*shutdown("default"))
    assert (done.returncode, report["verdict"], report["status"]) == (0, "clean", 143)
    assert report["program"]["ended_by"] == "signal-default-action"
    assert report["program"]["signal"] == "SIGTERM"


def test_a_program_that_ignores_sigterm_is_killed_after_the_timeout():
    done, report = probe_json("--timeout", "1", *shutdown("ignore"))
    assert (done.returncode, report["verdict"]) == (4, "killed-after-timeout")
    assert report["status"] == 137
    assert report["escalated"] is True
    assert report["program"]["ended_by"] == "killed-after-timeout"
    assert report["time_to_exit"] >= 1.0  # pyinit's own escalation, at --timeout


@pytest.mark.parametrize("mode", ["auto", "subreaper"])
def test_a_program_that_leaves_a_daemon_behind_left_processes(mode):
    args = ["--no-pidns"] if mode == "subreaper" else []
    done, report = probe_json(*args, *shutdown("daemon"))
    assert (done.returncode, report["verdict"]) == (2, "left-processes"), done.stderr
    assert report["program"]["ended_by"] == "handled-exit"  # the program itself was fine
    assert [p["command"] for p in report["left_behind"]] == ["sleep 1000"]
    assert report["pyinit_stopped"] >= 1
    assert report["leftovers_killed"] is False  # the daemon died of pyinit's SIGTERM
    if mode == "subreaper":
        assert report["mode"] == "subreaper"
    elif can_unshare() is None:  # the caller may create a PID namespace: pyinit is its PID 1
        assert report["mode"] == "pid1"


def test_when_namespaces_are_available_the_program_runs_in_a_new_pid_namespace(tmp_path):
    if can_unshare() is not None:
        pytest.skip(can_unshare())
    seen = tmp_path / "ns"
    script = "readlink /proc/self/ns/pid > %s; echo READY; exec sleep 100" % seen
    done, report = probe_json("--ready-line", "READY", "--", "sh", "-c", script)
    assert report["mode"] == "pid1", done.stderr
    assert seen.read_text().strip() != os.readlink("/proc/self/ns/pid")


def test_a_daemon_that_ignores_sigterm_is_killed_and_the_verdict_says_so():
    done, report = probe_json("--timeout", "1", *shutdown("stubborn"))
    assert (done.returncode, report["verdict"]) == (2, "left-processes")
    assert report["leftovers_killed"] is True
    assert report["status"] == 0  # the program's own status still


def test_a_program_that_takes_longer_than_the_slow_threshold_is_slow():
    done, report = probe_json("--slow", "0.3", "--timeout", "30", *shutdown("slow", "1.5"))
    assert (done.returncode, report["verdict"]) == (1, "slow")
    assert report["status"] == 0
    assert report["time_to_exit"] > 0.3
    assert report["slow_after"] == 0.3


def test_the_slow_threshold_defaults_to_half_the_timeout():
    done, report = probe_json("--timeout", "30", *shutdown("slow", "0.2"))
    assert report["slow_after"] == 15.0
    assert (done.returncode, report["verdict"]) == (0, "clean")


def test_a_program_that_dies_of_sigsegv_on_sigterm_crashed():
    done, report = probe_json(*shutdown("segv"))
    assert (done.returncode, report["verdict"]) == (3, "crashed")
    assert report["program"]["ended_by"] == "other-signal"
    assert report["program"]["signal"] == "SIGSEGV"
    assert report["status"] == 128 + signal.SIGSEGV


def test_a_program_that_exits_non_zero_on_sigterm_crashed():
    done, report = probe_json(*shutdown("fail"))
    assert (done.returncode, report["verdict"], report["status"]) == (3, "crashed", 3)
    assert report["program"]["ended_by"] == "handled-exit"


def test_exit_code_128_plus_the_signal_counts_as_a_clean_handled_exit():
    done, report = probe_json("--", "sh", "-c", 'trap "exit 143" TERM; while :; do sleep 0.05; done')
    assert (done.returncode, report["verdict"], report["status"]) == (0, "clean", 143)
    assert report["program"]["ended_by"] == "handled-exit"


@pytest.mark.timeout(90)
def test_a_pyinit_that_never_exits_even_after_the_kill_is_hung_and_killed_by_the_probe():
    # As a subreaper, the program can stop pyinit itself (as PID 1 it could not): then nothing
    # ends, neither at the signal nor at the timeout.  The probe waits 5 s past the timeout.
    done, report = probe_json("--no-pidns", "--timeout", "1", *shutdown("stop-parent"))
    assert (done.returncode, report["verdict"]) == (5, "hung")
    assert report["time_to_exit"] is None
    assert report["survivors"] == []
    wait_until(lambda: not _running("shutdown.py stop-parent"), 30, message="everything to be killed")


def test_a_program_that_exits_before_it_is_signalled_exited_early():
    done, report = probe_json("--ready-after", "30", "--", "sh", "-c", "exit 4")
    assert (done.returncode, report["verdict"]) == (6, "exited-early")
    assert report["status"] == 4
    assert report["ready"]["after"] is None


def test_a_program_that_never_becomes_ready_is_not_ready_and_is_killed():
    start = time.monotonic()
    command = program("shutdown", "ignore")
    done, report = probe_json("--ready-line", "never printed", "--ready-timeout", "1", "--", *command)
    assert (done.returncode, report["verdict"]) == (7, "not-ready")
    assert time.monotonic() - start < 30
    wait_until(lambda: not _running("shutdown.py ignore"), 30, message="the program to be killed")


def test_unreaped_children_of_the_program_are_reported_as_zombies():
    done, report = probe_json("--ready-line", "^ready$", "--", *program("unreaped"))
    assert (done.returncode, report["verdict"]) == (0, "clean")  # zombies are reported, not judged
    assert len(report["zombies"]) == 1
    assert report["zombies"][0]["parent"] == report["program"]["pid"]


def test_another_signal_can_be_sent_and_its_default_action_is_recognised():
    done, report = probe_json("--signal", "INT", *shutdown("default"))
    assert (done.returncode, report["verdict"], report["status"]) == (0, "clean", 130)
    assert report["signal"] == "SIGINT"
    assert report["program"]["ended_by"] == "signal-default-action"


def test_pyinit_settings_in_the_environment_do_not_change_what_the_probe_tests():
    # A PYINIT_REWRITE that drops TERM would make every program look hung.
    done, report = probe_json(*shutdown("exit"), env={"PYINIT_REWRITE": "TERM:none", "PYINIT_GRACE": "0"})
    assert (done.returncode, report["verdict"]) == (0, "clean")


# --- the report -------------------------------------------------------------------------------


def test_json_report_has_every_documented_field():
    _, report = probe_json(*shutdown("exit"))
    assert set(report) == {
        "verdict",
        "exit_code",
        "findings",
        "command",
        "mode",
        "signal",
        "timeout",
        "slow_after",
        "ready",
        "time_to_exit",
        "status",
        "program",
        "programs",
        "first_ended",
        "procfile",
        "left_behind",
        "leftovers_killed",
        "pyinit_stopped",
        "escalated",
        "zombies",
        "survivors",
        "pyinit",
    }
    assert set(report["program"]) == {
        "name",
        "command",
        "pid",
        "exit_code",
        "signal",
        "ended_by",
        "exited_after",
        "findings",
    }
    assert report["programs"] == [report["program"]]  # one program: the same entry
    assert report["program"]["name"] is None and report["program"]["findings"] == []
    assert (report["procfile"], report["first_ended"]) == (None, None)
    assert report["command"] == program("shutdown", "exit")
    assert report["mode"] in ("pid1", "subreaper")
    assert report["signal"] == "SIGTERM"
    assert report["ready"]["by"] == "line"
    assert isinstance(report["time_to_exit"], float)


def test_with_json_the_programs_stdout_goes_to_stderr_and_stdout_is_one_object():
    done, report = probe_json(*shutdown("exit"))
    assert "ready" in done.stderr
    assert report["verdict"] == "clean"


def test_text_report_follows_the_programs_output_on_stdout():
    done = probe(*shutdown("exit"))
    assert done.returncode == 0
    assert done.stdout.startswith("ready\n")
    assert "pyinit probe: clean" in done.stdout
    assert "left behind" in done.stdout
    assert "Traceback" not in done.stderr


def test_the_programs_stderr_is_passed_through_and_not_mixed_with_pyinits_events():
    done = probe("--", "sh", "-c", 'echo "{\\"event\\": \\"exit\\", \\"ts\\": 1}" >&2; exec sleep 100')
    assert done.returncode == 0, done.stderr
    assert '{"event": "exit", "ts": 1}' in done.stderr
    assert '"event": "spawned"' not in done.stderr  # pyinit's own events are the probe's


# --- readiness --------------------------------------------------------------------------------


def test_ready_after_waits_that_long_before_signalling():
    done, report = probe_json("--ready-after", "0.5", "--", "sleep", "100")
    assert (done.returncode, report["ready"]["by"]) == (0, "after")
    assert report["ready"]["after"] >= 0.5


def test_ready_file_waits_for_the_file_and_removes_it_afterwards(tmp_path):
    ready = tmp_path / "ready"
    script = "sleep 0.3; touch %s; exec sleep 100" % ready
    done, report = probe_json("--ready-file", str(ready), "--", "sh", "-c", script)
    assert (done.returncode, report["ready"]["by"]) == (0, "file")
    assert report["ready"]["after"] >= 0.3
    assert not ready.exists()


def test_ready_file_that_already_exists_is_refused(tmp_path):
    ready = tmp_path / "ready"
    ready.touch()
    done = probe("--ready-file", str(ready), "--", "true")
    assert done.returncode == 125
    assert "already exists" in done.stderr
    assert ready.exists()


def test_ready_line_matches_a_regex_anywhere_in_a_line():
    script = "echo starting; echo 'server listening on :8080'; exec sleep 100"
    # A regex matched only at the start of the line would never be ready: fail in 20 s, not 60.
    done = probe("--ready-line", r"listening on :\d+", "--ready-timeout", "20", "--", "sh", "-c", script)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("starting\nserver listening on :8080\n")


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--bogus", "--", "true"],
        ["--signal", "KILL", "--", "true"],
        ["--signal", "CHLD", "--", "true"],
        ["--signal", "NOPE", "--", "true"],
        ["--timeout", "0", "--", "true"],
        ["--timeout", "soon", "--", "true"],
        ["--slow", "-1", "--", "true"],
        ["--ready-after", "nan", "--", "true"],
        ["--ready-line", "(", "--", "true"],
        ["--ready-after", "1", "--ready-line", "x", "--", "true"],
        ["--timeout"],
    ],
    ids=lambda args: " ".join(args) or "nothing",
)
def test_bad_input_gets_one_line_and_status_125(args):
    done = probe(*args)
    assert done.returncode == 125
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("pyinit probe: ")


def test_a_command_that_is_not_found_gets_127_and_one_line():
    done = probe("--", "no-such-command-here")
    assert (done.returncode, done.stderr.count("\n")) == (127, 1)


def test_a_command_that_cannot_be_executed_gets_126_and_one_line(tmp_path):
    done = probe("--", str(tmp_path))
    assert (done.returncode, done.stderr.count("\n")) == (126, 1)


def test_help_lists_the_verdicts_and_exits_0():
    done = probe("--help")
    assert done.returncode == 0
    for verdict in ("clean", "slow", "left-processes", "crashed", "killed-after-timeout", "hung"):
        assert verdict in done.stdout


# --- several programs (a Procfile) ------------------------------------------------------------


def line(name: str, *command: str) -> str:
    """A Procfile line that execs command: the program is the process pyinit watches."""
    return "%s: exec %s" % (name, shlex.join(command))


def procfile(tmp_path, *lines: str) -> str:
    path = tmp_path / "Procfile"
    path.write_text("# written by the test\n" + "\n".join(lines) + "\n")
    return str(path)


def both_ready(*names: str) -> list[str]:
    """Readiness: each named program printed its "ready" line."""
    return [arg for name in names for arg in ("--ready-line-from", "%s:^ready$" % name)]


def by_name(report: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in report["programs"]}


@pytest.mark.parametrize("mode", ["auto", "subreaper"])
def test_two_programs_that_stop_on_sigterm_are_clean(tmp_path, mode):
    path = procfile(
        tmp_path, line("web", *program("graceful")), line("worker", *program("shutdown", "default"))
    )
    args = ["--no-pidns"] if mode == "subreaper" else []
    done, report = probe_json(*args, "--procfile", path, *both_ready("web", "worker"))
    assert (done.returncode, report["verdict"], report["findings"]) == (0, "clean", []), done.stderr
    programs = by_name(report)
    assert list(programs) == ["web", "worker"]  # the Procfile's order
    assert programs["web"]["ended_by"] == "handled-exit" and programs["web"]["exit_code"] == 0
    assert programs["worker"]["ended_by"] == "signal-default-action"
    assert programs["worker"]["signal"] == "SIGTERM"
    assert programs["web"]["pid"] != programs["worker"]["pid"]
    assert all(entry["findings"] == [] and entry["exited_after"] is not None for entry in programs.values())
    assert programs["web"]["command"] == "exec %s" % shlex.join(program("graceful"))
    # pyinit exits with the status of the first program to end, and `program` is that one.
    assert report["first_ended"] in ("web", "worker")
    assert report["program"] == programs[report["first_ended"]]
    assert report["status"] == programs[report["first_ended"]]["exit_code"]
    assert (report["command"], report["procfile"]) == (None, path)
    # pyinit's output relay is its own helper: never a leftover, nothing to stop.
    assert report["left_behind"] == [] and report["leftovers_killed"] is False
    assert report["pyinit_stopped"] == 0
    assert set(report["ready"]["programs"]) == {"web", "worker"}
    if mode == "subreaper":
        assert report["mode"] == "subreaper"
    elif can_unshare() is None:
        assert report["mode"] == "pid1"


def test_programs_given_with_p_lines_are_probed_like_a_procfile():
    done, report = probe_json(
        "-P",
        line("web", *program("shutdown", "exit")),
        "--program",
        line("worker", *program("shutdown", "exit")),
        *both_ready("web", "worker"),
    )
    assert (done.returncode, report["verdict"]) == (0, "clean"), done.stderr
    assert [entry["name"] for entry in report["programs"]] == ["web", "worker"]
    assert report["procfile"] is None


def test_a_program_that_leaves_a_daemon_behind_makes_the_run_left_processes(tmp_path):
    path = procfile(
        tmp_path, line("web", *program("shutdown", "daemon")), line("worker", *program("graceful"))
    )
    done, report = probe_json("--procfile", path, *both_ready("web", "worker"))
    assert (done.returncode, report["verdict"]) == (2, "left-processes"), done.stderr
    assert [entry["command"] for entry in report["left_behind"]] == ["sleep 1000"]
    # The daemon detached (setsid, double fork) before the probe could see whose it was.
    assert report["left_behind"][0]["program"] in (None, "web")
    assert all(entry["findings"] == [] for entry in report["programs"])  # each program was fine
    assert report["pyinit_stopped"] >= 1 and report["status"] == 0


def test_a_child_that_outlives_its_program_is_named_after_it(tmp_path):
    # web's child is in web's process group: it got the signal, but takes 2 s (beyond the
    # 0.5 s allowed to die with the program) after the last program exited.
    path = procfile(
        tmp_path, line("web", *program("lingerer", "2")), line("worker", *program("shutdown", "exit"))
    )
    done, report = probe_json("--procfile", path, *both_ready("web", "worker"))
    assert (done.returncode, report["verdict"]) == (2, "left-processes"), done.stderr
    assert [(entry["command"], entry["program"]) for entry in report["left_behind"]] == [
        (" ".join(program("lingerer", "2")), "web")
    ]
    programs = by_name(report)
    assert (programs["web"]["findings"], programs["worker"]["findings"]) == (["left-processes"], [])


def test_a_program_that_crashes_on_sigterm_makes_the_run_crashed_and_is_named(tmp_path):
    path = procfile(tmp_path, line("web", *program("graceful")), line("worker", *program("shutdown", "segv")))
    done, report = probe_json("--procfile", path, *both_ready("web", "worker"))
    assert (done.returncode, report["verdict"], report["findings"]) == (3, "crashed", ["crashed"]), (
        done.stderr
    )
    programs = by_name(report)
    assert programs["worker"]["findings"] == ["crashed"]
    assert (programs["worker"]["ended_by"], programs["worker"]["signal"]) == ("other-signal", "SIGSEGV")
    assert programs["web"]["findings"] == [] and programs["web"]["ended_by"] == "handled-exit"
    assert report["status"] == programs[report["first_ended"]]["exit_code"]


def waits_for(path) -> str:
    """A shell command that returns once path exists (the test's deadline bounds it)."""
    return "while [ ! -e %s ]; do sleep 0.02; done" % shlex.quote(str(path))


def test_a_program_that_exits_before_the_signal_makes_the_run_exited_early(tmp_path):
    # worker exits 4 once web is ready; the probe would wait 30 s before signalling.
    ready = tmp_path / "web-ready"
    path = procfile(
        tmp_path,
        line("web", *program("graceful", "--ready-file", str(ready))),
        "worker: %s; exit 4" % waits_for(ready),
    )
    done, report = probe_json("--ready-after", "30", "--procfile", path)
    assert (done.returncode, report["verdict"]) == (6, "exited-early"), done.stderr
    # pyinit failed fast: it stopped web with SIGTERM, and exited with worker's status.
    assert (report["first_ended"], report["status"]) == ("worker", 4)
    programs = by_name(report)
    assert programs["worker"]["findings"] == ["exited-early"]
    assert programs["worker"]["exit_code"] == 4 and programs["worker"]["exited_after"] is None
    assert (programs["web"]["findings"], programs["web"]["ended_by"]) == ([], "handled-exit")
    assert report["program"]["name"] == "worker"
    assert report["ready"]["after"] is None


def test_a_program_stopped_by_fail_fast_is_still_judged(tmp_path):
    # worker exits by itself once web is ready; pyinit's SIGTERM then makes web die of SIGSEGV.
    ready = tmp_path / "web-ready"
    path = procfile(
        tmp_path,
        line("web", *program("graceful", "segv", "--ready-file", str(ready))),
        "worker: %s; exit 0" % waits_for(ready),
    )
    done, report = probe_json("--ready-after", "30", "--procfile", path)
    assert (done.returncode, report["verdict"]) == (6, "exited-early"), done.stderr
    assert report["findings"] == ["exited-early", "crashed"]
    web = by_name(report)["web"]
    assert (web["findings"], web["ended_by"], web["signal"]) == (["crashed"], "other-signal", "SIGSEGV")


def test_zombies_of_a_program_are_named_after_it(tmp_path):
    path = procfile(tmp_path, line("web", *program("unreaped")), line("worker", *program("graceful")))
    done, report = probe_json("--procfile", path, *both_ready("web", "worker"))
    assert (done.returncode, report["verdict"]) == (0, "clean"), done.stderr
    assert [(zombie["parent"], zombie["program"]) for zombie in report["zombies"]] == [
        (by_name(report)["web"]["pid"], "web")
    ]


def test_a_program_that_ignores_sigterm_is_killed_after_the_timeout_and_named(tmp_path):
    path = procfile(
        tmp_path, line("web", *program("shutdown", "ignore")), line("worker", *program("graceful"))
    )
    done, report = probe_json("--timeout", "1", "--procfile", path, *both_ready("web", "worker"))
    assert (done.returncode, report["verdict"]) == (4, "killed-after-timeout"), done.stderr
    programs = by_name(report)
    assert programs["web"]["ended_by"] == "killed-after-timeout"
    assert programs["web"]["findings"] == ["killed-after-timeout"]
    assert (programs["worker"]["ended_by"], programs["worker"]["findings"]) == ("handled-exit", [])
    # worker ended first: pyinit's status is its own, whatever happened to web.
    assert (report["first_ended"], report["status"]) == ("worker", 0)
    assert report["escalated"] is True and report["time_to_exit"] >= 1.0


def test_ready_line_from_waits_for_the_named_programs_line(tmp_path):
    # worker prints "listening" at once, web only after 1 s: ready is web's line, not worker's.
    web = "sleep 1; echo listening; " + line("x", *program("shutdown", "exit"))[3:]
    path = procfile(tmp_path, "web: " + web, "worker: echo listening; " + line("x", "sleep", "100")[3:])
    done, report = probe_json("--procfile", path, "--ready-line-from", "web:^listening$")
    assert (done.returncode, report["verdict"]) == (0, "clean"), done.stderr
    assert report["ready"]["by"] == "line-from"
    assert report["ready"]["programs"]["web"] >= 1.0
    assert report["ready"]["after"] >= 1.0
    # Matched on the program's own text: the `web    | ` prefix is pyinit's relay's.
    assert "web    | listening" in done.stderr


def test_ready_line_with_several_programs_takes_any_programs_line_without_the_prefix(tmp_path):
    path = procfile(tmp_path, line("web", "sleep", "100"), "worker: echo ready; exec sleep 100")
    done, report = probe_json("--procfile", path, "--ready-line", "^ready$", "--ready-timeout", "20")
    assert (done.returncode, report["verdict"], report["ready"]["by"]) == (0, "clean", "line"), done.stderr


def test_text_report_with_several_programs_has_a_line_per_program(tmp_path):
    path = procfile(tmp_path, line("web", *program("graceful")), line("worker", *program("shutdown", "segv")))
    done = probe("--procfile", path, *both_ready("web", "worker"))
    assert done.returncode == 3, done.stderr
    assert "pyinit probe: crashed: a program crashed on the signal" in done.stdout
    assert "programs        %s: web, worker" % path in done.stdout
    assert "program web     handled: exited with code 0" in done.stdout
    assert "program worker  killed by SIGSEGV" in done.stdout and "[crashed]" in done.stdout
    # Each program's output is passed through, named by pyinit's relay.
    assert done.stdout.startswith(("web    | ready\n", "worker | ready\n"))


def test_a_bad_procfile_gets_pyinits_one_line_and_125_and_nothing_runs(tmp_path):
    marker = tmp_path / "started"
    path = procfile(tmp_path, "web: touch %s; exec sleep 100" % marker, "web: sleep 200")
    done = probe("--procfile", path)
    assert (done.returncode, done.stdout) == (125, "")
    assert done.stderr == (
        "pyinit probe: %s:3: program 'web' is defined twice (first at %s:2)\n" % (path, path)
    )
    assert not marker.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--procfile", "/nonexistent/Procfile"],
        ["-P", "web sleep 1"],
        ["-P", "web: sleep 1", "--", "true"],
        ["--ready-line-from", "web:x", "--", "true"],
        ["-P", "web: sleep 1", "--ready-line-from", "db:x"],
        ["-P", "web: sleep 1", "--ready-line-from", "web"],
        ["-P", "web: sleep 1", "--ready-line-from", "web:("],
        ["-P", "web: sleep 1", "--ready-line-from", "web:a", "--ready-line", "b"],
    ],
    ids=lambda args: " ".join(args),
)
def test_bad_programs_get_one_line_and_status_125(args):
    done = probe(*args)
    assert (done.returncode, done.stdout) == (125, "")
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("pyinit probe: ")


# --- the probe itself -------------------------------------------------------------------------


def test_interrupting_the_probe_kills_everything_it_started(tmp_path):
    pidfile = tmp_path / "pid"
    proc = subprocess.Popen(
        [*PYINIT, "probe", "--ready-after", "60", "--", "sh", "-c", "echo $$ > %s; exec sleep 100" % pidfile],
        env=BASE_ENV,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 30, message="the program")
        descendants = psutil.Process(proc.pid).children(recursive=True)
        assert descendants
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        _, alive = psutil.wait_procs(descendants, timeout=30)
        assert alive == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_probe_is_not_imported_when_pyinit_starts_a_program():
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pyinit", "--", "true"],
        env=BASE_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert "pyinit.main" in done.stderr
    assert "pyinit.probe" not in done.stderr


def _running(fragment: str) -> bool:
    me = os.getpid()
    for proc in psutil.process_iter(["cmdline", "pid"]):
        cmdline = " ".join(proc.info["cmdline"] or ())
        if fragment in cmdline and proc.info["pid"] != me:
            return True
    return False
