"""Programs that test_defaults.py runs inside containers (bind-mounted read-only, run by the
image's python3, so: standard library, Python 3.9 syntax).  Every line goes to stdout, flushed,
so `docker logs` shows it in order.

  apps.py reload
      Handles SIGHUP, SIGUSR1, SIGUSR2 and SIGWINCH: prints "got SIGHUP" (one line per signal)
      and keeps running, as a server reloading its configuration would.  SIGTERM kills it.
  apps.py daemon ignore|handle wait|exit:CODE
      Starts a daemon in its own session (setsid: outside the program's process group), then
      waits (SIGTERM kills it) or exits with CODE.  The daemon either ignores SIGTERM, or handles
      it: prints "daemon: term", works for 1 s, prints "daemon: done" and exits 0.  "READY" is
      printed once the daemon is set up.
  apps.py cleanup SECONDS
      A SIGTERM handler that prints "handler run" each time it runs, cleans up for SECONDS,
      then exits 0.
  apps.py workers COUNT KIB
      A pre-fork server: forks COUNT workers, each touching KIB of fresh memory and then
      waiting; prints "READY" once every worker is up, then waits for them.
  apps.py alloc MIB
      Touches MIB of fresh memory, prints "READY", then waits.
  apps.py isolation
      Prints what the program itself got of the Python environment pyinit was started with:
      "agent threads N" (threads other than the main one: a sitecustomize or .pth agent ran)
      and "PYTHONPATH ..."; prints "READY", then waits; SIGTERM ends it with 143.
"""

import os
import signal
import sys
import threading
import time


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def wait_forever():
    while True:
        signal.pause()


def reload():
    def on(signo, frame):
        say("got " + signal.Signals(signo).name)

    for name in ("SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH"):
        signal.signal(getattr(signal, name), on)
    say("READY")
    wait_forever()


def daemon(how, then):
    ready_read, ready_write = os.pipe()
    if os.fork() == 0:
        os.close(ready_read)
        os.setsid()

        def on_term(signo, frame):
            say("daemon: term")
            time.sleep(1.0)
            say("daemon: done")
            os._exit(0)

        signal.signal(signal.SIGTERM, signal.SIG_IGN if how == "ignore" else on_term)
        os.close(ready_write)  # the disposition is in place: the program may go on
        wait_forever()
    os.close(ready_write)
    os.read(ready_read, 1)  # EOF once the daemon closed its end
    say("READY")
    if then.startswith("exit:"):
        sys.exit(int(then[len("exit:") :]))
    wait_forever()


def cleanup(seconds):
    def on_term(signo, frame):
        say("handler run")
        time.sleep(seconds)
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    say("READY")
    wait_forever()


def touch(size):
    """size bytes of fresh, resident memory (every page written)."""
    block = bytearray(size)
    for offset in range(0, size, 4096):
        block[offset] = 1
    return block


def workers(count, kib):
    pids = []
    for _ in range(count):
        ready_read, ready_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(ready_read)
            held = touch(kib * 1024)  # noqa: F841 - kept resident while the worker waits
            os.close(ready_write)
            wait_forever()
        os.close(ready_write)
        os.read(ready_read, 1)
        os.close(ready_read)
        pids.append(pid)
    say("READY")
    while pids:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        say("worker %d ended: %s" % (pid, describe(status)))
        pids.remove(pid)


def describe(status):
    if os.WIFSIGNALED(status):
        return signal.Signals(os.WTERMSIG(status)).name
    return "exit %d" % os.WEXITSTATUS(status)


def alloc(mib):
    held = touch(int(mib * 1024 * 1024))  # noqa: F841 - kept resident
    say("READY")
    wait_forever()


def isolation():
    others = [thread for thread in threading.enumerate() if thread is not threading.main_thread()]
    say("agent threads %d" % len(others))
    say("PYTHONPATH %s" % os.environ.get("PYTHONPATH", "(unset)"))
    say("READY")
    wait_forever()


def main(argv):
    mode = argv[1]
    if mode == "reload":
        reload()
    elif mode == "daemon":
        daemon(argv[2], argv[3])
    elif mode == "cleanup":
        cleanup(float(argv[2]))
    elif mode == "workers":
        workers(int(argv[2]), int(argv[3]))
    elif mode == "alloc":
        alloc(float(argv[2]))
    elif mode == "isolation":
        isolation()
    else:
        sys.exit("apps.py: unknown mode %r" % mode)


if __name__ == "__main__":
    main(sys.argv)
