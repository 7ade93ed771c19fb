"""Writes lines in controlled pieces, for the relay tests.  Steps run in argv order, split by ",":

    lines TAG N SIZE PIECES   N lines `TAG:i:PAYLOAD\\n` (PAYLOAD: SIZE bytes), each line in PIECES
                              write(2) calls, so a reader sees lines cut anywhere
    long TAG SIZE PIECE       one line `TAG:PAYLOAD\\n`, PAYLOAD of SIZE bytes written PIECE bytes
                              at a time
    raw HEX                   these bytes, in one write
    wait PATH                 open the FIFO PATH and read it to EOF (the test says when to go on)
    touch PATH                create PATH (tells the test a step was reached)
    fd N                      write to file descriptor N from here on (1 or 2)
    idle                      sleep until killed

PAYLOAD is `payload(tag, i, size)` below, so a test can rebuild what each line must hold.
"""

import os
import sys
import time


def payload(tag: str, index: int, size: int) -> bytes:
    unit = ("%s.%d;" % (tag, index)).encode()
    return (unit * (size // len(unit) + 1))[:size]


def write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def write_in_pieces(fd: int, data: bytes, pieces: int) -> None:
    step = max(1, -(-len(data) // pieces))
    for start in range(0, len(data), step):
        write_all(fd, data[start : start + step])


def main(argv: list[str]) -> None:
    fd = 1
    steps = " ".join(argv).split(",")
    for step in steps:
        words = step.split()
        if not words:
            continue
        kind, args = words[0], words[1:]
        if kind == "lines":
            tag, count, size, pieces = args[0], int(args[1]), int(args[2]), int(args[3])
            for index in range(count):
                line = ("%s:%d:" % (tag, index)).encode() + payload(tag, index, size) + b"\n"
                write_in_pieces(fd, line, pieces)
        elif kind == "long":
            tag, size, piece = args[0], int(args[1]), int(args[2])
            line = tag.encode() + b":" + payload(tag, 0, size) + b"\n"
            write_in_pieces(fd, line, max(1, -(-len(line) // piece)))
        elif kind == "raw":
            write_all(fd, bytes.fromhex(args[0]))
        elif kind == "wait":
            with open(args[0], "rb") as fifo:
                fifo.read()
        elif kind == "touch":
            open(args[0], "wb").close()
        elif kind == "fd":
            fd = int(args[0])
        elif kind == "idle":
            while True:
                time.sleep(3600)
        else:
            raise SystemExit("linewriter: unknown step %r" % step)


if __name__ == "__main__":
    main(sys.argv[1:])
