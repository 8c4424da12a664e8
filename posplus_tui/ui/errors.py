"""Turn any exception from a service into words a clerk can act on."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from posplus_tui.redaction import redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """What happened and what to do next."""

    title: str
    fix: str


#: The ledger's database drivers, by the module their errors come from (the UI never imports them).
_DATABASE_MODULES = ("sqlalchemy", "psycopg", "sqlite3", "sqlmodel")
_NETWORK_MODULES = ("httpx", "httpcore", "ssl")

LEDGER_DOWN = Problem(
    "The ledger database is not answering; payments are paused. Nothing was lost.",
    "Call your technician. Do not charge a card again for a payment you already took: its "
    "record is safe and shows again when the database is back.",
)
LEDGER_READ_ONLY = Problem(
    "The ledger database cannot be written (it is read-only); payments are paused. Nothing was "
    "lost and nothing was changed.",
    "Call your technician: the ledger file or its folder must be writable by the user who runs "
    "the app. Do not charge a card again for a payment you already took.",
)
NETWORK_DOWN = Problem(
    "ServiceTitan cannot be reached from this computer right now. Nothing was lost.",
    "Check the network (cable or Wi-Fi). Payments still go to the terminal; their postings "
    "wait and go out when the network is back (Reconcile, F6).",
)

GENERIC_FIX = (
    "Try again. If it happens again, write down what you were doing and call the technician; "
    "the payment records are safe."
)


def explain(exc: BaseException) -> Problem:
    """Read ``title``/``message`` and ``fix`` from a service error; fall back to plain words.
    A database or network driver's own text never reaches the screen: it goes to the log."""
    module = type(exc).__module__.split(".")[0]
    if module in _DATABASE_MODULES or module in _NETWORK_MODULES:
        log.warning("shown to the clerk in words: %s", redact(f"{type(exc).__name__}: {exc}"))
        if module in _NETWORK_MODULES:
            return NETWORK_DOWN
        low = str(exc).lower()
        return LEDGER_READ_ONLY if "readonly" in low or "read-only" in low else LEDGER_DOWN
    fix = getattr(exc, "fix", None)
    title = getattr(exc, "title", None) or getattr(exc, "message", None)
    if not title:
        title = str(exc) or type(exc).__name__
    if fix is None:
        if isinstance(exc, TimeoutError):
            return Problem("The other side did not answer in time.", GENERIC_FIX)
        if isinstance(exc, ConnectionError | OSError):
            return Problem(
                "A connection failed: " + redact(str(exc) or type(exc).__name__),
                "Check the network cable or Wi-Fi, then try again.",
            )
        log.warning("unexpected error shown in words: %s", redact(f"{type(exc).__name__}: {title}"))
        return Problem("Something unexpected went wrong. Nothing was lost.", GENERIC_FIX)
    return Problem(redact(str(title)), redact(str(fix)))
