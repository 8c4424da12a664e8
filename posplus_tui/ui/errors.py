"""Turn any exception from a service into words a clerk can act on."""

from __future__ import annotations

from dataclasses import dataclass

from posplus_tui.redaction import redact


@dataclass(frozen=True)
class Problem:
    """What happened and what to do next."""

    title: str
    fix: str


GENERIC_FIX = (
    "Try again. If it happens again, write down what you were doing and call the technician; "
    "the payment records are safe."
)


def explain(exc: BaseException) -> Problem:
    """Read ``title``/``message`` and ``fix`` from a service error; fall back to plain words."""
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
        return Problem(
            f"Something unexpected went wrong ({type(exc).__name__}: {redact(str(title))}).",
            GENERIC_FIX,
        )
    return Problem(redact(str(title)), redact(str(fix)))
