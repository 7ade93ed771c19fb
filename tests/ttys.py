"""Drive a program through a real pseudo-terminal, as `docker run -it` or a terminal does."""

import os
import pty
import select
import signal
import time


class Terminal:
    """Fork argv with a new pty as its controlling terminal (it is the session leader)."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.output = b""
        self.status = None

    def read_until(self, token: bytes, timeout: float = 30.0, since: int = 0) -> bool:
        """Read until token appears in the output (from offset `since` on)."""
        deadline = time.monotonic() + timeout
        while token not in self.output[since:] and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                self.output += data
        return token in self.output[since:]

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait(self, timeout: float = 30.0) -> int:
        """Exit status of the session leader, draining its output meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                return self.status
            self.read_until(b"\x00never\x00", timeout=0.1)
        raise AssertionError("still running after %gs; output: %r" % (timeout, self.output[-2000:]))

    def close(self) -> None:
        if self.status is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
        os.close(self.fd)
