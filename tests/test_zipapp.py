"""`make zipapp`: the single-file pyinit runs as a program and carries its bytecode."""

from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
import sys
import zipfile

import pytest

from support import BASE_ENV, ROOT, write_launcher


@pytest.fixture(scope="module")
def pyz(tmp_path_factory):
    target = tmp_path_factory.mktemp("zipapp") / "pyinit.pyz"
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_pyz.py"), "--output", str(target)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return target


def run_pyz(pyz, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(BASE_ENV)
    env.pop("PYTHONPATH")  # everything must come from the archive, not the checkout
    return subprocess.run(
        [sys.executable, str(pyz), *args], env=env, capture_output=True, text=True, timeout=60, cwd="/"
    )


@pytest.mark.timeout(120)
def test_the_zipapp_is_an_executable_with_a_python3_shebang(pyz):
    assert pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert stat.S_IMODE(os.stat(pyz).st_mode) == 0o755  # a non-root USER must run it too


@pytest.mark.timeout(120)
def test_the_zipapp_carries_bytecode_next_to_every_module(pyz):
    names = set(zipfile.ZipFile(pyz).namelist())
    modules = {name for name in names if name.endswith(".py")}
    assert "pyinit/main.py" in modules and "__main__.py" in modules
    assert {name + "c" for name in modules} <= names  # zipimport's layout: main.pyc by main.py
    assert not any("__pycache__" in name for name in names)


@pytest.mark.timeout(120)
def test_the_zipapp_runs_from_the_bytecode_of_the_python_that_built_it(pyz):
    # Built and run by the interpreter of this test run (each one of `make test-pythons`): its
    # modules load from their .pyc, not compiled again from the sources at every start.
    names = zipfile.ZipFile(pyz).namelist()
    with zipfile.ZipFile(pyz) as archive:
        magics = {archive.read(name)[:4] for name in names if name.endswith(".pyc")}
    assert magics == {importlib.util.MAGIC_NUMBER}
    env = dict(BASE_ENV)
    env.pop("PYTHONPATH")
    loaded = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); import pyinit.main as m; print(m.__file__)",
            str(pyz),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert loaded.stdout.strip() == str(pyz / "pyinit" / "main.pyc"), loaded.stderr


@pytest.mark.timeout(120)
def test_the_zipapp_runs_a_program_and_passes_its_status_on(pyz):
    assert run_pyz(pyz, "--version").stdout.startswith("pyinit ")
    assert run_pyz(pyz, "--", "sh", "-c", "exit 3").returncode == 3
    missing = run_pyz(pyz, "no-such-command-pyinit")
    assert missing.returncode == 127
    assert len(missing.stderr.splitlines()) == 1, missing.stderr


@pytest.mark.timeout(120)
def test_the_launcher_written_into_the_zipapp_runs_pyinit_from_it(pyz, tmp_path):
    # docker/Dockerfile's layout: `PYTHONPATH=pyinit.pyz python3 -m pyinit.launcher PATH`.
    env = dict(BASE_ENV, PYTHONPATH=str(pyz))  # the archive only, not the checkout
    launcher = write_launcher(tmp_path / "pyinit", env, cwd="/")
    assert "sys.path.insert(0, %r)" % str(pyz) in launcher.read_text()
    done = subprocess.run(
        [str(launcher), "sh", "-c", "exit 4"], env=BASE_ENV, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (4, "")
