"""Defaults that never surprise a user in a real container (issue 14), as PID 1 of a real PID
namespace: reload signals reload, nothing is killed in silence, nothing that cannot or will not
stop holds the exit, one stop is one SIGTERM, the application's Python environment stays out
of PID 1, PID 1 is the OOM killer's last choice, and ps calls it pyinit.

The same behaviours against the real Docker engine: tests/e2e/test_defaults.py.
"""

import os
import signal
import subprocess
import sys

import pytest

from privs import needs_nobody_python
from support import BASE_ENV, ROOT, proc_status, program, run, wait_until, write_launcher
from sync import names

# --- 1. a reload signal is not a stop signal --------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("signo", [signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH])
def test_a_reload_signal_is_forwarded_and_never_starts_the_grace_period(start_init, tmp_path, signo):
    record = tmp_path / "record"
    init = start_init(["--grace", "0.5", "--log-format", "json", *program("recorder", str(record))])
    init.wait_for_output("ready")
    init.send(signo)
    wait_until(lambda: "program %d" % signo in record.read_text(), message="the signal forwarded")
    # A marker sent after it: once it is forwarded too, pyinit has acted on the first signal.
    init.send(signal.SIGPWR)
    wait_until(lambda: "program %d" % signal.SIGPWR in record.read_text(), message="the marker")
    assert "grace" not in names(init)
    init.send(signal.SIGTERM)  # a stop signal does start it (and the recorder ignores TERM)
    assert init.wait() == 128 + signal.SIGKILL
    assert names(init).count("grace") == 1


def test_the_default_stop_signals_are_term_int_and_quit():
    from pyinit.personalities.pyinit import parse_args

    assert parse_args(["true"], {}).stop_signals == {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}


# --- 2. nothing killed in silence -------------------------------------------------------------


@pytest.mark.timeout(60)
def test_the_escalation_to_sigkill_is_one_warning_at_the_default_verbosity(start_init):
    init = start_init(["--grace", "0.3", *program("stubborn", "0")])
    init.wait_for_output("ready")
    init.send(signal.SIGTERM)
    assert init.wait() == 128 + signal.SIGKILL
    lines = init.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("[pyinit] warning: grace period of 0.3s is over"), lines


@pytest.mark.timeout(60)
def test_a_clean_stop_prints_nothing_at_the_default_verbosity(start_init, tmp_path):
    init = start_init(program("shutdown", "exit"))
    init.wait_for_output("ready")
    init.send(signal.SIGTERM)
    assert init.wait() == 0
    assert init.stderr == ""


# --- 3. no waiting on what cannot or will not stop ---------------------------------------------


@pytest.mark.timeout(60)
def test_a_daemon_that_ignores_sigterm_does_not_hold_the_programs_own_exit(start_init, tmp_path):
    # The program exits 0 by itself; the daemon it leaves ignores SIGTERM: SIGKILL at once.
    init = start_init(
        ["--grace", "30", *program("leaver", str(tmp_path / "d"), "0", "--setsid", "--ignore-term")]
    )
    assert init.wait(timeout=20) == 0
    assert "that ignore SIGTERM" in init.stderr


@pytest.mark.timeout(60)
def test_a_leftover_pyinit_may_not_signal_is_not_waited_for(start_init, tmp_path):
    # pyinit runs as nobody; a root process joins its namespace as `docker exec -u 0` would,
    # and leaves an orphan there, which pyinit (PID 1) adopts but may not signal.
    python = needs_nobody_python()
    started = tmp_path / "started"
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-m", "pyinit"]
    shutdown = [python, "-I", program("shutdown")[2], "exit"]  # an interpreter nobody may run
    init = start_init(["--grace", "30", *shutdown], pyinit=nobody)
    init.wait_for_output("ready")
    join = ["nsenter", "-t", str(init.init_pid), "-p", "--"]
    orphan = "sleep 1000 & echo $! > %s" % started
    subprocess.run([*join, "sh", "-c", orphan], timeout=30, check=True)
    wait_until(lambda: started.exists() and started.read_text().strip(), message="the root orphan")
    init.send(signal.SIGTERM)
    assert init.wait(timeout=20) == 0  # the program's status, without waiting 30 s
    warning = [line for line in init.stderr.splitlines() if "not permitted to signal" in line]
    assert len(warning) == 1 and "(sleep, uid 0)" in warning[0], init.stderr


@pytest.mark.timeout(60)
def test_a_leftover_with_a_handler_still_gets_its_time(start_init, tmp_path):
    record = tmp_path / "daemon"
    init = start_init(["--grace", "10", *program("leaver", str(record), "5", "--setsid", "--takes", "1")])
    assert init.wait() == 5
    assert record.read_text().splitlines()[-1] == "done"  # it finished its work before pyinit left


# --- 4. one stop, one SIGTERM ---------------------------------------------------------------------

COUNTING_APP = """
import os, signal, sys, time
def on_term(signo, frame):
    os.write(out, b"term\\n")
    time.sleep(0.5)
    sys.exit(0)
out = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
while True:
    signal.pause()
"""


@pytest.mark.timeout(60)
def test_a_non_exec_wrapper_gives_its_app_one_sigterm_per_stop(start_init, tmp_path):
    app = tmp_path / "app.py"
    app.write_text(COUNTING_APP)
    count = tmp_path / "count"
    wrapper = "%s -I %s %s; echo done" % (sys.executable, app, count)
    init = start_init(["--log-format", "json", "bash", "-c", wrapper])
    init.wait_for_output("ready")
    init.send(signal.SIGTERM)
    assert init.wait() == 128 + signal.SIGTERM  # bash's own status: it died of the SIGTERM
    assert count.read_text().splitlines() == ["term"]  # the app's handler ran once
    assert "escalation" not in names(init)  # and it was waited for


# --- 5. PID 1 isolated from the application's Python environment --------------------------------

THREAD_STARTER = """
import threading, time
threading.Thread(target=lambda: time.sleep(1000), daemon=True).start()
"""


@pytest.mark.timeout(120)
def test_pyinit_started_in_an_applications_environment_runs_isolated(start_init, tmp_path):
    # An agent's sitecustomize starts a thread; warnings are errors; -m pyinit from there.
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "sitecustomize.py").write_text(THREAD_STARTER)
    env = {"PYTHONPATH": "%s:%s" % (agent, ROOT), "PYTHONWARNINGS": "error", "PYTHONSTARTUP": "/nonexistent"}
    for _ in range(5):
        init = start_init(["sh", "-c", "echo ready; exec sleep 1000"], env=env)
        init.wait_for_output("ready")
        pid = init.init_pid
        assert os.listdir("/proc/%d/task" % pid) == [str(pid)]  # one thread: pyinit's own
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            assert f.read().split(b"\0")[1:3] == [b"-I", b"-S"]
        init.send(signal.SIGTERM)
        assert init.wait() == 128 + signal.SIGTERM


@pytest.mark.timeout(60)
def test_the_launcher_starts_whatever_pythonhome_says(tmp_path):
    launcher = write_launcher(tmp_path / "pyinit", BASE_ENV)
    env = dict(BASE_ENV, PYTHONHOME="/nonexistent", PYTHONPATH="/nonexistent")
    done = subprocess.run([str(launcher), "sh", "-c", "exit 4"], env=env, capture_output=True, timeout=60)
    assert (done.returncode, done.stderr) == (4, b"")


def test_the_launcher_blocks_signals_before_python_starts_where_env_can(tmp_path):
    from pyinit import launcher

    script = launcher.text(sys.executable)
    if launcher.env_blocks_signals():  # GNU env 8.31+: blocked before the interpreter exists
        assert script.startswith("#!/usr/bin/env -S --block-signal %s -IS\n" % sys.executable)
        assert "main(inherited_mask=())" in script  # the program: the empty mask of a runtime
    # Without it, the script's first statement blocks them, before anything of pyinit.
    code = [line for line in launcher.text(sys.executable, block_with_env=False).splitlines()[1:]]
    code = [line for line in code if line and not line.startswith("#")]
    assert code[:2] == [
        "import _signal",
        "mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, _signal.valid_signals())",
    ]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("with_env", [True, False], ids=["env-blocks", "first-statement"])
def test_a_program_started_by_either_launcher_has_no_signal_blocked(tmp_path, with_env):
    from pyinit import launcher

    if with_env and not launcher.env_blocks_signals():
        pytest.skip("this env cannot block signals (GNU coreutils < 8.31, busybox)")
    path = tmp_path / "pyinit"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, %r); from pyinit import launcher; "
            "launcher.write(%r, block_with_env=%r)" % (str(ROOT), str(path), with_env),
        ],
        timeout=60,
        check=True,
    )
    assert done.returncode == 0
    program = "grep SigBlk /proc/self/status; exit 6"
    result = subprocess.run(
        [str(path), "sh", "-c", program], env=BASE_ENV, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 6 and "SigBlk:\t0000000000000000" in result.stdout, result


# --- 6. PID 1 is the OOM killer's last choice -----------------------------------------------------


def oom_score_adj(pid: int) -> int:
    with open("/proc/%d/oom_score_adj" % pid) as f:
        return int(f.read())


def has_cap_sys_resource() -> bool:
    return bool(int(proc_status(os.getpid())["CapEff"], 16) >> 24 & 1)


@pytest.mark.timeout(60)
def test_pid1_lowers_its_own_oom_score_where_it_may_and_the_program_keeps_the_old_one(start_init):
    if not has_cap_sys_resource():
        pytest.skip("needs CAP_SYS_RESOURCE (lowering an oom_score_adj), which this root lacks")
    init = start_init(["sh", "-c", "echo ready; exec sleep 1000"])
    init.wait_for_output("ready")
    assert oom_score_adj(init.init_pid) == -1000
    assert oom_score_adj(init.program_pid) == oom_score_adj(os.getpid())


@pytest.mark.timeout(60)
def test_without_cap_sys_resource_the_program_and_its_workers_outscore_pid1(start_init):
    # Docker's default capabilities lack CAP_SYS_RESOURCE: lowering its own score is refused.
    drop = ["setpriv", "--inh-caps=-sys_resource", "--bounding-set=-sys_resource"]
    init = start_init(["sh", "-c", "sleep 1000 & echo ready; wait"], prefix=drop)
    init.wait_for_output("ready")
    own, program_adj = oom_score_adj(init.init_pid), oom_score_adj(init.program_pid)
    assert own == oom_score_adj(os.getpid())  # it could not lower its own
    assert program_adj > own
    worker = wait_until(lambda: [p for p in init.descendants() if p.name() == "sleep"], message="the worker")
    assert oom_score_adj(worker[0].pid) == program_adj  # inherited by what the program forks


# --- the name ps shows ------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["pyinit", "tini", "dumb-init"])
def test_ps_calls_pid1_by_its_init_name(start_init, name):
    script = "import sys; sys.argv[0] = %r; sys.path.insert(0, %r); from pyinit.main import main; main()"
    pyinit = [sys.executable, "-I", "-S", "-c", script % (name, str(ROOT))]
    init = start_init(["--", "sh", "-c", "echo ready; exec sleep 1000"], pyinit=pyinit)
    init.wait_for_output("ready")
    assert proc_status(init.init_pid)["Name"] == name
    assert proc_status(init.program_pid)["Name"] == "sleep"  # the program takes its own at exec


@pytest.mark.timeout(60)
def test_v_says_when_pyinit_starts_with_a_stop_signal_ignored():
    # As nohup or util-linux 2.36's unshare would start it: SIGTERM ignored.
    quiet = run(["-v", "true"])
    ignored = run(["-v", "true"], preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    assert "SIGTERM ignored" not in quiet.stderr
    assert "[pyinit] started with SIGTERM ignored: the program inherits that" in ignored.stderr
