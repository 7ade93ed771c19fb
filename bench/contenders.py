"""Who is measured, and how each one is started.

A contender either wraps a program (an init: `INIT [--] PROGRAM ARGS`), or is a fixed command
(the Python floors and the diagnostic rows, which run nothing).  The ways of starting pyinit
differ only in what happens before pyinit.main runs, so each is a contender of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench import stats
from bench.build import ROOT, Build

#: The pyinit every scenario measures; the other ways of starting it are measured where the
#: start matters (start-up, idle, memory).
MAIN = "pyinit"
#: The same console script at another commit (`make bench BENCH_BASELINE=REF`), measured in
#: the same run: what "no worse than today" is then judged against (stats.BASELINE).
BASELINE = stats.BASELINE

#: pyinit's grace period in the signal scenario, which sends SIGTERM every other ping: with the
#: default (8 s) pyinit would SIGKILL the program 8 s after the first one.  An hour keeps the
#: deadline pending for the whole run -- pyinit's state after a `docker stop` -- so every
#: signal after the first is forwarded with a grace period running.  The peers have no grace.
SIGNAL_GRACE = 3600

#: Several programs' start-up (issue 17): the console script with one `-P` line, and with two.
#: Each line runs through /bin/sh -c, and the relay is forked before the first program.
MULTI_ONE = "pyinit-P1"
MULTI_TWO = "pyinit-P2"


@dataclass
class Contender:
    key: str
    label: str
    kind: str  # "pyinit", "multi", "baseline", "peer", "none", "floor", "diag"
    wrap: list[str] | None = None  # prefix for INIT PROGRAM...: inits and `none`
    command: list[str] | None = None  # start-up row of a floor or diagnostic
    idle: list[str] | None = None  # an idle floor, for the idle and memory scenarios
    scenarios: set[str] = field(default_factory=set)
    signal_wrap: list[str] | None = None  # the wrap in the signal scenario, if not `wrap`

    @property
    def pyinit(self) -> bool:
        return self.kind == "pyinit"

    def signal_argv(self, program: list[str]) -> list[str]:
        wrap = self.signal_wrap if self.signal_wrap is not None else self.wrap
        assert wrap is not None
        return wrap + program

    def startup_argv(self) -> list[str]:
        if self.command is not None:
            return self.command
        assert self.wrap is not None
        return self.wrap + ["true"]


ALL = {"startup", "signal", "reaping", "idle", "stop"}


#: The least an init in Python can be: block everything, posix_spawn the program with the old
#: mask, forward every signal but SIGCHLD, reap, exit with the program.  Not a usable init (no
#: process group, no exec errors, no grace), but a floor for what pyinit's own code adds to the
#: interpreter in the signal, reaping and stop scenarios.
MINIMAL_INIT = """\
import os, signal, sys
wanted = set(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP}
old = signal.pthread_sigmask(signal.SIG_BLOCK, wanted)
child = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ, setsigmask=old)
while True:
    signo = signal.sigwaitinfo(wanted).si_signo
    if signo != signal.SIGCHLD:
        os.kill(child, signo)
        continue
    while True:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == child:
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        if pid == 0:
            break
"""


def _launcher(site: str) -> str:
    """The smallest Python that starts pyinit from an installed copy, without site."""
    return "import sys; sys.path.insert(0, %r); from pyinit.main import main; main()" % site


def contenders(build: Build) -> list[Contender]:
    """Everyone, in the order of the tables; a row whose files could not be built is left out."""
    py = build.python
    found: list[Contender] = [
        Contender(
            "none", "none (the program as PID 1)", "none", wrap=[], scenarios={"startup", "idle", "stop"}
        ),
        Contender(
            "floor-pass",
            "python -I -S -c pass",
            "floor",
            command=[py, "-I", "-S", "-c", "pass"],
            idle=[py, "-I", "-S", "-c", "import time; time.sleep(1e6)"],
            scenarios={"startup", "idle"},
        ),
        Contender(
            "floor-os-signal",
            "python -I -S -c 'import os, signal'",
            "floor",
            command=[py, "-I", "-S", "-c", "import os, signal"],
            idle=[py, "-I", "-S", "-c", "import os, signal; signal.pause()"],
            scenarios={"startup", "idle"},
        ),
    ]
    if build.venv is not None and build.site is not None:
        bindir = build.venv / "bin"
        found += [
            Contender(
                MAIN,
                "pyinit: console script (pip-installed)",
                "pyinit",
                wrap=[str(bindir / "pyinit"), "--"],
                scenarios=set(ALL),
                signal_wrap=[str(bindir / "pyinit"), "--grace", str(SIGNAL_GRACE), "--"],
            ),
            Contender(
                MULTI_ONE,
                "pyinit -P 'a: true' (one program, relayed)",
                "multi",
                command=[str(bindir / "pyinit"), "-P", "a: true"],
                scenarios={"startup"},
            ),
            Contender(
                MULTI_TWO,
                "pyinit -P 'a: true' -P 'b: true'",
                "multi",
                command=[str(bindir / "pyinit"), "-P", "a: true", "-P", "b: true"],
                scenarios={"startup"},
            ),
            Contender(
                "pyinit-m",
                "python -m pyinit (same venv)",
                "pyinit",
                wrap=[str(bindir / "python"), "-m", "pyinit", "--"],
                scenarios={"startup", "idle"},
            ),
            Contender(
                "pyinit-fast",
                "#!python -IS launcher script (same venv)",
                "pyinit",
                wrap=[str(build.fast_launcher), "--"] if build.fast_launcher else None,
                scenarios={"startup", "idle"},
            ),
        ]
    if build.baseline is not None:
        script = str(build.baseline / "bin" / "pyinit")
        found.append(
            Contender(
                BASELINE,
                "pyinit at %s: console script" % build.baseline_ref,
                "baseline",
                wrap=[script, "--"],
                scenarios=set(ALL),
                signal_wrap=[script, "--grace", str(SIGNAL_GRACE), "--"],
            )
        )
    if build.zipapp is not None:
        found.append(
            Contender(
                "pyinit-pyz",
                "python -I -S pyinit.pyz (.pyc zipapp)",
                "pyinit",
                wrap=[py, "-I", "-S", str(build.zipapp), "--"],
                scenarios={"startup", "idle"},
            )
        )
    if build.zip_launcher is not None:
        found.append(
            Contender(
                "pyinit-pyz-fast",
                "#!python -IS launcher into the zipapp",
                "pyinit",
                wrap=[str(build.zip_launcher), "--"],
                scenarios={"startup", "idle"},
            )
        )
    dev_script = ROOT / ".venv" / "bin" / "pyinit"
    if dev_script.exists():
        found.append(
            Contender(
                "pyinit-dev",
                ".venv/bin/pyinit (editable install)",
                "pyinit",
                wrap=[str(dev_script), "--"],
                scenarios={"startup", "idle"},
            )
        )
    found.append(
        Contender(
            "py-init",
            "floor: a 15-line Python init",
            "floor",
            wrap=[py, "-I", "-S", "-c", MINIMAL_INIT],
            scenarios={"startup", "signal", "reaping", "stop", "idle"},
        )
    )
    for name in ("tini", "dumb-init", "catatonit"):
        if name in build.peers:
            found.append(Contender(name, name, "peer", wrap=[build.peers[name], "--"], scenarios=set(ALL)))
    if build.venv is not None:
        # The reaping scenario's orphans exit in the program's process group.  When that group
        # is not the init's but in the init's session (pyinit's default, tini's, catatonit's),
        # every exit makes the kernel ask whether the group becomes orphaned, walking the
        # group's not yet reaped zombies under the tasklist lock.  In its own session
        # (--setsid, dumb-init's way) the question is never asked: this row tells whether that
        # walk matters (so far it has not: the slow herds come from an init woken per exit).
        found.append(
            Contender(
                "pyinit-setsid",
                "diag: pyinit --setsid",
                "diag",
                wrap=[str(build.venv / "bin" / "pyinit"), "--setsid", "--"],
                scenarios={"reaping"},
            )
        )
    if build.site is not None:
        # Diagnostics for the start-up breakdown: each adds one step to the row before it.
        site = str(build.site)
        spawn_true = (
            "import os, signal\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    os.execv('/bin/true', ['true'])\n"
            "os.waitpid(pid, 0)\n"
            "os._exit(0)"
        )
        # pyinit ends with os._exit() (no interpreter finalization), so do these.
        imports = "import sys; sys.path.insert(0, %r); import os, pyinit.main; os._exit(0)" % site
        found += [
            Contender(
                "diag-exit",
                "diag: -I -S, import os, signal; os._exit(0)",
                "diag",
                command=[py, "-I", "-S", "-c", "import os, signal; os._exit(0)"],
                scenarios={"startup"},
            ),
            Contender(
                "diag-imports",
                "diag: -I -S, import pyinit.main; os._exit(0)",
                "diag",
                command=[py, "-I", "-S", "-c", imports],
                scenarios={"startup"},
            ),
            Contender(
                "diag-fork",
                "diag: -I -S, os+signal, fork/exec/wait true",
                "diag",
                command=[py, "-I", "-S", "-c", spawn_true],
                scenarios={"startup"},
            ),
        ]
    return [c for c in found if c.wrap is not None or c.command is not None]
