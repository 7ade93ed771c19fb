"""pyinit: a PID-1 init supervisor for containers, in pure Python (standard library only).

Layers (a module imports only from its own layer or the layers below; tests/test_layers.py
checks it, and that there is no import cycle):

    entry        main, __main__, launcher (main also starts `pyinit probe`)
    run          startup (Config -> the running program), supervisor (the loop), leftovers
                 (what is left besides the program, and how to stop it)
    command      personalities/ (pyinit, tini, dumb-init, gosu, su-exec: command lines,
                 messages, failure codes, user rules)
    mechanisms   spawn (fork, child setup, exec), users (accounts, credentials), terminal,
                 oom (PID 1 is the OOM killer's last choice), relay (several programs' output),
                 ownership (the program's children, not exec'd processes')
    bottom       config, errors, log, signals, options, cparse, procfs, procfile, linux

The loop never imports parsing or start-up; the probe and the pytest plugin (probe/,
pytest_plugin) drive pyinit from outside, as a process, through harness (start it, wait with a
deadline, take it down), and use the bottom layer only.
"""

__version__ = "0.1.0"


def license_text() -> str:
    """The license pyinit is distributed under (printed by `tini -l` in the tini command line)."""
    from ._license import TEXT

    return TEXT
