"""Where the app keeps its files: the platform's folders, overridable for tests and kiosks."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "posplus"


def config_dir() -> Path:
    return Path(os.environ.get("POSPLUS_CONFIG_DIR") or platformdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    return Path(os.environ.get("POSPLUS_DATA_DIR") or platformdirs.user_data_dir(APP_NAME))


def log_dir() -> Path:
    return Path(os.environ.get("POSPLUS_LOG_DIR") or platformdirs.user_log_dir(APP_NAME))


def default_config_file() -> Path:
    return Path(os.environ.get("POSPLUS_CONFIG") or config_dir() / "config.toml")


def default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'ledger.sqlite3'}"
