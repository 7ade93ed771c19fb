"""Property tests: whatever the command line and the PYINIT_* environment, pyinit answers with
a Config or a clean exit (code and text), never with an exception."""

import subprocess

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pyinit.config import Config
from pyinit.errors import Exit, StartError
from pyinit.personalities import load
from pyinit.personalities.pyinit import ENVIRONMENT, parse_args
from support import BASE_ENV, PYINIT

WORDS = st.one_of(
    st.sampled_from(
        [
            "-c",
            "-v",
            "-vv",
            "-h",
            "-V",
            "-r",
            "-e",
            "-u",
            "-w",
            "--",
            "-",
            "--rewrite",
            "--grace",
            "--delay",
            "--leftovers",
            "--log-format",
            "--stop-signals",
            "--pdeathsig",
            "--user",
            "--groups",
            "--setsid",
            "--single-child",
            "--compat",
            "--rew",
            "--ver",
            "--grace=",
            "TERM:QUIT",
            "15:3",
            "RTMIN+3:none",
            "KILL:1",
            "0",
            "-1",
            "1e400",
            "nan",
            "inf",
            "stop",
            "leave",
            "wait",
            "json",
            "text",
            "true",
            "sh",
            "exec",
            "probe",
        ]
    ),
    st.text(max_size=12),
)
ENV_VALUES = st.dictionaries(st.sampled_from(sorted(ENVIRONMENT)), st.text(max_size=12), max_size=4)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argv=st.lists(WORDS, max_size=8), environ=ENV_VALUES)
@example(argv=[], environ={"PYINIT_PROCFILE": "\n"})  # found by Hypothesis: the path in the error
@example(argv=["--procfile", "a\x1bb"], environ={})
@example(argv=[], environ={"PYINIT_PROCFILE": "/etc/passwd"})  # found by Hypothesis: it parses
def test_parsing_any_command_line_gives_a_config_or_a_clean_exit(argv, environ):
    try:
        config = parse_args(argv, environ)
    except Exit as done:
        assert done.code in (0, 125)
        if done.code == 125:
            assert done.text.count("\n") == 1 and done.text.startswith(("pyinit: ", "pyinit exec: "))
        return
    assert isinstance(config, Config)
    assert config.command or config.programs  # a COMMAND, or a Procfile's programs


SAFE = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "-c",
                "-v",
                "--grace",
                "1",
                "--rewrite",
                "TERM:x",
                "--",
                "-r",
                "15:0",
                "--yolo",
                "--leftovers",
                "wait",
                "-e",
                "300",
            ]
        ),
        st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=8),
    ),
    max_size=6,
)


@pytest.mark.timeout(300)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argv=SAFE)
def test_the_real_program_never_shows_a_traceback(argv, tmp_path_factory):
    # PATH points at an empty directory: whatever the words, no real program can be started.
    empty = tmp_path_factory.mktemp("empty")
    result = subprocess.run(
        PYINIT + argv,
        env=dict(BASE_ENV, PATH=str(empty)),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 125, 126, 127), (result.returncode, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith(("pyinit:", "[pyinit] error:"))]
    assert len(errors) == (0 if result.returncode == 0 else 1), result.stderr


# --- every other parser: the drop-in command lines, signal specs, user specs ---------------------

from pyinit.personalities import parse  # noqa: E402
from pyinit.signals import SignalSpecError, parse_list, parse_rewrite  # noqa: E402
from pyinit.users import Credentials  # noqa: E402

COMPAT_WORDS = st.one_of(
    st.sampled_from(
        [
            "-s",
            "-v",
            "-vvv",
            "-w",
            "-g",
            "-l",
            "-h",
            "-e",
            "-p",
            "--",
            "--version",
            "-c",
            "-r",
            "-V",
            "--rewrite",
            "--single-child",
            "--verbose",
            "--help",
            "--ver",
            "--rew=15:3",
            "15:3",
            "1:32",
            "SIGKILL",
            "KILL",
            "nobody",
            "root",
            "0:0",
            "1000",
            ":daemon",
            "-?",
            "true",
            "sh",
        ]
    ),
    st.text(max_size=10),
)
COMPAT_ENV = st.dictionaries(
    st.sampled_from(
        [
            "TINI_SUBREAPER",
            "TINI_VERBOSITY",
            "TINI_KILL_PROCESS_GROUP",
            "DUMB_INIT_SETSID",
            "DUMB_INIT_DEBUG",
            "POSIXLY_CORRECT",
        ]
    ),
    st.text(max_size=6),
    max_size=3,
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(["tini", "dumb-init", "gosu", "su-exec", "pyinit"]),
    argv=st.lists(COMPAT_WORDS, max_size=7),
    environ=COMPAT_ENV,
)
def test_every_command_line_gives_a_config_or_a_clean_exit(name, argv, environ):
    try:
        config = parse([name, *argv], environ)
    except Exit as done:
        # The documented codes: pyinit's 0 and 125 (README); each peer's own 0 and 1, whose
        # usage errors print that tool's usage text after the error line, as the tool does.
        assert done.code in ({0, 125} if name == "pyinit" else {0, 1}), (done.code, done.text)
        assert done.text.endswith("\n") and "Traceback" not in done.text
        if name == "pyinit" and done.code:
            assert done.text.count("\n") == 1, done.text
        return
    assert isinstance(config, Config) and (config.command or config.programs)


@settings(max_examples=3000, deadline=None)
@given(st.text(max_size=16))
def test_signal_specs_give_signals_or_one_clear_reason(text):
    for function in (parse_rewrite, parse_list):
        try:
            function(text)
        except SignalSpecError as exc:
            assert str(exc) and "\n" not in str(exc)


USER_SPECS = st.one_of(
    st.text(max_size=12),
    st.builds(
        lambda u, g: "%s:%s" % (u, g),
        st.sampled_from(["root", "nobody", "games", "0", "+0", "-1", "65534", "2147483648", "bogus", ""]),
        st.sampled_from(["root", "daemon", "0", "1000", "bogus", "", "0x10", "1_0"]),
    ),
)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=USER_SPECS,
    groups=st.none() | st.lists(st.text(max_size=6), max_size=3),
    flavor=st.sampled_from(["pyinit", "gosu", "su-exec"]),
)
def test_user_specs_resolve_or_are_refused_in_one_line(spec, groups, flavor):
    config = Config(
        command=("true",), user=spec, groups=None if groups is None else tuple(groups), personality=flavor
    )
    try:
        credentials = load(flavor).credentials(config)
    except StartError as exc:
        assert exc.step == "refused" and exc.detail and "\n" not in exc.detail
        return
    assert isinstance(credentials, Credentials)
