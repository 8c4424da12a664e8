"""Every ``posplus`` subcommand, given a bad value, answers with words and a non-zero exit, never
a traceback (issue 16). The list of commands is read from the parser itself, so a new command
without a case here fails this test until it has one."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from posplus_tui.cli import build_parser, main

BAD_URL = ["--database-url", "postgresql://u:p@h:notaport/db"]

#: command → a bad value for it. ``{tmp}`` is a fresh folder.
BAD: dict[str, list[str]] = {
    "version": ["--bogus"],
    "demo": ["--card-wait-ms", "-5"],
    "run": ["--bogus"],
    "config path": ["--bogus"],
    "config show": ["--bogus"],
    "terminal sim": ["--tcp", "127.0.0.1:notaport"],
    "terminal test": ["poslink+tcp://[::1"],
    "terminal log": ["foo"],
    "sandbox serve": ["--port", "70000"],
    "sandbox fault": ["nonsense", "--url", "http://127.0.0.1:1", "--app-key", "x"],
    "links sandbox serve": ["--port", "70000"],
    "links sandbox fault": ["nonsense", "--url", "http://127.0.0.1:1", "--key", "x"],
    "links sandbox pay": ["plink_x", "--url", "http://127.0.0.1:1", "--key", "x"],
    "db upgrade": BAD_URL,
    "db backup": BAD_URL,
    "db backups": BAD_URL,
    "db restore": ["{tmp}/no-such-backup.sqlite3"],
    "txn list": BAD_URL,
    "txn show": ["P1", *BAD_URL],
    "recover": ["--terminal-url", "sim://", *BAD_URL],
    "audit verify": BAD_URL,
    "audit upgrade": BAD_URL,
    "audit key export": BAD_URL,
    "audit key import": ["not-an-exported-key", *BAD_URL],
    "reconcile": ["--status", *BAD_URL],
    "operators list": BAD_URL,
    "operators add": ["Ana", "--role", "boss"],
    "operators set-pin": ["Ana", *BAD_URL],
    "operators disable": ["Ana", *BAD_URL],
    "operators enable": ["Ana", *BAD_URL],
}


def _leaves(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[str]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [" ".join(prefix)]
    return [
        leaf
        for action in subs
        for name, child in action.choices.items()
        for leaf in _leaves(child, (*prefix, name))
    ]


def test_every_command_has_a_bad_value_here() -> None:
    assert sorted(_leaves(build_parser())) == sorted(BAD)


@pytest.mark.parametrize("command", sorted(BAD))
def test_a_bad_value_is_words_and_a_non_zero_exit(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*command.split(), *(a.replace("{tmp}", str(tmp_path)) for a in BAD[command])]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own one-line refusal (exit 2)
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code != 0, (argv, err)
    assert err.strip(), argv
    assert "Traceback" not in err and "something unexpected" not in err, err
    assert ":p@" not in err  # a password in a URL is never printed
