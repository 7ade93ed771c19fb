"""Every option of pyinit's own command line has a PYINIT_* variable, documented in the README,
that sets exactly what the option sets (so a Dockerfile's ENV can say anything argv can)."""

import re

import pytest

from pyinit.personalities import pyinit as cli
from pyinit.personalities.pyinit import ENVIRONMENT, parse_args
from support import ROOT

PROCFILE = str(ROOT / "examples" / "procfile" / "Procfile")

# option words, variable, value -- each pair must give the same Config
EQUIVALENT = [
    (["-c"], "PYINIT_SINGLE_CHILD", "1"),
    (["--rewrite", "TERM:QUIT"], "PYINIT_REWRITE", "TERM:QUIT"),
    (["--delay", "TERM:2"], "PYINIT_DELAY", "TERM:2"),
    (["--setsid"], "PYINIT_SETSID", "yes"),
    (["--grace", "3"], "PYINIT_GRACE", "3"),
    (["--stop-signals", "TERM"], "PYINIT_STOP_SIGNALS", "TERM"),
    (["--leftovers", "wait"], "PYINIT_LEFTOVERS", "wait"),
    (["-e", "3"], "PYINIT_SUCCESS_CODES", "3"),
    (["--pdeathsig", "TERM"], "PYINIT_PDEATHSIG", "TERM"),
    (["--no-subreaper"], "PYINIT_SUBREAPER", "0"),
    (["--user", "nobody"], "PYINIT_USER", "nobody"),
    (["--groups", "0"], "PYINIT_GROUPS", "0"),
    (["--no-new-privs"], "PYINIT_NO_NEW_PRIVS", "true"),
    (["--clear-caps"], "PYINIT_CLEAR_CAPS", "on"),
    (["-vv"], "PYINIT_VERBOSITY", "3"),
    (["--log-format", "json"], "PYINIT_LOG_FORMAT", "json"),
    (["-w"], "PYINIT_WARN_ON_REAP", "1"),
    (["--procfile", PROCFILE], "PYINIT_PROCFILE", PROCFILE),
    (["--no-prefix"], "PYINIT_PREFIX", "0"),
]
# What follows the option words (default: the command `true`).
REST = {"PYINIT_PROCFILE": [], "PYINIT_PREFIX": ["--procfile", PROCFILE]}
# These change what the command line means, or replace the run: no variable, on purpose.  -P
# gives programs one option each: PYINIT_PROCFILE (a file) is the environment's way.
NO_VARIABLE = {"compat", "help", "version", "program"}


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("words", "variable", "value"), EQUIVALENT, ids=[v for _, v, _ in EQUIVALENT])
def test_the_variable_sets_what_the_option_sets(words, variable, value):
    rest = REST.get(variable, ["true"])
    by_option = parse_args([*words, *rest], {})
    assert by_option != parse_args(rest or ["true"], {})  # the option does change something...
    assert parse_args(rest, {variable: value}) == by_option  # ...and so does its variable


@pytest.mark.timeout(30)
def test_every_option_has_a_variable_and_every_variable_an_option():
    options = {opt.long for opt in cli._OPTIONS} - NO_VARIABLE
    covered = {words[0].lstrip("-") for words, _, _ in EQUIVALENT}
    short = {"c": "single-child", "e": "success-code", "vv": "verbose", "w": "warn-on-reap"}

    assert {short.get(word, word) for word in covered} == options
    assert {variable for _, variable, _ in EQUIVALENT} == set(ENVIRONMENT)


@pytest.mark.timeout(30)
def test_the_readme_options_table_names_each_variable_on_its_options_row():
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `-")]
    for opt in cli._OPTIONS:
        if opt.long in NO_VARIABLE:
            continue
        row = next((r for r in rows if re.search(r"`--%s\b" % re.escape(opt.long), r.split("|")[1])), None)
        assert row is not None, "no README row for --%s" % opt.long
        variables = [v for v in ENVIRONMENT if v in row.split("|")[2]]
        assert variables, "the README row of --%s names no PYINIT_* variable: %s" % (opt.long, row)
