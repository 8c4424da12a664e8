"""What the ledger already holds against an invoice, and whether a new charge still fits.

ServiceTitan's balance lags the ledger: a charge in flight at another station, a payment the
terminal has not confirmed, or an approval the outbox has not posted yet are all money the
customer may already have paid. The engine offers ServiceTitan's balance minus these holds.

A posted charge is subtracted only while ServiceTitan's reading does not show it: the caller says
which of our payments (by ECR reference) it saw applied to the invoice in the same reading as the
balance. Seen means already in the balance, so it is not subtracted twice; not seen (posted after
the reading, or not yet visible) means it is subtracted, whatever its posting state. A wrong
guess here can only under-offer (the clerk looks the invoice up again), never charge twice.

Pure: the services read the rows, this module decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from posplus_tui.domain.money import Money
from posplus_tui.domain.rules import RuleViolation
from posplus_tui.domain.transactions import MONEY_MOVED_STATES, TxnState

__all__ = ["InvoiceHolds", "LedgerCharge", "OpenLink", "check_reservation", "holds_for"]

#: Sent or about to be sent: someone is charging this invoice right now.
_CHARGING = frozenset({TxnState.INTENT, TxnState.AT_TERMINAL})


@dataclass(frozen=True)
class LedgerCharge:
    """One sale or deposit of the invoice as the ledger has it (any station)."""

    ecr_ref: str
    state: TxnState
    amount: Money  # asked for
    approved: Money  # approved by the host (0 until then)
    returned: Money  # refunds of it that moved money back
    station: str
    operator: str
    created_at: datetime
    #: ServiceTitan's id for its payment, once posted (the worker's, or typed by a person).
    st_payment_id: str = ""

    def held(
        self, seen_refs: frozenset[str], seen_payment_ids: frozenset[str] = frozenset()
    ) -> Money:
        """What of this charge ServiceTitan's balance may not reflect yet."""
        if self.state in _CHARGING or self.state is TxnState.UNKNOWN:
            return self.amount  # may be (or become) approved in full
        if self.state not in MONEY_MOVED_STATES or self.state is TxnState.VOIDED:
            return Money(0)
        if self.ecr_ref in seen_refs or (
            self.st_payment_id and self.st_payment_id in seen_payment_ids
        ):
            return Money(0)  # already in ServiceTitan's balance
        return Money(max(0, self.approved.cents - self.returned.cents))

    def who(self) -> str:
        by = f" by {self.operator}" if self.operator else ""
        return f"{self.station or 'another station'}{by}"


@dataclass(frozen=True)
class OpenLink:
    """A payment link of the invoice the customer may still pay (or that is being created)."""

    reference: str
    amount: Money
    channel: str  # email | sms | qr | "" (not sent yet)
    station: str
    created_at: datetime


@dataclass(frozen=True)
class InvoiceHolds:
    """ServiceTitan's balance and the ledger's charges that it does not show yet."""

    invoice_number: str
    balance: Money
    charging: tuple[LedgerCharge, ...]  # INTENT / AT_TERMINAL
    unknown: tuple[LedgerCharge, ...]  # sent, outcome not confirmed by the terminal
    unposted: tuple[LedgerCharge, ...]  # approved, not in ServiceTitan's reading
    held: Money
    links: tuple[OpenLink, ...] = ()  # open payment links: the customer may pay them any time

    @property
    def available(self) -> Money:
        """What may still be charged: ServiceTitan's balance minus the holds (never below 0)."""
        return Money(max(0, self.balance.cents - self.held.cents))

    def describe(self) -> str:
        """Who holds what, in words ("" when nothing is held)."""
        parts: list[str] = []
        for c in self.charging:
            parts.append(
                f"{c.amount.format()} being charged right now at {c.who()} "
                f"(started {c.created_at:%H:%M}, {c.ecr_ref})"
            )
        for c in self.unknown:
            parts.append(
                f"{c.amount.format()} at {c.who()} that its terminal has not confirmed yet "
                f"({c.ecr_ref}; it may have been taken)"
            )
        for c in self.unposted:
            parts.append(
                f"{(c.approved - c.returned).format()} approved at {c.who()} "
                f"({c.created_at:%H:%M}, {c.ecr_ref}) that ServiceTitan does not show yet"
            )
        for link in self.links:
            how = {"email": "e-mailed", "sms": "texted", "qr": "shown as a QR code"}.get(
                link.channel, "created"
            )
            parts.append(
                f"{link.amount.format()} in a payment link {how} at {link.created_at:%H:%M} "
                f"({link.reference}; the customer can still pay it — deactivate it first to "
                "charge here instead)"
            )
        return "; ".join(parts)


def holds_for(
    invoice_number: str,
    balance: Money,
    charges: Iterable[LedgerCharge],
    seen_refs: frozenset[str] = frozenset(),
    seen_payment_ids: frozenset[str] = frozenset(),
    links: Iterable[OpenLink] = (),
) -> InvoiceHolds:
    """The holds, given the references and ServiceTitan payment ids of our payments the reading
    of ``balance`` showed on the invoice (a payment a person posted by hand, without our marker,
    is recognised by its id when they recorded it). An open payment link holds its whole amount
    until it is paid (then its payment is a charge like any other), expires or is deactivated."""
    charging: list[LedgerCharge] = []
    unknown: list[LedgerCharge] = []
    unposted: list[LedgerCharge] = []
    held = 0
    for c in charges:
        amount = c.held(seen_refs, seen_payment_ids).cents
        if amount <= 0:
            continue
        held += amount
        if c.state in _CHARGING:
            charging.append(c)
        elif c.state is TxnState.UNKNOWN:
            unknown.append(c)
        else:
            unposted.append(c)
    open_links = tuple(link for link in links if link.amount.cents > 0)
    held += sum(link.amount.cents for link in open_links)
    return InvoiceHolds(
        invoice_number,
        balance,
        tuple(charging),
        tuple(unknown),
        tuple(unposted),
        Money(held),
        open_links,
    )


def check_reservation(holds: InvoiceHolds, amount: Money) -> None:
    """Raise :class:`RuleViolation` when ``amount`` cannot be reserved against the invoice.

    One charge at a time: while another request on the invoice is at a terminal, nothing else
    starts. Otherwise the amount must fit in what ServiceTitan's balance leaves after the holds.
    When nothing is held, the caller's own balance rule (deposits over the balance with a
    supervisor) decides alone."""
    if holds.charging:
        c = holds.charging[0]
        raise RuleViolation(
            f"Invoice {holds.invoice_number} is being charged right now at {c.who()}: "
            f"{c.amount.format()} (started {c.created_at:%H:%M}, {c.ecr_ref}).",
            "Do not charge it here as well. Wait for that payment to finish, then look the "
            "invoice up again to see what is left to pay.",
        )
    if holds.held.cents <= 0 or amount <= holds.available:
        return
    raise RuleViolation(
        f"Invoice {holds.invoice_number} already has {holds.describe()}, so only "
        f"{holds.available.format()} of ServiceTitan's balance of {holds.balance.format()} "
        f"is left to pay, not {amount.format()}.",
        "Do not charge the customer again for it. Once ServiceTitan shows that payment (or the "
        "terminal's answer is recorded), look the invoice up again.",
    )
