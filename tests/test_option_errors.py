"""What the user typed goes into the error line escaped: a newline or a terminal escape in an
option never splits the line or reaches the terminal raw, for pyinit and the drop-ins alike."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyinit.options import Opt, OptionError, printable, scan
from support import run

OPTIONS = [Opt("v", "verbose"), Opt("r", "rewrite", True), Opt(None, "grace", True), Opt(None, "group", True)]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.text(max_size=6), max_size=4), st.booleans())
def test_every_scanning_error_is_printable_text(argv, permute):
    try:
        for _ in scan(argv, OPTIONS, [], permute=permute):
            pass
    except OptionError as exc:
        assert str(exc).isprintable(), str(exc)


def test_printable_escapes_only_what_cannot_be_shown():
    assert printable("grace") == "grace"
    assert printable("ü-é") == "ü-é"
    assert printable("a\nb\x1b[31m\udcff") == "a\\nb\\x1b[31m\\udcff"


@pytest.mark.parametrize(
    ("prefix", "name"),
    [
        ([], "pyinit"),
        (["exec"], "pyinit exec"),
        (["--compat", "tini"], "tini"),
        (["--compat", "dumb-init"], "dumb-init"),
    ],
)
def test_a_control_character_in_an_option_is_shown_escaped_in_the_usual_lines(prefix, name):
    bad = run([*prefix, "-\nx", "true"])
    plain = run([*prefix, "-Z", "true"])  # the same error with a letter no command line has
    assert bad.returncode == plain.returncode != 0
    assert bad.stderr.splitlines()[0].startswith("%s: invalid option -- '\\n'" % name), bad.stderr
    assert len(bad.stderr.splitlines()) == len(plain.stderr.splitlines()), bad.stderr


def test_an_escape_sequence_in_a_long_option_never_reaches_the_terminal():
    result = run(["--grace\x1b[2J", "1", "true"])
    assert result.returncode == 125
    assert result.stderr == "pyinit: unrecognized option '--grace\\x1b[2J' (see 'pyinit --help')\n"
