"""What a SPIn reply means for the request it answers: pure functions, no I/O.

The rules (see ``drivers/README.md``, SPIn):

* Business outcomes arrive as HTTP 200 and are read from ``GeneralResponse`` [R]; an approval in
  any other HTTP status is not believed.
* A reply naming another ReferenceId is never the request's: *unknown*. A money outcome
  (approved, declined, cancelled) must name the request's ReferenceId; a refusal before any card
  was read (offline, wrong key …) is tied by the HTTP exchange alone.
* ``2008``/``1000`` (busy) means wait ``DelayBeforeNextRequest`` and ask again; ``1011``
  (duplicate) is settled by a status query; ``2007`` (proxy time-out) and anything unreadable or
  unrecognised is *unknown*.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.base import (
    Approved,
    BatchClosed,
    Cancelled,
    Declined,
    EntryMethod,
    NotFound,
    StatusResult,
    TerminalError,
    TransactionResult,
    Unknown,
)
from drivers.spin import codec as c

#: wait this long after a busy answer that names no delay [I]
DEFAULT_BUSY_DELAY = 2.0

_ENTRY = {
    "chip": EntryMethod.CHIP,
    "emv": EntryMethod.CHIP,
    "contactless": EntryMethod.CONTACTLESS,
    "tap": EntryMethod.CONTACTLESS,
    "nfc": EntryMethod.CONTACTLESS,
    "swipe": EntryMethod.SWIPE,
    "swiped": EntryMethod.SWIPE,
    "manual": EntryMethod.KEYED,
    "keyed": EntryMethod.KEYED,
}
_BRANDS = {
    "visa": "VISA",
    "mastercard": "MASTERCARD",
    "mc": "MASTERCARD",
    "amex": "AMEX",
    "americanexpress": "AMEX",
    "discover": "DISCOVER",
    "jcb": "JCB",
    "diners": "DINERS",
}


@dataclass(frozen=True)
class Busy:
    """The terminal (or proxy) is busy: nothing was done; ask again after ``delay_s``."""

    delay_s: float
    words: str


@dataclass(frozen=True)
class Duplicate:
    """The terminal already holds a transaction with this ReferenceId: settle it by status."""

    words: str


Step = Busy | Duplicate


def _entry(text: str) -> EntryMethod:
    key = text.lower().replace(" ", "").replace("_", "")
    for word, method in _ENTRY.items():
        if word in key:
            return method
    return EntryMethod.UNKNOWN


def _brand(text: str) -> str:
    key = text.lower().replace(" ", "").replace("_", "")
    return _BRANDS.get(key, text.upper()[:20])


def _tied(reply: c.Reply, ref: str) -> bool:
    return reply.reference_id == ref


def _other_ref(reply: c.Reply, ref: str) -> bool:
    return reply.reference_id not in (None, "", ref)


def _approval(
    reply: c.Reply, ref: str, requested: int | None, *, report_ref: str, token_used: bool = False
) -> Approved | Unknown:
    """An approval is believed only whole: HTTP 200, our ReferenceId, a readable amount no more
    than asked, a host code (when sent) that approves."""
    if reply.http_status != 200:
        return Unknown(
            report_ref, f"an approval came with HTTP {reply.http_status}; ask the status"
        )
    if not _tied(reply, ref):
        return Unknown(
            report_ref, "the approval does not name this request's ReferenceId; ask the status"
        )
    if reply.amount_cents is None:
        return Unknown(report_ref, "the approval carries no readable amount; ask the status")
    approved = reply.amount_cents
    if approved <= 0 or (requested is not None and approved > requested):
        return Unknown(
            report_ref, f"the approval is for {approved} cents, not what was asked; ask the status"
        )
    host = reply.host_code.strip()
    if host and host.isdigit() and host not in c.APPROVING_HOST_CODES:
        return Unknown(
            report_ref, f"approved, but the host code {host} does not approve; ask the status"
        )
    return Approved(
        ecr_ref=report_ref,
        approved_cents=approved,
        requested_cents=requested if requested is not None else approved,
        auth_code=reply.auth_code,
        # SPIn names a transaction by its ReferenceId (Void and Status take it) [R]
        host_ref=ref,
        terminal_ref=reply.transaction_number or reply.pn_reference,
        brand=_brand(reply.card_type) if reply.card_type else "",
        last4=reply.last4,
        entry_method=EntryMethod.TOKEN if token_used else _entry(reply.entry_type),
        token=None,
        batch_number=reply.batch_number,
    )


def _common(reply: c.Reply, ref: str, report_ref: str) -> TransactionResult | Step | None:
    """Codes that mean the same whatever was asked; None when the caller decides."""
    code = reply.status_code
    if _other_ref(reply, ref):
        return Unknown(
            report_ref,
            f"the reply names ReferenceId {reply.reference_id!r}, not this request's; ask the status",
        )
    if code in (c.PROXY_BUSY, c.TERMINAL_BUSY):
        return Busy(reply.delay_s if reply.delay_s is not None else DEFAULT_BUSY_DELAY, reply.text)
    if code == c.PROXY_TIMEOUT:
        return Unknown(
            report_ref,
            f"the SPIn proxy timed out waiting for the terminal ({reply.text}); ask the status",
        )
    if code in c.NOT_DELIVERED:
        return TerminalError(report_ref, "NOT_SENT", f"the terminal was not reached: {reply.text}")
    return None


def transaction(
    reply: c.Reply, *, ref: str, requested: int, report_ref: str | None = None, token: bool = False
) -> TransactionResult | Step:
    """Sale, Return or Void: what the reply says about the money."""
    report = report_ref or ref
    early = _common(reply, ref, report)
    if early is not None:
        return early
    code = reply.status_code
    if code in (c.APPROVED, c.PARTIAL):
        return _approval(reply, ref, requested, report_ref=report, token_used=token)
    if code == c.DUPLICATE:
        return Duplicate(reply.text)
    if code in (c.DECLINED, c.CANCELED):
        if reply.http_status != 200 or not _tied(reply, ref):
            return Unknown(
                report, f"{reply.text} does not name this request's ReferenceId; ask the status"
            )
        if code == c.DECLINED:
            return Declined(report, reply.host_code or code, reply.host_message or reply.message)
        return Cancelled(report, reply.message or "cancelled")
    if code in c.REFUSED and reply.http_status == 200:
        return TerminalError(report, code, f"the terminal refused: {reply.text}")
    return Unknown(report, f"the terminal answered {reply.text}; ask the status")


def status(reply: c.Reply, *, ref: str) -> StatusResult | Busy:
    """Status by ReferenceId: the stored transaction's own outcome [I: GeneralResponse describes
    the stored transaction, not the query]."""
    if reply.status_code in (c.NOT_FOUND, c.PROXY_NOT_FOUND):
        if _other_ref(reply, ref) or reply.http_status != 200:
            return Unknown(ref, f"the not-found answer is not this reference's: {reply.text}")
        return NotFound(ref)
    early = _common(reply, ref, ref)
    if isinstance(early, Busy | Unknown | TerminalError):
        return early
    code = reply.status_code
    if code in (c.APPROVED, c.PARTIAL):
        # the stored record says what it was approved for; what was asked is not in it [I]
        return _approval(reply, ref, None, report_ref=ref)
    if code in (c.DECLINED, c.CANCELED):
        if reply.http_status != 200 or not _tied(reply, ref):
            return Unknown(ref, f"{reply.text} does not name this ReferenceId; ask again")
        if code == c.DECLINED:
            return Declined(ref, reply.host_code or code, reply.host_message or reply.message)
        return Cancelled(ref, reply.message or "cancelled")
    if code in c.AUTH_FAILED:
        return TerminalError(ref, code, f"the terminal refused the status query: {reply.text}")
    return Unknown(ref, f"the status answer was {reply.text}; ask again")


def settled(reply: c.Reply) -> BatchClosed | TerminalError | Busy:
    """Settle: closed, refused, or unknown (a ``TerminalError`` with code ``UNKNOWN``)."""
    code = reply.status_code
    if code in (c.PROXY_BUSY, c.TERMINAL_BUSY):
        return Busy(reply.delay_s if reply.delay_s is not None else DEFAULT_BUSY_DELAY, reply.text)
    if code == c.APPROVED and reply.http_status == 200:
        known = reply.transaction_count is not None and reply.total_cents is not None
        return BatchClosed(
            batch_number=reply.batch_number,
            count=reply.transaction_count or 0 if known else 0,
            total_cents=reply.total_cents or 0 if known else 0,
            totals_known=known,
        )
    if code in c.NOT_DELIVERED:
        return TerminalError(
            None, "NOT_SENT", f"batch close did not reach the terminal: {reply.text}"
        )
    if code in c.REFUSED:
        return TerminalError(None, code, f"the terminal did not close the batch: {reply.text}")
    return TerminalError(
        None, "UNKNOWN", f"batch close outcome unknown ({reply.text}); check the terminal's report"
    )
