"""The loop: wait for a signal, then forward, rewrite, delay, reap, stop or shut down.

Every signal pyinit handles is blocked (main.py did it before the fork) and collected here with
sigwaitinfo, so no Python signal handler ever runs and an idle pyinit makes no system call at
all.  A deadline (grace period, delayed signal) is the only reason to wait with a timeout.
"""

from __future__ import annotations

import os
import time

from .log import DEBUG, INFO, WARN, Log
from .signals import (
    HANDLED,
    TTY_STOPS,
    signal,  # the C module: see signals.py
)
from .signals import name as signame
from .spawn import Child, terminal_is_ours

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .config import Config

_WAIT_FLAGS = os.WNOHANG | os.WUNTRACED | os.WCONTINUED
_SI_USER = 0  # siginfo.si_code of a signal sent with kill(2) (or raised by the kernel for a write)
# After this many consecutive internal errors the loop gives up on finesse and only reaps.
_MAX_CONSECUTIVE_ERRORS = 50
# After SIGKILL, how long to wait for everything to be reaped before exiting anyway: a process
# stuck in uninterruptible sleep (D) cannot die yet, and must not keep the container up forever.
_LAST_CALL = 2.0
# After a wake-up that reaped orphans, SIGCHLD stays pending this long (other signals do not).
# When thousands of orphans exit at once, an init woken for each exit preempts the herd every
# time -- a cold Python wake-up costs ~100 us -- and the herd then takes seconds to die; waking
# at most every half millisecond reaps them in batches of a few dozen.  The main program's exit
# is reaped at most this much later, and only right after an orphan's.
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
        self.took_terminal = took_terminal
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
        group = config.forward_to == "group" and config.session != "none"
        self.dest = -child.pgid if group else child.pid  # where forwarded signals go
        self.dest_text = "process group %d" % child.pgid if group else "pid %d" % child.pid
        self.debug = log.wants(DEBUG)
        self.log_orphans = log.wants(WARN if config.warn_on_reap else DEBUG)
        self.main_code: int | None = None  # the main child's status, once reaped
        self.main_stopped = False  # as last reported by SIGCHLD (may lag: see _program_stopped)
        self.proc_is_ours: bool | None = None  # /proc shows our PID namespace (checked once)
        self.deadline: float | None = None  # end of the grace period, once one started
        self.escalated = False
        self.held: dict[int, float] = {}  # delayed signals: signo -> when to forward it
        self.sigchld_deferred_until: float | None = None  # see _ORPHAN_BATCH
        self.last_call: float | None = None  # after escalation: exit by then whatever is left
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
                    self._on_signal(info)
                errors = 0
            except Exception as exc:  # PID 1 must outlive its own bugs while the child lives
                errors += 1
                self.log.error("internal-error", "internal error, carrying on: %r" % (exc,))
                if errors >= _MAX_CONSECUTIVE_ERRORS:
                    return self._reap_only()
        return self.result

    def _wait(self) -> signal.struct_siginfo | None:
        if self.sigchld_deferred_until is not None:
            return self._wait_deferring_sigchld(self.sigchld_deferred_until)
        if not self.held and self.deadline is None and self.last_call is None:
            return signal.sigwaitinfo(self.handled)  # no timer: sleep until a signal, for ever
        due = self._next_deadline()
        if due is None:
            return signal.sigwaitinfo(self.handled)
        return signal.sigtimedwait(self.handled, max(0.0, due - time.monotonic()))

    def _wait_deferring_sigchld(self, until: float) -> signal.struct_siginfo | None:
        """Wait for any signal but SIGCHLD until `until` (or an earlier deadline): see _reap."""
        due = self._next_deadline()
        timeout = until if due is None else min(until, due)
        info = signal.sigtimedwait(self.handled_but_sigchld, max(0.0, timeout - time.monotonic()))
        if info is None and time.monotonic() >= until:
            self.sigchld_deferred_until = None  # the next wait takes the pending SIGCHLD at once
        return info

    def _next_deadline(self) -> float | None:
        candidates = list(self.held.values())
        for due in (self.deadline, self.last_call):
            if due is not None:
                candidates.append(due)
        return min(candidates) if candidates else None

    def _reap_only(self) -> int:
        """Last resort: no forwarding, just wait for the main child (and reap the rest)."""
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

    # --- signals ----------------------------------------------------------------------------

    def _on_signal(self, info: signal.struct_siginfo) -> None:
        signo = info.si_signo
        if info.si_pid == self.own_pid and info.si_code == _SI_USER:
            # pyinit's own doing: a SIGPIPE or SIGXFSZ raised by a write of pyinit's (a log
            # line to a closed pipe).  Forwarding or even logging it would write again and
            # raise it again, forever.  pyinit never signals itself otherwise.
            return
        if self.debug:
            self.log.debug(
                "signal",
                "received %s from pid %d" % (signame(signo), info.si_pid),
                signo=signo,
                signal=signame(signo),
                sender=info.si_pid,
                description=signal.strsignal(signo) or str(signo),
            )
        if signo == signal.SIGCHLD:
            self._reap()
            return
        self._on_forwardable(signo)
        # sigwaitinfo hands out the lowest-numbered pending signal first: a storm of HUP, INT,
        # TERM ... must not starve SIGCHLD (17), or zombies would pile up until it ends.
        if signal.SIGCHLD in signal.sigpending():
            self._reap()

    def _on_forwardable(self, signo: int) -> None:
        if signo in self.held:  # a second copy of a held signal: no more waiting
            del self.held[signo]
            self._forward_received(signo)
            return
        if signo == signal.SIGINT and self.held:  # an impatient operator: release everything
            for held in list(self.held):
                del self.held[held]
                self._forward_received(held)
        delay = self.delays.get(signo)
        if delay is not None and self.main_code is None:
            self.held[signo] = time.monotonic() + delay
            self.log.info(
                "delayed",
                "holding %s for %gs before forwarding it" % (signame(signo), delay),
                signo=signo,
                signal=signame(signo),
                seconds=delay,
            )
            return
        self._forward_received(signo)

    def _forward_received(self, signo: int) -> None:
        """Rewrite, forward, and act on what forwarding it means (grace, suspension)."""
        target = self.route[signo]
        if target != signo and self.debug:
            self.log.debug(
                "rewritten",
                "rewriting %s to %s" % (signame(signo), signame(target) if target else "nothing"),
                signo=signo,
                to=target,
            )
        if target == 0:
            if self.debug:
                self.log.debug(
                    "dropped", "not forwarding %s (rewritten to none)" % signame(signo), signo=signo
                )
        else:
            if target == signal.SIGCONT:
                self._give_terminal_back()
            self._forward(target)
            if target in self.stop_signals:
                self._start_grace()
        if signo in TTY_STOPS and self.config.suspend == "on-signal":
            self._suspend_self()

    def _forward(self, signo: int) -> None:
        if self.main_code is not None:
            self._signal_owned(signo)
            return
        dest = self.dest
        try:
            os.kill(dest, signo)
        except OSError as exc:
            level = DEBUG if isinstance(exc, ProcessLookupError) else WARN
            self.log.emit(
                level,
                "forward-failed",
                "could not forward %s to %s: %s" % (signame(signo), self.dest_text, exc.strerror),
                signo=signo,
                errno=exc.errno,
            )
            return
        if self.debug:
            self.log.debug(
                "forwarded",
                "forwarded %s to %s" % (signame(signo), self.dest_text),
                signo=signo,
                signal=signame(signo),
                target=dest,
            )
        if signo in self.stop_signals and self._program_stopped():
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

        processes = procfs.owned_processes()
        if processes is None:  # no usable /proc: the main child's group is the best guess
            if self.config.session == "none":
                return 0
            try:
                os.kill(-self.pgid, signo)
            except OSError:
                return 0
            return 1
        return sum(procfs.send(process, signo) for process in processes)

    def _program_stopped(self) -> bool:
        """The kernel's word on whether the program is stopped right now.

        The SIGCHLD that reports a stop may still be waiting in the queue, so main_stopped can
        lag behind; /proc cannot (the pid is ours until it is reaped).
        """
        if self.proc_is_ours is None:
            from .procfs import proc_matches_us

            self.proc_is_ours = proc_matches_us()
        if not self.proc_is_ours:  # a /proc of another PID namespace names other processes
            return self.main_stopped
        try:
            with open("/proc/%d/stat" % self.main_pid, "rb") as f:
                stat = f.read()
        except OSError:
            return self.main_stopped
        return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"T"

    def _give_terminal_back(self) -> None:
        """After `fg` resumed pyinit, the program's group gets the terminal again."""
        ours = self.took_terminal and self.config.session == "pgroup" and self.main_code is None
        if ours and terminal_is_ours():
            try:
                os.tcsetpgrp(0, self.pgid)
            except OSError:
                pass

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

    def _on_main_stopped(self, stopsig: int) -> None:
        self.main_stopped = True
        self.log.info(
            "child-stopped",
            "the program was stopped by %s" % signame(stopsig),
            pid=self.main_pid,
            signo=stopsig,
        )
        if self.config.suspend == "with-child" and self._may_suspend():
            self._suspend_self()

    # --- reaping and the end ------------------------------------------------------------------

    def _reap(self) -> None:
        """Collect every child that changed state: one SIGCHLD may stand for many."""
        orphans = False
        while self.result is None:
            try:
                pid, status = os.waitpid(-1, _WAIT_FLAGS)
            except ChildProcessError:
                if self.main_code is not None:
                    self._finish()
                return
            if pid == 0:
                if orphans:  # more may be on their way: take them in a batch (_ORPHAN_BATCH)
                    self.sigchld_deferred_until = time.monotonic() + _ORPHAN_BATCH
                return
            is_main = pid == self.main_pid and self.main_code is None
            if not is_main:
                orphans = True
                if not self.log_orphans:
                    continue  # an orphan reaped, and nobody wants to hear of it: the fast path
            if os.WIFSTOPPED(status):
                if is_main:
                    self._on_main_stopped(os.WSTOPSIG(status))
                continue
            if os.WIFCONTINUED(status):
                if is_main:
                    self.main_stopped = False
                continue
            code = exit_code(status)
            self._log_reaped(pid, status, code, is_main)
            if is_main:
                self.main_code = code
                self._on_main_exit()

    def _log_reaped(self, pid: int, status: int, code: int, is_main: bool) -> None:
        warn = self.config.warn_on_reap and not is_main
        level = INFO if is_main else WARN if warn else DEBUG
        if not self.log.wants(level):
            return
        fields: dict[str, object] = {"pid": pid, "main": is_main, "code": code, "warn_on_reap": warn}
        if os.WIFSIGNALED(status):
            signo = os.WTERMSIG(status)
            fields.update(signal=signo, description=signal.strsignal(signo) or str(signo))
            how = "killed by %s" % signame(signo)
        else:
            how = "exited with status %d" % code
        who = "the program (pid %d)" % pid if is_main else "reaped zombie process %d" % pid
        self.log.emit(level, "reaped", "%s %s" % (who, how), **fields)

    def _on_main_exit(self) -> None:
        mode = self.config.on_main_exit
        if mode == "exit":
            if self.config.exit_signal:
                self._send_exit_signal(self.config.exit_signal)
            self._finish()
        elif mode == "stop":
            if not _children_remain():
                self._finish()  # the common case: nothing left, no /proc scan, no grace period
                return
            target = self.config.rewrite(signal.SIGTERM)
            count = self._signal_owned(target) if target else 0
            # The grace period runs whether or not anything could be signalled: leftovers that
            # /proc cannot show, or a TERM rewritten to none, still end in SIGKILL.  With
            # nothing left, the reap loop finishes at once anyway.
            self._start_grace()
            if count:
                self.log.info(
                    "stopping-others",
                    "the program exited; sent %s to %d remaining process(es)" % (signame(target), count),
                    signo=target,
                    count=count,
                )
        # "wait", and "stop" once the others are gone: _reap() finishes when no child is left.

    def _send_exit_signal(self, signo: int) -> None:
        """dumb-init: when the main child exits, signal its group (rewritten), then exit."""
        target = self.config.rewrite(signo)
        if target != signo:
            self.log.debug(
                "rewritten", "rewriting %s to %s" % (signame(signo), target), signo=signo, to=target
            )
        if target == 0:
            self.log.debug("dropped", "not sending %s (rewritten to none)" % signame(signo), signo=signo)
            return
        if self.config.forward_to == "group" and self.config.session != "none":
            # The group outlives its reaped leader while members remain; their pids pin the id.
            try:
                os.kill(-self.pgid, target)
            except OSError:
                pass
        self.log.debug("forwarded", "sent %s to the program's group" % signame(target), signo=target)

    def _start_grace(self) -> None:
        grace = self.config.grace
        if grace is None or self.deadline is not None or self.escalated:
            return
        self.deadline = time.monotonic() + grace
        self.log.debug("grace", "grace period of %gs started" % grace, seconds=grace, deadline=self.deadline)

    def _on_timer(self) -> None:
        now = time.monotonic()
        for signo, due in list(self.held.items()):
            if due <= now:
                del self.held[signo]
                self._forward_received(signo)
        if self.deadline is not None and self.deadline <= now:
            overdue = now - self.deadline
            self.deadline = None
            self._escalate(overdue)
        elif self.last_call is not None and self.last_call <= now:
            self.log.warn("unreaped", "processes survived SIGKILL for %gs: exiting without them" % _LAST_CALL)
            if self.main_code is None:
                self.main_code = 128 + signal.SIGKILL  # it was SIGKILLed; the kernel will finish it
            self._finish()

    def _escalate(self, overdue: float) -> None:
        """The grace period is over: SIGKILL the program's group and every other descendant.

        overdue: how late the timer fired (scheduling latency), reported in the event.
        """
        self.escalated = True
        if self.main_code is None:
            # The main child is not reaped yet, so neither its pid nor its group id can have
            # been reused: one kill reaches the whole group at once.
            for dest in ((-self.pgid,) if self.config.session != "none" else ()) + (self.main_pid,):
                try:
                    os.kill(dest, signal.SIGKILL)
                except OSError:
                    pass
        count = self._signal_owned(signal.SIGKILL)
        self.last_call = time.monotonic() + _LAST_CALL
        self.log.warn(
            "escalation",
            "grace period of %gs is over: sent SIGKILL to the program and %d other process(es)"
            % (self.config.grace, count),
            seconds=self.config.grace,
            count=count,
            overdue=round(overdue, 6),
        )

    def _finish(self) -> None:
        code = self.main_code if self.main_code is not None else 1
        final = 0 if code in self.config.success_codes else code
        self.log.info("exit", "exiting with status %d" % final, code=code, status=final)
        self.result = final
