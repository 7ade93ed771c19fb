"""The loop: wait for a signal; forward it, or reap; stop the rest when it is time; exit.

Every signal pyinit handles is blocked (main.py did it before the fork) and collected here with
sigwaitinfo, so no Python signal handler ever runs and an idle pyinit makes no system call at
all.  A deadline (grace period, delayed signal, batched reaping) is the only reason to wait
with a timeout.  Shaped like tini's: one function forwards (`_forward`), one reaps (`_reap`).
"""

from __future__ import annotations

import os
import time

from .log import DEBUG, INFO, WARN
from .signals import HANDLED, TTY_STOPS, signal  # signal: the C module (see signals.py)
from .signals import name as signame

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .config import Config
    from .leftovers import Leftovers
    from .log import Log
    from .spawn import Child

_WAIT_FLAGS = os.WNOHANG | os.WUNTRACED | os.WCONTINUED
_SI_USER = 0  # siginfo.si_code of a signal sent with kill(2) (or raised by the kernel for a write)
# After this many consecutive internal errors the loop gives up on finesse and only reaps.
_MAX_CONSECUTIVE_ERRORS = 50
# After SIGKILL, how long to wait for everything to be reaped before exiting anyway: a process
# stuck in uninterruptible sleep (D) cannot die yet, and must not keep the container up forever.
_LAST_CALL = 2.0
# While leftovers are waited for, how often to look whether they are gone: those that are not
# pyinit's children (a daemon's own children, `docker exec` processes) send it no SIGCHLD.
_RECHECK = 0.05
# After a wake-up that reaped orphans, SIGCHLD stays pending this long (other signals do not).
# When thousands of orphans exit at once, an init woken for each exit preempts the herd every
# time -- a cold Python wake-up costs ~100 us -- and the herd then takes seconds to die; waking
# at most every half millisecond reaps them in batches of a few dozen.  The program's exit is
# reaped at most this much later, and only right after an orphan's.
_ORPHAN_BATCH = 0.0005


def exit_code(status: int) -> int:
    """The shell's view of a wait status: the exit code, or 128+N when signal N killed it."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _children_remain() -> bool:
    """Whether pyinit has any child left, zombie or not (descendants come back as children)."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WSTOPPED | os.WCONTINUED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


class Supervisor:
    def __init__(self, config: Config, log: Log, child: Child, *, took_terminal: bool) -> None:
        self.config = config
        self.log = log
        self.main_pid = child.pid
        self.pgid = child.pgid
        self.own_pid = os.getpid()
        self.pid1 = self.own_pid == 1
        self.handled = set(HANDLED)
        self.handled_but_sigchld = self.handled - {signal.SIGCHLD}
        # Everything a signal's path needs, worked out once: the config is frozen, so scanning
        # its rules or asking the log for its level per signal would be pure cost -- and an
        # init's forwarding latency and reaping rate are its whole job.
        self.route = {signo: config.rewrite(signo) for signo in HANDLED}  # 0: drop
        self.delays = {signo: seconds for signo, seconds in config.delays if seconds > 0}
        self.stop_signals = config.stop_signals
        self.has_group = config.session != "none"  # the program leads a process group of its own
        group = config.forward_to == "group" and self.has_group
        self.dest = -child.pgid if group else child.pid  # where forwarded signals go
        self.owns_terminal = took_terminal and config.session == "pgroup"
        self.suspend_on_signal = config.suspend == "on-signal"
        self.debug = log.wants(DEBUG)
        self.log_orphans = log.wants(WARN if config.warn_on_reap else DEBUG)
        self.main_code: int | None = None  # the program's status, once reaped
        self.main_stopped = False  # as the last reaped state change said
        self.deadline: float | None = None  # end of the grace period, once one started
        self.escalated = False
        self.held: dict[int, float] = {}  # delayed signals: signo -> when to forward it
        self.reap_after: float | None = None  # SIGCHLD waits until then (_ORPHAN_BATCH)
        self.last_call: float | None = None  # after escalation: exit by then whatever is left
        # (signal, CLOCK_BOOTTIME) of the first stop signal forwarded to the program's group:
        # its members are not sent another one as leftovers (leftovers.py)
        self.group_stop: tuple[int, float] | None = None
        self.leftovers: Leftovers | None = None  # once the program exited with others left
        self.recheck_at: float | None = None  # next look at the leftovers waited for
        self.result: int | None = None  # pyinit's exit code, once it is time to exit

    # --- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        errors = 0
        while self.result is None:
            try:
                info = self._wait()
                if info is None:
                    self._on_timer()
                else:
                    self._on_signal(info.si_signo, info.si_pid, info.si_code)
                errors = 0
            except Exception as exc:  # PID 1 must outlive its own bugs while the child lives
                errors += 1
                self.log.error("internal-error", "internal error, carrying on: %(error)r", error=exc)
                if errors >= _MAX_CONSECUTIVE_ERRORS:
                    return self._reap_only()
        return self.result

    def _wait(self) -> signal.struct_siginfo | None:
        """The next signal, or None when the earliest deadline passed first."""
        due = self._next_deadline()
        if due is None:
            return signal.sigwaitinfo(self.handled)  # no timer: sleep until a signal, for ever
        if self.reap_after is not None:
            # Batching orphans: SIGCHLD stays pending until reap_after, other signals come now.
            info = signal.sigtimedwait(self.handled_but_sigchld, max(0.0, due - time.monotonic()))
            if info is None and time.monotonic() >= self.reap_after:
                self.reap_after = None  # the next wait takes the pending SIGCHLD at once
            return info
        return signal.sigtimedwait(self.handled, max(0.0, due - time.monotonic()))

    def _next_deadline(self) -> float | None:
        idle = not self.held and self.deadline is None and self.last_call is None
        if idle and self.reap_after is None and self.recheck_at is None:
            return None  # the idle case, first: no list built
        candidates = list(self.held.values())
        for due in (self.deadline, self.last_call, self.reap_after, self.recheck_at):
            if due is not None:
                candidates.append(due)
        return min(candidates)

    def _reap_only(self) -> int:
        """Last resort: no forwarding, just wait for the program (and reap the rest)."""
        while self.main_code is None:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return 1
            except OSError:
                continue
            if pid == self.main_pid:
                self.main_code = exit_code(status)
        return self.main_code

    def _on_signal(self, signo: int, sender: int, code: int) -> None:
        if sender == self.own_pid and code == _SI_USER:
            # pyinit's own doing: a SIGPIPE or SIGXFSZ raised by a write of pyinit's (a log
            # line to a closed pipe).  Forwarding or even logging it would write again and
            # raise it again, forever.  pyinit never signals itself otherwise.
            return
        if self.debug:
            self.log.debug("signal", "received %(signal)s from pid %(sender)d", signo=signo, sender=sender)
        if signo == signal.SIGCHLD:
            if self.reap_after is None:
                self._reap()
            return
        # sigwaitinfo hands out the lowest-numbered pending signal first: a storm of HUP, INT,
        # TERM ... must not starve SIGCHLD (17), or zombies would pile up until it ends.  Taken
        # first, it also tells whether the program is still there, and stopped, before the
        # signal goes to it.
        if self.reap_after is None and signal.SIGCHLD in signal.sigpending():
            signal.sigtimedwait((signal.SIGCHLD,), 0)
            self._reap()
            if self.result is not None:
                return
        self._forward(signo)

    # --- forwarding ---------------------------------------------------------------------------

    def _forward(self, signo: int, released: bool = False) -> None:
        """Hold (--delay), rewrite and pass on one received signal, then act on what it means.

        released: a held signal whose time has come (or that was let go): not held again.
        """
        if (self.held or self.delays) and not released and self._hold(signo):
            return
        target = self.route[signo]
        if target != signo and self.debug:
            self.log.debug("rewritten", "rewriting %(signal)s to %(to_signal)s", signo=signo, to=target)
        if target == 0:
            if self.debug:
                self.log.debug("dropped", "not forwarding %(signal)s (rewritten to none)", signo=signo)
        else:
            if target == signal.SIGCONT and self.owns_terminal and self.main_code is None:
                from .terminal import give_back  # after `fg` resumed pyinit

                give_back(self.pgid)
            self._send(target)
            if target in self.stop_signals:
                self._start_grace()
        if self.suspend_on_signal and signo in TTY_STOPS:
            self._suspend_self()

    def _hold(self, signo: int) -> bool:
        """--delay: whether signo is held back for now (a second copy, or SIGINT, releases)."""
        if signo in self.held:  # a second copy of a held signal: no more waiting
            del self.held[signo]
            return False
        if signo == signal.SIGINT and self.held:  # an impatient operator: release everything
            for held in list(self.held):
                del self.held[held]
                self._forward(held, released=True)
        delay = self.delays.get(signo)
        if delay is None or self.main_code is not None:
            return False
        self.held[signo] = time.monotonic() + delay
        self.log.info(
            "delayed", "holding %(signal)s for %(seconds)gs before forwarding it", signo=signo, seconds=delay
        )
        return True

    def _send(self, signo: int) -> None:
        """Deliver signo: to the program's group (or the program) while it lives, else to every
        process pyinit owns."""
        if self.main_code is not None:
            if self.leftovers is not None and signo in self.stop_signals:
                self.leftovers.stop(signo)  # only those that got no stop signal yet
            else:
                self._signal_owned(signo)
            return
        dest = self.dest
        try:
            os.kill(dest, signo)
        except OSError as exc:
            self.log.emit(
                WARN,
                "forward-failed",
                "could not forward %(signal)s to %(target)d: %(reason)s",
                signo=signo,
                target=dest,
                reason=exc.strerror,
                errno=exc.errno,
            )
            return
        if self.debug:
            self.log.debug("forwarded", "forwarded %(signal)s to %(target)d", signo=signo, target=dest)
        if signo in self.stop_signals and dest < 0 and self.group_stop is None:
            self.group_stop = (signo, time.clock_gettime(time.CLOCK_BOOTTIME))
        if self.main_stopped and signo in self.stop_signals:
            # A stopped process does not act on a stop signal until it runs again (the kernel
            # wakes it for SIGKILL and SIGCONT only): docker stop must not wait for the grace
            # period because someone pressed Ctrl-Z.
            try:
                os.kill(dest, signal.SIGCONT)
            except OSError:
                pass

    def _signal_owned(self, signo: int) -> int:
        """Signal every live process pyinit owns; return how many were signalled."""
        from . import procfs  # only at the end of a run: not on the start-up path

        processes = procfs.owned()
        if processes is None:  # no usable /proc: the program's group is the best guess
            if not self.has_group:
                return 0
            try:
                os.kill(-self.pgid, signo)
            except OSError:
                return 0
            return 1
        return sum(procfs.send(process, signo) for process in processes)

    # --- job control --------------------------------------------------------------------------

    def _may_suspend(self) -> bool:
        """A parent could see pyinit stopped and resume it: a job-control shell, not a PID 1.

        Mirrors the kernel's orphaned-process-group rule: a stop with nobody to send SIGCONT
        would wedge pyinit with every later signal pending.
        """
        if self.pid1:
            return False
        try:
            parent = os.getppid()
            return os.getsid(parent) == os.getsid(0) and os.getpgid(parent) != os.getpgrp()
        except OSError:
            return False

    def _suspend_self(self) -> None:
        self.log.info("suspending", "stopping pyinit too, so the parent shell sees the job stopped")
        os.kill(os.getpid(), signal.SIGSTOP)  # returns once a SIGCONT resumed us

    # --- reaping --------------------------------------------------------------------------------

    def _reap(self) -> None:
        """Collect every child that changed state: one SIGCHLD may stand for many.

        After a round that reaped orphans, the next SIGCHLD waits until reap_after: more may be
        on their way, and are taken in a batch (_ORPHAN_BATCH).
        """
        orphans = False
        while self.result is None:
            try:
                pid, status = os.waitpid(-1, _WAIT_FLAGS)
            except ChildProcessError:
                if self.main_code is not None and not self._leftovers_remain():
                    self._finish()
                return
            if pid == 0:
                if orphans:
                    self.reap_after = time.monotonic() + _ORPHAN_BATCH
                    if self.leftovers is not None and not self._leftovers_remain():
                        self._finish()
                return
            if pid != self.main_pid or self.main_code is not None:
                orphans = True
                if self.log_orphans and (os.WIFEXITED(status) or os.WIFSIGNALED(status)):
                    self._log_reaped(pid, status, False)
                continue
            if os.WIFSTOPPED(status):
                self.main_stopped = True
                self._on_main_stopped(os.WSTOPSIG(status))
            elif os.WIFCONTINUED(status):
                self.main_stopped = False
            else:
                self._log_reaped(pid, status, True)
                self.main_code = exit_code(status)
                self._on_main_exit()

    def _log_reaped(self, pid: int, status: int, is_main: bool) -> None:
        warn = self.config.warn_on_reap and not is_main
        level = INFO if is_main else WARN if warn else DEBUG
        if not self.log.wants(level):
            return
        fields: dict[str, object] = {
            "pid": pid,
            "main": is_main,
            "code": exit_code(status),
            "warn_on_reap": warn,
        }
        if os.WIFSIGNALED(status):
            fields["signal"] = os.WTERMSIG(status)
            fields["signame"] = signame(os.WTERMSIG(status))
            how = "killed by %(signame)s"
        else:
            how = "exited with status %(code)d"
        who = "the program (pid %(pid)d) " if is_main else "reaped zombie process %(pid)d "
        self.log.emit(level, "reaped", who + how, **fields)

    def _on_main_stopped(self, stopsig: int) -> None:
        self.log.info(
            "child-stopped", "the program was stopped by %(signal)s", pid=self.main_pid, signo=stopsig
        )
        if self.config.suspend == "with-child" and self._may_suspend():
            self._suspend_self()

    # --- the end --------------------------------------------------------------------------------

    def _on_main_exit(self) -> None:
        mode = self.config.leftovers
        if mode == "leave":
            if self.config.exit_signal:
                self._send_exit_signal(self.config.exit_signal)
            self._finish()
        elif mode == "stop":
            if not _children_remain():
                self._finish()  # the common case: nothing left, no /proc scan, no grace period
                return
            if self.escalated:  # everything got SIGKILL already: wait for it to be gone
                if not self._leftovers_remain():
                    self._finish()
                return
            target = self.route[signal.SIGTERM]
            self._track_leftovers()
            count: int | None = 0
            if target:
                count = self.leftovers.stop(target) if self.leftovers is not None else None
                if count is None:  # no usable /proc: the program's group is the best guess
                    count = self._signal_owned(target)
            # The grace period runs whether or not anything could be signalled: leftovers that
            # /proc cannot show, or a TERM rewritten to none, still end in SIGKILL.  With
            # nothing left, the reap loop finishes at once anyway.
            self._start_grace()
            if count:
                self.log.info(
                    "stopping-others",
                    "the program exited; sent %(signal)s to %(count)d remaining process(es)",
                    signo=target,
                    count=count,
                )
            if self.leftovers is not None and not self._leftovers_remain():
                self._finish()  # what is left cannot, or need not, be waited for
        # "wait", and "stop" once the others are gone: _reap() finishes when no child is left.

    def _track_leftovers(self) -> None:
        """From now on, know which leftovers are worth waiting for (when /proc can tell)."""
        if self.leftovers is None:
            from . import procfs
            from .leftovers import Leftovers  # only when something is left

            if procfs.proc_matches_us():
                self.leftovers = Leftovers(self.log, self.pgid, self.group_stop if self.has_group else None)

    def _leftovers_remain(self) -> bool:
        """Whether a leftover is still worth waiting for; while one is, look again soon."""
        if self.leftovers is None:
            return False
        if self.leftovers.remaining():
            self.recheck_at = time.monotonic() + _RECHECK
            return True
        self.recheck_at = None
        return False

    def _send_exit_signal(self, signo: int) -> None:
        """dumb-init: when the program exits, signal its group (rewritten), then exit."""
        target = self.route.get(signo, signo)
        if target != signo:
            self.log.debug("rewritten", "rewriting %(signal)s to %(to_signal)s", signo=signo, to=target)
        if target == 0:
            self.log.debug("dropped", "not sending %(signal)s (rewritten to none)", signo=signo)
            return
        if self.config.forward_to == "group" and self.has_group:
            # The group outlives its reaped leader while members remain; their pids pin the id.
            try:
                os.kill(-self.pgid, target)
            except OSError:
                pass
        self.log.debug("forwarded", "sent %(signal)s to the program's group", signo=target)

    def _start_grace(self) -> None:
        grace = self.config.grace
        if grace is None or self.deadline is not None or self.escalated:
            return
        self.deadline = time.monotonic() + grace
        self.log.debug("grace", "grace period of %(seconds)gs started", seconds=grace, deadline=self.deadline)

    def _on_timer(self) -> None:
        now = time.monotonic()
        if self.recheck_at is not None and self.recheck_at <= now:
            self.recheck_at = None
            if self.main_code is not None and not self._leftovers_remain():
                self._finish()
                return
        for signo, due in list(self.held.items()):
            if due <= now:
                del self.held[signo]
                self._forward(signo, released=True)
        if self.deadline is not None and self.deadline <= now:
            overdue = now - self.deadline
            self.deadline = None
            self._escalate(overdue)
        elif self.last_call is not None and self.last_call <= now and self.result is None:
            self.log.warn(
                "unreaped",
                "processes survived SIGKILL for %(seconds)gs: exiting without them",
                seconds=_LAST_CALL,
            )
            if self.main_code is None:
                self.main_code = 128 + signal.SIGKILL  # it was SIGKILLed; the kernel will finish it
            self._finish()

    def _escalate(self, overdue: float) -> None:
        """The grace period is over: SIGKILL the program's group and every other descendant.

        overdue: how late the timer fired (scheduling latency), reported in the event.
        """
        self.escalated = True
        if self.main_code is None:
            # The program is not reaped yet, so neither its pid nor its group id can have been
            # reused: one kill reaches the whole group at once.
            for dest in ((-self.pgid,) if self.has_group else ()) + (self.main_pid,):
                try:
                    os.kill(dest, signal.SIGKILL)
                except OSError:
                    pass
        self._track_leftovers()
        if self.leftovers is not None:
            count = self.leftovers.kill_all()
        else:
            count = self._signal_owned(signal.SIGKILL)
        self.last_call = time.monotonic() + _LAST_CALL
        self.log.warn(
            "escalation",
            "grace period of %(seconds)gs is over:"
            " sent SIGKILL to the program and %(count)d other process(es)",
            seconds=self.config.grace,
            count=count,
            overdue=round(overdue, 6),
        )

    def _finish(self) -> None:
        # The zombies of whatever died meanwhile are pyinit's to reap before it goes.
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if self.log_orphans:
                self._log_reaped(pid, status, False)
        code = self.main_code if self.main_code is not None else 1
        final = 0 if code in self.config.success_codes else code
        self.log.info("exit", "exiting with status %(status)d", code=code, status=final)
        self.result = final
