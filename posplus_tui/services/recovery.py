"""Start-up recovery in words: run ``PaymentService.recover()`` and summarise it for a banner or
the ``posplus recover`` command.

Recovery settles this station's interrupted requests by asking the terminal about each reference
(discarding intents that were never sent); it never sends a request again.
"""

from __future__ import annotations

from dataclasses import dataclass

from posplus_tui.domain.transactions import TxnState
from posplus_tui.services.payments import PaymentService, RecoveryOutcome

__all__ = ["RecoveryReport", "recover_at_start"]


@dataclass(frozen=True)
class RecoveryReport:
    outcomes: tuple[RecoveryOutcome, ...]

    @property
    def still_unknown(self) -> tuple[RecoveryOutcome, ...]:
        return tuple(
            o for o in self.outcomes if o.after in (TxnState.UNKNOWN, TxnState.AT_TERMINAL)
        )

    @property
    def approved(self) -> tuple[RecoveryOutcome, ...]:
        return tuple(o for o in self.outcomes if o.after is TxnState.APPROVED)

    def headline(self) -> str:
        """One sentence for the status bar or a banner ("" when there was nothing to do)."""
        if not self.outcomes:
            return ""
        parts = [f"Recovered {len(self.outcomes)} interrupted request(s)"]
        if self.approved:
            parts.append(f"{len(self.approved)} had been approved and are now recorded")
        if self.still_unknown:
            parts.append(
                f"{len(self.still_unknown)} still unknown: do not charge those cards again; "
                "recovery will ask the terminal again"
            )
        return "; ".join(parts) + "."


async def recover_at_start(payments: PaymentService) -> RecoveryReport:
    """What the app runs once its services are built, before the first payment."""
    return RecoveryReport(tuple(await payments.recover()))
