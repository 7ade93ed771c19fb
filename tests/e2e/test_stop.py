"""`docker stop`: pyinit ends `sleep 100` as promptly as tini (`docker run --init`) does, where a
bare PID 1 ignores SIGTERM and docker waits its 10 s before SIGKILL; `--grace` bounds a program
that ignores SIGTERM.  Under Podman: `podman stop`, and catatonit is its `--init`."""

from __future__ import annotations

import statistics
from concurrent.futures import ThreadPoolExecutor

import pytest

from e2e.dockerlib import APP_IMAGE, BUILTIN_INIT, ENGINE, REPORT, Containers

pytestmark = [pytest.mark.docker, pytest.mark.podman]

ROUNDS = 3  # pyinit and the engine's init alternate, so a load spike on the shared machine hits both

# How `sleep 100` is started under each init.  The image's ENTRYPOINT is ["pyinit", "--"].
SLEEP = {
    "pyinit": ((), ("sleep", "100")),
    "--init": (("--init", "--entrypoint", "sleep"), ("100",)),  # the engine's init: tini, catatonit
    "none": (("--entrypoint", "sleep"), ("100",)),  # sleep itself as PID 1
}


def stop_sleep(containers: Containers, init: str) -> tuple[float, int]:
    """Start `sleep 100` under init, `docker stop` it: (seconds the stop took, exit code)."""
    options, command = SLEEP[init]
    container = containers.start(APP_IMAGE, *command, options=options)
    container.wait_for_process("sleep 100")
    took = container.stop()
    return took, container.exit_code()


def summary(times: list[float]) -> str:
    return "median %.2f s (%s)" % (statistics.median(times), ", ".join("%.2f" % t for t in times))


@pytest.mark.timeout(300)
def test_docker_stop_of_sleep_is_as_prompt_as_tini_and_far_below_no_init(containers):
    times: dict[str, list[float]] = {"pyinit": [], "--init": []}
    codes: dict[str, set[int]] = {"pyinit": set(), "--init": set()}
    # The no-init case is 10 s of docker waiting for its timeout: let it run alongside.
    with ThreadPoolExecutor(1) as pool:
        no_init = pool.submit(stop_sleep, containers, "none")
        for _ in range(ROUNDS):
            for init in ("pyinit", "--init"):
                took, code = stop_sleep(containers, init)
                times[init].append(took)
                codes[init].add(code)
        none_took, none_code = no_init.result(timeout=120)
    lines = [
        "%s stop, sleep 100 as the program (%d rounds):" % (ENGINE, ROUNDS),
        "  %-9s: %s, exit %s" % ("pyinit", summary(times["pyinit"]), sorted(codes["pyinit"])),
        "  %-9s: %s, exit %s" % (BUILTIN_INIT, summary(times["--init"]), sorted(codes["--init"])),
        "  %-9s: %.2f s, exit %d" % ("none", none_took, none_code),
    ]
    REPORT.extend(lines)
    print("\n".join(lines))
    assert codes["pyinit"] == {143}, "pyinit must exit 128+SIGTERM like the program"
    assert codes["--init"] == {143}
    # The comparison is real: without an init docker had to wait for its timeout and SIGKILL.
    assert none_code == 137 and none_took > 5.0
    assert statistics.median(times["pyinit"]) < 5.0, "pyinit stop took as long as no init at all"
    # About tini's time: within a second of it (docker's own work dominates both; a shared
    # machine's noise is far below a second, a missed SIGTERM far above).
    assert statistics.median(times["pyinit"]) < statistics.median(times["--init"]) + 1.0, times


# A program that ignores SIGTERM: only pyinit's grace period (SIGKILL after 2 s) ends it before
# docker's own 10 s.
IGNORES_TERM = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('READY', flush=True)\n"
    "time.sleep(100)\n"
)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["option", "environment"])
def test_grace_2_ends_a_program_ignoring_sigterm_in_about_2_seconds(containers, how):
    if how == "option":
        container = containers.start(
            APP_IMAGE, "--grace", "2", "--", "python3", "-c", IGNORES_TERM, options=("--entrypoint", "pyinit")
        )
    else:  # the Dockerfile way: ENV PYINIT_GRACE=2, or docker run -e
        container = containers.start(
            APP_IMAGE, "python3", "-c", IGNORES_TERM, options=("-e", "PYINIT_GRACE=2")
        )
    container.wait_for_log("READY")
    took = container.stop()
    code = container.exit_code()
    REPORT.append(
        "%s stop, program ignoring SIGTERM, --grace 2 (%s): %.2f s, exit %d" % (ENGINE, how, took, code)
    )
    assert code == 137, "the program should have been SIGKILLed: %s" % container.logs()
    # Lower bound: pyinit really waited; upper bound: far below docker's 10 s.
    assert 1.5 < took < 6.0, "docker stop took %.2f s" % took
