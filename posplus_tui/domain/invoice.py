"""The invoice facts a payment needs, handed to the payment engine by whoever looked the invoice up.

The engine never talks to ServiceTitan itself: the caller (lookup/reconcile, wired by the UI) gives
it these, and they are recorded on the transaction exactly as seen at the time.
"""

from __future__ import annotations

from dataclasses import dataclass

from posplus_tui.domain.money import Money

__all__ = ["InvoiceFacts"]


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

    def __post_init__(self) -> None:
        for name in ("invoice_id", "number", "customer_id"):
            value = getattr(self, name)
            if not isinstance(value, str):
                object.__setattr__(self, name, str(value))
        if not isinstance(self.balance, Money):
            raise TypeError("InvoiceFacts.balance must be Money")
        object.__setattr__(self, "seen_refs", frozenset(str(r) for r in self.seen_refs or ()))
        if self.job_number is None:
            object.__setattr__(self, "job_number", "")
        elif not isinstance(self.job_number, str):
            object.__setattr__(self, "job_number", str(self.job_number))
