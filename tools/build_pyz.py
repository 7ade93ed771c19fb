"""Build pyinit as one executable file: a stdlib zipapp with a `#!/usr/bin/env python3` line.

    python3 tools/build_pyz.py [-o OUTPUT] [--no-compile]

Used by `make zipapp` (dist/pyinit.pyz) and by the build stage of docker/Dockerfile, so the
image and the release file are made the same way.

Start-up cost: Python cannot write bytecode caches into a zip, so a zipapp of bare sources
compiles every module it imports at every start.  We therefore put the compiled modules in the
archive too, next to their sources (zipimport's layout: `pyinit/main.pyc`).  They are
"unchecked-hash" pycs: valid whatever the timestamps in the zip say.  They only serve the
Python version that built them (the magic number differs between versions); any other version
skips them and compiles the sources, so the file still runs everywhere.  Build it with the
interpreter that will run it -- the Dockerfile's build stage uses the runtime's own python3.
"""

from __future__ import annotations

import argparse
import py_compile
import shutil
import sys
import tempfile
import zipapp
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INTERPRETER = "/usr/bin/env python3"

MAIN = '''\
"""pyinit as a zipapp: `python3 pyinit.pyz ARGS` or, executable, `./pyinit.pyz ARGS`."""

# Signals first (see pyinit/__main__.py).
import _signal

_inherited_mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, _signal.valid_signals())

from pyinit.main import main  # noqa: E402

main(inherited_mask=_inherited_mask)
'''


def build(output: Path, *, source: Path, compile_modules: bool, interpreter: str) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        # Only the package's modules: no __pycache__, no stray files from a working tree.
        for module in sorted(source.rglob("*.py")):
            target = stage / "pyinit" / module.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(module, target)
        (stage / "__main__.py").write_text(MAIN)
        if compile_modules:
            for module in sorted(stage.rglob("*.py")):
                py_compile.compile(
                    str(module),
                    cfile=str(module) + "c",
                    dfile=str(module.relative_to(stage)),
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
        output.parent.mkdir(parents=True, exist_ok=True)
        # Stored, not deflated: the file is small either way and nothing needs inflating at start.
        zipapp.create_archive(stage, target=output, interpreter=interpreter, compressed=False)
    # zipapp makes it executable for its owner only; an image's non-root USER must run it too.
    output.chmod(0o755)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "dist" / "pyinit.pyz")
    parser.add_argument("--source", type=Path, default=ROOT / "pyinit", help="the pyinit package folder")
    parser.add_argument("--no-compile", action="store_true", help="sources only (smaller, slower start)")
    parser.add_argument("-p", "--python", default=INTERPRETER, help="the #! interpreter (%(default)s)")
    args = parser.parse_args(argv)
    if not (args.source / "main.py").is_file():
        parser.error("%s is not the pyinit package" % args.source)
    output = build(
        args.output, source=args.source, compile_modules=not args.no_compile, interpreter=args.python
    )
    print("built %s (%d bytes)" % (output, output.stat().st_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
