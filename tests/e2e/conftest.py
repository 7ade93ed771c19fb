"""Fixtures for the end-to-end tests: a reachable engine, the example images, containers.

One engine per run (dockerlib.ENGINE: docker unless PYINIT_E2E_ENGINE=podman).  A test runs
under the engines it is marked for: `docker`, `podman`, or both; the others are deselected.
Without an engine (the default `make test` on most machines) these tests are deselected, and
one line at the end says why.  With PYINIT_E2E_REQUIRED=1 (CI) they run anyway and fail: a CI
run must not pass by testing nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e import dockerlib

HERE = Path(__file__).resolve().parent
_not_run: list[str] = []  # why some e2e tests were deselected, if they were


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "podman: end to end under rootless Podman too (make podman-test sets it up)"
    )


def pytest_collection_modifyitems(config, items) -> None:
    ours = [item for item in items if HERE in Path(str(item.path)).parents]
    if not ours:
        return
    other = [item for item in ours if item.get_closest_marker(dockerlib.ENGINE) is None]
    if other:
        _not_run.append("%d end-to-end tests not run: not for %s" % (len(other), dockerlib.ENGINE))
        config.hook.pytest_deselected(items=other)
        items[:] = [item for item in items if item not in other]
        ours = [item for item in ours if item not in other]
    if not ours or dockerlib.REQUIRED:
        return
    problem = dockerlib.engine_problem()
    if problem:
        _not_run.append("%d %s end-to-end tests not run: %s" % (len(ours), dockerlib.ENGINE, problem))
        config.hook.pytest_deselected(items=ours)
        items[:] = [item for item in items if item not in ours]


@pytest.fixture(scope="session", autouse=True)
def engine() -> None:
    problem = dockerlib.engine_problem()
    if problem:
        pytest.fail("PYINIT_E2E_REQUIRED=1 but " + problem, pytrace=False)
    dockerlib.build_images()


@pytest.fixture
def containers():
    started = dockerlib.Containers()
    yield started
    started.remove_all()


def pytest_terminal_summary(terminalreporter) -> None:
    for line in _not_run:
        terminalreporter.write_line(line, yellow=True)
    if dockerlib.REPORT:
        terminalreporter.section("pyinit in %s: measurements" % dockerlib.ENGINE.capitalize())
        for line in dockerlib.REPORT:
            terminalreporter.write_line(line)
