"""The output relay: every program's lines on pyinit's stdout and stderr, prefixed by its name.

    web    | listening on 8000
    worker | job 42 done

One process, forked from pyinit (no exec: pyinit's own code, single-threaded, copy-on-write),
reads each program's stdout and stderr through its own pipes and writes every complete line to
pyinit's stdout or stderr (the stream the program wrote to), after `NAME | ` with the name padded
to the longest one.  No timestamp and no colour: container log drivers stamp every line
themselves, and colour codes end up in log files.

Why a separate process rather than pyinit's loop: pyinit's loop sleeps in sigwaitinfo (signals
only); a writer that must wait for a slow log reader would hold up signal forwarding and
reaping; and a relay that dies cannot take PID 1 with it.

Guarantees:
- Lines are never cut and never mixed: the relay only ever hands the kernel complete lines of
  one program (several, batched, in one write), so no two programs' bytes meet inside a line.
  Writes to a pipe are at most PIPE_BUF (4096) bytes and end at a newline when they can, so
  even pyinit's own log messages (written by another process to the same stderr) fall between
  lines, except inside a line longer than 4096 bytes.
- Bytes pass unchanged (no decoding): only `\\n` separates lines.
- A last line without a newline (at the program's exit, or when the relay is told to finish)
  is written with a newline added.
- A line is held until its newline, up to LINE_MAX (1 MiB) per pipe: longer than the 64 KiB
  read buffer and the pipe still passes whole.  Beyond LINE_MAX the held bytes go out as a line
  of their own (newline added) and the rest follows as the next line: memory stays bounded
  (LINE_MAX + 64 KiB per pipe) and a program writing megabytes without a newline never holds
  the other programs up.  (Docker's and the CRI's log files split lines at 16 KiB anyway.)
- Fair: one read of at most 64 KiB per ready pipe per round, then the round's lines are written,
  so a quiet program's line goes out within one round while another floods.
- A stdout and a stderr of one program are two pipes: lines keep their order within each
  stream, not across the two.
- A slow reader of pyinit's stdout slows everything written to stdout, as with any pipe: past
  HIGH_WATER (256 KiB) of unwritten output the relay stops reading the pipes that feed that
  stream, so those programs wait in write(2) -- and the other stream goes on.  A stream whose
  reader is gone (EPIPE; SIGPIPE is blocked) or that is closed is dropped from then on: the
  relay keeps reading and discards, so no program ever blocks on a dead stream.
- Idle costs nothing: the relay sleeps in poll(2) without a timeout until a pipe has data.
- It exits when every pipe has reached EOF and its output is written, or when told to finish
  (the lifeline: see Relay.finish).  It blocks every signal: only SIGKILL ends it otherwise.

Interface (parent side): start() forks the relay and returns a Relay handle with the pipe write
ends for each program; see Relay for what the supervisor does with them.
"""

from __future__ import annotations

import errno
import gc
import os
import select
import stat
import time

from .signals import signal  # the C module: see signals.py

READ_SIZE = 1 << 16  # one read per ready pipe per round: a whole default pipe buffer
LINE_MAX = 1 << 20  # bytes of one line held before it is emitted in pieces
HIGH_WATER = 1 << 18  # unwritten bytes for one stream before its pipes stop being read
PIPE_BUF = 4096  # the most one write(2) may carry to a pipe and still never block after POLLOUT
SEPARATOR = " | "
EXIT_FAILED = 70  # the relay's exit status when it fails inside (EX_SOFTWARE)

_IN = select.POLLIN | select.POLLHUP | select.POLLERR | select.POLLNVAL
_OUT = select.POLLOUT | select.POLLERR | select.POLLHUP | select.POLLNVAL
# A stream that fails with one of these will fail the same way forever: drop it.
_DEAD = frozenset({errno.EPIPE, errno.EBADF, errno.EIO, errno.EINVAL, errno.ENXIO})
# Temporary: try again when poll says the stream is writable.
_RETRY = frozenset({errno.EAGAIN, errno.EINTR})


class Relay:
    """Parent-side handle on the relay process.

    What the supervisor does, in order:
    1. `relay = start(names)` before forking any program (the pipes must exist first).
    2. For each program, in its child between fork and exec: `out_w, err_w = relay.fds(name)`,
       `os.dup2(out_w, 1)`, `os.dup2(err_w, 2)`.  The originals are close-on-exec, so no
       program keeps another one's pipe (dup2's copies are inheritable, as fd 1 and 2 must be).
    3. Once every program is started (or failed to start): `relay.close_write_ends()`, so that
       each pipe reaches EOF when its program -- and whatever it left behind -- closes it.
    4. When pyinit is about to exit: `relay.finish()`, then wait for `relay.pid` (it is pyinit's
       child: the reaper must recognise it, never count it as a program, never stop it as a
       leftover).  It exits by itself once every pipe is at EOF; after finish() it reads what
       is readable now, writes it (giving up on a stream that accepts nothing for
       `finish_timeout` seconds), and exits 0 (EXIT_FAILED if it broke).
    `wait()` does step 4 for callers without a reaper of their own (tests, the benchmark).
    """

    __slots__ = ("_fds", "_lifeline", "names", "pid")

    def __init__(self, pid: int, fds: dict[str, tuple[int, int]], lifeline: int) -> None:
        self.pid = pid
        self.names = tuple(fds)
        self._fds = fds
        self._lifeline = lifeline

    def fds(self, name: str) -> tuple[int, int]:
        """(stdout, stderr) write ends for program `name`; close-on-exec in pyinit."""
        return self._fds[name]

    def close_write_ends(self, name: str | None = None) -> None:
        """Drop pyinit's copies of the write ends (of one program, or of all): EOF can happen."""
        for key in (name,) if name is not None else tuple(self._fds):
            pair = self._fds.get(key)
            if pair is None or pair == (-1, -1):
                continue
            for fd in pair:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._fds[key] = (-1, -1)

    def finish(self) -> None:
        """Tell the relay pyinit is finishing: close the lifeline (idempotent).

        Its EOF also comes by itself if pyinit dies: the relay never outlives pyinit by more
        than a drain and `finish_timeout`.
        """
        if self._lifeline >= 0:
            try:
                os.close(self._lifeline)
            except OSError:
                pass
            self._lifeline = -1

    def wait(self, timeout: float | None = None) -> int | None:
        """close_write_ends(), finish(), reap the relay; its exit status, or None after timeout.

        For callers that own no reaper.  Past timeout the relay is SIGKILLed and reaped.
        """
        self.close_write_ends()
        self.finish()
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.001
        while True:
            pid, status = os.waitpid(self.pid, 0 if deadline is None else os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            if deadline is not None and time.monotonic() >= deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                return None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def start(
    names: list[str] | tuple[str, ...],
    stdout_fd: int = 1,
    stderr_fd: int = 2,
    *,
    finish_timeout: float = 2.0,
) -> Relay:
    """Create a stdout and a stderr pipe per program, fork the relay, return the parent's handle.

    Call it with pyinit's signals already blocked (the relay blocks them all anyway).  Raises
    OSError if a pipe or the fork fails (nothing is left open then), ValueError for no names or
    a name given twice.
    """
    if not names or len(set(names)) != len(names):
        raise ValueError("relay: names must be given, each once")
    width = max(len(name) for name in names)
    made: list[int] = []
    try:
        pipes = []
        for _ in names:
            out_r, out_w = os.pipe()  # close-on-exec, both ends
            made += (out_r, out_w)
            err_r, err_w = os.pipe()
            made += (err_r, err_w)
            pipes.append((out_r, out_w, err_r, err_w))
        life_r, life_w = os.pipe()
        made += (life_r, life_w)
        pid = os.fork()
    except OSError:
        for fd in made:
            os.close(fd)
        raise
    if pid == 0:  # the relay: never return into pyinit's code
        code = EXIT_FAILED
        try:
            sources = []
            for name, (out_r, out_w, err_r, err_w) in zip(names, pipes):
                os.close(out_w)  # only the programs may hold write ends, or EOF never comes
                os.close(err_w)
                prefix = (name.ljust(width) + SEPARATOR).encode("utf-8", "surrogateescape")
                sources.append((out_r, stdout_fd, prefix))
                sources.append((err_r, stderr_fd, prefix))
            os.close(life_w)
            _serve(sources, life_r, finish_timeout)
            code = 0
        except BaseException as exc:
            try:
                message = "[pyinit] output relay failed: %s: %s\n" % (type(exc).__name__, exc)
                os.write(stderr_fd, message.encode("utf-8", "replace"))
            except BaseException:
                pass
        finally:
            os._exit(code)
    for out_r, _, err_r, _ in pipes:
        os.close(out_r)
        os.close(err_r)
    os.close(life_r)
    return Relay(pid, {name: (p[1], p[3]) for name, p in zip(names, pipes)}, life_w)


class _Sink:
    """One output stream (pyinit's stdout or stderr): complete lines waiting to be written."""

    __slots__ = ("blocked", "buf", "chunked", "dead", "fd", "pos", "probe", "queue", "size")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.queue: list[bytes] = []
        self.buf = b""  # being written, from pos
        self.pos = 0
        self.size = 0  # bytes not yet written
        self.dead = False
        self.blocked = False  # waiting for POLLOUT
        try:
            mode = os.fstat(fd).st_mode
            # Regular files and /dev/null never make a writer wait; a pipe, a socket or a
            # terminal can, so those get small writes, each after poll says there is room.
            self.chunked = not (stat.S_ISREG(mode) or (stat.S_ISCHR(mode) and not os.isatty(fd)))
        except OSError:
            self.dead = True
            self.chunked = False
        self.probe = select.poll()
        self.probe.register(fd, select.POLLOUT)

    def add(self, data: bytes) -> None:
        if not self.dead:
            self.queue.append(data)
            self.size += len(data)

    def drop(self) -> None:
        self.dead = True
        self.queue = []
        self.buf = b""
        self.pos = self.size = 0

    def flush(self) -> None:
        """Write what the stream takes now without waiting; `blocked` if it took less."""
        self.blocked = False
        while self.size and not self.dead:
            if self.pos >= len(self.buf):
                self.buf = self.queue[0] if len(self.queue) == 1 else b"".join(self.queue)
                self.queue = []
                self.pos = 0
            end = len(self.buf)
            if self.chunked:
                if not self.probe.poll(0):
                    self.blocked = True
                    return
                if end - self.pos > PIPE_BUF:
                    end = self.pos + PIPE_BUF
                    newline = self.buf.rfind(b"\n", self.pos, end)
                    if newline >= 0:
                        end = newline + 1
            try:
                written = os.write(self.fd, memoryview(self.buf)[self.pos : end])
            except OSError as exc:
                if exc.errno in _RETRY:
                    self.blocked = True
                    return
                if exc.errno in _DEAD:
                    self.drop()
                    return
                # ENOSPC, EDQUOT, EFBIG...: these lines are lost; later ones may fit.
                written = end - self.pos
            self.pos += written
            self.size -= written


class _Source:
    """One program pipe: the bytes of its unfinished line, and where its lines go."""

    __slots__ = ("eof", "fd", "held", "parts", "prefix", "sink", "split")

    def __init__(self, fd: int, sink: _Sink, prefix: bytes) -> None:
        self.fd = fd
        self.sink = sink
        self.prefix = prefix
        self.split = b"\n" + prefix
        self.parts: list[bytes] = []  # the unfinished line
        self.held = 0
        self.eof = False

    def feed(self, data: bytes) -> None:
        sink = self.sink
        if sink.dead:
            return  # drain and drop
        end = data.rfind(b"\n")
        if end < 0:
            self.parts.append(data)
            self.held += len(data)
            if self.held > LINE_MAX:  # bounded: out it goes as a line of its own
                self.end_line()
            return
        if self.parts:
            self.parts.append(data[: end + 1])
            lines = b"".join(self.parts)
            self.parts = []
            self.held = 0
        else:
            lines = data[: end + 1] if end + 1 < len(data) else data
        # One bytes operation prefixes every line of the chunk: no per-line Python loop.
        sink.add(self.prefix + lines[:-1].replace(b"\n", self.split) + b"\n")
        if end + 1 < len(data):
            rest = data[end + 1 :]
            self.parts.append(rest)
            self.held = len(rest)
            if self.held > LINE_MAX:
                self.end_line()

    def end_line(self) -> None:
        """Emit the unfinished line, with a newline added (EOF, finish, or LINE_MAX)."""
        if self.parts:
            line = b"".join(self.parts)
            self.parts = []
            self.held = 0
            self.sink.add(self.prefix + line + b"\n")


def _serve(sources_spec: list[tuple[int, int, bytes]], lifeline: int, finish_timeout: float) -> None:
    """The relay's loop.  Returns when done; raises only on a bug or MemoryError."""
    # Every signal blocked: pyinit's mask is inherited already; this makes it so whoever forks us.
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    # Copy-on-write: a collection would touch every object inherited from pyinit and copy the
    # pages; the relay's own objects have no cycles that matter.
    gc.disable()
    try:
        with open("/proc/self/comm", "wb") as comm:  # `ps` and `top` show what this process is
            comm.write(b"pyinit-relay")
    except OSError:
        pass
    sinks: dict[int, _Sink] = {}
    sources: dict[int, _Source] = {}
    for fd, sink_fd, prefix in sources_spec:
        sink = sinks.get(sink_fd)
        if sink is None:
            sink = sinks[sink_fd] = _Sink(sink_fd)
        sources[fd] = _Source(fd, sink, prefix)
    _close_others(set(sources) | set(sinks) | {lifeline})
    for fd in list(sources) + [lifeline]:
        os.set_blocking(fd, False)  # our own read ends: no one else shares these descriptions

    poller = select.poll()
    reading: set[int] = set()  # sources registered with poller
    writing: set[int] = set()  # sinks registered with poller (waiting for room)
    poller.register(lifeline, _IN)
    for fd in sources:
        poller.register(fd, _IN)
        reading.add(fd)

    finishing = False
    while sources or any(sink.size for sink in sinks.values()):
        for fd, event in poller.poll():
            if fd == lifeline:
                finishing = _lifeline_closed(fd)
                if finishing:
                    break
                continue
            source = sources.get(fd)
            if source is not None:
                _read_once(source)
                if source.eof:
                    del sources[fd]
                    poller.unregister(fd)
                    reading.discard(fd)
            elif fd in sinks and event & (select.POLLERR | select.POLLNVAL) and not sinks[fd].size:
                sinks[fd].drop()
        if finishing:
            break
        for sink in sinks.values():
            if sink.size:
                sink.flush()
            if sink.blocked != (sink.fd in writing):
                if sink.blocked:
                    poller.register(sink.fd, _OUT)
                    writing.add(sink.fd)
                else:
                    poller.unregister(sink.fd)
                    writing.discard(sink.fd)
        # Back-pressure: pipes feeding a stream with too much unwritten output wait in the
        # kernel (their programs block in write) until the stream takes it.
        for fd, source in sources.items():
            wanted = source.sink.size < HIGH_WATER
            if wanted != (fd in reading):
                if wanted:
                    poller.register(fd, _IN)
                    reading.add(fd)
                else:
                    poller.unregister(fd)
                    reading.discard(fd)
    if finishing:
        _finish(list(sources.values()), list(sinks.values()), finish_timeout)


def _lifeline_closed(fd: int) -> bool:
    try:
        return os.read(fd, 512) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _read_once(source: _Source) -> None:
    try:
        data = os.read(source.fd, READ_SIZE)
    except BlockingIOError:
        return
    except OSError:
        data = b""
    if data:
        source.feed(data)
    else:
        source.eof = True
        source.end_line()
        os.close(source.fd)


def _finish(sources: list[_Source], sinks: list[_Sink], timeout: float) -> None:
    """pyinit is finishing: take what the pipes hold now, write it, give up on a stuck stream."""
    for source in sources:
        taken = 0
        # Bounded: a writer still going (a leftover daemon) must not keep the relay reading.
        while not source.eof and taken < 4 * READ_SIZE:
            try:
                data = os.read(source.fd, READ_SIZE)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                source.eof = True
                break
            taken += len(data)
            source.feed(data)
        source.end_line()
    # Every stream gets `timeout` seconds without progress before it is given up, all at once.
    now = time.monotonic()
    deadlines = {sink.fd: now + timeout for sink in sinks}
    pending = [sink for sink in sinks if sink.size]
    while pending:
        for sink in pending:
            before = sink.size
            sink.flush()
            if sink.size < before:
                deadlines[sink.fd] = time.monotonic() + timeout  # progress: the reader is alive
        now = time.monotonic()
        pending = [sink for sink in pending if sink.size and sink.blocked and now < deadlines[sink.fd]]
        if pending:
            waiter = select.poll()
            for sink in pending:
                waiter.register(sink.fd, _OUT)
            wait = min(deadlines[sink.fd] for sink in pending) - now
            waiter.poll(max(1, int(wait * 1000 + 1)))


def _close_others(keep: set[int]) -> None:
    """Close every descriptor inherited from pyinit that the relay does not use.

    The relay must hold no write end of a program pipe (EOF would never come), and nothing it
    holds should outlive pyinit's own copy (a listening socket, a log file).
    """
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
