"""Images with pyinit installed the plain pip way, as an application image would: a wheel of this
checkout, `pip install`ed into a virtual environment or into the system, started through pip's
console script (`ENTRYPOINT ["pyinit", "--"]`), not through pyinit's launcher.

The wheel is built on the host (the engine's RUN steps have no network) from a copy of the
sources, so a `build/` directory left in the checkout can never leak stale files into it; the
image installs it with `pip install --no-index`.  The base image needs python3-pip and
python3-venv (docker/e2e.sh puts them in its root filesystem, tools/pythons.sh in its roots).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from e2e.dockerlib import BASE_IMAGE, ENGINE, ROOT, build_image
from e2e.dockerlib import cli as docker

VENV_IMAGE = "pyinit-e2e/pip-venv:test"  # /opt/venv, its bin first in PATH
SYSTEM_IMAGE = "pyinit-e2e/pip-system:test"  # /usr/local (pip, breaking "system packages")

# `python3 -m pip`, not `pip`: in a base image of another Python (PYINIT_E2E_PYTHON) python3 is
# that version while Debian's /usr/bin/pip runs the suite's default one.  The variable, not
# --break-system-packages: bullseye's pip (3.9) predates the option and ignores the variable.
_INSTALL = {
    VENV_IMAGE: (
        "RUN python3 -m venv /opt/venv \\\n"
        "    && /opt/venv/bin/pip install --no-index --no-cache-dir --disable-pip-version-check"
        " /tmp/wheels/*.whl\n"
        "ENV PATH=/opt/venv/bin:$PATH\n"
    ),
    SYSTEM_IMAGE: (
        "RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-index --no-cache-dir"
        " --disable-pip-version-check /tmp/wheels/*.whl\n"
    ),
}

# The same unprivileged user as docker/Dockerfile, so both kinds of image run pyinit alike.
_DOCKERFILE = """\
FROM {base}
COPY wheels/ /tmp/wheels/
{install}RUN rm -rf /tmp/wheels \\
    && groupadd --system --gid 10001 app \\
    && useradd --system --uid 10001 --gid app --home-dir /nonexistent --no-create-home \\
        --shell /usr/sbin/nologin app
USER app
ENTRYPOINT ["pyinit", "--"]
"""

_SOURCES = ("pyinit", "pyproject.toml", "README.md", "LICENSE")
#: Which script sets each engine up, and where it caches the root filesystem.
_SETUP = {
    "docker": ("docker/e2e.sh", "$PYINIT_DOCKER_DIR"),
    "podman": ("docker/podman-e2e.sh", "$PYINIT_PODMAN_DIR (or $PYINIT_DOCKER_DIR, whose root it imports)"),
}


def _build_wheel(into: Path) -> Path:
    source = into / "source"
    source.mkdir()
    for name in _SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    wheels = into / "wheels"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(wheels),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise AssertionError("pip wheel failed:\n%s%s" % (result.stdout[-2000:], result.stderr[-2000:]))
    (wheel,) = wheels.glob("*.whl")
    return wheel


@functools.cache
def site_packages(image: str) -> str:
    """The first site-packages directory of the image's python3 (a .pth file there runs at its
    start-up): the venv's, or Debian's /usr/local/lib/python3.X/dist-packages."""
    return _ask(image, "import site; print(site.getsitepackages()[0])")


@functools.cache
def user_site(image: str, home: str) -> str:
    """The user site-packages directory of the image's python3 with HOME=home."""
    return _ask(image, "import site; print(site.getusersitepackages())", "--env", "HOME=" + home)


def _ask(image: str, code: str, *options: str) -> str:
    result = docker("run", "--rm", *options, "--entrypoint", "python3", image, "-c", code)
    return result.stdout.strip()


@functools.cache
def build() -> tuple[str, str]:
    """Build both pip images from this checkout (once per run); their tags."""
    if docker(
        "run", "--rm", "--entrypoint", "python3", BASE_IMAGE, "-m", "pip", "--version", check=False
    ).returncode:
        script, folder = _SETUP[ENGINE]
        raise AssertionError(
            "%s has no pip: %s puts python3-pip and python3-venv into the root filesystem; a root "
            "cached from before that lacks them (remove %s/rootfs, `%s rmi %s`, then run %s again; "
            "with PYINIT_E2E_PYTHON, tools/pythons.sh adds python3-pip to its root)"
            % (BASE_IMAGE, script, folder, ENGINE, BASE_IMAGE, script)
        )
    with tempfile.TemporaryDirectory(prefix="pyinit-pip-image-") as directory:
        context = Path(directory)
        context.chmod(0o755)  # the build context of a rootless engine's user too
        _build_wheel(context)
        for tag, install in _INSTALL.items():
            dockerfile = context / ("Dockerfile." + tag.split("/")[1].split(":")[0])
            dockerfile.write_text(_DOCKERFILE.format(base=BASE_IMAGE, install=install))
            build_image(dockerfile, tag, context)
    return VENV_IMAGE, SYSTEM_IMAGE
