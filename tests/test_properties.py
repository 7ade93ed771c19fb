"""Property tests: whatever the command line and the PYINIT_* environment, pyinit answers with
a Config or a clean exit (code and text), never with an exception."""

import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyinit.cli import ENVIRONMENT, Exit, parse_args
from pyinit.config import Config
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
def test_parsing_any_command_line_gives_a_config_or_a_clean_exit(argv, environ):
    try:
        config = parse_args(argv, environ)
    except Exit as done:
        assert done.code in (0, 125)
        if done.code == 125:
            # `pyinit exec ...` names itself in its messages (cli._subcommand)
            assert done.text.count("\n") == 1 and done.text.startswith(("pyinit: ", "pyinit exec: "))
        return
    assert isinstance(config, Config)
    assert config.command


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
