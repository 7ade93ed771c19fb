"""The fast launcher (`python -m pyinit.launcher PATH`): -I -S, pyinit found without site."""

import os
import subprocess
import sys

from support import BASE_ENV, write_launcher


def test_the_launcher_runs_pyinit_isolated_and_without_site(tmp_path):
    launcher = write_launcher(tmp_path / "pyinit", BASE_ENV)
    assert os.access(launcher, os.X_OK)
    shebang = launcher.read_text().split("\n", 1)[0]
    python = sys.executable
    assert shebang in ("#!%s -IS" % python, "#!/usr/bin/env -S --block-signal %s -IS" % python)
    # A directory on PYTHONPATH with a module that would shadow one of pyinit's imports:
    # isolated mode never looks there.
    trap = tmp_path / "trap"
    trap.mkdir()
    (trap / "errno.py").write_text("raise SystemExit('shadowed')\n")
    env = dict(BASE_ENV, PYTHONPATH=str(trap))
    result = subprocess.run(
        [launcher, "sh", "-c", "exit 5"], env=env, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (5, "")


def test_the_launcher_keeps_the_multi_call_names(tmp_path):
    link = tmp_path / "dumb-init"
    link.symlink_to(write_launcher(tmp_path / "pyinit", BASE_ENV))
    result = subprocess.run([link, "--version"], env=BASE_ENV, capture_output=True, text=True, timeout=60)
    assert result.stderr == "dumb-init v1.2.5\n"


def test_the_launcher_needs_exactly_one_path():
    result = subprocess.run(
        [sys.executable, "-m", "pyinit.launcher"], env=BASE_ENV, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and result.stderr.startswith("usage:")
