"""Kubernetes, simulated with real namespaces: what pyinit does in a pod (README "Kubernetes").

The pieces of a pod, played for real:

- **A pod with shareProcessNamespace** is a PID namespace whose PID 1 is a pause process
  (tests/programs/pause.c: it only reaps).  A container's process is started in it from
  outside, as runc starts one: it joins the namespaces (`nsenter --target PAUSE --pid --mount`)
  and calls setsid (runc's nsexec does, for every process it starts, containers and `exec`
  alike), so inside it has ppid 0 and a session of its own.
- **A pod without it** gives each container a PID namespace of its own: pyinit is its PID 1
  (`unshare --pid --fork --mount-proc`, as in the rest of the suite).
- **The kubelet** is the test: it sends the stop signal from outside the namespace, then
  SIGKILL when terminationGracePeriodSeconds (scaled down to a few seconds) is over; a preStop
  `sleep` action is the kubelet waiting, inside that budget, before it signals.
- **kubectl exec** (and exec probes) is a process started in the container's namespaces from
  outside, setsid'd; **kubectl debug --target** is the same from another mount namespace.

Timings are read from pyinit's JSON events and the programs' records (all CLOCK_MONOTONIC, one
clock for every process on the machine) and only ever bounded from below: a loaded machine makes
everything later, never earlier.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import psutil
import pytest

from support import BASE_ENV, PYINIT, UNSHARE, compile_program, needs_pidns, program, wait_until

KILLED = 128 + signal.SIGKILL  # 137: SIGKILLed (by the kubelet, or by pyinit at the end of --grace)
TERMINATED = 128 + signal.SIGTERM  # 143


# --- the pieces of a pod ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pause_binary(tmp_path_factory):
    needs_pidns()
    return compile_program("pause", tmp_path_factory.mktemp("pause"), "the pod's pause process")


class Process:
    """A process started from outside with its output in files: a container's main process,
    an exec'd one, or a whole pod (the PID namespace's creator)."""

    def __init__(self, tmp_path, name: str, args: list[str]) -> None:
        self.name = name
        self.stdout_path = tmp_path / (name + ".out")
        self.stderr_path = tmp_path / (name + ".err")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            # The runtime's own process (nsenter, unshare) stays outside, as containerd-shim
            # does: what it starts inside has ppid 0 there.
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=BASE_ENV, start_new_session=True
            )
        self._pid: int | None = None

    @property
    def pid(self) -> int:
        """The pid (as the test sees it) of what the runtime process started inside."""
        if self._pid is None:

            def started():
                try:
                    kids = psutil.Process(self.proc.pid).children()
                except psutil.NoSuchProcess:
                    return None
                return kids[0].pid if kids else None

            self._pid = wait_until(started, message="%s to start" % self.name)
        return self._pid

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_for_output(self, text: str, *, from_orphans: bool = False) -> None:
        """from_orphans: the text comes from processes it left behind, so its exit ends nothing."""
        ended = (lambda: False) if from_orphans else (lambda: self.proc.poll() is not None)
        wait_until(lambda: text in self.stdout or ended(), message="%r from %s" % (text, self.name))
        assert text in self.stdout, "%s ended (%s) before %r: %s" % (
            self.name,
            self.proc.returncode,
            text,
            self.stderr[-2000:],
        )

    def events(self) -> list[dict]:
        """pyinit's --log-format json events (complete lines only)."""
        return [json.loads(line) for line in self.stderr.splitlines() if line.startswith("{")]

    def event(self, name: str) -> dict | None:
        return next((item for item in self.events() if item["event"] == name), None)

    def status(self, timeout: float = 30.0) -> int:
        """The exit status as the pod reports it: the code, or 128+N when signal N killed it.

        nsenter and unshare pass on their child's death by a signal by dying of it, except
        that unshare cannot make SIGKILL its own disposition: it then says so and exits 1.
        """
        code = self.proc.wait(timeout=timeout)
        if code == 1 and self.stderr.endswith("unshare: sigprocmask unblock failed: Invalid argument\n"):
            return KILLED
        return 128 - code if code < 0 else code

    def send(self, signo: int) -> None:
        """Signal the process from outside (docker kill -s, or the kubelet)."""
        os.kill(self.pid, signo)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


class Pod:
    """A PID namespace shared by the pod's containers, with a pause process as its PID 1."""

    def __init__(self, tmp_path, pause: str) -> None:
        self.tmp_path = tmp_path
        self.sandbox = Process(tmp_path, "pause", UNSHARE + [pause])
        self.containers: list[Process] = []
        # Joining is safe once pause runs: unshare mounted the namespace's /proc before its exec.
        wait_until(lambda: psutil.Process(self.sandbox.pid).name() == "pause", message="pause")
        self.pause_pid = self.sandbox.pid

    def start(self, name: str, args: list[str]) -> Process:
        """A container's main process, started in the pod as runc starts it."""
        container = join(self.tmp_path, self.pause_pid, name, args)
        self.containers.append(container)
        return container

    def processes(self) -> list[psutil.Process]:
        """Every process in the pod but pause, as the test sees them."""
        return psutil.Process(self.pause_pid).children(recursive=True) + [
            proc for container in self.containers for proc in _descendants(container.proc.pid)
        ]

    def cleanup(self) -> None:
        self.sandbox.kill()  # unshare --kill-child: pause dies, and the kernel empties the pod
        for container in self.containers:
            container.kill()


def join(tmp_path, target: int, name: str, args: list[str], *, debug: bool = False) -> Process:
    """Start args in target's PID and mount namespaces from outside, then setsid, as runc does
    for a container's process and for `kubectl exec`/`docker exec`.  debug: in a mount
    namespace of its own with its own /proc, as an ephemeral container of `kubectl debug
    --target` is."""
    # --root --wd: the target's root and working directory; entering a mount namespace otherwise
    # resets them to the namespace's own, outside any chroot the tests run in (make test-pythons).
    enter = ["nsenter", "--target", str(target), "--pid", "--mount", "--root", "--wd", "--"]
    own_mounts = ["unshare", "--mount", "--mount-proc"] if debug else []
    return Process(tmp_path, name, enter + own_mounts + ["setsid", *args])


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.fixture
def pod(tmp_path, pause_binary):
    made = Pod(tmp_path, pause_binary)
    yield made
    made.cleanup()


@pytest.fixture
def containers(tmp_path):
    """Factory: a container with a PID namespace of its own, pyinit its PID 1 (the default pod)."""
    needs_pidns()
    started: list[Process] = []

    def start(name: str, pyinit_args: list[str]) -> Process:
        container = Process(tmp_path, name, UNSHARE + PYINIT + pyinit_args)
        started.append(container)
        return container

    yield start
    for container in started:
        container.kill()


class Termination:
    """What the kubelet did to one container: when its countdown started, when it sent the
    stop signal, whether it had to SIGKILL, and the status the pod reports."""

    def __init__(self, started: float, signalled: float, killed: bool, status: int) -> None:
        self.started, self.signalled, self.killed, self.status = started, signalled, killed, status


def kubelet_stop(
    container: Process, grace_period: float, pre_stop: float = 0.0, signo: int = signal.SIGTERM
) -> Termination:
    """The kubelet ends one container: the countdown of terminationGracePeriodSeconds starts,
    a preStop sleep action runs inside it, then the stop signal goes to the container's main
    process from outside; SIGKILL when the countdown is over (nothing else: the process only
    sees two signals)."""
    pid = container.pid
    started = time.monotonic()
    if pre_stop:
        time.sleep(pre_stop)  # this *is* the sleep action: the kubelet waits, the container runs on
    signalled = time.monotonic()
    os.kill(pid, signo)
    try:
        container.proc.wait(timeout=max(0.0, started + grace_period - time.monotonic()))
        killed = False
    except subprocess.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
        killed = True
    return Termination(started, signalled, killed, container.status())


def records(path) -> list[tuple[str, str, float]]:
    """pod_app.py's record: (role, signal name, monotonic time) per line."""
    if not path.exists():
        return []
    return [
        (role, name, float(ts)) for role, name, ts in (line.split() for line in path.read_text().splitlines())
    ]


def nspid(pid: int) -> list[int]:
    """The pids a process has, outermost first (NSpid in /proc/PID/status)."""
    with open("/proc/%d/status" % pid) as f:
        line = next(line for line in f if line.startswith("NSpid:"))
    return [int(part) for part in line.split()[1:]]


# --- shareProcessNamespace: pyinit is not PID 1 and sees the other containers ---------------------


def heard(record) -> list[tuple[str, str]]:
    """Who got which signal, in order, from pod_app.py's record."""
    return [(role, name) for role, name, _ in records(record)]


def daemon_of(container: Process) -> psutil.Process:
    """The program's daemon: the descendant of pyinit in another session than pyinit's."""
    return next(
        proc for proc in _descendants(container.pid) if os.getsid(proc.pid) != os.getsid(container.pid)
    )


def nssid(pid: int) -> int:
    """The session id as the process's own PID namespace numbers it (NSsid's last field)."""
    with open("/proc/%d/status" % pid) as f:
        return int(next(line for line in f if line.startswith("NSsid:")).split()[-1])


def first(container: Process, name: str, **match) -> dict:
    """The first of pyinit's events called name whose fields match."""
    return next(
        item
        for item in container.events()
        if item["event"] == name and all(item.get(key) == value for key, value in match.items())
    )


# --- shareProcessNamespace: pyinit is not PID 1, and sees the other containers ------------------


@pytest.mark.timeout(90)
def test_shared_pid_namespace_pyinit_signals_only_its_own_descendants_never_another_container(pod, tmp_path):
    # Another container: its main process, and an orphan it left, re-parented to pause.  Both
    # record every signal they get.
    other = pod.start("other", program("recorder", str(tmp_path / "other")))
    other.wait_for_output("ready")
    recorder = " ".join(program("recorder", str(tmp_path / "other-orphan")))
    orphaned = pod.start("other-orphan", ["sh", "-c", "%s & exit 0" % recorder])
    orphaned.wait_for_output("ready", from_orphans=True)
    bystanders = [proc for proc in pod.processes() if "recorder.py" in " ".join(proc.cmdline())]
    parents = sorted(proc.ppid() for proc in bystanders)
    assert parents == sorted([other.proc.pid, pod.pause_pid])  # a main process, and an orphan

    # The application container: pyinit, the program, and the program's daemon, which handles
    # SIGTERM but never exits: the grace period must end in SIGKILL.
    record = tmp_path / "app"
    app = pod.start(
        "app",
        [*PYINIT, "--log-format", "json", "--grace", "1", *program("pod_app", str(record), "3", "--daemon")],
    )
    app.wait_for_output("ready")
    assert nspid(app.pid)[-1] != 1  # pyinit is not the pod's PID 1 ...
    assert app.event("subreaper") is not None  # ... so it registered as the child subreaper,
    daemon = daemon_of(app)
    assert daemon.ppid() == app.pid  # ... and the orphaned daemon came back to it, not to pause

    stop = kubelet_stop(app, grace_period=30)
    assert not stop.killed
    assert stop.status == 3  # the program's status (it exits 3 on SIGTERM)
    names = [item["event"] for item in app.events()]
    assert names.index("forwarded") < names.index("reaped") < names.index("stopping-others")
    assert names.index("stopping-others") < names.index("escalation") < names.index("exit")
    assert first(app, "forwarded")["target"] < 0  # to the program's process group
    assert app.event("stopping-others")["count"] == 1  # its daemon, at the end: nobody else
    assert app.event("escalation")["count"] == 1  # and the SIGKILL: the daemon again, nobody else
    assert heard(record) == [("program", "SIGTERM"), ("daemon", "SIGTERM")]
    assert not daemon.is_running()
    # The other container heard nothing: not the forward, not the leftovers' SIGTERM, not the
    # SIGKILL at the end of the grace period.
    for name in ("other", "other-orphan"):
        assert not (tmp_path / name).exists() or (tmp_path / name).read_text() == "", name
    assert all(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE for proc in bystanders)


@pytest.mark.timeout(60)
def test_shared_pid_namespace_the_kubelets_sigkill_of_pyinit_leaves_its_processes_to_the_runtime(
    pod, tmp_path
):
    # pyinit is not PID 1 here: its death kills nothing.  Its daemon goes to pause, and only the
    # runtime's SIGKILL to the container's cgroup ends it (runc: signalAllProcesses, for a
    # container without a PID namespace of its own).
    record = tmp_path / "app"
    app = pod.start("app", [*PYINIT, "--log-format", "json", "--grace", "10", *slow_daemon_app(record)])
    app.wait_for_output("ready")
    daemon = daemon_of(app)
    stop = kubelet_stop(app, grace_period=POD_GRACE)
    assert stop.killed and stop.status == KILLED
    assert daemon.is_running() and daemon.ppid() == pod.pause_pid
    assert heard(record) == [("program", "SIGTERM"), ("daemon", "SIGTERM")]


# --- terminationGracePeriodSeconds against --grace --------------------------------------------------
# The pod's budget, 30 s by default, is scaled down to POD_GRACE.  The program exits 0 on
# SIGTERM at once; the daemon it started needs a minute for its SIGTERM, longer than any budget.

POD_GRACE = 4.0


def slow_daemon_app(record) -> list[str]:
    return program("pod_app", str(record), "0", "--daemon", "--daemon-takes", "60")


@pytest.mark.timeout(60)
def test_grace_inside_the_pods_budget_pyinit_escalates_logs_and_reports_the_programs_status(
    containers, tmp_path
):
    record = tmp_path / "app"
    app = containers("app", ["--log-format", "json", "--grace", "1", *slow_daemon_app(record)])
    app.wait_for_output("ready")
    stop = kubelet_stop(app, grace_period=POD_GRACE)
    assert not stop.killed  # pyinit was done before the kubelet's SIGKILL was due
    assert stop.status == 0  # the program's status reaches the pod
    assert app.event("escalation")["count"] == 1  # pyinit SIGKILLed the slow daemon, and said so
    last = app.events()[-1]
    assert last["event"] == "exit" and last["code"] == 0  # the last line is there
    assert last["ts"] < stop.started + POD_GRACE  # before the kubelet's deadline


@pytest.mark.timeout(60)
def test_grace_beyond_the_pods_budget_the_kubelets_sigkill_preempts_pyinit_and_its_report(
    containers, tmp_path
):
    record = tmp_path / "app"
    app = containers("app", ["--log-format", "json", "--grace", "10", *slow_daemon_app(record)])
    app.wait_for_output("ready")
    stop = kubelet_stop(app, grace_period=POD_GRACE)
    assert stop.killed
    # What is lost: the program exited 0 on the SIGTERM, but the pod reports 137 (the kubelet
    # killed pyinit), and pyinit never got to its escalation or its last line.
    assert ("program", "SIGTERM") in heard(record) and first(app, "reaped", main=True)["code"] == 0
    assert stop.status == KILLED
    assert app.event("escalation") is None and app.event("exit") is None
    assert app.events()[-1]["event"] == "stopping-others"  # waiting for the daemon when it died


# --- the stop signal: the image's STOPSIGNAL, the pod's lifecycle.stopSignal, --rewrite -----------


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("pod_signal", "options", "program_hears", "grace"),
    [
        (signal.SIGQUIT, ["--rewrite", "QUIT:TERM"], signal.SIGTERM, True),
        (signal.SIGWINCH, ["--stop-signals", "TERM,INT,QUIT,WINCH"], signal.SIGWINCH, True),
        (signal.SIGWINCH, [], signal.SIGWINCH, False),
    ],
    ids=["quit-rewritten-to-term", "winch-made-a-stop-signal", "winch-alone"],
)
def test_the_pods_stop_signal_reaches_the_program_as_rewritten_and_starts_the_grace_period_if_a_stop_signal(
    containers, tmp_path, pod_signal, options, program_hears, grace
):
    # The program records every signal and ignores them all (handlers that only write), so
    # the container ends in a SIGKILL: pyinit's at its --grace 1 when the forwarded signal is
    # a stop signal, else the kubelet's at the end of the pod's budget.
    record = tmp_path / "signals"
    app = containers(
        "app", ["--log-format", "json", "--grace", "1", *options, *program("recorder", str(record))]
    )
    app.wait_for_output("ready")
    stop = kubelet_stop(app, grace_period=POD_GRACE, signo=pod_signal)
    assert first(app, "signal", signo=pod_signal)["sender"] == 0  # from outside, as the kubelet's
    assert record.read_text().split("\n")[0] == "program %d" % program_hears
    assert first(app, "forwarded")["signo"] == program_hears
    assert (app.event("grace") is not None) is grace
    assert stop.killed is not grace  # without a grace period of pyinit's, the kubelet's SIGKILL
    assert stop.status == KILLED


# --- a preStop sleep and --delay ---------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_prestop_sleep_and_delay_add_up_before_the_program_sees_sigterm(containers, tmp_path):
    # preStop sleep 1 s (the kubelet waits), then pyinit holds SIGTERM 1 s more: the program
    # hears of the shutdown 2 s into the pod's budget, not 1.
    record = tmp_path / "app"
    app = containers(
        "app", ["--log-format", "json", "--delay", "TERM:1", *program("pod_app", str(record), "0")]
    )
    app.wait_for_output("ready")
    stop = kubelet_stop(app, grace_period=30, pre_stop=1.0)
    assert not stop.killed and stop.status == 0
    received = first(app, "signal", signo=signal.SIGTERM)
    delayed, forwarded = app.event("delayed"), first(app, "forwarded", signo=signal.SIGTERM)
    program_heard = next(ts for role, name, ts in records(record) if (role, name) == ("program", "SIGTERM"))
    assert received["ts"] >= stop.started + 1.0  # after the preStop sleep
    assert forwarded["ts"] >= delayed["ts"] + 1.0  # then held for --delay
    assert program_heard >= forwarded["ts"] >= stop.started + 2.0  # the two added up


@pytest.mark.timeout(60)
def test_a_prestop_sleep_and_delay_stacked_can_spend_the_whole_budget_before_any_sigterm(
    containers, tmp_path
):
    # Budget 2 s; preStop 1 s, --delay 5 s: the kubelet's SIGKILL comes while pyinit still holds
    # SIGTERM.  The program never had a chance to shut down gracefully.
    record = tmp_path / "app"
    app = containers(
        "app", ["--log-format", "json", "--delay", "TERM:5", *program("pod_app", str(record), "0")]
    )
    app.wait_for_output("ready")
    stop = kubelet_stop(app, grace_period=2.0, pre_stop=1.0)
    assert stop.killed and stop.status == KILLED
    assert app.event("delayed") is not None and app.event("forwarded") is None
    assert heard(record) == []  # no SIGTERM ever reached it


# --- native sidecars -------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("success_codes", "status"), [([], TERMINATED), (["-e", "143"], 0)], ids=["plain", "e143"]
)
def test_a_native_sidecar_gets_sigterm_after_the_main_container_and_exits_143_unless_mapped(
    containers, tmp_path, success_codes, status
):
    # A sidecar (an init container with restartPolicy: Always) whose program dies of SIGTERM's
    # default action, as many do: `sleep` here.  The kubelet stops the main container first,
    # and the sidecar once the main container is gone.
    main = containers("main", ["--log-format", "json", *program("pod_app", str(tmp_path / "main"), "0")])
    sidecar = containers("sidecar", ["--log-format", "json", *success_codes, "sleep", "1000"])
    main.wait_for_output("ready")
    wait_until(lambda: sidecar.event("spawned"), message="the sidecar's program")
    assert kubelet_stop(main, grace_period=30).status == 0
    stop = kubelet_stop(sidecar, grace_period=30)
    assert not stop.killed
    assert first(sidecar, "signal", signo=signal.SIGTERM)["ts"] > main.event("exit")["ts"]  # main was gone
    assert first(sidecar, "reaped", main=True)["signal"] == signal.SIGTERM  # died of it: 143
    assert sidecar.event("exit")["code"] == TERMINATED
    assert stop.status == status  # what the pod reports: 143, or 0 with -e 143


# --- kubectl exec, exec probes, kubectl debug: their orphans come to PID 1 ----------------------------

EXEC_ORPHAN = (
    'echo "exec ppid=$PPID pid=$$ sid=$(cut -d" " -f6 /proc/$$/stat)"; sleep 1000 & echo "orphan $!"'
)


@pytest.mark.timeout(60)
def test_an_exec_processs_orphan_is_reparented_to_pyinit_as_pid_1_in_the_exec_session(containers, tmp_path):
    app = containers("app", ["--log-format", "json", *program("pod_app", str(tmp_path / "app"), "0")])
    app.wait_for_output("ready")
    execd = join(tmp_path, app.pid, "exec", ["sh", "-c", EXEC_ORPHAN])
    execd.wait_for_output("orphan")
    assert execd.status() == 0  # the exec'd shell is gone; its `sleep` stays
    said = dict(word.split("=") for word in execd.stdout.split("\n")[0].split()[1:])
    assert said["ppid"] == "0"  # its parent is outside the container, as runc exec's are
    assert said["sid"] == said["pid"]  # and it leads a session of its own (runc's setsid)
    inner = int(execd.stdout.split("orphan ")[1])
    orphan = next(proc for proc in _descendants(app.pid) if nspid(proc.pid)[-1] == inner)
    assert nspid(app.pid)[-1] == 1
    assert orphan.ppid() == app.pid  # re-parented to pyinit, the container's PID 1
    assert nssid(orphan.pid) == int(said["pid"])  # in the dead exec'd shell's session for good


def wait_mode_app(record) -> list[str]:
    """pyinit --leftovers wait on a program that exits 5 on SIGUSR1 (no grace period starts)
    and leaves a daemon that exits on SIGUSR2."""
    return ["--log-format", "json", "--leftovers", "wait", *program("pod_app", str(record), "5", "--daemon")]


@pytest.mark.timeout(60)
def test_the_programs_own_daemon_holds_leftovers_wait_as_pid_1(containers, tmp_path):
    # What any rule for exec orphans must keep: a daemon the program started -- in a session of
    # its own, orphaned, just like an exec'd shell's child -- holds --leftovers wait.
    record = tmp_path / "app"
    app = containers("app", wait_mode_app(record))
    app.wait_for_output("ready")
    daemon = daemon_of(app)
    app.send(signal.SIGUSR1)
    wait_until(lambda: app.event("reaped"), message="the program's exit")
    time.sleep(1.0)  # a negative: pyinit does not exit while its daemon runs
    assert app.alive()
    os.kill(daemon.pid, signal.SIGUSR2)
    assert app.status() == 5
    assert app.event("exit")["ts"] > next(ts for role, _, ts in records(record) if role == "daemon")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["exec", "debug"])
def test_an_exec_or_debug_orphan_does_not_hold_leftovers_wait_while_the_programs_daemon_does(
    containers, tmp_path, how
):
    record = tmp_path / "app"
    app = containers("app", wait_mode_app(record))
    app.wait_for_output("ready")
    daemon = daemon_of(app)
    execd = join(tmp_path, app.pid, how, ["sh", "-c", "sleep 1000 & echo orphan $!"], debug=how == "debug")
    execd.wait_for_output("orphan")
    assert execd.status() == 0
    inner = int(execd.stdout.split("orphan ")[1])
    orphan = next(proc for proc in _descendants(app.pid) if nspid(proc.pid)[-1] == inner)
    mounts = [os.readlink("/proc/%d/ns/mnt" % pid) for pid in (orphan.pid, app.pid)]
    assert (mounts[0] != mounts[1]) is (how == "debug")  # an ephemeral container's own mounts
    app.send(signal.SIGUSR1)
    wait_until(lambda: app.event("reaped"), message="the program's exit")
    time.sleep(1.0)
    assert app.alive()  # its own daemon still holds it
    os.kill(daemon.pid, signal.SIGUSR2)
    try:
        status = app.status(timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail("pyinit still waits, for the %s orphan alone" % how)
    assert status == 5
    # pyinit left it running; the kernel ends it with the namespace, as it would at any exit of PID 1
    wait_until(lambda: not orphan.is_running(), message="the namespace's end")
