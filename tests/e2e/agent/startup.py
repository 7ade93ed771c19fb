"""PYTHONSTARTUP: runs only in interactive sessions, so never in pyinit: says so if it does."""

import sys

sys.stderr.write("PYTHONSTARTUP ran\n")
