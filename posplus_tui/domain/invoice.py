"""The invoice facts a payment needs, handed to the payment engine by whoever looked the invoice up.

The engine never talks to ServiceTitan itself: the caller (lookup/reconcile, wired by the UI) gives
it these, and they are recorded on the transaction exactly as seen at the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from posplus_tui.domain.money import Money

__all__ = ["InvoiceFacts", "facts_of"]


@dataclass(frozen=True)
class InvoiceFacts:
    invoice_id: str
    number: str
    customer_id: str
    balance: Money
    job_number: str = ""
    #: Our payments (ECR references) ServiceTitan showed applied to the invoice in the same reading
    #: as ``balance``: already in the balance, so the engine does not hold them again.
    seen_refs: frozenset[str] = frozenset()
    #: ServiceTitan ids of every payment that reading showed on the invoice (ours or not).
    seen_payment_ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name in ("invoice_id", "number", "customer_id"):
            value = getattr(self, name)
            if not isinstance(value, str):
                object.__setattr__(self, name, str(value))
        if not isinstance(self.balance, Money):
            raise TypeError("InvoiceFacts.balance must be Money")
        for name in ("seen_refs", "seen_payment_ids"):
            object.__setattr__(self, name, frozenset(str(r) for r in getattr(self, name) or ()))
        if self.job_number is None:
            object.__setattr__(self, "job_number", "")
        elif not isinstance(self.job_number, str):
            object.__setattr__(self, "job_number", str(self.job_number))


def facts_of(detail: Any) -> InvoiceFacts:
    """What the payment engine needs to know about an invoice read from ServiceTitan (a lookup's
    ``InvoiceDetail``), as seen right now."""
    return InvoiceFacts(
        invoice_id=str(detail.id),
        number=detail.number,
        customer_id=str(detail.customer_id or ""),
        balance=detail.balance,
        job_number=detail.job_number or "",
        # Our payments ServiceTitan already shows: in the balance, not held again by the engine.
        seen_refs=frozenset(
            p.ref for p in getattr(detail, "payments", ()) if getattr(p, "ref", "")
        ),
        seen_payment_ids=frozenset(str(p.id) for p in getattr(detail, "payments", ())),
    )
