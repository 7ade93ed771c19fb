"""What the benchmark needs before it measures: the C helpers, pyinit installed as a user would
install it, a zipapp, and the peers (tini, dumb-init, catatonit) from Debian's packages.

Everything lands in build/bench/ (git-ignored); nothing built is committed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELPERS = Path(__file__).resolve().parent / "helpers"
BUILD = ROOT / "build" / "bench"
PEERS = ("tini", "dumb-init", "catatonit")
#: The console script a user gets from `pip install pyinit-supervisor` ([project.scripts]).
SCRIPT = ("pyinit", "pyinit.main", "main")


@dataclass
class Build:
    python: str  # the interpreter under test (a real binary, never a shim)
    helpers: dict[str, str]  # name -> compiled helper
    venv: Path | None  # a venv with pyinit pip-installed from a wheel, as in a container image
    site: Path | None  # that venv's site-packages
    zipapp: Path | None  # pyinit as a zipapp of .pyc files
    fast_launcher: Path | None  # a `#!python -IS` script in the venv's bin
    peers: dict[str, str]  # name -> path, for those present
    zip_launcher: Path | None = None  # a `#!python -IS` script importing pyinit from the zipapp
    notes: list[str] = field(default_factory=list)  # what was skipped and why
    baseline: Path | None = None  # a venv with pyinit at another commit (--baseline), pip-installed
    baseline_ref: str = ""
    multi: dict[str, str] = field(default_factory=dict)  # honcho, supervisord: the relay's peers


def real_python(candidate: str) -> str:
    """Resolve a venv symlink to the interpreter binary; refuse scripts such as pyenv's shims.

    A shim is a bash script that runs pyenv before Python: it would add tens of milliseconds
    to every start-up measured.
    """
    path = os.path.realpath(shutil.which(candidate) or candidate)
    with open(path, "rb") as binary:
        if binary.read(4) != b"\x7fELF":
            raise SystemExit("bench: %s is not an ELF binary (a shim?): set BENCH_PYTHON" % path)
    return path


def compile_helpers(out: Path) -> dict[str, str]:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise SystemExit("bench: needs gcc to build its helpers (apt-get install gcc)")
    out.mkdir(parents=True, exist_ok=True)
    built = {}
    for source in sorted(HELPERS.glob("*.c")):
        target = out / source.stem
        subprocess.run([gcc, "-O2", "-Wall", "-Wextra", "-o", str(target), str(source)], check=True)
        built[source.stem] = str(target)
    return built


def ensure_peers(notes: list[str]) -> dict[str, str]:
    """Find tini, dumb-init and catatonit (and gcc); as root, apt-get install the missing ones.

    The Debian package names are the command names.  apt-get update only when a plain
    install failed: the package lists may simply be stale or absent on a fresh machine.
    """
    missing = [name for name in (*PEERS, "gcc") if shutil.which(name) is None]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
        if subprocess.run(install, **quiet).returncode != 0:  # type: ignore[call-overload]
            subprocess.run(["apt-get", "update", "-qq"], **quiet)  # type: ignore[call-overload]
            subprocess.run(install, **quiet)  # type: ignore[call-overload]
    found = {}
    for name in PEERS:
        path = shutil.which(name)
        if path:
            found[name] = path
        else:
            notes.append("%s: skipped, not installed and apt-get could not install it" % name)
    return found


def peer_version(path: str) -> str:
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (done.stdout + done.stderr).strip().splitlines()[0] if (done.stdout + done.stderr) else "?"


def _sources(root: Path = ROOT) -> list[Path]:
    return sorted(p for p in (root / "pyinit").rglob("*.py") if "__pycache__" not in p.parts)


def _version(root: Path = ROOT) -> str:
    text = (root / "pyinit" / "__init__.py").read_text()
    found = re.search(r'__version__ = "([^"]+)"', text)
    return found.group(1) if found else "0"


def _fingerprint(python: str, root: Path = ROOT) -> str:
    digest = hashlib.sha256(python.encode())
    for path in _sources(root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(out: Path, root: Path = ROOT) -> Path:
    """A pure wheel of the pyinit package, written directly.

    pip builds through setuptools>=77 in an isolated environment, which needs the network; the
    wheel format is a zip with three metadata files, so the benchmark writes it itself and
    lets pip install it: the console script is then pip's own launcher, as in an image.
    """
    version = _version(root)
    dist = "pyinit_supervisor-%s.dist-info" % version
    files: dict[str, bytes] = {}
    for path in _sources(root):
        files[str(path.relative_to(root))] = path.read_bytes()
    files[dist + "/METADATA"] = (
        "Metadata-Version: 2.1\nName: pyinit-supervisor\nVersion: %s\n" % version
    ).encode()
    files[dist + "/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: pyinit-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    name, module, func = SCRIPT
    files[dist + "/entry_points.txt"] = ("[console_scripts]\n%s = %s:%s\n" % (name, module, func)).encode()
    record = "".join("%s,%s,%d\n" % (n, _record_hash(d), len(d)) for n, d in files.items())
    files[dist + "/RECORD"] = (record + dist + "/RECORD,,\n").encode()
    wheel = out / ("pyinit_supervisor-%s-py3-none-any.whl" % version)
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def build_venv(
    python: str, out: Path, notes: list[str], root: Path = ROOT
) -> tuple[Path | None, Path | None]:
    """A fresh venv (no pip, no setuptools, so no .pth files) with pyinit (from root) pip-installed."""
    venv = out / "venv"
    stamp = venv / ".bench-fingerprint"
    fingerprint = _fingerprint(python, root)
    site = _site_packages(venv)
    if stamp.exists() and stamp.read_text() == fingerprint and site is not None:
        return venv, site
    shutil.rmtree(venv, ignore_errors=True)
    made = subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True)
    if made.returncode != 0:
        notes.append("installed console script: skipped, venv failed: %s" % made.stderr.strip()[-200:])
        return None, None
    wheel = build_wheel(out, root)
    # pip from the interpreter running the harness (.venv), installing into the new venv:
    # it compiles the .pyc files and writes the launcher, as `pip install` in an image does.
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"]
    done = subprocess.run(
        pip + ["-q", "--no-deps", "--no-index", "--force-reinstall", str(wheel)],
        capture_output=True,
        text=True,
    )
    site = _site_packages(venv)
    if done.returncode != 0 or site is None or not (venv / "bin" / SCRIPT[0]).exists():
        notes.append("installed console script: skipped, pip failed: %s" % done.stderr.strip()[-300:])
        return None, None
    stamp.write_text(fingerprint)
    return venv, site


def _site_packages(venv: Path) -> Path | None:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    return found[0] if found else None


def build_zipapp(python: str, site: Path, out: Path) -> Path:
    """pyinit as a zipapp of .pyc files only (stored, not deflated: no zlib at start-up).

    A zipapp of .py sources would be compiled at every start (zipimport cannot cache .pyc);
    with the compiled files alone, zipimport loads them as they are.
    """
    target = out / "pyinit.pyz"
    script = (
        "import marshal, pathlib, sys, zipfile\n"
        "site, target = pathlib.Path(sys.argv[1]), sys.argv[2]\n"
        "def pyc(source, name):\n"
        "    import importlib.util\n"
        "    code = compile(source, name, 'exec', dont_inherit=True)\n"
        "    return importlib.util.MAGIC_NUMBER + b'\\0' * 12 + marshal.dumps(code)\n"
        "with zipfile.ZipFile(target, 'w', zipfile.ZIP_STORED) as z:\n"
        "    z.writestr('__main__.pyc', pyc('from pyinit.main import main\\nmain()\\n', '__main__.py'))\n"
        "    for path in sorted((site / 'pyinit').rglob('*.py')):\n"
        "        name = str(path.relative_to(site))\n"
        "        z.writestr(name[:-3] + '.pyc', pyc(path.read_text(), name))\n"
    )
    # Compiled by the interpreter under test: .pyc files are specific to its version.
    subprocess.run([python, "-I", "-c", script, str(site), str(target)], check=True)
    return target


def build_fast_launcher(venv: Path) -> Path:
    """pyinit's own fast launcher (python -m pyinit.launcher), written into the bench venv."""
    target = venv / "bin" / "pyinit-fast"
    subprocess.run([str(venv / "bin" / "python"), "-m", "pyinit.launcher", str(target)], check=True)
    return target


def build_zip_launcher(python: str, zipapp: Path, out: Path) -> Path:
    """The fast launcher with pyinit imported from the zipapp (docker/Dockerfile's layout)."""
    target = out / "pyinit-zip-fast"
    write = (
        "import sys; sys.path.insert(0, sys.argv[1]); from pyinit.launcher import write; write(sys.argv[2])"
    )
    subprocess.run([python, "-I", "-S", "-c", write, str(zipapp), str(target)], check=True)
    return target


def build_baseline(python: str, ref: str, notes: list[str]) -> Path | None:
    """pyinit as it was at git commit `ref`, pip-installed into a venv of its own like the
    current one: the same-run reference of the "no worse than today" checks."""
    out = BUILD / "baseline"
    source = out / "src"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "pyinit"], capture_output=True)
    if archive.returncode != 0:
        notes.append("baseline %s: skipped, git archive failed: %s" % (ref, archive.stderr.decode().strip()))
        return None
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    venv, _ = build_venv(python, out, notes, root=source)
    return venv


#: The relay scenario's peers, pip-installed into a venv of their own (build/bench/multi-venv):
#: supervisor brings setuptools (a .pth file run at every start), which must stay out of the
#: venv whose console script the start-up scenario times.
MULTI = {"honcho": "honcho", "supervisord": "supervisor"}  # command -> PyPI package


def ensure_multi_peers(python: str, notes: list[str]) -> dict[str, str]:
    """honcho and supervisord, installed once with pip from the host's pip configuration into
    a venv of the interpreter under test; those that cannot be installed are left out, noted."""
    venv = BUILD / "multi-venv"
    tools = {name: venv / "bin" / name for name in MULTI}
    if not all(path.exists() for path in tools.values()):
        failed = ""
        if not (venv / "bin" / "python").exists():
            made = subprocess.run([python, "-m", "venv", str(venv)], capture_output=True, text=True)
            failed = made.stderr.strip() if made.returncode else ""
        if not failed:
            done = subprocess.run(
                [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *MULTI.values()],
                capture_output=True,
                text=True,
                timeout=600,
            )
            failed = done.stderr.strip() if done.returncode else ""
        if failed:
            lines = failed.splitlines()
            notes.append("relay scenario: pip could not install honcho and supervisor: %s" % lines[-1][-200:])
    found = {name: str(path) for name, path in tools.items() if path.exists()}
    for name in MULTI:
        if name not in found:
            notes.append("relay scenario: %s skipped (not installed)" % name)
    return found


def multi_versions(multi: dict[str, str]) -> dict[str, str]:
    """The installed versions of honcho and supervisor (importlib.metadata of their venv)."""
    if not multi:
        return {}
    python = str(Path(next(iter(multi.values()))).parent / "python")
    code = "import importlib.metadata as m, sys; print(*(m.version(p) for p in sys.argv[1:]))"
    done = subprocess.run([python, "-c", code, *MULTI.values()], capture_output=True, text=True)
    return dict(zip(MULTI, done.stdout.split())) if done.returncode == 0 else {}


def prepare(python: str, baseline: str = "", multi: bool = False) -> Build:
    notes: list[str] = []
    BUILD.mkdir(parents=True, exist_ok=True)
    peers = ensure_peers(notes)
    helpers = compile_helpers(BUILD / "helpers")
    venv, site = build_venv(python, BUILD, notes)
    zipapp = build_zipapp(python, site, BUILD) if site else None
    fast = build_fast_launcher(venv) if venv else None
    zip_fast = build_zip_launcher(python, zipapp, BUILD) if zipapp else None
    base = build_baseline(python, baseline, notes) if baseline else None
    return Build(
        python,
        helpers,
        venv,
        site,
        zipapp,
        fast,
        peers,
        zip_launcher=zip_fast,
        notes=notes,
        baseline=base,
        baseline_ref=baseline if base else "",
        multi=ensure_multi_peers(python, notes) if multi else {},
    )
