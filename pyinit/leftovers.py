"""The processes left besides the program: stop each the way it can be stopped, and know which
of them are still worth waiting for.

Once the program has exited (`--leftovers stop`), every other process pyinit owns is dealt with
according to what the kernel says of it (/proc/PID/status, and the answer of the kill itself):

- it already got a stop signal from pyinit (it was in the program's group when a stop signal
  was forwarded there, and does not ignore that signal): not signalled again, but waited for;
- it ignores the signal (SigIgn): it would never act on it, so SIGKILL at once;
- pyinit may not signal it (EPERM: another user's process, say from `docker exec -u 0` in an
  image that runs as `USER app`): nothing pyinit can do, so it is not waited for (as PID 1,
  pyinit's exit makes the kernel kill it);
- gone, or a zombie: nothing to wait for;
- otherwise: the signal (and SIGCONT if it is stopped, or it could not act on it), then waited
  for, up to the end of the grace period.

Processes that appear meanwhile (a handler that forks) are dealt with the same way when the
ones waited for are gone.  When the grace period is over, kill_all() SIGKILLs what is left and
the same bookkeeping says when everything that could die has died.
"""

from __future__ import annotations

import errno
import os

from . import procfs
from .signals import signal  # the C module: see signals.py

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .log import Log

_LISTED = 5  # processes named in one warning line; the rest are counted


class Leftovers:
    def __init__(
        self, log: Log, group_stops: dict[int, tuple[int, float]], exclude: frozenset[int] = frozenset()
    ) -> None:
        """group_stops: program's process group -> (signal, CLOCK_BOOTTIME seconds) of the
        first stop signal pyinit sent that group; exclude: pyinit's own helpers (the relay)."""
        self.log = log
        ticks = os.sysconf("SC_CLK_TCK")
        self.group_stops = {pgid: (signo, int(at * ticks)) for pgid, (signo, at) in group_stops.items()}
        self.exclude = exclude
        self.signo = signal.SIGTERM  # what stop() last sent: newcomers get the same
        self.seen: set[tuple[int, int]] = set()  # every process dealt with, by (pid, start time)
        self.waiting: dict[tuple[int, int], procfs.Proc] = {}  # those worth waiting for

    # --- stopping ----------------------------------------------------------------------------

    def stop(self, signo: int) -> int | None:
        """Stop every owned process not dealt with yet; how many got signo (None: no /proc)."""
        processes = procfs.owned(self.exclude)
        if processes is None:
            return None
        self.signo = signo
        return self._stop([proc for proc in processes if proc.key not in self.seen], signo)

    def _stop(self, processes: list[procfs.Proc], signo: int) -> int:
        sent, ignoring, refused = 0, [], []
        for proc in processes:
            self.seen.add(proc.key)
            status = procfs.status(proc.pid)
            if status is None:
                continue  # gone since the listing
            if self._got_group_stop(proc, status):
                self.waiting[proc.key] = proc
                continue
            if status.ignores(signo):
                failed = procfs.deliver(proc, signal.SIGKILL)
                if failed == 0:
                    ignoring.append(proc)
                    self.waiting[proc.key] = proc  # until it is gone, which is at once
                elif failed == errno.EPERM:
                    refused.append((proc, status.uid))
                continue
            failed = procfs.deliver(proc, signo)
            if failed == errno.EPERM:
                refused.append((proc, status.uid))
                continue
            if failed:
                continue  # gone
            sent += 1
            self.waiting[proc.key] = proc
            if proc.state in ("T", "t"):
                # A stopped process acts on nothing but SIGKILL and SIGCONT until it runs again.
                procfs.deliver(proc, signal.SIGCONT)
        if ignoring:
            self.log.warn(
                "killed-ignoring",
                "sent SIGKILL to %(count)d process(es) that ignore %(signal)s: %(processes)s",
                count=len(ignoring),
                signo=signo,
                processes=_names([(proc, None) for proc in ignoring]),
                pids=[proc.pid for proc in ignoring],
            )
        self._warn_refused(refused)
        return sent

    def _got_group_stop(self, proc: procfs.Proc, status: procfs.Status) -> bool:
        """Whether proc got a stop signal sent to a program's group (one stop, one SIGTERM): it
        is in that group, was started before the signal went out, and does not ignore it."""
        stop = self.group_stops.get(proc.pgid)
        return stop is not None and proc.starttime < stop[1] and not status.ignores(stop[0])

    def kill_all(self, killed_already: frozenset[int] = frozenset()) -> int:
        """The grace period is over: SIGKILL everything owned that can be; how many, not
        counting killed_already (the programs, SIGKILLed with their groups just before)."""
        processes = procfs.owned(self.exclude)
        if processes is None:
            return 0
        killed, refused = 0, []
        for proc in processes:
            if proc.pid in killed_already:
                continue
            failed = procfs.deliver(proc, signal.SIGKILL)
            if failed == errno.EPERM:
                if proc.key not in self.seen or proc.key in self.waiting:
                    status = procfs.status(proc.pid)
                    refused.append((proc, status.uid if status else None))
                self.waiting.pop(proc.key, None)
            elif not failed:
                killed += 1
                self.waiting[proc.key] = proc
            self.seen.add(proc.key)
        self._warn_refused(refused)
        return killed

    def _warn_refused(self, refused: list[tuple[procfs.Proc, int | None]]) -> None:
        """One line for the processes pyinit may not signal, and so does not wait for."""
        if refused:
            self.log.warn(
                "unsignalable",
                "not permitted to signal %(count)d process(es): %(processes)s; not waiting for them",
                count=len(refused),
                processes=_names(refused),
                pids=[proc.pid for proc, _ in refused],
            )

    # --- waiting -----------------------------------------------------------------------------

    def remaining(self) -> bool:
        """Whether anything is still worth waiting for.  Newcomers, once the processes waited
        for are gone, are stopped the same way (and then waited for)."""
        for key, proc in list(self.waiting.items()):
            now = procfs.read(proc.pid)
            if now is None or now.starttime != proc.starttime or now.zombie:
                del self.waiting[key]
        if not self.waiting:
            processes = procfs.owned(self.exclude)
            if processes:
                newcomers = [proc for proc in processes if proc.key not in self.seen]
                if newcomers:
                    self._stop(newcomers, self.signo)
        return bool(self.waiting)


def _names(processes: list[tuple[procfs.Proc, int | None]]) -> str:
    """'12 (daemon), 40 (sleep, uid 0)' -- the first few, then how many more."""
    parts = []
    for proc, uid in processes[:_LISTED]:
        parts.append("%d (%s%s)" % (proc.pid, proc.comm, "" if uid is None else ", uid %d" % uid))
    if len(processes) > _LISTED:
        parts.append("and %d more" % (len(processes) - _LISTED))
    return ", ".join(parts)
