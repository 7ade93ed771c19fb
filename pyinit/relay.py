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
- Lines are never cut and never mixed: the relay is the only writer of the programs' output,
  and it writes whole prefixed lines (a round's lines batched in one write), so no two
  programs' bytes ever meet inside a line.  One thing can: a message pyinit itself writes to
  the same stream, if it comes while the stream is full and the kernel took only part of the
  relay's last write (a pipe takes what fits; see _Sink for how each kind of stream is
  written).  Send pyinit's own messages through the relay too to rule that out.
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
- Lines are batched under a flood, never while things are quiet: when lines are already
  waiting as a round begins, for the second round in a row, and the last round read under
  SMALL_ROUND (16 KiB), the round first waits GATHER (100 us) for more.  Measured (`python
  -m bench.relay`, 15 runs): two programs flooding 60 B lines, 3.78 M lines/s at 0.04 us of
  relay CPU per line (3.13 M at the slowest run), against 3.68 M at 0.08 (2.44 M at the
  slowest) without it and supervisord's 2.85 M at 0.18; a quiet program's line under a flood,
  p99 +100-320 us instead of +944-1134 (the flooder's lines no longer fill the output pipe
  ahead of it), its p50 +100 us.  Gathering from the first waiting round held two programs'
  lines that merely met: lines 1 ms apart, p99 +144 us against +44 now (same run).
- A stdout and a stderr of one program are two pipes: lines keep their order within each
  stream, not across the two.
- A stream that is a pipe (a container engine's log pipe) is widened to SINK_PIPE_SIZE
  (256 KiB; never narrowed, and left as it is where the kernel refuses): written non-blocking,
  a 64 KiB pipe takes a long line a page at a time as its reader frees room, each page one
  more poll and writev.  The cost: up to 256 KiB of kernel memory in that pipe while its
  reader lags, instead of 64 KiB.
- A slow reader of pyinit's stdout slows everything written to stdout, as with any pipe: past
  HIGH_WATER (64 KiB) of unwritten output the relay stops reading the pipes that feed that
  stream, so those programs wait in write(2) -- and the other stream goes on.  A stream whose
  reader is gone (EPIPE; SIGPIPE is blocked) or that is closed is dropped from then on: the
  relay keeps reading and discards, so no program ever blocks on a dead stream.
- Idle costs nothing: the relay sleeps in poll(2) without a timeout until a pipe has data.
- It yields to the programs (SCHED_BATCH: see _yield_to_the_programs): under a flood it
  reads many lines per wake-up instead of a few.
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
HIGH_WATER = 1 << 16  # unwritten bytes for one stream before its pipes stop being read
SINK_PIPE_SIZE = 1 << 18  # what an output pipe is widened to (F_SETPIPE_SZ)
# Under a flood of short lines -- the second round in a row that finds lines already waiting,
# after a round that read less than SMALL_ROUND bytes -- a round first waits GATHER seconds
# for more (see _serve).
GATHER = 0.0001
SMALL_ROUND = 1 << 14
_F_SETPIPE_SZ, _F_GETPIPE_SZ = 1031, 1032  # Linux's; named in fcntl only from Python 3.10
PIPE_BUF = 4096  # the most one write(2) may carry to a pipe and still never block after POLLOUT
IOV_MAX = 1024  # buffers per writev(2) (Linux's UIO_MAXIOV)
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
    """One output stream (pyinit's stdout or stderr): complete lines waiting to be written.

    Three ways to write, by what the stream is:
    - a regular file or /dev/null never makes a writer wait: writev(2) too;
    - a pipe (a container engine's log pipe) is opened again through /proc/self/fd, which gives
      the relay a file description of its own, made non-blocking: one writev(2) of the queued
      pieces (no copy) takes what fits, up to the whole pipe, and never waits.  (O_NONBLOCK on
      the inherited description would reach pyinit and every other holder of it: never that.);
    - anything else (a terminal, a socket, a pipe that cannot be opened again): writes of at
      most PIPE_BUF bytes, each after poll says there is room.
    """

    __slots__ = (
        "blocked",
        "buf",
        "chunked",
        "dead",
        "fd",
        "paused",
        "pos",
        "probe",
        "queue",
        "size",
        "sources",
    )

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.queue: list[bytes | memoryview] = []  # joined into one buffer at the next flush
        self.sources: list[int] = []  # the pipes whose lines come here, while open
        self.paused = False  # those pipes are not being read (back-pressure)
        self.buf = b""  # being written, from pos
        self.pos = 0
        self.size = 0  # bytes not yet written
        self.dead = False
        self.blocked = False  # waiting for POLLOUT
        self.chunked = False
        try:
            info = os.fstat(fd)
        except OSError:
            self.dead = True
        else:
            if stat.S_ISFIFO(info.st_mode):
                _widen_pipe(fd)
                self.fd = _reopen_nonblocking(fd, info)
                self.chunked = self.fd == fd
            elif not stat.S_ISREG(info.st_mode):
                self.chunked = not stat.S_ISCHR(info.st_mode) or os.isatty(fd)
        self.probe = select.poll()
        self.probe.register(self.fd, select.POLLOUT)

    def drop(self) -> None:
        self.dead = True
        self.queue = []
        self.buf = b""
        self.pos = self.size = 0

    def flush(self) -> None:
        """Write what the stream takes now without waiting; `blocked` if it took less."""
        self.blocked = False
        if self.size and not self.dead:
            if self.chunked:
                self._write_chunks()
            else:
                self._write_vector()

    def _write_vector(self) -> None:
        """writev(2) the queued pieces as they are (no copy); a partial write leaves the rest."""
        queue = self.queue
        while queue:
            pieces = queue[:IOV_MAX] if len(queue) > IOV_MAX else queue
            count = len(pieces)
            try:
                written = os.writev(self.fd, pieces)
            except OSError as exc:
                if exc.errno in _RETRY:
                    self.blocked = True
                elif exc.errno in _DEAD:
                    self.drop()
                else:  # ENOSPC, EDQUOT, EFBIG...: these lines are lost; later ones may fit.
                    self.size -= sum(len(piece) for piece in pieces)
                    del queue[:count]
                    continue
                return
            self.size -= written
            done = 0
            while done < count and written >= len(pieces[done]):
                written -= len(pieces[done])
                done += 1
            if done < count:  # the pipe is full: the rest waits for POLLOUT (rather than EAGAIN)
                queue[done] = memoryview(queue[done])[written:]
                del queue[:done]
                self.blocked = True
                return
            del queue[:count]

    def _write_chunks(self) -> None:
        """At most PIPE_BUF bytes at a time, ending at a newline when possible, after POLLOUT."""
        while self.size:
            if self.pos >= len(self.buf):
                self.buf = b"".join(self.queue)
                self.queue = []
                self.pos = 0
            if not self.probe.poll(0):
                self.blocked = True
                return
            end = len(self.buf)
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
                written = end - self.pos  # lost, as above
            self.pos += written
            self.size -= written


def _widen_pipe(fd: int) -> None:
    """Give the pipe at fd room for SINK_PIPE_SIZE bytes, unless it has that much already.

    Measured (`python -m bench.relay`): two programs flooding 64 KiB lines went from 0.8x to
    1.4x supervisord's rate, at 0.75x the relay's CPU per line; short lines unchanged.  A
    refusal (EPERM past the user's pipe quota, no fcntl) leaves the pipe as it was.
    """
    try:
        import fcntl  # the relay's only: not on pyinit's start-up path

        if fcntl.fcntl(fd, _F_GETPIPE_SZ) < SINK_PIPE_SIZE:
            fcntl.fcntl(fd, _F_SETPIPE_SZ, SINK_PIPE_SIZE)
    except (ImportError, OSError):
        pass


def _reopen_nonblocking(fd: int, info: os.stat_result) -> int:
    """A non-blocking description of our own on the pipe at fd (closing fd); fd if not possible."""
    try:
        new = os.open("/proc/self/fd/%d" % fd, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return fd  # no /proc, or the pipe belongs to another user, or no reader (ENXIO)
    same = os.fstat(new)
    if (same.st_dev, same.st_ino) != (info.st_dev, info.st_ino):
        os.close(new)
        return fd
    return new


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
        """Queue the complete lines of data, prefixed; hold the unfinished one."""
        sink = self.sink
        if sink.dead:
            return  # drain and drop
        end = data.rfind(b"\n") + 1
        if not end:
            self.parts.append(data)
            self.held += len(data)
            if self.held > LINE_MAX:  # bounded: out it goes as a line of its own
                self.end_line()
            return
        queue = sink.queue
        queue.append(self.prefix)
        size = len(self.prefix) + self.held
        if self.parts:
            queue.extend(self.parts)
            self.parts = []
            self.held = 0
        tail = len(data) - end
        if data.find(b"\n") == end - 1:  # one line (a long one, often): no copy at all
            queue.append(memoryview(data)[:end] if tail else data)
            sink.size += size + end
        else:
            # One bytes operation prefixes every line of the chunk (no per-line Python code);
            # the prefix it puts after the last newline, and the unfinished line, are left out.
            body = data.replace(b"\n", self.split)
            cut = len(body) - tail - len(self.prefix)
            queue.append(memoryview(body)[:cut])
            sink.size += size + cut
        if tail:
            self.parts.append(data[end:])
            self.held = tail
            if tail > LINE_MAX:
                self.end_line()

    def end_line(self) -> None:
        """Emit the unfinished line, with a newline added (EOF, finish, or LINE_MAX)."""
        if self.parts:
            sink = self.sink
            if not sink.dead:
                sink.queue.append(self.prefix)
                sink.queue.extend(self.parts)
                sink.queue.append(b"\n")
                sink.size += len(self.prefix) + self.held + 1
            self.parts = []
            self.held = 0


def _serve(sources_spec: list[tuple[int, int, bytes]], lifeline: int, finish_timeout: float) -> None:
    """The relay's loop.  Returns when done; raises only on a bug or MemoryError."""
    # Every signal blocked: pyinit's mask is inherited already; this makes it so whoever forks us.
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    # Copy-on-write: a collection would touch every object inherited from pyinit and copy the
    # pages; the relay's own objects have no cycles that matter.
    gc.disable()
    _yield_to_the_programs()
    try:
        with open("/proc/self/comm", "wb") as comm:  # `ps` and `top` show what this process is
            comm.write(b"pyinit-relay")
    except OSError:
        pass
    given: dict[object, _Sink] = {}  # by what the descriptor the caller gave leads to
    sources: dict[int, _Source] = {}
    for fd, sink_fd, prefix in sources_spec:
        key = _stream_identity(sink_fd)
        sink = given.get(key)
        if sink is None:
            sink = given[key] = _Sink(sink_fd)
        sources[fd] = _Source(fd, sink, prefix)
        sink.sources.append(fd)
    sinks = {sink.fd: sink for sink in given.values()}  # by the descriptor written to
    _close_others(set(sources) | set(sinks) | {lifeline})
    for fd in list(sources) + [lifeline]:
        os.set_blocking(fd, False)  # our own read ends: no one else shares these descriptions

    poller = select.poll()
    poller.register(lifeline, _IN)
    for fd in sources:
        poller.register(fd, _IN)
    read, poll, sleep = os.read, poller.poll, time.sleep
    finishing = False
    taken = 0  # bytes the last round read
    waited = False  # the last round, too, found lines waiting
    while sources or any(sink.size for sink in sinks.values()):
        # A round costs the same system calls whether it takes one line or a pipeful: when a
        # flood of short lines keeps lines waiting round after round, let them gather first.
        # Once is not a flood (two programs' lines that happen to meet): those go out at once,
        # and so does a lone line -- idle, the relay blocks in poll.
        events = poll(0)
        if not events:
            waited = False
            events = poll()
        elif waited and 0 < taken < SMALL_ROUND:
            sleep(GATHER)
            events = poll(0)
        else:
            waited = True
        taken = 0
        for fd, event in events:
            source = sources.get(fd)
            if source is not None:  # one read per ready pipe per round: fair
                try:
                    data = read(fd, READ_SIZE)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    taken += len(data)
                    source.feed(data)
                    continue
                source.end_line()  # EOF
                del sources[fd]
                poller.unregister(fd)
                source.sink.sources.remove(fd)
                os.close(fd)
            elif fd == lifeline:
                finishing = _lifeline_closed(fd)
                if finishing:
                    break
            elif fd in sinks and event & (select.POLLERR | select.POLLNVAL) and not sinks[fd].size:
                sinks[fd].drop()
        if finishing:
            break
        for sink in sinks.values():
            was_blocked = sink.blocked
            if sink.size:
                sink.flush()
            else:
                sink.blocked = False
            if sink.blocked != was_blocked:
                if sink.blocked:
                    poller.register(sink.fd, _OUT)
                else:
                    poller.unregister(sink.fd)
            # Back-pressure: the pipes feeding a stream with too much unwritten output are not
            # read (their programs wait in write) until the stream takes it.
            if sink.paused != (sink.size >= HIGH_WATER):
                sink.paused = not sink.paused
                for fd in sink.sources:
                    if sink.paused:
                        poller.unregister(fd)
                    else:
                        poller.register(fd, _IN)
    if finishing:
        _finish(list(sources.values()), list(sinks.values()), finish_timeout)


def _yield_to_the_programs() -> None:
    """Run as SCHED_BATCH: woken by a program's write, the relay does not preempt it.

    Under the default policy every line a flooding program writes can wake the relay at once
    on a busy CPU: it reads a few lines, writes them, sleeps, is woken again -- three system
    calls and two context switches for a handful of lines.  A batch task waits for the
    running one to block or for the next tick, and then finds many lines waiting.  Measured
    (`python -m bench.relay`, two programs flooding 60 B lines): the relay's CPU per line fell
    from 0.16-0.21 to 0.06 us and the rate rose 1.25-1.35x; 64 KiB lines and the latency of a
    line on an idle CPU are unchanged (a wake-up on an idle CPU is not a preemption).  The
    cost: on a CPU the programs keep busy, a line may wait until the running task's turn ends
    (a scheduler tick, a few ms at most).  Allowed without privileges (pyinit's own policy is
    untouched); where a seccomp filter refuses, nothing changes.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):
        pass


def _stream_identity(fd: int) -> object:
    """What decides whether two descriptors are one stream.

    pyinit started with `2>&1` into a pipe or a terminal has two descriptors on one stream:
    written separately, a partial write to the full pipe from one could be followed by the
    other's lines in the middle of a line.  So a pipe, socket or terminal is one stream (one
    queue, one writer) however many descriptors lead to it.  A regular file keeps one stream
    per descriptor (each has its own offset, and its writes are never partial).
    """
    try:
        info = os.fstat(fd)
    except OSError:
        return fd
    if stat.S_ISREG(info.st_mode):
        return fd
    return (info.st_dev, info.st_ino)


def _lifeline_closed(fd: int) -> bool:
    try:
        return os.read(fd, 512) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


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
