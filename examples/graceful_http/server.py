"""A small HTTP server that finishes its in-flight requests on SIGTERM, then exits 0.

    python server.py [PORT]      (0, the default, picks a free port)

GET /slow?seconds=S answers "done" after S seconds (and prints "started /slow..." when it
begins); anything else answers at once.  Prints "listening on HOST:PORT" once it accepts
connections, and "drained" once every in-flight request has been answered after SIGTERM.
"""

import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Server(ThreadingHTTPServer):
    # ThreadingHTTPServer makes request threads daemons, which the interpreter abandons at
    # exit: an in-flight request would be cut off.  Non-daemon threads are joined by
    # server_close() instead.
    daemon_threads = False
    block_on_close = True


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/slow":
            print("started %s" % self.path, flush=True)
            time.sleep(float(parse_qs(url.query).get("seconds", ["1"])[0]))
        body = b"done\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write("%s\n" % (format % args))


def main() -> None:
    server = Server(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)

    def on_sigterm(signo: int, frame: object) -> None:
        # shutdown() waits for serve_forever() to return, and serve_forever() runs in this
        # very thread (handlers run in the main thread): ask from another thread.
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, on_sigterm)
    print("listening on %s:%d" % server.server_address, flush=True)
    server.serve_forever()  # returns once shutdown() was called: no new requests
    server.server_close()  # waits for the request threads: in-flight requests finish
    print("drained", flush=True)


if __name__ == "__main__":
    main()
