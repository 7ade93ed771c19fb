"""What root in a container may do, with a rootful engine (Docker here) and a rootless one (Podman
here, run by an ordinary user): the same tests, expectations by `dockerlib.rootless()`.

Under a rootless engine, uid 0 in the container is the engine's user, mapped into a user
namespace with its subordinate ids (/etc/subuid, /etc/subgid) as the ids 1-65536.  Its
capabilities count in that namespace only: enough to switch between mapped ids, not to act on
the host (CAP_SYS_RESOURCE, checked in the initial namespace, is never there).
"""

from __future__ import annotations

import json

import pytest

from e2e.dockerlib import APP_IMAGE, ENGINE, REPORT, rootless, run

pytestmark = [pytest.mark.docker, pytest.mark.podman]

#: Options of `run`: pyinit itself as the entrypoint, as root (the image says USER app).
AS_ROOT = ("--user", "root", "--entrypoint", "pyinit")

#: An id that a rootless engine does not map (its subordinate range is 65536 ids long).
UNMAPPED = "70000"


def map_of(kind: str) -> list[list[int]]:
    result = run(APP_IMAGE, "cat", "/proc/self/%s_map" % kind, options=("--user", "root"))
    assert result.returncode == 0, result
    return [[int(word) for word in line.split()] for line in result.stdout.splitlines()]


@pytest.mark.timeout(120)
def test_container_root_is_host_root_or_the_engine_user_mapped_with_65536_subordinate_ids():
    uid_map, gid_map = map_of("uid"), map_of("gid")
    REPORT.append("%s: uid_map %s, gid_map %s" % (ENGINE, uid_map, gid_map))
    if not rootless():
        assert uid_map == gid_map == [[0, 0, 4294967295]]  # the initial namespace: no mapping
        return
    for mapping in (uid_map, gid_map):
        (inside, outside, one), (first, start, count) = mapping
        assert (inside, one) == (0, 1) and outside != 0, "root is the engine user: %s" % mapping
        assert (first, count) == (1, 65536) and start >= 100000, mapping


@pytest.mark.timeout(120)
def test_mapped_root_may_setgroups_pyinit_user_with_groups_works():
    # setgroups(2) in a user namespace needs /proc/self/setgroups "allow": the engine's setuid
    # newgidmap wrote the gid map, so it is (an unprivileged map writer would get "deny").
    setgroups = run(APP_IMAGE, "cat", "/proc/self/setgroups", options=("--user", "root"))
    assert setgroups.stdout.strip() == "allow", setgroups
    result = run(APP_IMAGE, "--user", "app", "--groups", "100,65534", "--", "id", "-G", options=AS_ROOT)
    assert result.returncode == 0, result
    assert sorted(result.stdout.split()) == ["100", "10001", "65534"], result.stdout


# Tries oom_score_adj values in turn on itself; prints what each write gave, and whether it holds
# CAP_SYS_RESOURCE (24) in its effective set, as JSON.
OOM_SCORE_ADJ = (
    "import json, os\n"
    "eff = [line.split()[1] for line in open('/proc/self/status') if line.startswith('CapEff:')]\n"
    "has_cap = bool(int(eff[0], 16) >> 24 & 1)\n"
    "def write(value):\n"
    "    try:\n"
    "        with open('/proc/self/oom_score_adj', 'w') as f:\n"
    "            f.write(str(value))\n"
    "        return 'ok'\n"
    "    except OSError as exc:\n"
    "        return os.strerror(exc.errno)\n"
    "print(json.dumps(dict({value: write(value) for value in (500, 0, -500)}, cap=has_cap)))\n"
)


CAP_SYS_RESOURCE = 24


def host_has_cap_sys_resource() -> bool:
    """Is CAP_SYS_RESOURCE in our bounding set (a rootful engine can only grant what it has)?"""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("CapBnd:"):
                return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    return False


@pytest.mark.timeout(120)
@pytest.mark.parametrize("caps", ["default", "cap-add"])
def test_lowering_oom_score_adj_below_zero_needs_cap_sys_resource_which_rootless_never_has(caps):
    # A PID 1 that protects itself from the OOM killer writes a negative oom_score_adj: that
    # needs CAP_SYS_RESOURCE in the initial user namespace.  Raising, and lowering back to the
    # value it started with, never needs it.
    options = ("--user", "root")
    if caps == "cap-add":
        if not rootless() and not host_has_cap_sys_resource():
            pytest.skip("CAP_SYS_RESOURCE is not in this machine's bounding set: %s cannot add it" % ENGINE)
        options += ("--cap-add", "SYS_RESOURCE")
    result = run(APP_IMAGE, "python3", "-c", OOM_SCORE_ADJ, options=options)
    assert result.returncode == 0, result
    written = json.loads(result.stdout)
    how = "--cap-add SYS_RESOURCE" if caps == "cap-add" else "default capabilities"
    REPORT.append("%s: oom_score_adj 500, 0, -500 as root (%s): %s" % (ENGINE, how, written))
    assert written["500"] == written["0"] == "ok", written
    # Rootless, the capability is there (in the container's user namespace) and does not help.
    assert written["cap"] == (caps == "cap-add"), written
    allowed = caps == "cap-add" and not rootless()
    assert written["-500"] == ("ok" if allowed else "Permission denied"), written


def bounding_set(*options: str) -> int:
    result = run(APP_IMAGE, *options, "--", "grep", "^CapBnd", "/proc/self/status", options=AS_ROOT)
    assert result.returncode == 0, result
    return int(result.stdout.split()[1], 16)


@pytest.mark.timeout(120)
def test_clear_caps_empties_the_bounding_set_of_container_root_rootless_too():
    default = bounding_set()
    REPORT.append("%s: bounding set of root in the container: %#x" % (ENGINE, default))
    # Root of a user namespace holds CAP_SETPCAP there, which dropping from the bounding set needs.
    assert default != 0
    assert bounding_set("--clear-caps") == 0
    assert bounding_set("--clear-caps", "--user", "nobody") == 0


@pytest.mark.timeout(120)
def test_pyinit_user_to_an_unmapped_id_fails_in_one_line_with_125_under_a_rootless_engine():
    result = run(APP_IMAGE, "--user", "%s:%s" % (UNMAPPED, UNMAPPED), "--", "id", "-u", options=AS_ROOT)
    if not rootless():
        assert result.returncode == 0 and result.stdout.strip() == UNMAPPED, result
        return
    # setgroups([70000]) comes first (then setgid, setuid): the kernel's EINVAL for an id
    # outside the namespace's map.
    assert result.returncode == 125, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "setgroups(%s): Invalid argument" % UNMAPPED in lines[0], lines[0]


@pytest.mark.timeout(120)
def test_engine_user_option_to_an_unmapped_id_fails_before_pyinit_under_a_rootless_engine():
    spec = "%s:%s" % (UNMAPPED, UNMAPPED)
    result = run(APP_IMAGE, "id", "-u", options=("--user", spec))
    if not rootless():
        assert result.returncode == 0 and result.stdout.strip() == UNMAPPED, result
        return
    # The runtime (runc) cannot switch to it: the container never starts.
    REPORT.append("%s run --user %s: exit %d, %s" % (ENGINE, spec, result.returncode, result.stderr.strip()))
    assert result.returncode == 126, result
    assert "invalid argument" in result.stderr.lower(), result.stderr
