"""pyinit's start-up path imports nothing heavy: PID 1 starts in every container.

Not a timing (timings are the benchmark's job): the list of modules a plain run of pyinit as
PID 1 imports, checked against the ones that cost milliseconds.
"""

import subprocess
import sys

from support import ROOT, needs_pidns

HEAVY = {
    "enum",
    "typing",
    "dataclasses",
    "json",
    "ctypes",
    "re",
    "inspect",
    "argparse",
    "subprocess",
    "functools",
    "collections",
    "importlib.metadata",
    "pyinit.procfs",
    "pyinit.personalities.tini",
    "pyinit.personalities.dumb_init",
    "pyinit.personalities.gosu",
    "pyinit.personalities.su_exec",
    "pyinit.users",
    "pyinit.terminal",
    "pyinit.probe",
}

SHOW_IMPORTS = (
    # Run pyinit's main() for `true`; instead of exiting, print every module loaded by then.
    "import sys; sys.path.insert(0, %r); sys.argv = ['pyinit', 'true']; import pyinit.main as m; "
    "m._exit = lambda code, flush=True: print(' '.join(sorted(sys.modules)), flush=True); m.main()"
) % str(ROOT)


def imported_modules(*args):
    result = subprocess.run(
        list(args) + [sys.executable, "-I", "-S", "-c", SHOW_IMPORTS],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_a_pid1_run_imports_nothing_heavy():
    needs_pidns()
    modules = imported_modules("unshare", "--pid", "--fork", "--mount-proc")
    assert "pyinit.supervisor" in modules  # it really ran
    assert modules & HEAVY == set()


def test_a_subreaper_run_adds_only_ctypes():
    modules = imported_modules()
    assert modules & HEAVY == {"ctypes"}  # prctl(PR_SET_CHILD_SUBREAPER): only off the PID-1 path
