"""The app's log: a rotating file in the platform's log folder, redacted before every write."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from posplus_tui import paths
from posplus_tui.redaction import redact

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks secrets and card-like numbers, tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose files (the current one and each new one) are readable by the
    owner only (0600): a log says who did what at the counter."""

    def _open(self):  # type: ignore[no-untyped-def]
        stream = open(  # noqa: SIM115 - the handler owns and closes the stream
            self.baseFilename,
            self.mode,
            encoding=self.encoding,
            errors=self.errors,
            opener=lambda path, flags: os.open(path, flags, 0o600),
        )
        os.chmod(self.baseFilename, 0o600)
        return stream


def setup_logging(level: int = logging.INFO, directory: Path | None = None) -> Path:
    """Attach a rotating, redacting file handler to the root logger; returns the file's path."""
    folder = directory or paths.log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "posplus.log"
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_posplus", False):
            root.removeHandler(handler)
            handler.close()
    handler = PrivateRotatingFileHandler(file, maxBytes=5_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(RedactingFormatter(LOG_FORMAT))
    handler._posplus = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    return file
