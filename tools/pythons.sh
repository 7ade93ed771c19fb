#!/usr/bin/env bash
# pyinit's whole test suite under every Python it supports, each in a Debian root of its own.
#
#   tools/pythons.sh test [PYTEST-ARGS...]  build what is missing, run the suite under each
#                                            interpreter, one summary line each; exit 1 if any failed
#   tools/pythons.sh build                   only build (or refresh) the roots and their venvs
#   tools/pythons.sh root VERSION            build VERSION's root if missing, print its path
#   tools/pythons.sh shell VERSION [CMD...]  a shell (or CMD) in VERSION's root, as the tests run
#
# Interpreters (PYINIT_PYTHONS, default "3.9 3.11 3.13 3.14 3.15") come from Debian suites:
# 3.9 bullseye, 3.11 bookworm, 3.13 trixie, 3.14 and 3.15 sid (3.15 only where the mirror has
# it: otherwise it is reported as not available, not as a failure).  Each suite's root is made
# once with debootstrap from the mirror the apt sources name and cached under
# $PYINIT_PYTHONS_DIR (default /tmp/pyinit-pythons); delete a root to rebuild it.
#
# The test tools (pytest, pytest-timeout, psutil, hypothesis: the `test` extra of
# pyproject.toml) reach each root without the root needing a network or pip's configuration:
# this machine's pip downloads wheels for each target version (with its own index, proxy and CA
# settings) into a wheelhouse, and a venv in the root (PEP 668 keeps pip out of the system's
# site-packages; Debian ships venv apart, as python3.X-venv) installs them from there offline,
# with pyinit itself editable from /src (the pytest11 entry point of the plugin).  `pip download --python-version` judges the dependencies' markers by this machine's
# Python (pytest's `exceptiongroup; python_version < "3.11"`), so the wheelhouse is completed
# with what the target version's markers add.  gcc is in every root: some tests compile C.
#
# A run enters each root in a mount namespace of its own (nothing outlives it): the root bound
# onto itself (so `unshare --mount-proc` works inside the chroot), /proc, /dev, /sys, a fresh
# tmpfs on /tmp, and this checkout bound (not copied) on /src.  Needs root, Linux, debootstrap
# (installed with apt-get when missing).
set -euo pipefail
umask 022

W=${PYINIT_PYTHONS_DIR:-/tmp/pyinit-pythons}
CHECKOUT=$(cd "$(dirname "$0")/.." && pwd)
HOST_PYTHON=${PYTHON:-$CHECKOUT/.venv/bin/python}
KNOWN="3.9 3.11 3.13 3.14 3.15"
PYTHONS=${PYINIT_PYTHONS:-$KNOWN}
export DEBIAN_FRONTEND=noninteractive

say() { printf 'pythons: %s\n' "$*" >&2; }
die() {
  say "FAILED: $*"
  exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }

# The Debian suite that ships python3.X, and whether the version is optional there.
suite_of() {
  case "$1" in
  3.9) echo bullseye ;;
  3.11) echo bookworm ;;
  3.13) echo trixie ;;
  3.14 | 3.15) echo sid ;;
  *) die "no Debian suite known for Python $1 (known: 3.9 3.11 3.13 3.14 3.15)" ;;
  esac
}
optional() { [ "$1" = 3.15 ]; }

# Every version in $2 (default: those to test) that suite $1 provides.
versions_in() {
  local version
  for version in ${2:-$PYTHONS}; do
    [ "$(suite_of "$version")" = "$1" ] && echo "$version"
  done
  return 0
}

suites() {
  local version
  for version in $PYTHONS; do suite_of "$version"; done | awk '!seen[$0]++'
}

# The Debian mirror apt already uses (apt-cache policy lists it, whatever the sources' format).
debian_mirror() {
  if [ -n "${PYINIT_DEBIAN_MIRROR:-}" ]; then
    echo "$PYINIT_DEBIAN_MIRROR"
    return
  fi
  local mirror
  mirror=$(apt-cache policy 2>/dev/null | awk '$1 ~ /^[0-9]+$/ && $2 ~ /\/debian\/?$/ { print $2; exit }')
  echo "${mirror:-http://deb.debian.org/debian}"
}

# Unmount anything at or below $1, deepest first (an interrupted debootstrap leaves /proc, /sys).
unmount_below() {
  local target
  findmnt -rn -o TARGET | awk -v p="$1" 'index($0, p "/") == 1 || $0 == p' | sort -r |
    while read -r target; do umount -l "$target" || true; done
}

# --- roots ---------------------------------------------------------------------------------

# Run "$@" chrooted in root $1, in a mount namespace of its own, with a clean environment ("$@"
# may start with NAME=VALUE words).  MOUNTS holds lines "HOST:TARGET[:ro]" of bind mounts; a
# mount point the root lacks is made for the run and removed afterwards (only while empty).
in_root() {
  local root=$1 rc=0
  shift
  local made=() host target missing i
  while IFS=: read -r host target _; do
    if [ -z "$host" ] || [ -e "$root$target" ]; then continue; fi
    missing=$target
    while [ ! -e "$root$(dirname "$missing")" ]; do missing=$(dirname "$missing"); done
    made+=("$root$missing")
    if [ -d "$host" ]; then mkdir -p "$root$target"; else mkdir -p "$root$(dirname "$target")" && touch "$root$target"; fi
  done <<<"${MOUNTS:-}"
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout --kill-after=60 "${TIMEOUT:-0}" unshare --mount --propagation private bash -c '
    set -e
    root=$1; mounts=$2; shift 2
    mount --bind "$root" "$root"                  # a mount point: unshare --mount-proc works inside
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount --rbind /sys "$root/sys"
    mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
    while IFS=: read -r host target mode; do
      [ -n "$host" ] || continue
      mount --bind "$host" "$root$target"
      [ "$mode" != ro ] || mount -o remount,bind,ro "$root$target"
    done <<<"$mounts"
    exec chroot "$root" /usr/bin/env -i PATH="$ROOT_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
  ' in_root "$root" "${MOUNTS:-}" "$@" || rc=$?
  # Deepest first; never anything with content (the namespace and its mounts are gone by now).
  for ((i = ${#made[@]} - 1; i >= 0; i--)); do
    find "${made[$i]}" -depth -empty \( -type d -o -type f \) -delete 2>/dev/null || true
  done
  return "$rc"
}
export ROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

make_root() {
  local suite=$1 root="$W/roots/$1"
  [ -f "$root/.pyinit-complete" ] && return 0
  command -v debootstrap >/dev/null ||
    { apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }; } ||
    die "cannot install debootstrap"
  # python3-pip: docker/e2e.sh makes a base image of this root, and its pip images need pip.
  local include=python3,python3-venv,python3-pip,procps,util-linux,mount,gcc,libc6-dev version
  for version in $(versions_in "$suite" "$KNOWN"); do
    optional "$version" || include+=",python$version,python$version-venv"
  done
  local mirror t
  mirror=$(debian_mirror)
  say "debootstrap $suite ($include) from $mirror"
  mkdir -p "$W/roots" "$W/logs"
  unmount_below "$root.tmp"
  rm -rf --one-file-system "$root.tmp" "$root"
  t=$(now)
  if ! timeout 1800 debootstrap --variant=minbase --include="$include" "$suite" "$root.tmp" "$mirror" \
    >"$W/logs/debootstrap-$suite.log" 2>&1; then
    unmount_below "$root.tmp"
    tail -n 20 "$W/logs/debootstrap-$suite.log" >&2
    die "debootstrap $suite failed (log: $W/logs/debootstrap-$suite.log)"
  fi
  unmount_below "$root.tmp"
  add_optional_pythons "$suite" "$root.tmp"
  rm -rf "$root.tmp"/var/cache/apt/archives/*.deb
  date -u +%Y-%m-%dT%H:%M:%SZ >"$root.tmp/.pyinit-complete"
  mv "$root.tmp" "$root"
  say "TIMING debootstrap $suite: $(since "$t") s"
}

# A version the suite may or may not have yet (3.15 in sid): installed with the root's own apt
# lists from debootstrap when it has a candidate there.
add_optional_pythons() {
  local suite=$1 root=$2 version wanted=()
  for version in $(versions_in "$suite" "$KNOWN"); do
    optional "$version" || continue
    if in_root "$root" apt-cache show "python$version-venv" >/dev/null 2>&1; then
      wanted+=("python$version" "python$version-venv")
    else
      say "python$version is not in $suite on this mirror: left out"
    fi
  done
  [ ${#wanted[@]} = 0 ] && return 0
  cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  in_root "$root" apt-get install -y -qq --no-install-recommends "${wanted[@]}" \
    >>"$W/logs/debootstrap-$suite.log" 2>&1 || die "apt-get install ${wanted[*]} in $suite failed"
}

# A root cached from before python3-pip was in its list gets it now; the new stamp makes
# docker/e2e.sh import its image again.
add_pip() {
  local suite=$1 root="$W/roots/$1"
  [ -d "$root/usr/lib/python3/dist-packages/pip" ] && return 0
  say "adding python3-pip to the cached $suite root"
  cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  { in_root "$root" apt-get install -y -qq --no-install-recommends python3-pip ||
    { in_root "$root" apt-get update -qq && in_root "$root" apt-get install -y -qq --no-install-recommends python3-pip; }; } \
    >>"$W/logs/debootstrap-$suite.log" 2>&1 || die "apt-get install python3-pip in $suite failed"
  rm -rf "$root"/var/cache/apt/archives/*.deb
  date -u +%Y-%m-%dT%H:%M:%SZ >"$root/.pyinit-complete"
}

# --- test tools ----------------------------------------------------------------------------

# The test extra of pyproject.toml, pip, and the build backend (for pyinit's editable install).
requirements() {
  "$HOST_PYTHON" - "$CHECKOUT/pyproject.toml" <<'PY'
import sys
try:
    import tomllib
except ImportError:  # Python < 3.11: pip carries the same parser
    from pip._vendor import tomli as tomllib
with open(sys.argv[1], "rb") as f:
    project = tomllib.load(f)
for line in ["pip", *project["build-system"]["requires"], *project["project"]["optional-dependencies"]["test"]]:
    print(line)
PY
}

# Wheels for Python $1 (glibc >= 2.17: bullseye's too), downloaded by this machine's pip.
wheelhouse() {
  local version=$1 dir="$W/wheels/$1" stamp
  stamp=$(requirements | sha256sum | cut -c1-16)
  [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ] && return 0
  [ -x "$HOST_PYTHON" ] || die "no $HOST_PYTHON to download the test tools with (make install)"
  rm -rf "$dir"
  mkdir -p "$dir"
  local t wanted=() round
  t=$(now)
  mapfile -t wanted < <(requirements)
  for round in 1 2 3 4 5 6 7 8; do
    "$HOST_PYTHON" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
      --python-version "$version" --platform "manylinux2014_$(uname -m)" --dest "$dir" \
      "${wanted[@]}" >>"$W/logs/wheels-$version.log" 2>&1 ||
      { tail -n 20 "$W/logs/wheels-$version.log" >&2; die "pip download for Python $version failed"; }
    mapfile -t wanted < <(unmet_requirements "$version" "$dir")
    [ ${#wanted[@]} = 0 ] && break
    [ "$round" != 8 ] || die "the wheels for Python $version still miss: ${wanted[*]}"
  done
  echo "$stamp" >"$dir/.stamp"
  say "TIMING wheels for Python $version: $(since "$t") s"
}

# The requirements of the wheels in $2 that Python $1 needs (markers judged for $1) and that
# no wheel there provides.
unmet_requirements() {
  "$HOST_PYTHON" - "$1" "$2" <<'PY'
import re, sys, zipfile
from pathlib import Path
try:
    from packaging.requirements import Requirement
except ImportError:  # pip carries the same module
    from pip._vendor.packaging.requirements import Requirement

version, wheels = sys.argv[1], Path(sys.argv[2])
target = {"python_version": version, "python_full_version": version + ".0", "extra": ""}
def canonical(name): return re.sub(r"[-_.]+", "-", name).lower()
present, needed = set(), []
for wheel in wheels.glob("*.whl"):
    present.add(canonical(wheel.name.split("-")[0]))
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        for line in archive.read(metadata).decode().splitlines():
            if line.startswith("Requires-Dist:"):
                needed.append(Requirement(line.split(":", 1)[1].strip()))
for requirement in needed:
    if requirement.marker is None or requirement.marker.evaluate(target):
        if canonical(requirement.name) not in present:
            print(str(requirement).split(";")[0])
PY
}

# /opt/pyinit/3.X in the root: a venv with the test tools and pyinit (editable, from /src).
make_venv() {
  local version=$1 root
  root="$W/roots/$(suite_of "$version")"
  local venv="/opt/pyinit/$version" stamp
  stamp=$( (cat "$W/wheels/$version/.stamp" "$CHECKOUT/pyproject.toml") | sha256sum | cut -c1-16)
  [ "$(cat "$root$venv/.stamp" 2>/dev/null)" = "$stamp" ] && return 0
  local t
  t=$(now)
  rm -rf "$root$venv"
  # shellcheck disable=SC2046,SC2016 # one word per requirement; expanded by the inner sh
  MOUNTS="$W/wheels/$version:/wheels:ro
$CHECKOUT:/src" in_root "$root" sh -c '
    set -e
    python$1 -m venv "$2"
    pip="$2/bin/python -m pip install --quiet --disable-pip-version-check --no-index --find-links /wheels"
    $pip --upgrade pip
    shift 2
    $pip "$@"
    $pip --no-deps --editable /src
  ' venv "$version" "$venv" $(requirements | grep -v '^pip$') >"$W/logs/venv-$version.log" 2>&1 ||
    { tail -n 20 "$W/logs/venv-$version.log" >&2; die "the venv for Python $version failed"; }
  echo "$stamp" >"$root$venv/.stamp"
  say "TIMING venv for Python $version: $(since "$t") s"
}

# Build everything Python $1 needs; false (with a note) if its suite does not have it.
prepare() {
  local version=$1 suite
  suite=$(suite_of "$version")
  make_root "$suite"
  if ! [ -x "$W/roots/$suite/usr/bin/python$version" ]; then
    optional "$version" || die "$suite's root has no python$version"
    return 1
  fi
  wheelhouse "$version"
  make_venv "$version"
}

# --- the suite -----------------------------------------------------------------------------

run_suite() {
  local version=$1
  shift
  local root log t rc
  root="$W/roots/$(suite_of "$version")"
  log="$W/logs/python$version.log"
  t=$(now)
  set +e
  TIMEOUT=3600 ROOT_PATH="/opt/pyinit/$version/bin:$ROOT_PATH" MOUNTS="$CHECKOUT:/src" \
    in_root "$root" sh -c 'cd /src && exec python -m pytest -p no:cacheprovider "$@"' pytest "$@" \
    </dev/null >"$log" 2>&1
  rc=$?
  set -e
  # pytest's last line: "==== 593 passed, 4 skipped, 1 deselected in 150.21s (0:02:30) ===="
  # (without the = under -q)
  local counts
  counts=$(grep -E '^(=+ )?[0-9]+ [a-z]+.* in [0-9.]+s' "$log" | tail -n 1 | sed -E 's/^=+ //; s/ in [0-9.]+s.*//')
  printf 'python%s: %s (%s, %s s)\n' "$version" "${counts:-no summary, exit $rc}" \
    "$(suite_of "$version")" "$(since "$t")"
  if [ "$rc" != 0 ]; then
    # What failed, from pytest's short summary (or the end of the log), then where the log is.
    sed -n '/short test summary info/,$p' "$log" | head -n 60 >&2
    grep -q 'short test summary info' "$log" || tail -n 30 "$log" >&2
    say "python$version: exit $rc (log: $log)"
  fi
  return "$rc"
}

preflight() {
  [ "$(uname -s)" = Linux ] || die "needs Linux"
  [ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount namespaces)"
  mkdir -p "$W/logs"
  exec 9>"$W/.lock"
  flock -w 3600 9 || die "another run holds $W/.lock"
}

case "${1:-test}" in
build)
  preflight
  for version in $PYTHONS; do prepare "$version" || say "python$version: not available"; done
  ;;
root)
  # For docker/e2e.sh: the root alone (no venv), built if missing; fails if it lacks python$2.
  [ $# = 2 ] || die "usage: $0 root VERSION"
  preflight
  suite=$(suite_of "$2")
  make_root "$suite"
  add_pip "$suite"
  [ -x "$W/roots/$suite/usr/bin/python$2" ] || die "python$2 is not available in $suite on this mirror"
  echo "$W/roots/$suite"
  ;;
shell)
  [ $# -ge 2 ] || die "usage: $0 shell VERSION [COMMAND...]"
  version=$2
  shift 2
  preflight
  PYTHONS=$version
  prepare "$version" || die "python$version is not available"
  [ $# -gt 0 ] || set -- bash
  ROOT_PATH="/opt/pyinit/$version/bin:$ROOT_PATH" MOUNTS="$CHECKOUT:/src" \
    in_root "$W/roots/$(suite_of "$version")" sh -c 'cd /src && exec "$@"' shell "$@"
  ;;
test)
  shift || true
  preflight
  start=$(now)
  failed=()
  for suite in $(suites); do
    for version in $(versions_in "$suite"); do
      if prepare "$version"; then
        run_suite "$version" "$@" || failed+=("python$version")
      else
        echo "python$version: not available in $suite on this mirror"
      fi
    done
  done
  say "TIMING all interpreters: $(since "$start") s; logs: $W/logs"
  [ ${#failed[@]} = 0 ] || die "${failed[*]}"
  ;;
*)
  echo "usage: $0 [test [PYTEST-ARGS...]|build|root VERSION|shell VERSION [COMMAND...]]" >&2
  exit 2
  ;;
esac
