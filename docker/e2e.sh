#!/usr/bin/env bash
# pyinit's end-to-end suite against a real Docker engine that this script runs itself.
#
#   docker/e2e.sh test   set up (as needed), run tests/e2e, tear down what it started
#   docker/e2e.sh up     set up and leave the engine running; prints the DOCKER_HOST to export
#   docker/e2e.sh down   stop the engine started by `up` (by its PID), remove leftover mounts
#
# Set-up: the Debian packages (docker.io, debootstrap, tini), a bookworm root filesystem with
# python3 and procps from the mirror the machine's apt sources name, a private dockerd (own
# data-root, exec-root, pidfile and socket; no iptables, no bridge) and the base image imported
# from the root filesystem.  No image registry is needed, and RUN steps have no network.
#
# Everything lives in $PYINIT_DOCKER_DIR (default /tmp/pyinit-docker).  The root filesystem and
# the daemon's data-root (which holds the base image) are kept between runs: a second run is
# ready in seconds.  Delete the folder (after `down`) to start from scratch.
#
# PYINIT_E2E_PYTHON=3.9 (or 3.11, 3.13, 3.14, 3.15) runs the suite on another Python instead: the
# base image local/debian-py:python3.9 is imported from the Debian root tools/pythons.sh keeps
# for that version (bullseye for 3.9, sid for 3.14 and 3.15; see there), with `python3` being
# that version.  The image is imported again when the root was rebuilt.
#
# Needs root.  If the engine cannot be set up, `test` fails when PYINIT_E2E_REQUIRED=1 (CI sets
# it) and otherwise says why and exits 0 (a developer machine without root or network).
set -euo pipefail
umask 022

W=${PYINIT_DOCKER_DIR:-/tmp/pyinit-docker}
E2E_PYTHON=${PYINIT_E2E_PYTHON:-}
if [ -n "$E2E_PYTHON" ]; then
  BASE_IMAGE=${PYINIT_BASE_IMAGE:-local/debian-py:python$E2E_PYTHON}
else
  BASE_IMAGE=${PYINIT_BASE_IMAGE:-local/debian-py:bookworm}
fi
SUITE=bookworm
export DOCKER_HOST=unix://$W/docker.sock
export PYINIT_BASE_IMAGE=$BASE_IMAGE
export DEBIAN_FRONTEND=noninteractive
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}

say() { printf 'e2e: %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# The set-up cannot work here: fail in CI, explain and stop (exit 0) elsewhere.
cannot() {
  if [ "${PYINIT_E2E_REQUIRED:-0}" = 1 ]; then
    say "FAILED: cannot run the Docker end-to-end suite: $*"
    exit 1
  fi
  say "skipped: $* (set PYINIT_E2E_REQUIRED=1 to make this an error)"
  exit 0
}

# --- packages ----------------------------------------------------------------------------

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  # docker.io's /usr/bin/docker-init, which `docker run --init` runs (the comparison), is a
  # link to tini's tini-static.
  [ -x /usr/bin/tini-static ] || missing+=(tini)
  [ ${#missing[@]} = 0 ] && return 0
  command -v apt-get >/dev/null || cannot "no apt-get to install ${missing[*]}"
  local t
  t=$(now)
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } ||
    cannot "apt-get install ${missing[*]} failed"
  say "installed ${missing[*]} in $(since "$t") s"
}

# --- the root filesystem -------------------------------------------------------------------

# The Debian mirror the apt sources already use (deb822 .sources or one-line .list files):
# the first URI serving $SUITE, else the first one ending in /debian.
debian_mirror() {
  if [ -n "${PYINIT_DEBIAN_MIRROR:-}" ]; then
    echo "$PYINIT_DEBIAN_MIRROR"
    return
  fi
  local files=() f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  if [ ${#files[@]} = 0 ]; then
    echo http://deb.debian.org/debian
    return
  fi
  awk -v suite="$SUITE" '
    function consider(uri, suites) {
      if (uri == "" || uri ~ /security/) return
      if (!exact && (" " suites " ") ~ (" " suite " ")) exact = uri
      if (!loose && uri ~ /\/debian\/?$/) loose = uri
    }
    function flush() { if (types ~ / deb /) consider(uris, suites); types = uris = suites = "" }
    FNR == 1 { flush() }
    FILENAME ~ /\.sources$/ {
      if ($0 ~ /^[ \t]*$/) { flush(); next }
      key = tolower($1)
      if (key == "types:") { $1 = ""; types = $0 " " }
      if (key == "uris:") uris = $2
      if (key == "suites:") { $1 = ""; suites = $0 }
      next
    }
    $1 == "deb" { line = $0; sub(/\[[^]]*\]/, "", line); split(line, f); consider(f[2], f[3]) }
    END { flush(); print (exact ? exact : (loose ? loose : "http://deb.debian.org/debian")) }
  ' "${files[@]}"
}

# Unmount anything below $1 (deepest first): debootstrap mounts /proc and /sys in its target,
# and an interrupted run leaves them there.
unmount_below() {
  local target
  findmnt -rn -o TARGET | awk -v p="$1" 'index($0, p "/") == 1 || $0 == p' | sort -r |
    while read -r target; do umount -l "$target" || true; done
}

make_rootfs() {
  [ -f "$W/rootfs/.pyinit-complete" ] && return 0
  local mirror t
  mirror=$(debian_mirror)
  say "debootstrap $SUITE (minbase + python3, procps) from $mirror: 1-3 minutes"
  unmount_below "$W/rootfs.tmp"
  rm -rf --one-file-system "$W/rootfs.tmp" "$W/rootfs"
  t=$(now)
  if ! timeout 1200 debootstrap --variant=minbase --include=python3,procps,python3-pip,python3-venv "$SUITE" \
      "$W/rootfs.tmp" "$mirror" >"$W/debootstrap.log" 2>&1; then
    unmount_below "$W/rootfs.tmp"
    tail -n 20 "$W/debootstrap.log" >&2
    cannot "debootstrap failed (log: $W/debootstrap.log)"
  fi
  unmount_below "$W/rootfs.tmp"
  rm -rf "$W"/rootfs.tmp/var/cache/apt/archives/*.deb "$W"/rootfs.tmp/var/lib/apt/lists/*
  touch "$W/rootfs.tmp/.pyinit-complete"
  mv "$W/rootfs.tmp" "$W/rootfs"
  say "root filesystem ready in $(since "$t") s"
}

# --- the daemon ----------------------------------------------------------------------------

# The pid of our dockerd if it runs: from its --pidfile, else from `$!` of the start (a dockerd
# that died before writing its pidfile).  Only a live dockerd counts: a stale file may name a pid
# that now belongs to anything.
daemon_pid() {
  local pid file
  for file in "$W/dockerd.pid" "$W/dockerd.bgpid"; do
    pid=$(cat "$file" 2>/dev/null || true)
    # A zombie (state Z, the third field of /proc/PID/stat) is dead already.
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = dockerd ] &&
      [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null || true)" != Z ]; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

start_daemon() {
  mkdir -p "$W/docker" "$W/exec"
  rm -f "$W/dockerd.pid" "$W/docker.sock"
  local t pid
  t=$(now)
  setsid dockerd --data-root "$W/docker" --exec-root "$W/exec" --pidfile "$W/dockerd.pid" \
    -H "$DOCKER_HOST" --storage-driver "${PYINIT_DOCKER_STORAGE_DRIVER:-overlay2}" \
    --iptables=false --ip6tables=false --bridge=none \
    >"$W/dockerd.log" 2>&1 </dev/null &
  pid=$!
  STARTED=1
  echo "$pid" >"$W/dockerd.bgpid"
  for _ in $(seq 300); do
    docker version >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if ! docker version >/dev/null 2>&1; then
    tail -n 20 "$W/dockerd.log" >&2
    stop_daemon
    cannot "dockerd did not come up (log: $W/dockerd.log)"
  fi
  say "dockerd $pid ready in $(since "$t") s"
}

# By PID, never by name: this machine may run other engines.  dockerd stops its own
# containerd; the checks after it make sure nothing of ours is left behind.
stop_daemon() {
  local pid
  if pid=$(daemon_pid); then
    local ids
    ids=$(docker ps -aq 2>/dev/null || true)
    # shellcheck disable=SC2086 # one word per container id
    [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
    # Old builds of the test images, untagged by newer ones: keep the cached data-root small.
    docker image prune --force >/dev/null 2>&1 || true
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "dockerd $pid still running 30 s after SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "dockerd $pid stopped"
  fi
  # Containers that outlived a crashed dockerd: runc knows them by id under our exec-root,
  # and `delete --force` kills every process in each one.
  local root="$W/exec/runtime-runc/moby" id
  if [ -d "$root" ] && command -v runc >/dev/null; then
    for id in $(runc --root "$root" list -q 2>/dev/null); do
      say "container $id outlived dockerd: runc delete --force"
      runc --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    done
  fi
  # Our containerd and its shims name our exec-root on their command line; none should
  # remain.  Other engines on this machine have other exec-roots.
  local proc comm
  for proc in /proc/[0-9]*; do
    comm=$(cat "$proc/comm" 2>/dev/null || true)
    case "$comm" in containerd | containerd-shim* | runc) ;; *) continue ;; esac
    if tr '\0' ' ' <"$proc/cmdline" 2>/dev/null | grep -qF -- "$W/exec/"; then
      say "left behind by dockerd: pid ${proc#/proc/} ($comm): SIGKILL"
      kill -KILL "${proc#/proc/}" 2>/dev/null || true
    fi
  done
  unmount_below "$W"
  rm -f "$W/dockerd.bgpid"
}

import_base_image() {
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && return 0
  local t
  t=$(now)
  # From a file, not a pipe: `docker import -` was 10x slower on a loaded machine.
  tar -C "$W/rootfs" --numeric-owner --exclude=./.pyinit-complete -cf "$W/rootfs.tar" .
  timeout 900 docker import -c 'CMD ["python3"]' "$W/rootfs.tar" "$BASE_IMAGE" >/dev/null ||
    { rm -f "$W/rootfs.tar"; cannot "docker import failed"; }
  rm -f "$W/rootfs.tar"
  say "imported $BASE_IMAGE in $(since "$t") s"
}

# --- another Python: a base image from tools/pythons.sh's root for it --------------------

# Sets PYTHON_ROOT: the Debian root that has python$E2E_PYTHON (built there if missing).
python_rootfs() {
  local t
  t=$(now)
  PYTHON_ROOT=$("$ROOT/tools/pythons.sh" root "$E2E_PYTHON" | tail -n 1) ||
    cannot "no Debian root with python$E2E_PYTHON (tools/pythons.sh root $E2E_PYTHON failed)"
  say "root filesystem for python$E2E_PYTHON: $PYTHON_ROOT ($(since "$t") s)"
}

# The root as $BASE_IMAGE, with /usr/local/bin/python3 -> python$E2E_PYTHON (first in PATH),
# so that the images built FROM it (docker/Dockerfile: `python3 build_pyz.py`) run that
# version.  The root itself is not changed: the link is appended to the tar only.  The test
# venvs (/opt/pyinit) stay out.
import_python_image() {
  local stamp_file="$W/base-python$E2E_PYTHON.stamp" stamp id
  stamp="$PYTHON_ROOT $(cat "$PYTHON_ROOT/.pyinit-complete")"
  id=$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true)
  if [ -n "$id" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp $id" ]; then
    return 0
  fi
  local t link="$W/python-link"
  t=$(now)
  rm -rf "$link"
  mkdir -p "$link/usr/local/bin"
  ln -s "/usr/bin/python$E2E_PYTHON" "$link/usr/local/bin/python3"
  tar -C "$PYTHON_ROOT" --numeric-owner --exclude=./.pyinit-complete --exclude=./opt/pyinit \
    -cf "$W/rootfs.tar" .
  tar -C "$link" --numeric-owner -rf "$W/rootfs.tar" ./usr/local/bin/python3
  rm -rf "$link"
  timeout 900 docker import -c 'CMD ["python3"]' "$W/rootfs.tar" "$BASE_IMAGE" >/dev/null ||
    { rm -f "$W/rootfs.tar"; cannot "docker import failed"; }
  rm -f "$W/rootfs.tar"
  local version
  version=$(docker run --rm "$BASE_IMAGE" python3 -c 'import platform; print(platform.python_version())') ||
    cannot "python3 does not run in $BASE_IMAGE"
  case "$version" in "$E2E_PYTHON".*) ;; *) cannot "python3 in $BASE_IMAGE is $version, not $E2E_PYTHON" ;; esac
  echo "$stamp $(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")" >"$stamp_file"
  say "imported $BASE_IMAGE (Python $version) in $(since "$t") s"
}

# --- commands ------------------------------------------------------------------------------

# Sets STARTED=1 if this call started the daemon, 0 if one of ours was already running.
STARTED=0
preflight() {
  [ "$(uname -s)" = Linux ] || cannot "needs Linux"
  [ "$(id -u)" = 0 ] || cannot "needs root to run dockerd"
  mkdir -p "$W" || cannot "cannot create $W"
}

up() {
  exec 8>"$W/setup.lock"
  flock -w 1800 8 || cannot "another set-up holds $W/setup.lock"
  local t
  t=$(now)
  install_packages
  if [ -n "$E2E_PYTHON" ]; then python_rootfs; else make_rootfs; fi
  if daemon_pid >/dev/null; then
    docker version >/dev/null 2>&1 || cannot "dockerd $(daemon_pid) is running but does not answer on $DOCKER_HOST"
    say "reusing the running dockerd $(daemon_pid)"
  else
    start_daemon
  fi
  if [ -n "$E2E_PYTHON" ]; then import_python_image; else import_base_image; fi
  flock -u 8
  say "engine and $BASE_IMAGE ready in $(since "$t") s; cache: $W"
}

down() {
  [ -d "$W" ] || return 0
  stop_daemon
}

case "${1:-test}" in
up)
  preflight
  up
  echo "export DOCKER_HOST=$DOCKER_HOST"
  [ -z "$E2E_PYTHON" ] || echo "export PYINIT_BASE_IMAGE=$BASE_IMAGE"
  ;;
down)
  down
  ;;
test)
  shift || true
  # One suite per engine at a time: a second run waits instead of tearing the engine down
  # under the first.
  preflight
  exec 9>"$W/test.lock"
  flock -w 1800 9 || cannot "another run holds $W/test.lock"
  # Tear down what this run started, also when the set-up fails half-way.
  trap '[ "$STARTED" = 0 ] || down' EXIT
  up
  [ "$STARTED" = 1 ] || say "leaving the engine running after the tests (it was up before)"
  [ -x "$PYTHON" ] || PYTHON=python3
  t=$(now)
  set +e
  "$PYTHON" -m pytest -p no:cacheprovider -m docker "$ROOT/tests/e2e" "$@"
  rc=$?
  set -e
  say "suite finished in $(since "$t") s (exit $rc)"
  exit $rc
  ;;
*)
  echo "usage: $0 [test [PYTEST-ARGS...]|up|down]" >&2
  exit 2
  ;;
esac
