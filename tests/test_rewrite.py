"""--rewrite FROM:TO: names, numbers and real-time signals on both sides; TO of 0/none drops."""

import signal

import pytest

from pyinit.signals import SignalSpecError, parse, parse_rewrite
from support import program, run, wait_until

RTMIN = signal.SIGRTMIN


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("TERM", signal.SIGTERM),
        ("sigterm", signal.SIGTERM),
        ("SigTerm", signal.SIGTERM),
        ("15", signal.SIGTERM),
        (" 15 ", signal.SIGTERM),
        ("RTMIN", RTMIN),
        ("RTMIN+3", RTMIN + 3),
        ("sigrtmin+3", RTMIN + 3),
        ("RTMAX", signal.SIGRTMAX),
        ("RTMAX-2", signal.SIGRTMAX - 2),
        ("40", 40),
        ("IOT", signal.SIGABRT),
    ],
)
def test_signal_specs_accept_names_numbers_and_realtime(spec, expected):
    assert parse(spec) == expected


@pytest.mark.parametrize(
    "spec", ["", "TERMINATE", "0", "65", "32", "-1", "1_5", "\u0661\u0665", "RTMIN+31", "RTMAX+1", "RTMIN-1"]
)
def test_bad_signal_specs_are_refused_with_what_is_accepted(spec):
    with pytest.raises(SignalSpecError) as info:
        parse(spec)
    assert "TERM" in str(info.value) or "RTMIN" in str(info.value)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("TERM:QUIT", (signal.SIGTERM, signal.SIGQUIT)),
        ("15:3", (15, 3)),
        ("RTMIN+1:USR1", (RTMIN + 1, signal.SIGUSR1)),
        ("USR1:RTMAX", (signal.SIGUSR1, signal.SIGRTMAX)),
        ("HUP:none", (signal.SIGHUP, 0)),
        ("HUP:0", (signal.SIGHUP, 0)),
        ("TERM:KILL", (signal.SIGTERM, signal.SIGKILL)),
    ],
)
def test_rewrite_specs(spec, expected):
    assert parse_rewrite(spec) == expected


@pytest.mark.parametrize(
    ("spec", "part"),
    [
        ("TERM", "FROM:TO"),
        ("TERM:", "TO part"),
        (":QUIT", "FROM part"),
        ("BOGUS:QUIT", "FROM part"),
        ("TERM:BOGUS", "TO part"),
        ("KILL:TERM", "never reaches"),
        ("CHLD:TERM", "never reaches"),
        ("RTMIN+99:1", "FROM part"),
    ],
)
def test_bad_rewrites_say_which_part_is_wrong(spec, part):
    with pytest.raises(SignalSpecError) as info:
        parse_rewrite(spec)
    assert part in str(info.value)
    result = run(["--rewrite", spec, "true"])
    assert result.returncode == 125 and part in result.stderr and len(result.stderr.splitlines()) == 1


def recorded(path):
    return [int(line.split()[1]) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.timeout(60)
def test_rewritten_signals_reach_the_program_as_their_target(start_init, tmp_path):
    record = tmp_path / "signals"
    init = start_init(
        [
            "-r",
            "TERM:QUIT",
            "--rewrite",
            "10:12",
            "-r",
            "rtmin+1:usr1",
            "--rewrite=HUP:none",
            "-r",
            "WINCH:0",
            *program("recorder", str(record)),
        ],
        env={"PYINIT_REWRITE": "INT:USR2,QUIT:RTMIN+2"},
    )
    init.wait_for_output("ready")
    expectations = [
        (signal.SIGTERM, signal.SIGQUIT),
        (signal.SIGUSR1, signal.SIGUSR2),
        (RTMIN + 1, signal.SIGUSR1),
        (signal.SIGINT, signal.SIGUSR2),  # from the environment
        (signal.SIGQUIT, RTMIN + 2),  # real-time as a target
    ]
    for sent, expected in expectations:
        count = recorded(record).count(expected)
        init.send(sent)
        wait_until(
            lambda expected=expected, count=count: recorded(record).count(expected) > count,
            message="%s to arrive as %s" % (sent, expected),
        )
    # Dropped ones: HUP and WINCH never arrive; a marker sent after them does.  The marker is a
    # real-time signal forwarded as it is, numbered above both: pyinit takes its pending signals
    # lowest first, and the program runs its handlers lowest first, so a HUP or WINCH forwarded
    # before the marker would be recorded before it.
    marker = RTMIN + 5
    init.send(signal.SIGHUP)
    init.send(signal.SIGWINCH)
    init.send(marker)
    wait_until(lambda: marker in recorded(record), message="the marker")
    assert signal.SIGHUP not in recorded(record) and signal.SIGWINCH not in recorded(record)
    assert signal.SIGTERM not in recorded(record)


@pytest.mark.timeout(60)
def test_command_line_rule_wins_over_the_environment_for_the_same_signal(start_init, tmp_path):
    record = tmp_path / "signals"
    args = ["-r", "TERM:USR1", *program("recorder", str(record))]
    init = start_init(args, env={"PYINIT_REWRITE": "TERM:HUP"})
    init.wait_for_output("ready")
    init.send(signal.SIGTERM)
    wait_until(lambda: signal.SIGUSR1 in recorded(record))
    assert signal.SIGHUP not in recorded(record)
