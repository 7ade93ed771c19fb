"""The output relay, with real processes and pipes: whole lines, named, fair, never a block.

Each test starts the relay (pyinit.relay.start) on pipes or files the test reads, runs programs
with the relay's write ends as their stdout and stderr (as the supervisor will), and reads what
comes out.  Waits poll with generous deadlines; nothing asserts on a duration.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
import tty
from pathlib import Path

import psutil
import pytest

from pyinit import relay
from support import PROGRAMS, ROOT, wait_until

WRITER = [sys.executable, "-I", str(PROGRAMS / "linewriter.py")]
sys.path.insert(0, str(PROGRAMS))
from linewriter import payload  # noqa: E402


class Collector(threading.Thread):
    """Reads a pipe to EOF in the background; keeps everything, or (keep=False) only counts."""

    def __init__(self, fd: int, keep: bool = True, needle: bytes = b"") -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.keep = keep
        self.needle = needle
        self.data = bytearray()
        self.count = 0
        self.found = threading.Event()
        self.eof = threading.Event()
        self.start()

    def run(self) -> None:
        tail = b""
        while True:
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                break
            self.count += len(chunk)
            if self.keep:
                self.data += chunk
            if self.needle and self.needle in tail + chunk:
                self.found.set()
            tail = chunk[-len(self.needle) :] if self.needle else b""
        os.close(self.fd)
        self.eof.set()

    def lines(self) -> list[bytes]:
        assert self.eof.wait(60), "the stream never reached EOF"
        return bytes(self.data).split(b"\n")[:-1]


class Harness:
    """A relay for `names` whose stdout and stderr are pipes read by Collectors (or given fds)."""

    def __init__(self, names, *, out_fd: int | None = None, err_fd: int | None = None, **kwargs) -> None:
        self.collectors = []
        fds = []
        for given in (out_fd, err_fd):
            if given is None:
                read_end, write_end = os.pipe()
                fds.append(write_end)
                self.collectors.append(read_end)
            else:
                fds.append(given)
                self.collectors.append(None)
        self.relay = relay.start(names, fds[0], fds[1], **kwargs)
        for fd, given in zip(fds, (out_fd, err_fd)):
            if given is None:
                os.close(fd)  # the relay holds the only write ends: EOF when it exits
        self.programs: list[subprocess.Popen] = []
        self.out = Collector(self.collectors[0]) if self.collectors[0] is not None else None
        self.err = Collector(self.collectors[1]) if self.collectors[1] is not None else None

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        out_w, err_w = self.relay.fds(name)
        # close_fds=False: only the close-on-exec flag keeps other programs' pipes out.
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out_w,
            stderr=err_w,
            close_fds=False,
            start_new_session=True,
        )
        self.programs.append(proc)
        return proc

    def sh(self, name: str, command: str) -> subprocess.Popen:
        return self.spawn(name, ["/bin/sh", "-c", command])

    def finish(self, timeout: float = 60) -> int | None:
        """Close the write ends, wait for every program, then let the relay end by EOF."""
        self.relay.close_write_ends()
        for proc in self.programs:
            proc.wait(timeout)
        return self.wait_relay(timeout)

    def wait_relay(self, timeout: float = 60) -> int | None:
        def reaped():
            pid, status = os.waitpid(self.relay.pid, os.WNOHANG)
            return os.waitstatus_to_exitcode(status) + 1000 if pid else None

        return wait_until(reaped, timeout, message="the relay to exit") - 1000

    def cleanup(self) -> None:
        for proc in self.programs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # with whatever it left behind
            except ProcessLookupError:
                pass
            proc.wait()
        try:
            os.kill(self.relay.pid, signal.SIGKILL)
            os.waitpid(self.relay.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        # The next test forks a relay from this process: no reader thread may still run then
        # (a fork while another thread holds a lock can deadlock the child).
        for collector in (self.out, self.err):
            if collector is not None:
                collector.join(30)


@pytest.fixture
def harness():
    made = []

    def make(names, **kwargs):
        made.append(Harness(names, **kwargs))
        return made[-1]

    yield make
    for item in made:
        item.cleanup()


def wchan(pid: int) -> str:
    """Where in the kernel the process sleeps."""
    return Path("/proc/%d/wchan" % pid).read_text()


def unread(fd: int) -> int:
    """Bytes waiting in a pipe (FIONREAD)."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def expected_lines(tag: str, count: int, size: int) -> list[bytes]:
    return [("%s:%d:" % (tag, i)).encode() + payload(tag, i, size) for i in range(count)]


def of(lines: list[bytes], prefix: bytes) -> list[bytes]:
    return [line[len(prefix) :] for line in lines if line.startswith(prefix)]


# --- what a line looks like -------------------------------------------------------------------


def test_each_line_goes_to_the_stream_it_was_written_to_after_the_padded_name(harness):
    h = harness(["web", "worker"])
    h.sh("web", "echo listening; echo oops >&2")
    h.sh("worker", "echo 'job 1'")
    assert h.finish() == 0
    assert sorted(h.out.lines()) == [b"web    | listening", b"worker | job 1"]
    assert h.err.lines() == [b"web    | oops"]


def test_an_empty_line_keeps_its_prefix(harness):
    h = harness(["a"])
    h.sh("a", "printf 'x\\n\\n\\ny\\n'")
    assert h.finish() == 0
    assert h.out.lines() == [b"a | x", b"a | ", b"a | ", b"a | y"]


def test_the_last_line_without_newline_is_written_with_one_when_the_program_exits(harness):
    h = harness(["a", "b"])
    h.sh("a", "printf 'first\\nno newline'")
    h.sh("b", "printf 'err without newline' >&2")
    assert h.finish() == 0
    assert h.out.lines() == [b"a | first", b"a | no newline"]
    assert h.err.lines() == [b"b | err without newline"]
    assert h.out.data.endswith(b"\n") and h.err.data.endswith(b"\n")


def test_bytes_that_are_not_utf8_pass_unchanged(harness):
    every_byte = bytes(b for b in range(256) if b != 0x0A)
    h = harness(["bin"])
    h.spawn("bin", WRITER + ["raw", (every_byte + b"\n" + b"\xff\xfe\x80").hex()])
    assert h.finish() == 0
    assert h.out.lines() == [b"bin | " + every_byte, b"bin | \xff\xfe\x80"]


def test_a_carriage_return_is_not_a_line_end(harness):
    h = harness(["a"])
    h.sh("a", "printf 'progress 10%%\\rprogress 100%%\\r\\n'")
    assert h.finish() == 0
    assert h.out.lines() == [b"a | progress 10%\rprogress 100%\r"]


# --- lines stay whole --------------------------------------------------------------------------


@pytest.mark.parametrize("sink", ["pipe", "file"])
def test_lines_written_in_pieces_by_several_programs_never_mix(harness, tmp_path, sink):
    names = ["alpha", "b", "gamma-3"]
    spec = {"alpha": (3000, 50, 3), "b": (400, 9000, 7), "gamma-3": (1500, 300, 2)}  # count, size, pieces
    with open(tmp_path / "out", "wb") as out_file:
        h = harness(names, out_fd=out_file.fileno() if sink == "file" else None)
        for name in names:
            count, size, pieces = spec[name]
            h.spawn(name, WRITER + ["lines", name, str(count), str(size), str(pieces)])
        assert h.finish() == 0
    lines = (tmp_path / "out").read_bytes().split(b"\n")[:-1] if sink == "file" else h.out.lines()
    for name in names:
        prefix = name.ljust(7).encode() + b" | "
        count, size, _ = spec[name]
        assert of(lines, prefix) == expected_lines(name, count, size), name
    assert len(lines) == sum(spec[name][0] for name in names)  # nothing else, nothing mixed


def test_a_line_longer_than_the_read_buffer_and_the_pipe_passes_whole(harness, tmp_path):
    """Written in small pieces over many rounds while another program writes short lines."""
    size = 3 * relay.READ_SIZE + 12345
    go = tmp_path / "go"
    os.mkfifo(go)
    h = harness(["long", "short"])
    h.spawn("long", WRITER + ["long", "L", str(size), "1000"])
    h.spawn("short", WRITER + ["lines", "s", "20000", "10", "1"])
    assert h.finish() == 0
    lines = h.out.lines()
    assert of(lines, b"long  | ") == [b"L:" + payload("L", 0, size)]
    assert of(lines, b"short | ") == expected_lines("s", 20000, 10)
    assert len(lines) == 20001


def test_a_line_longer_than_line_max_comes_out_in_pieces_with_no_byte_lost(harness):
    size = 2 * relay.LINE_MAX + 777
    h = harness(["big", "small"])
    h.spawn("big", WRITER + ["long", "B", str(size), "65536"])
    h.spawn("small", WRITER + ["lines", "s", "200", "10", "1"])
    assert h.finish() == 0
    lines = h.out.lines()
    pieces = of(lines, b"big   | ")
    assert len(pieces) >= 2
    assert all(relay.LINE_MAX < len(piece) <= relay.LINE_MAX + relay.READ_SIZE for piece in pieces[:-1])
    assert b"".join(pieces) == b"B:" + payload("B", 0, size)
    assert of(lines, b"small | ") == expected_lines("s", 200, 10)


def test_stdout_and_stderr_on_one_pipe_never_mix_even_when_it_is_full(harness):
    """pyinit run with 2>&1 into a pipe: two descriptors, one pipe, read slowly so it fills."""
    read_end, write_end = os.pipe()
    second = os.dup(write_end)
    h = harness(["out", "err"], out_fd=write_end, err_fd=second)
    os.close(write_end)
    os.close(second)
    received = bytearray()

    def read_slowly():
        while True:
            chunk = os.read(read_end, 3000)
            if not chunk:
                return
            received.extend(chunk)
            time.sleep(0.0005)  # a slow reader: the pipe stays full, writes are partial

    reader = threading.Thread(target=read_slowly, daemon=True)
    reader.start()
    h.spawn("out", WRITER + ["lines", "o", "150", "20000", "1"])
    h.spawn("err", WRITER + ["fd", "2", ",", "lines", "e", "150", "20000", "1"])
    assert h.finish() == 0
    reader.join(60)
    os.close(read_end)
    lines = bytes(received).split(b"\n")[:-1]
    assert of(lines, b"out | ") == expected_lines("o", 150, 20000)
    assert of(lines, b"err | ") == expected_lines("e", 150, 20000)
    assert len(lines) == 300


def test_a_terminal_gets_whole_lines_too(harness):
    """A terminal cannot be opened again non-blocking: small writes after poll, still whole lines."""
    master, slave = os.openpty()
    tty.setraw(slave)  # no \n -> \r\n translation
    h = harness(["alpha", "b"], out_fd=slave)
    received = bytearray()

    def read_master():
        while True:
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:  # EIO: every slave descriptor is closed
                return
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=read_master, daemon=True)
    reader.start()
    h.spawn("alpha", WRITER + ["lines", "alpha", "2000", "700", "3"])
    h.spawn("b", WRITER + ["lines", "b", "300", "9000", "5"])
    assert h.finish() == 0
    os.close(slave)
    reader.join(60)
    os.close(master)
    lines = bytes(received).split(b"\n")[:-1]
    assert of(lines, b"alpha | ") == expected_lines("alpha", 2000, 700)
    assert of(lines, b"b     | ") == expected_lines("b", 300, 9000)
    assert len(lines) == 2300


def test_the_stream_it_was_given_is_never_made_non_blocking(harness):
    """The relay writes to a pipe through a non-blocking description of its own, not pyinit's."""
    read_end, write_end = os.pipe()
    h = harness(["a"], out_fd=write_end)  # the test keeps write_end, as pyinit keeps its stdout
    collector = Collector(read_end)
    program = h.sh("a", "echo hello; exec sleep 1000")  # keeps the relay running
    h.relay.close_write_ends()
    wait_until(lambda: b"a | hello\n" in collector.data, message="the line")
    assert os.get_blocking(write_end)
    relay_flags = []
    for fd in os.listdir("/proc/%d/fd" % h.relay.pid):
        if os.readlink("/proc/%d/fd/%s" % (h.relay.pid, fd)) == os.readlink("/proc/self/fd/%d" % write_end):
            with open("/proc/%d/fdinfo/%s" % (h.relay.pid, fd)) as info:
                relay_flags.append(int(info.read().split("flags:")[1].split()[0], 8))
    assert relay_flags and all(flags & os.O_NONBLOCK for flags in relay_flags)
    program.kill()
    assert h.wait_relay() == 0
    os.close(write_end)


# --- fairness and back-pressure ----------------------------------------------------------------


def test_a_quiet_programs_line_goes_out_while_another_floods(harness, tmp_path):
    go = tmp_path / "go"
    os.mkfifo(go)
    h = harness(["flood", "quiet"])
    h.out.keep = False
    h.out.needle = b"quiet | ping\n"
    flood = h.spawn("flood", ["yes", "flooding the relay with a line that never ends"])
    h.spawn("quiet", WRITER + ["wait", str(go), ",", "raw", b"ping\n".hex(), ",", "idle"])
    wait_until(lambda: h.out.count > 4 * relay.READ_SIZE, message="the flood to flow")
    with open(go, "wb"):
        pass  # the quiet program writes its line now, in the middle of the flood
    assert h.out.found.wait(60), "the quiet line never came out"
    assert flood.poll() is None  # the flood was still going


def test_a_stdout_nobody_reads_holds_up_stdout_only(harness, tmp_path):
    """Everything written to stdout waits for its reader, as with any pipe; stderr goes on."""
    stuck_r, stuck_w = os.pipe()  # pyinit's stdout, never read
    go = tmp_path / "go"
    os.mkfifo(go)
    h = harness(["noisy", "other"], out_fd=stuck_w)
    os.close(stuck_w)
    noisy = h.spawn("noisy", ["yes", "x" * 100])
    other = h.spawn(
        "other", WRITER + ["fd", "2", ",", "wait", str(go), ",", "raw", b"still here\n".hex(), ",", "idle"]
    )
    # The sink pipe fills, then the relay's own buffer, then the program's pipe: it waits in write.
    wait_until(lambda: unread(stuck_r) > 32768, message="pyinit's stdout to fill")
    wait_until(
        lambda: (
            psutil.Process(noisy.pid).status() == psutil.STATUS_SLEEPING and "pipe_write" in wchan(noisy.pid)
        ),
        message="the noisy program to block in write",
    )
    with open(go, "wb"):
        pass
    wait_until(lambda: b"other | still here\n" in h.err.data, message="stderr to go on")
    os.close(stuck_r)  # the reader goes away: EPIPE, and the relay drains and drops from now on
    noisy.kill()
    other.kill()
    assert h.finish() == 0


def test_a_stdout_whose_reader_is_gone_never_blocks_the_programs(harness):
    gone_r, gone_w = os.pipe()
    h = harness(["a", "b"], out_fd=gone_w)
    os.close(gone_w)
    os.close(gone_r)  # EPIPE from the first write on (SIGPIPE: ignored in the test, blocked in pyinit)
    # 16 MiB each: far more than every buffer on the way.
    a = h.spawn(
        "a", WRITER + ["lines", "a", "16384", "1023", "1", ",", "fd", "2", ",", "raw", b"a done\n".hex()]
    )
    b = h.spawn("b", WRITER + ["lines", "b", "160", "102399", "1"])
    assert a.wait(60) == 0 and b.wait(60) == 0
    assert h.finish() == 0
    assert h.err.lines() == [b"a | a done"]


F_GETPIPE_SZ, F_SETPIPE_SZ = 1032, 1031


@pytest.mark.parametrize("given", [1 << 16, 1 << 20])
def test_an_output_pipe_is_widened_never_narrowed(harness, given):
    """Long lines go out in few writes: the pipe to the log reader gets room for 256 KiB, unless
    its owner made it larger already."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, given)
    h = harness(["a"], out_fd=write_end)
    os.close(write_end)
    h.sh("a", "echo ready")
    received = bytearray()
    wait_until(lambda: received.extend(os.read(read_end, 1 << 16)) or received.endswith(b"\n"))
    assert bytes(received) == b"a | ready\n"
    assert fcntl.fcntl(read_end, F_GETPIPE_SZ) == max(given, relay.SINK_PIPE_SIZE)
    assert h.finish() == 0
    os.close(read_end)


def test_the_relay_yields_to_the_programs_and_pyinit_keeps_its_policy(harness):
    """SCHED_BATCH for the relay only: a flood wakes it less often; pyinit is never slowed."""
    h = harness(["a"])
    h.sh("a", "echo up")
    wait_until(lambda: b"a | up\n" in h.out.data, message="the first line")
    assert os.sched_getscheduler(h.relay.pid) == os.SCHED_BATCH
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
    assert h.finish() == 0


def test_a_stdout_closed_from_the_start_is_dropped_not_fatal(harness):
    h = harness(["a"], out_fd=99)  # not open
    h.sh("a", "echo to nowhere; echo to stderr >&2")
    assert h.finish() == 0
    assert h.err.lines() == [b"a | to stderr"]


# --- idle, and the end -------------------------------------------------------------------------


def context_switches(pid: int) -> int:
    with open("/proc/%d/status" % pid) as status:
        fields = dict(line.split(":", 1) for line in status)
    return int(fields["voluntary_ctxt_switches"]) + int(fields["nonvoluntary_ctxt_switches"])


def assert_asleep_in_poll(pid: int) -> None:
    """The process sleeps in poll and does not wake up over a while (no timer, no spin)."""
    wait_until(lambda: "poll" in wchan(pid), message="the relay to sleep in poll")
    before = context_switches(pid)
    time.sleep(0.5)  # not a synchronisation: the span over which nothing may happen
    assert context_switches(pid) == before
    assert "poll" in wchan(pid)


def test_an_idle_relay_sleeps_in_poll_and_never_wakes_up(harness):
    h = harness(["a", "b"])
    h.sh("a", "echo up; exec sleep 1000")
    h.sh("b", "exec sleep 1000")
    h.relay.close_write_ends()
    wait_until(lambda: b"a | up\n" in h.out.data, message="the first line")
    assert_asleep_in_poll(h.relay.pid)


def test_after_its_reader_is_gone_the_relay_still_sleeps_when_idle(harness, tmp_path):
    gone_r, gone_w = os.pipe()
    h = harness(["a"], out_fd=gone_w)
    os.close(gone_w)
    os.close(gone_r)
    h.spawn(
        "a", WRITER + ["lines", "a", "1000", "100", "1", ",", "touch", str(tmp_path / "written"), ",", "idle"]
    )
    h.relay.close_write_ends()
    wait_until((tmp_path / "written").exists, message="the program to write everything")
    assert_asleep_in_poll(h.relay.pid)


def test_the_relay_exits_once_every_pipe_is_at_eof(harness):
    h = harness(["a", "b"])
    h.sh("a", "echo a")
    h.sh("b", "echo b >&2")
    h.relay.close_write_ends()
    for proc in h.programs:
        proc.wait(60)
    assert h.wait_relay() == 0  # without finish(): EOF everywhere is enough
    assert h.out.lines() == [b"a | a"] and h.err.lines() == [b"b | b"]


def test_the_relay_waits_for_eof_while_a_leftover_holds_a_pipe(harness, tmp_path):
    h = harness(["a"])
    h.sh("a", "echo before; sleep 1000 & echo after")
    h.relay.close_write_ends()
    h.programs[0].wait(60)
    wait_until(lambda: b"a | after\n" in h.out.data, message="the lines")
    assert_asleep_in_poll(h.relay.pid)  # the leftover `sleep` still holds the pipe


def test_finish_makes_the_relay_drain_and_exit_though_a_leftover_holds_a_pipe(harness, tmp_path):
    h = harness(["a", "b"])
    marker = tmp_path / "written"
    h.spawn("a", WRITER + ["raw", b"whole\npartial".hex(), ",", "touch", str(marker), ",", "idle"])
    h.sh("b", "echo b; exec sleep 1000")
    h.relay.close_write_ends()
    wait_until(marker.exists, message="the program to write")
    wait_until(lambda: b"b | b\n" in h.out.data, message="b's line")
    h.relay.finish()
    assert h.wait_relay() == 0
    lines = h.out.lines()  # EOF: the relay is gone, though `a` and `sleep` still hold pipes
    assert sorted(lines) == [b"a | partial", b"a | whole", b"b | b"]


def test_the_relay_finishes_when_pyinit_dies(tmp_path):
    """The lifeline's EOF comes from the kernel when its holder dies, even by SIGKILL."""
    host_code = (
        "import os, sys, time\n"
        "sys.path.insert(0, %r)\n"
        "from pyinit import relay\n"
        "r = relay.start(['a'], 1, 2)\n"
        "import subprocess\n"
        "p = subprocess.Popen(['sleep', '1000'], stdout=r.fds('a')[0], close_fds=False)\n"
        "r.close_write_ends()\n"
        "print(r.pid, p.pid, flush=True)\n"
        "time.sleep(1000)\n" % str(ROOT)
    )
    host = subprocess.Popen([sys.executable, "-c", host_code], stdout=subprocess.PIPE)
    try:
        relay_pid, sleeper = map(int, host.stdout.readline().split())
        host.kill()
        host.wait()
        # Re-parented (to a subreaper or init): gone or a zombie soon, while `sleep` holds its pipe.
        wait_until(
            lambda: (
                not psutil.pid_exists(relay_pid) or psutil.Process(relay_pid).status() == psutil.STATUS_ZOMBIE
            ),
            message="the orphaned relay to exit",
        )
        assert psutil.Process(sleeper).is_running()
    finally:
        host.stdout.close()
        os.kill(sleeper, signal.SIGKILL)


def test_finish_gives_up_on_a_stream_nobody_reads(harness):
    stuck_r, stuck_w = os.pipe()
    h = harness(["a"], out_fd=stuck_w, finish_timeout=0.2)
    os.close(stuck_w)
    h.spawn("a", WRITER + ["lines", "a", "20000", "100", "1"])
    wait_until(lambda: unread(stuck_r) > 32768, message="pyinit's stdout to fill")
    h.relay.finish()
    assert h.wait_relay() == 0
    h.programs[0].kill()
    os.close(stuck_r)


def test_wait_closes_everything_and_reaps_the_relay():
    read_end, write_end = os.pipe()
    r = relay.start(["a"], write_end, write_end)
    os.close(write_end)
    assert r.wait(60) == 0
    assert os.read(read_end, 10) == b""
    os.close(read_end)


# --- the relay process itself -------------------------------------------------------------------


def test_the_relay_blocks_every_signal_and_is_named_pyinit_relay(harness):
    h = harness(["a"])
    pid = h.relay.pid
    wait_until(lambda: "poll" in wchan(pid), message="the relay to be set up")
    with open("/proc/%d/status" % pid) as status:
        fields = dict(line.rstrip("\n").split(":\t", 1) for line in status)
    blocked = int(fields["SigBlk"], 16)
    for signo in signal.valid_signals():
        if signo not in (signal.SIGKILL, signal.SIGSTOP) and signo not in (32, 33):
            assert blocked & (1 << (signo - 1)), signal.Signals(signo).name if signo < 32 else signo
    assert fields["Name"] == "pyinit-relay"
    for signo in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        os.kill(pid, signo)
    h.sh("a", "echo alive")
    assert h.finish() == 0
    assert h.out.lines() == [b"a | alive"]


def test_the_relay_holds_only_its_pipes_and_streams(harness, tmp_path):
    unrelated = os.open(str(tmp_path / "unrelated"), os.O_CREAT | os.O_WRONLY)  # inheritable on purpose
    os.set_inheritable(unrelated, True)
    try:
        h = harness(["a", "b"])
    finally:
        os.close(unrelated)
    wait_until(lambda: "poll" in wchan(h.relay.pid), message="the relay to be set up")
    program_pipes = {os.fstat(fd).st_ino for name in ("a", "b") for fd in h.relay.fds(name)}
    read, written = set(), set()
    for fd in os.listdir("/proc/%d/fd" % h.relay.pid):
        target = os.readlink("/proc/%d/fd/%s" % (h.relay.pid, fd))
        assert target.startswith("pipe:"), target  # not the unrelated file
        with open("/proc/%d/fdinfo/%s" % (h.relay.pid, fd)) as info:
            flags = int(info.read().split("flags:")[1].split()[0], 8)
        inode = int(target[len("pipe:[") : -1])
        (written if flags & os.O_ACCMODE == os.O_WRONLY else read).add(inode)
    assert program_pipes < read and len(read) == len(program_pipes) + 1  # and the lifeline
    assert len(written) == 2 and not written & program_pipes  # pyinit's stdout and stderr
    assert h.finish() == 0


def test_programs_inherit_only_their_own_pipes(harness):
    h = harness(["a", "b"])
    ours = {name: [os.fstat(fd).st_ino for fd in h.relay.fds(name)] for name in ("a", "b")}
    every = {inode for pair in ours.values() for inode in pair}
    lister = (
        "import os\n"
        "for fd in os.listdir('/proc/self/fd'):\n"
        "    try: print(fd, os.readlink('/proc/self/fd/' + fd))\n"
        "    except OSError: pass\n"
    )
    h.spawn("a", [sys.executable, "-I", "-S", "-c", lister])
    h.spawn("b", [sys.executable, "-I", "-S", "-c", lister])
    assert h.finish() == 0
    held: dict[str, dict[int, int]] = {"a": {}, "b": {}}
    for line in h.out.lines():
        name, _, rest = line.decode().partition(" | ")
        fd, target = rest.split(" ", 1)
        if target.startswith("pipe:["):
            held[name][int(fd)] = int(target[len("pipe:[") : -1])
    for name in ("a", "b"):
        relay_pipes = {fd: inode for fd, inode in held[name].items() if inode in every}
        assert relay_pipes == {1: ours[name][0], 2: ours[name][1]}, name


def test_start_refuses_no_names_or_a_name_twice():
    with pytest.raises(ValueError):
        relay.start([])
    with pytest.raises(ValueError):
        relay.start(["a", "a"])
