#!/usr/bin/env bash
# pyinit's end-to-end suite under rootless Podman: the second real engine.
#
#   docker/podman-e2e.sh test   set up (as needed), run the Podman tests of tests/e2e, clean up
#   docker/podman-e2e.sh up     set up; prints how to use the engine ($W/bin/podman)
#   docker/podman-e2e.sh down   remove our containers, stop our rootless pause process (by PID)
#
# Set-up, as root: the Debian packages (podman, runc, conmon, uidmap, catatonit, debootstrap),
# an ordinary user for the rootless engine ($PYINIT_PODMAN_USER, default pyinit-podman, with
# subordinate ids in /etc/subuid and /etc/subgid), a bookworm root filesystem with python3,
# procps, pip and venv and, in that user's image store, the base image imported from it.  No
# daemon: podman runs per command, as that user, through the wrapper $W/bin/podman (setpriv to
# the user; HOME, XDG_RUNTIME_DIR and the engine's configuration under $W).
# Containers get no network (`netns = "none"`): there is no usable /dev/net/tun for slirp4netns.
#
# Everything lives in $PYINIT_PODMAN_DIR (default /tmp/pyinit-podman).  The root filesystem and
# the image store are kept between runs: a second run is ready in seconds.  Delete the folder
# (after `down`) to start from scratch.  A complete bookworm root left by docker/e2e.sh
# ($PYINIT_DOCKER_DIR/rootfs) is imported instead of running debootstrap again.
#
# Needs root.  If the engine cannot be set up, `test` fails when PYINIT_E2E_REQUIRED=1 (CI sets
# it) and otherwise says why and exits 0 (a developer machine without root or network).
set -euo pipefail
umask 022

W=${PYINIT_PODMAN_DIR:-/tmp/pyinit-podman}
ENGINE_USER=${PYINIT_PODMAN_USER:-pyinit-podman}
BASE_IMAGE=${PYINIT_BASE_IMAGE:-local/debian-py:bookworm}
SUITE=bookworm
DOCKER_ROOTFS=${PYINIT_DOCKER_DIR:-/tmp/pyinit-docker}/rootfs
PODMAN=$W/bin/podman
export DEBIAN_FRONTEND=noninteractive
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}

say() { printf 'podman-e2e: %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# The set-up cannot work here: fail in CI, explain and stop (exit 0) elsewhere.
cannot() {
  if [ "${PYINIT_E2E_REQUIRED:-0}" = 1 ]; then
    say "FAILED: cannot run the Podman end-to-end suite: $*"
    exit 1
  fi
  say "skipped: $* (set PYINIT_E2E_REQUIRED=1 to make this an error)"
  exit 0
}

# --- packages ----------------------------------------------------------------------------

install_packages() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  # runc, not crun: crun 1.8 refuses cgroups in hybrid mode (v1 with controllers on v2 too,
  # as on the CI machines), and docker.io's runc is the runtime the Docker suite uses anyway.
  command -v runc >/dev/null || missing+=(runc)
  # newuidmap/newgidmap: the setuid helpers that map the user's subordinate ids.
  command -v newuidmap >/dev/null || missing+=(uidmap)
  # `podman run --init` runs catatonit: the comparison, as tini is for `docker run --init`.
  [ -x /usr/libexec/podman/catatonit ] || missing+=(catatonit)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v setpriv >/dev/null || missing+=(util-linux)
  [ ${#missing[@]} = 0 ] && return 0
  command -v apt-get >/dev/null || cannot "no apt-get to install ${missing[*]}"
  local t apt=(apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends)
  t=$(now)
  # Without recommends: no buildah, slirp4netns, fuse-overlayfs or dbus: podman builds by
  # itself, containers have no network, and the kernel's overlayfs works in a user namespace
  # (fuse-overlayfs could not: /dev/fuse is root's only here).
  "${apt[@]}" "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get -o DPkg::Lock::Timeout=900 update -qq && "${apt[@]}" "${missing[@]}" >/dev/null; } ||
    cannot "apt-get install ${missing[*]} failed"
  say "installed ${missing[*]} in $(since "$t") s"
}

# --- the rootless user -----------------------------------------------------------------------

# First id after every range already in FILE (so a new range overlaps none), at least 100000.
next_free_id() {
  awk -F: 'BEGIN { n = 100000 } NF == 3 && $2 + $3 > n { n = $2 + $3 } END { print n }' "$1" 2>/dev/null ||
    echo 100000
}

make_user() {
  if ! id -u "$ENGINE_USER" >/dev/null 2>&1; then
    # An ordinary (non-system) user: useradd gives it 65536 subordinate uids and gids.
    useradd --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      "$ENGINE_USER" || cannot "useradd $ENGINE_USER failed"
    say "created the user $ENGINE_USER"
  fi
  # Container ids 1-65536 map to these (root maps to the user itself): app 10001 and nobody
  # 65534 of the image fit.  An older useradd or a system user gets none: add a free range.
  local file start
  for file in /etc/subuid /etc/subgid; do
    grep -q "^$ENGINE_USER:" "$file" 2>/dev/null && continue
    start=$(next_free_id "$file")
    echo "$ENGINE_USER:$start:65536" >>"$file"
    say "added $ENGINE_USER:$start:65536 to $file"
  done
  ENGINE_UID=$(id -u "$ENGINE_USER")
}

# The user's engine state and configuration, all under $W; the wrapper that runs podman as
# the user with it.  Rewritten at each set-up (cheap), so a changed $W or user takes effect.
configure() {
  local config=$W/home/.config/containers
  mkdir -p "$W/bin"
  # The user must reach its files below $W.
  chmod 755 "$W"
  install -d -m 700 -o "$ENGINE_USER" -g "$ENGINE_USER" "$W/home" "$W/run" "$W/storage"
  install -d -m 755 -o "$ENGINE_USER" -g "$ENGINE_USER" "$W/home/.config" "$config"
  # The user's own configuration: on top of Debian's (/usr/share/containers/containers.conf),
  # as on any machine, with only what this one needs changed.
  cat >"$config/containers.conf" <<EOF
# Written by docker/podman-e2e.sh: rootless Podman without systemd, journald or a network.
[containers]
netns = "none"
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
EOF
  cat >"$config/storage.conf" <<EOF
# Written by docker/podman-e2e.sh: the image store of the rootless user, kept between runs.
# overlay without a mount_program: the kernel's own, which user namespaces may mount (5.13+).
[storage]
driver = "overlay"
graphroot = "$W/storage"
runroot = "$W/run/storage"
EOF
  cat >"$PODMAN.tmp" <<EOF
#!/bin/sh
# Written by docker/podman-e2e.sh: podman as the rootless user $ENGINE_USER, state under $W.
# As root: in a mount namespace of its own whose / is a shared mount (podman warns on every
# command if it is not; the host's stays as it is), then setpriv to the user.  Both exec: same
# process, no new session, so \`podman run -it\` keeps the terminal.
as_user=
[ "\$(id -u)" != 0 ] ||
  as_user="unshare --mount --propagation shared setpriv --reuid=$ENGINE_USER --regid=$ENGINE_USER --init-groups"
exec \$as_user env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
  HOME=$W/home USER=$ENGINE_USER LOGNAME=$ENGINE_USER TERM="\${TERM:-dumb}" \\
  XDG_RUNTIME_DIR=$W/run XDG_CONFIG_HOME=$W/home/.config XDG_DATA_HOME=$W/home/.local/share \\
  podman "\$@"
EOF
  chmod 755 "$PODMAN.tmp"
  mv "$PODMAN.tmp" "$PODMAN"
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

# A complete $SUITE root with python3 and pip (tests/e2e/pipimage.py installs pyinit with it):
# the one docker/e2e.sh made, if any.
is_our_root() {
  [ -f "$1/.pyinit-complete" ] && [ -x "$1/usr/bin/python3" ] &&
    [ -f "$1/usr/lib/python3/dist-packages/pip/__init__.py" ] &&
    grep -qx "VERSION_CODENAME=$SUITE" "$1/etc/os-release" 2>/dev/null
}

# Sets ROOTFS: the root filesystem to import.
make_rootfs() {
  ROOTFS=$W/rootfs
  is_our_root "$ROOTFS" && return 0
  if is_our_root "$DOCKER_ROOTFS"; then
    ROOTFS=$DOCKER_ROOTFS
    say "importing the root filesystem docker/e2e.sh made: $ROOTFS"
    return 0
  fi
  local mirror t
  mirror=$(debian_mirror)
  say "debootstrap $SUITE (minbase + python3, procps, pip, venv) from $mirror: 1-3 minutes"
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

import_base_image() {
  "$PODMAN" image exists "$BASE_IMAGE" && return 0
  make_rootfs
  local t tar=$W/rootfs.tar
  t=$(now)
  # From a file the user can read.  Files owned by root in the tar belong to the mapped root
  # (the user itself) in the store; every other owner to one of the subordinate ids.
  tar -C "$ROOTFS" --numeric-owner --exclude=./.pyinit-complete -cf "$tar" .
  chmod 644 "$tar"
  timeout 900 "$PODMAN" import --quiet --change 'CMD ["python3"]' "$tar" "$BASE_IMAGE" >/dev/null ||
    { rm -f "$tar"; cannot "podman import failed"; }
  rm -f "$tar"
  say "imported $BASE_IMAGE in $(since "$t") s"
}

# Sets CHECKOUT: this checkout, if the engine user can read it (the images' build context and
# the tests' bind mounts come from it); else a copy in $W/checkout (a clone under /root, say).
checkout_for_user() {
  CHECKOUT=$ROOT
  if setpriv --reuid="$ENGINE_USER" --regid="$ENGINE_USER" --init-groups \
    test -r "$ROOT/tools/build_pyz.py" -a -r "$ROOT/tests/programs/orphans.py"; then
    return 0
  fi
  CHECKOUT=$W/checkout
  say "$ENGINE_USER cannot read $ROOT: the tests run from a copy in $CHECKOUT"
  rm -rf "$CHECKOUT"
  mkdir -p "$CHECKOUT"
  tar -C "$ROOT" --exclude=./.venv --exclude=./.git --exclude=./dist --exclude=__pycache__ -cf - . |
    tar -C "$CHECKOUT" -xf -
  chmod -R a+rX "$CHECKOUT"
}

# --- clean-up ------------------------------------------------------------------------------

# Live processes of the engine user whose command line names $W: conmon, the pause process,
# containers that outlived both.  By PID; the user is ours, but only what names $W counts.
our_processes() {
  local proc uid
  for proc in /proc/[0-9]*; do
    uid=$(awk '/^Uid:/ { print $2 }' "$proc/status" 2>/dev/null || true)
    [ "$uid" = "${ENGINE_UID:-}" ] || continue
    tr '\0' ' ' <"$proc/cmdline" 2>/dev/null | grep -qF -- "$W/" && echo "${proc#/proc/}"
  done
  return 0
}

down() {
  [ -x "$PODMAN" ] || return 0
  ENGINE_UID=$(id -u "$ENGINE_USER" 2>/dev/null) || return 0
  local pid file
  "$PODMAN" rm --all --force --time 5 >/dev/null 2>&1 || true
  # Old builds of the test images, untagged by newer ones: keep the cached store small.
  "$PODMAN" image prune --force >/dev/null 2>&1 || true
  # The pause process keeps the user namespace (and its mounts) alive between podman commands.
  file=$W/run/libpod/tmp/pause.pid
  pid=$(cat "$file" 2>/dev/null || true)
  if [ -n "$pid" ] && [ "$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" = "$ENGINE_UID" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
  for pid in $(our_processes); do
    say "left behind: pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null)): SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  done
  unmount_below "$W/run"
  unmount_below "$W/storage"
}

# --- commands ------------------------------------------------------------------------------

preflight() {
  [ "$(uname -s)" = Linux ] || cannot "needs Linux"
  [ "$(id -u)" = 0 ] || cannot "needs root to install podman and create the rootless user"
  mkdir -p "$W" || cannot "cannot create $W"
}

up() {
  exec 8>"$W/setup.lock"
  flock -w 1800 8 || cannot "another set-up holds $W/setup.lock"
  local t
  t=$(now)
  install_packages
  make_user
  configure
  local driver
  driver=$("$PODMAN" info --format '{{.Store.GraphDriverName}}' 2>"$W/info.log") ||
    cannot "rootless podman does not work for $ENGINE_USER: $(tail -n 3 "$W/info.log")"
  import_base_image
  flock -u 8
  say "rootless podman ($ENGINE_USER, storage $driver) and $BASE_IMAGE ready in $(since "$t") s; cache: $W"
}

case "${1:-test}" in
up)
  preflight
  up
  echo "podman as $ENGINE_USER: $PODMAN (export PYINIT_E2E_ENGINE=podman PYINIT_E2E_CLI=$PODMAN)"
  ;;
down)
  down
  ;;
test)
  shift || true
  preflight
  # One run at a time: a second run waits instead of removing the first one's containers.
  exec 9>"$W/test.lock"
  flock -w 1800 9 || cannot "another run holds $W/test.lock"
  trap down EXIT
  up
  checkout_for_user
  [ -x "$PYTHON" ] || PYTHON=python3
  t=$(now)
  set +e
  PYINIT_E2E_ENGINE=podman PYINIT_E2E_CLI=$PODMAN PYINIT_BASE_IMAGE=$BASE_IMAGE \
    "$PYTHON" -m pytest -p no:cacheprovider -m podman "$CHECKOUT/tests/e2e" "$@"
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
