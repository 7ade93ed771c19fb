"""The Procfile parser: `name: command` lines in, Program tuples out, one clear line when not."""

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyinit.procfile import (
    COMMAND_MAX,
    FILE_MAX,
    NAME_MAX,
    ProcfileError,
    Program,
    load,
    parse_line,
    parse_option,
    parse_text,
)
from support import ROOT


def refusal(text, source="Procfile"):
    with pytest.raises(ProcfileError) as caught:
        parse_text(text, source)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message, message
    return message


def test_programs_come_in_file_order_with_comments_and_blank_lines_ignored():
    text = "# the web\nweb: gunicorn app:app --bind 0.0.0.0:$PORT\n\n   \n  # indented\nworker: python -m w\n"
    assert parse_text(text, "Procfile") == (
        Program("web", "gunicorn app:app --bind 0.0.0.0:$PORT"),
        Program("worker", "python -m w"),
    )


def test_the_command_is_everything_after_the_first_colon_stripped():
    (program,) = parse_text("clock:\t  echo a:b  # c: d \t\n", "Procfile")
    assert program.name == "clock" and program.command == "echo a:b  # c: d"


def test_blanks_around_the_name_are_ignored():
    assert parse_text("  web  : run\n", "P") == (Program("web", "run"),)


def test_a_program_is_an_immutable_name_command_tuple():
    program = Program("web", "run")
    name, command = program
    assert (name, command) == ("web", "run") == (program.name, program.command)
    with pytest.raises(AttributeError):
        program.name = "other"
    assert repr(program) == "Program('web', 'run')"


def test_crlf_line_ends_and_a_byte_order_mark_are_accepted(tmp_path):
    path = tmp_path / "Procfile"
    path.write_bytes(b"\xef\xbb\xbfweb: run a\r\n# c\r\nworker: run b\r\n")
    assert load(str(path)) == (Program("web", "run a"), Program("worker", "run b"))


def test_no_trailing_newline_is_needed():
    assert parse_text("web: run", "P") == (Program("web", "run"),)


def test_only_newline_ends_a_line_not_form_feed_or_unicode_separators():
    (program,) = parse_text("web: echo a\x0cb\u2028c\n", "P")
    assert program.command == "echo a\x0cb\u2028c"


@pytest.mark.parametrize("name", ["web", "Web_2", "a-b", "_", "9", "x" * NAME_MAX])
def test_names_of_letters_digits_underscore_and_dash_are_accepted(name):
    assert parse_text("%s: run\n" % name, "P")[0].name == name


@pytest.mark.parametrize("name", ["we b", "web.1", "wéb", "a/b", "x" * (NAME_MAX + 1), "a$b"])
def test_other_names_are_refused_naming_the_line(name):
    message = refusal("ok: run\n%s: run\n" % name)
    assert message.startswith("Procfile:2: bad program name ")


def test_a_line_without_colon_is_refused_with_its_line_number():
    assert refusal("web: run\n\nthis is not a program\n") == (
        "Procfile:3: expected 'name: command', got 'this is not a program'"
    )


def test_an_empty_name_is_refused():
    assert refusal(": run\n") == "Procfile:1: no program name before ':'"


def test_an_empty_command_is_refused():
    assert refusal("web:   \n") == "Procfile:1: program 'web' has no command"


def test_a_duplicate_name_is_refused_naming_both_lines():
    assert refusal("web: a\nworker: b\nweb: c\n") == (
        "Procfile:3: program 'web' is defined twice (first at Procfile:1)"
    )


def test_names_are_case_sensitive():
    assert [p.name for p in parse_text("web: a\nWeb: b\n", "P")] == ["web", "Web"]


def test_a_nul_byte_in_a_command_is_refused():
    assert refusal("web: echo a\0b\n") == "Procfile:1: program 'web': the command contains a NUL byte"


def test_a_command_longer_than_execve_takes_is_refused_at_parse_time():
    message = refusal("web: " + "x" * (COMMAND_MAX + 1) + "\n")
    assert message.startswith("Procfile:1: program 'web': the command is %d bytes" % (COMMAND_MAX + 1))


def test_the_longest_command_execve_takes_is_accepted_and_runs():
    command = "exit 7 #" + "x" * (COMMAND_MAX - len("exit 7 #"))
    (program,) = parse_text("web: %s\n" % command, "P")
    assert subprocess.run(["/bin/sh", "-c", program.command], timeout=30).returncode == 7


def test_a_long_malformed_line_is_quoted_shortened_on_one_line():
    message = refusal("x" * 10000 + "\n")
    assert message == "Procfile:1: expected 'name: command', got '%s'..." % ("x" * 40)


def test_control_characters_in_a_quoted_line_are_escaped():
    message = refusal("bad\x1b[31m\tline\n")
    assert "\x1b" not in message and "\\x1b" in message


@pytest.mark.parametrize("text", ["", "\n\n", "# only\n  # comments\n", "\ufeff"])
def test_a_procfile_without_programs_is_refused(text):
    assert refusal(text) == "Procfile: no program (expected 'name: command' lines)"


def test_a_missing_file_is_one_line_naming_it(tmp_path):
    path = str(tmp_path / "Procfile")
    with pytest.raises(ProcfileError) as caught:
        load(path)
    assert str(caught.value) == "%s: cannot read: No such file or directory" % path


def test_a_directory_is_one_line_naming_it(tmp_path):
    with pytest.raises(ProcfileError) as caught:
        load(str(tmp_path))
    assert str(caught.value) == "%s: cannot read: Is a directory" % tmp_path


def test_an_unreadable_file_is_one_line_naming_it(tmp_path):
    path = tmp_path / "Procfile"
    path.write_text("web: run\n")
    path.chmod(0)
    tmp_path.chmod(0o755)
    # Read in a forked child running as a user the file's mode shuts out (root reads anything).
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            try:
                load(str(path))
            except ProcfileError as exc:
                os.write(write_end, str(exc).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    message = os.read(read_end, 4096).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert message == "%s: cannot read: Permission denied" % path


def test_a_file_larger_than_the_limit_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "Procfile"
    path.write_bytes(b"# " + b"x" * FILE_MAX + b"\nweb: run\n")
    with pytest.raises(ProcfileError) as caught:
        load(str(path))
    assert str(caught.value) == "%s: larger than %d bytes: not a Procfile" % (path, FILE_MAX)


def test_bytes_that_are_not_utf8_reach_the_shell_unchanged(tmp_path):
    path = tmp_path / "Procfile"
    path.write_bytes(b"web: printf '%s' '\xff\xfe caf\xc3\xa9 \x80'\n")
    (program,) = load(str(path))
    out = subprocess.run(["/bin/sh", "-c", program.command], capture_output=True, timeout=30).stdout
    assert out == b"\xff\xfe caf\xc3\xa9 \x80"


def test_a_name_that_is_not_utf8_is_refused_on_one_printable_line(tmp_path):
    path = tmp_path / "Procfile"
    path.write_bytes(b"w\xffb: run\n")
    with pytest.raises(ProcfileError) as caught:
        load(str(path))
    message = str(caught.value)
    assert message == "%s:1: bad program name 'w\\xffb': use 1 to %d letters, digits, '_' or '-'" % (
        path,
        NAME_MAX,
    )
    message.encode("utf-8")  # printable as it is: no lone surrogate in it


def test_parse_line_takes_the_callers_label_and_returns_none_for_blank_or_comment():
    assert parse_line("web: run", "anywhere") == Program("web", "run")
    assert parse_line("   ", "x") is None and parse_line("# web: run", "x") is None
    with pytest.raises(ProcfileError) as caught:
        parse_line("web run", "--program 'web run'")
    assert str(caught.value).startswith("--program 'web run': expected 'name: command'")


def test_option_values_give_programs_in_order():
    assert parse_option(["web: gunicorn app", "worker: python w.py"]) == (
        Program("web", "gunicorn app"),
        Program("worker", "python w.py"),
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["web: a", "web: b"], "-P #2: program 'web' is defined twice (first at -P #1)"),
        (["web: a", ""], "-P #2: expected 'name: command', got ''"),
        (["# web: a"], "-P #1: expected 'name: command', got '# web: a'"),
        (["web"], "-P #1: expected 'name: command', got 'web'"),
        ([], "-P: no program (expected 'name: command' lines)"),
    ],
)
def test_bad_option_values_are_one_line_naming_the_option(values, expected):
    with pytest.raises(ProcfileError) as caught:
        parse_option(values)
    assert str(caught.value) == expected


def test_the_option_label_is_the_callers():
    with pytest.raises(ProcfileError) as caught:
        parse_option(["web"], label="--program")
    assert str(caught.value).startswith("--program #1: ")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab-_:# \t\r\n\x00\x0b\xe9\udcff"), max_size=60))
def test_any_text_gives_programs_or_one_line_naming_the_file(text):
    try:
        programs = parse_text(text, "Procfile")
    except ProcfileError as exc:
        message = str(exc)
        assert message.startswith("Procfile")
        assert "\n" not in message and "\r" not in message
        message.encode("utf-8")
    else:
        assert programs and len({p.name for p in programs}) == len(programs)
        for program in programs:
            assert program.name and program.command and "\0" not in program.command
            assert program.command == program.command.strip(" \t")


def test_importing_the_parser_loads_nothing_else():
    # __future__ (for annotations) is loaded by every pyinit module already.
    code = (
        "import sys; sys.path.insert(0, %r); before = set(sys.modules); import pyinit.procfile; "
        "print(sorted(set(sys.modules) - before - {'__future__'}))" % str(ROOT)
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "['pyinit', 'pyinit.procfile']", out.stderr
