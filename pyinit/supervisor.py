"""The loop: wait for a signal; forward it, or reap; stop the rest when it is time; exit.

Every signal pyinit handles is blocked (main.py did it before the fork) and collected here with
sigwaitinfo, so no Python signal handler ever runs and an idle pyinit makes no system call at
all.  Deadlines (the grace period, a delayed signal, the last call after SIGKILL) are kept by
one interval timer, armed only when the earliest deadline changes: its SIGALRM comes from the
kernel (si_code SI_KERNEL), which tells it from a SIGALRM someone sent to be forwarded.  So
the wait never carries a timeout -- a timed wait arms and cancels a kernel timer on every signal,
and after `docker stop` every signal comes while the grace period runs.  Only batched reaping
(half a millisecond) waits with one.

Shaped like tini's: one function forwards (`_forward`), one reaps (`_reap`); the plain case --
a signal whose forwarding is a bare kill() to each program, decided once from the Config -- is
taken in the loop itself, since an init's latency is its whole job, and so is the first stop
signal (`_first_stop`: `docker stop` is timed until pyinit exits).

Several programs (a Procfile) are more children of the same loop: every forwarded signal goes
to each running program's group; when one ends, the others are stopped (fail fast) and pyinit
exits with the status of the one that ended first.  One program is the same loop with one.
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
    from .startup import Started

_WAIT_FLAGS = os.WNOHANG | os.WUNTRACED | os.WCONTINUED
_SI_USER = 0  # siginfo.si_code of a signal sent with kill(2) (or raised by the kernel for a write)
_SI_KERNEL = 0x80  # siginfo.si_code of the interval timer's SIGALRM
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


class _Program:
    """A started program, as the loop knows it."""

    __slots__ = ("dest", "name", "pgid", "pid", "stopped", "stopping")

    def __init__(self, pid: int, pgid: int, dest: int, name: str | None) -> None:
        self.pid = pid
        self.pgid = pgid
        self.dest = dest  # where forwarded signals go: -pgid (its group) or pid
        self.name = name  # a Procfile's name; None for the one program of a command line
        self.stopped = False  # as the last reaped state change said
        self.stopping = False  # a stop signal was sent to it (a second would hurry it)


class Supervisor:
    def __init__(self, config: Config, log: Log, started: Started) -> None:
        self.config = config
        self.log = log
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
        #: the programs still running, by pid (one, or a Procfile's)
        self.programs = {
            child.pid: _Program(child.pid, child.pgid, -child.pgid if group else child.pid, child.name)
            for child in started.children
        }
        self.pgids = [child.pgid for child in started.children]  # for the no-/proc fallback
        self.pgid = self.pgids[0]  # the one program's group (the terminal, dumb-init's exit)
        self.owns_terminal = started.took_terminal and config.session == "pgroup"
        self.suspend_on_signal = config.suspend == "on-signal"
        self.relay = started.relay  # several programs' output relay: pyinit's own helper
        self.helpers = frozenset({self.relay.pid}) if self.relay is not None else frozenset()
        self.debug = log.wants(DEBUG)
        # Whether a `reaped` event is wanted (_log_reaped's level), asked once, not per exit.
        self.log_programs = log.wants(INFO)
        self.log_orphans = log.wants(WARN if config.warn_on_reap else DEBUG)
        # The status to exit with: the program's, or the first program's to end.
        self.main_code: int | None = None
        self.first_ended: str | None = None  # several programs: the name of the first to end
        self.deadline: float | None = None  # end of the grace period, once one started
        self.escalated = False
        self.held: dict[int, float] = {}  # delayed signals: signo -> when to forward it
        self.reap_after: float | None = None  # SIGCHLD waits until then (_ORPHAN_BATCH)
        self.last_call: float | None = None  # after escalation: exit by then whatever is left
        # program's group -> (signal, CLOCK_BOOTTIME) of the first stop signal sent to it: its
        # members are not sent another one as leftovers (leftovers.py)
        self.group_stops: dict[int, tuple[int, float]] = {}
        self.leftovers: Leftovers | None = None  # once the program exited with others left
        self.recheck_at: float | None = None  # next look at the leftovers waited for
        self.result: int | None = None  # pyinit's exit code, once it is time to exit
        # The hot path (see _loop): signals whose forwarding is nothing but kill() to each
        # running program, decided once from the Config -- not SIGCHLD, not rewritten, not
        # held back, not a job-control stop pyinit acts on, not SIGCONT with a terminal to give
        # back, not SIGPIPE or SIGXFSZ (pyinit's own writes raise them) and not a stop signal
        # (the first one starts the grace period; once it runs, they join).
        special = {signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGALRM} | set(self.delays)
        if self.suspend_on_signal:
            special |= TTY_STOPS
        if self.owns_terminal:
            special.add(signal.SIGCONT)
        unchanged = frozenset(signo for signo in HANDLED if self.route[signo] == signo) - special
        self.plain_always = unchanged - self.stop_signals
        self.plain_stopping = unchanged  # once the grace period runs
        # The stop signals the hot path also takes until the grace period starts (docker stop:
        # forward, then start it): _first_stop.
        self.first_stops = unchanged & self.stop_signals if config.grace is not None else frozenset()
        self.plain: frozenset[int] = frozenset()  # what the hot path takes right now (_settle)
        self.first_stop: frozenset[int] = frozenset()  # first_stops while they apply (_settle)
        self.dests: tuple[int, ...] = ()  # where it sends them: each running program's dest
        self.timer_due: float | None = None  # what the interval timer is armed for (_settle)
        if started.failed is not None:  # a program that could not start: the first to end
            self.first_ended, self.main_code = started.failed
            self._stop_programs(self.first_ended, "could not start (status %d)" % self.main_code)

    # --- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        try:
            return self._loop()
        finally:
            if self.relay is not None:
                self._drain_relay()

    def _loop(self) -> int:
        """Wait; forward a plain signal right here (the hot path: an init's forwarding latency
        is its whole job, and every Python call on the way costs microseconds), the first stop
        signal through _first_stop, SIGCHLD straight to _reap; hand anything else to _on_signal
        or _on_timer, then _settle what they changed."""
        errors = 0
        plain_forwards = 0
        # Locals: each attribute or global looked up per signal costs on a cold CPU.
        kill, sigpending = os.kill, signal.sigpending
        sigwaitinfo, sigtimedwait, handled = signal.sigwaitinfo, signal.sigtimedwait, self.handled
        sigchld = signal.SIGCHLD
        while self.result is None:
            try:
                self._settle()
                plain, first_stop, dests = self.plain, self.first_stop, self.dests
                one = dests[0] if len(dests) == 1 else 0  # one program: no loop to set up
                while True:  # the hot loop: plain signals go straight out, all else breaks
                    # Sleep until a signal (the timer's too); batching orphans, SIGCHLD waits.
                    info = sigwaitinfo(handled) if self.reap_after is None else self._wait()
                    if info is None:
                        self._on_timer()
                        break
                    signo = info.si_signo
                    if signo not in plain:
                        if signo in first_stop and sigchld not in sigpending():
                            self._first_stop(signo)  # docker stop: every line counts from here
                            plain, first_stop = self.plain, self.first_stop
                            continue
                        if signo == sigchld and not self.debug:
                            self._reap()  # what _on_signal would do, without its questions
                        else:
                            self._on_signal(signo, info.si_pid, info.si_code)
                        break
                    if one:
                        try:
                            kill(one, signo)
                        except OSError as exc:
                            self._forward_failed(signo, one, exc)
                    else:
                        for dest in dests:
                            try:
                                kill(dest, signo)
                            except OSError as exc:
                                self._forward_failed(signo, dest, exc)
                    # sigwaitinfo hands out the lowest-numbered pending signal first: a storm
                    # of signals below SIGCHLD (17) must not starve it for long.
                    if signo < sigchld:
                        plain_forwards += 1
                        if not plain_forwards & 63 and sigchld in sigpending():
                            sigtimedwait((sigchld,), 0)
                            self._on_signal(sigchld, 0, 0)
                            break
                errors = 0
            except Exception as exc:  # PID 1 must outlive its own bugs while the child lives
                errors += 1
                self.log.error("internal-error", "internal error, carrying on: %(error)r", error=exc)
                if errors >= _MAX_CONSECUTIVE_ERRORS:
                    return self._reap_only()
        return self.result

    def _settle(self) -> None:
        """After anything but a hot-path forward: the timer for the earliest deadline, and what
        the hot path may take (nothing while signals are held, a program is stopped, debug
        lines are wanted, or no program runs)."""
        self._arm_timer()
        programs = self.programs.values()
        if self.debug or not programs or self.held or any(program.stopped for program in programs):
            self.plain = self.first_stop = frozenset()
            return
        self.dests = tuple(program.dest for program in programs)
        if self.deadline is None and not self.escalated and self.config.grace is not None:
            self.plain, self.first_stop = self.plain_always, self.first_stops
        else:  # the grace period runs, is over, or there is none: stop signals are plain too
            self.plain, self.first_stop = self.plain_stopping, frozenset()

    def _arm_timer(self) -> None:
        """The interval timer for the earliest deadline, if that changed."""
        due = self._next_deadline()
        if due != self.timer_due:
            # An early or a stale SIGALRM is harmless: _on_timer acts only on what is due.
            left = 0.0 if due is None else max(due - time.monotonic(), 1e-6)
            signal.setitimer(signal.ITIMER_REAL, left)
            self.timer_due = due

    def _first_stop(self, signo: int) -> None:
        """The first stop signal, on the hot path: _forward's work without its questions.

        The hot path's conditions answered them (not rewritten, not held, no program stopped,
        no debug lines, SIGCHLD not pending, the grace period not started): each program gets
        it, the grace period starts, and from then on stop signals are plain -- what _settle
        would decide, set here so the loop goes on waiting at once.  `docker stop` is timed
        from here to pyinit's exit, and every line of Python on the way costs a cold CPU.
        """
        for program in self.programs.values():
            self._send_to(program, signo)
        self._start_grace()
        self._arm_timer()
        self.plain, self.first_stop = self.plain_stopping, frozenset()

    def _wait(self) -> signal.struct_siginfo | None:
        """Batching orphans: any signal but SIGCHLD, which stays pending until reap_after (the
        timer's SIGALRM among them); None once reap_after has come."""
        assert self.reap_after is not None
        info = signal.sigtimedwait(self.handled_but_sigchld, max(0.0, self.reap_after - time.monotonic()))
        if info is None:
            self.reap_after = None  # the next wait takes the pending SIGCHLD at once
        return info

    def _next_deadline(self) -> float | None:
        """The earliest of the deadlines the interval timer keeps."""
        if not self.held and self.deadline is None and self.last_call is None and self.recheck_at is None:
            return None  # the idle case, first: no list built
        candidates = list(self.held.values())
        for due in (self.deadline, self.last_call, self.recheck_at):
            if due is not None:
                candidates.append(due)
        return min(candidates)

    def _reap_only(self) -> int:
        """Last resort: no forwarding, just wait for the programs (and reap the rest)."""
        while self.programs:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return 1 if self.main_code is None else self.main_code
            except OSError:
                continue
            if self.programs.pop(pid, None) is not None and self.main_code is None:
                self.main_code = exit_code(status)
        return 1 if self.main_code is None else self.main_code

    def _on_signal(self, signo: int, sender: int, code: int) -> None:
        if signo == signal.SIGALRM and code == _SI_KERNEL:  # pyinit's own interval timer
            self.timer_due = None
            self._on_timer()
            return
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
        # TERM ... must not starve SIGCHLD (17), or zombies would pile up until it ends.
        reap = self.reap_after is None and signal.SIGCHLD in signal.sigpending()
        if reap:
            signal.sigtimedwait((signal.SIGCHLD,), 0)
            if signo in self.stop_signals and self.config.grace is not None:
                # Taken first for a stop signal: whether the program is stopped (it then gets
                # SIGCONT too) or gone (what is left gets the stop as leftovers) decides where
                # the signal goes and whether a grace period starts.
                self._reap()
                if self.result is not None:
                    return
                reap = False
        # Otherwise forwarded first, as tini and dumb-init do: what is left of the program's
        # group gets it even when the program has just died.
        self._forward(signo)
        if reap and self.result is None:
            self._reap()

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
            if target == signal.SIGCONT and self.owns_terminal and self.programs:
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
        if delay is None or not self.programs:
            return False
        self.held[signo] = time.monotonic() + delay
        self.log.info(
            "delayed", "holding %(signal)s for %(seconds)gs before forwarding it", signo=signo, seconds=delay
        )
        return True

    def _send(self, signo: int) -> None:
        """Deliver signo: to each running program's group (or the program), else -- once no
        program runs -- to every process pyinit owns."""
        if not self.programs:
            if self.leftovers is not None and signo in self.stop_signals:
                self.leftovers.stop(signo)  # only those that got no stop signal yet
            else:
                self._signal_owned(signo)
            return
        for program in list(self.programs.values()):
            self._send_to(program, signo)

    def _send_to(self, program: _Program, signo: int) -> None:
        dest = program.dest
        try:
            os.kill(dest, signo)
        except OSError as exc:
            self._forward_failed(signo, dest, exc)
            return
        if self.debug:
            self.log.debug("forwarded", "forwarded %(signal)s to %(target)d", signo=signo, target=dest)
        if signo in self.stop_signals:
            program.stopping = True
            if dest < 0 and -dest not in self.group_stops:
                self.group_stops[-dest] = (signo, time.clock_gettime(time.CLOCK_BOOTTIME))
            if program.stopped:
                # A stopped process does not act on a stop signal until it runs again (the
                # kernel wakes it for SIGKILL and SIGCONT only): docker stop must not wait for
                # the grace period because someone pressed Ctrl-Z.
                try:
                    os.kill(dest, signal.SIGCONT)
                except OSError:
                    pass

    def _forward_failed(self, signo: int, dest: int, exc: OSError) -> None:
        self.log.warn(
            "forward-failed",
            "could not forward %(signal)s to %(target)d: %(reason)s",
            signo=signo,
            target=dest,
            reason=exc.strerror,
            errno=exc.errno,
        )

    def _signal_owned(self, signo: int) -> int:
        """Signal every live process pyinit owns; return how many were signalled."""
        from . import procfs  # only at the end of a run: not on the start-up path

        processes = procfs.owned(self.helpers)
        if processes is None:  # no usable /proc: the programs' groups are the best guess
            if not self.has_group:
                return 0
            sent = 0
            for pgid in self.pgids:
                try:
                    os.kill(-pgid, signo)
                    sent += 1
                except OSError:
                    pass
            return sent
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
                if not self.programs and not self._leftovers_remain():
                    self._finish()
                return
            if pid == 0:
                if not self.programs and not self._others_remain():
                    self._finish()
                elif orphans:
                    self.reap_after = time.monotonic() + _ORPHAN_BATCH
                return
            program = self.programs.get(pid)
            if program is None:
                if pid in self.helpers:
                    self._on_relay_exit(status)
                    continue
                orphans = True
                if self.log_orphans and (os.WIFEXITED(status) or os.WIFSIGNALED(status)):
                    self._log_reaped(pid, status, None)
                continue
            if os.WIFSTOPPED(status):
                program.stopped = True
                self._on_program_stopped(program, os.WSTOPSIG(status))
            elif os.WIFCONTINUED(status):
                program.stopped = False
            else:
                self._on_program_exit(program, status)

    def _on_program_exit(self, program: _Program, status: int) -> None:
        del self.programs[program.pid]
        if self.log_programs:
            self._log_reaped(program.pid, status, program)
        if self.main_code is None:  # the first program to end: its status is pyinit's
            self.main_code = exit_code(status)
            if self.programs:
                self.first_ended = program.name
                if os.WIFSIGNALED(status):
                    how = "killed by %s" % signame(os.WTERMSIG(status))
                else:
                    how = "exited with status %d" % self.main_code
                self._stop_programs(program.name, how)
        if not self.programs:
            self._on_main_exit()

    def _stop_programs(self, ended: str | None, how: str) -> None:
        """Fail fast: a program ended (exited, was killed, or could not start), so the others are
        stopped -- the stop signal, then the grace period -- as a docker stop would do."""
        target = self.route[signal.SIGTERM]
        names = [program.name for program in self.programs.values()]
        stopping = self.deadline is not None or self.escalated  # a stop was asked for already
        self.log.emit(
            INFO if stopping else WARN,
            "first-ended",
            "program %(program)s ended first (%(how)s): stopping %(others)s",
            program=ended,
            how=how,
            others=", ".join(str(name) for name in names) or "nothing",
            stopping=names,
        )
        if target:
            for program in list(self.programs.values()):
                if not program.stopping:  # one stop, one signal: docker stop may have sent it
                    self._send_to(program, target)
        self._start_grace()

    def _log_reaped(self, pid: int, status: int, program: _Program | None) -> None:
        """The `reaped` event.  Callers decide whether it is wanted, from what __init__ worked
        out once: log_programs for a program, log_orphans for anything else."""
        is_main = program is not None
        warn = self.config.warn_on_reap and not is_main
        level = INFO if is_main else WARN if warn else DEBUG
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
        if program is None:
            who = "reaped zombie process %(pid)d "
        elif program.name is None:
            who = "the program (pid %(pid)d) "
        else:
            who = "program %(program)s (pid %(pid)d) "
            fields["program"] = program.name
        self.log.emit(level, "reaped", who + how, **fields)

    def _on_program_stopped(self, program: _Program, stopsig: int) -> None:
        self.log.info(
            "child-stopped", "the program was stopped by %(signal)s", pid=program.pid, signo=stopsig
        )
        if self.config.suspend == "with-child" and len(self.programs) == 1 and self._may_suspend():
            self._suspend_self()

    def _others_remain(self) -> bool:
        """Once every program has ended: whether anything is still worth waiting for."""
        if self.leftovers is not None:
            return self._leftovers_remain()
        if self.config.leftovers == "wait" and (self.helpers or self.pid1):
            # Not every child holds --leftovers wait: not the relay, which lives till the end,
            # and not the orphans of processes started in the container from outside.
            from . import ownership

            return ownership.program_children_remain(self.helpers)
        return True

    def _on_relay_exit(self, status: int) -> None:
        self.helpers = frozenset()
        if status != 0 and self.result is None:
            self.log.warn(
                "relay-failed",
                "the output relay ended (%(how)s): the programs' output is lost from now on",
                how="status %d" % exit_code(status),
            )
        self.relay = None

    def _drain_relay(self) -> None:
        """Before pyinit exits: let the relay write what it holds (the programs' last lines),
        then reap it; SIGKILL it if it takes longer than it promised."""
        relay = self.relay
        if relay is None:
            return
        relay.close_write_ends()
        relay.finish()
        deadline = time.monotonic() + 3.0  # the relay's own finish_timeout (2 s), and a margin
        while True:
            try:
                pid, _ = os.waitpid(relay.pid, os.WNOHANG)
            except ChildProcessError:
                return
            if pid:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                break
            signal.sigtimedwait((signal.SIGCHLD,), min(left, 0.1))
        try:
            os.kill(relay.pid, signal.SIGKILL)
            os.waitpid(relay.pid, 0)
        except OSError:
            pass

    # --- the end --------------------------------------------------------------------------------

    def _on_main_exit(self) -> None:
        mode = self.config.leftovers
        if mode == "leave":
            if self.config.exit_signal:
                self._send_exit_signal(self.config.exit_signal)
            self._finish()
        elif mode == "stop":
            if not _children_remain():
                self._finish(sweep=False)  # the common case: nothing left, no scan, no grace
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
        elif not self._others_remain():  # "wait": what is left may be no one's to wait for
            self._finish()
        # "wait", and "stop" once the others are gone: _reap() finishes when no child is left.

    def _track_leftovers(self) -> None:
        """From now on, know which leftovers are worth waiting for (when /proc can tell)."""
        if self.leftovers is None:
            from . import procfs
            from .leftovers import Leftovers  # only when something is left

            if procfs.proc_matches_us():
                self.leftovers = Leftovers(self.log, self.group_stops, self.helpers)

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
        if self.debug:
            self.log.debug(
                "grace", "grace period of %(seconds)gs started", seconds=grace, deadline=self.deadline
            )

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
        for program in self.programs.values():
            # The program is not reaped yet, so neither its pid nor its group id can have been
            # reused: one kill reaches the whole group at once.
            for dest in ((-program.pgid,) if self.has_group else ()) + (program.pid,):
                try:
                    os.kill(dest, signal.SIGKILL)
                except OSError:
                    pass
        self._track_leftovers()
        if self.leftovers is not None:
            count = self.leftovers.kill_all(frozenset(self.programs))
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

    def _finish(self, sweep: bool = True) -> None:
        # The zombies of whatever died meanwhile are pyinit's to reap before it goes.
        while sweep:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if self.log_orphans:
                self._log_reaped(pid, status, None)
        code = self.main_code if self.main_code is not None else 1
        final = 0 if code in self.config.success_codes else code
        self.log.info("exit", "exiting with status %(status)d", code=code, status=final)
        self.result = final
