"""Shared pieces of the CLI: a parser that fails in one line, and the error type commands raise."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from posplus_tui import config
from posplus_tui.secrets import SecretStoreError


class CliError(Exception):
    """An expected failure: printed as one line, exit code ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class PosplusParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that says what to do."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message}. Run '{self.prog} --help' for the options.", file=sys.stderr)
        raise SystemExit(2)


def load_settings(args: argparse.Namespace) -> config.Settings:
    """The settings for this run, or a :class:`CliError` naming the key and the file."""
    try:
        return config.load(Path(args.config) if getattr(args, "config", None) else None)
    except config.ConfigError as exc:
        raise CliError(str(exc), exit_code=2) from exc


def config_file(args: argparse.Namespace) -> Path:
    from posplus_tui import paths

    return Path(args.config) if getattr(args, "config", None) else paths.default_config_file()


__all__ = ["CliError", "PosplusParser", "SecretStoreError", "config_file", "load_settings"]
