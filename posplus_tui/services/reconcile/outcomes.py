"""How a row ends a step: retried with back-off, a person asked, verified, a mismatch, or later."""

from __future__ import annotations

from datetime import timedelta

from posplus_tui.domain.money import Money
from posplus_tui.services.reconcile import model as m
from posplus_tui.services.reconcile.events import EventKind
from posplus_tui.services.reconcile.poster import (
    InvoiceState,
    NeedsAttention,
    OutcomeUnknown,
    PosterError,
    RetryLater,
    SetupProblem,
)
from posplus_tui.services.reconcile.worker_base import WorkerBase


class OutcomeSteps(WorkerBase):
    """Turns a step's result into the row's update and its event."""

    def _handle_error(
        self, item: m.OutboxItem, exc: PosterError, batch: m.Batch, *, during: str
    ) -> None:
        if isinstance(exc, NeedsAttention):
            # refused by a documented answer while posting: certain, nothing was saved
            certain = "" if during == "post" else None
            self._attention(item, batch, exc.server_message, exc.action, doubt_reason=certain)
        elif isinstance(exc, SetupProblem):
            # nothing this row did wrong: put it back untouched and let the worker pause
            batch.updates.append(
                m.RowUpdate(
                    item.outbox_id,
                    state=m.POSTING if item.state == m.POSTING and during == "post" else None,
                    next_attempt_at=self.clock() + timedelta(seconds=30),
                    last_error=str(exc),
                )
            )
            self._prepared = False
            self._setup_problem = exc
        elif isinstance(exc, OutcomeUnknown):
            # leave it ``posting``: it is searched for across the doubt window before any repost
            delay = max(self.unknown_backoff.delay(item.attempts), self.doubt_wait / 2)
            self._retry(
                item,
                batch,
                m.POSTING,
                delay,
                f"{exc.message} Will search before posting again.",
                doubt_reason=exc.message if during == "post" else None,
            )
        elif isinstance(exc, RetryLater):
            delay = self.backoff.delay(max(1, item.attempts), retry_after=exc.retry_after)
            # a failed search or read changes nothing: the row keeps the state it had
            state = item.state if during in ("search", "read") else m.PENDING
            certain = "" if during == "post" else None  # a 429 or refused connection: not saved
            self._retry(item, batch, state, delay, exc.message, doubt_reason=certain)
        else:  # pragma: no cover - PosterError subclasses are the four above
            self._retry(item, batch, item.state, self.backoff.delay(item.attempts), exc.message)

    def _retry(
        self,
        item: m.OutboxItem,
        batch: m.Batch,
        state: str,
        delay: float,
        why: str,
        *,
        doubt_reason: str | None = None,
    ) -> None:
        if item.attempts >= self.max_attempts:
            if state == m.POSTING:
                self._attention(
                    item,
                    batch,
                    f"ServiceTitan kept failing after {item.attempts} tries and may or may not "
                    f"have recorded this payment: {why}",
                    f"Do not post it by hand yet: use Retry now once ServiceTitan answers (the app "
                    f"searches for {item.posting.marker} first), or search ServiceTitan for it.",
                )
            else:
                self._attention(
                    item,
                    batch,
                    f"ServiceTitan kept failing after {item.attempts} tries: {why}",
                    "Check that ServiceTitan is reachable, then use Retry now.",
                )
            return
        self.progress.retried += 1
        batch.updates.append(
            m.RowUpdate(
                item.outbox_id,
                state=state,
                next_attempt_at=self.clock() + timedelta(seconds=delay),
                last_error=why,
                doubt_reason=doubt_reason,
            )
        )
        batch.events.append(
            self._event(item, EventKind.RETRY, f"{why} Retry in {delay:.0f} s.", retry_in=delay)
        )

    def _attention(
        self,
        item: m.OutboxItem,
        batch: m.Batch,
        server_message: str,
        action: str,
        *,
        doubt_reason: str | None = None,
    ) -> None:
        self.progress.needs_attention += 1
        text = f"{server_message} What to do: {action}"
        batch.updates.append(
            m.RowUpdate(
                item.outbox_id,
                state=m.NEEDS_ATTENTION,
                last_error=text,
                txn_event="post_failed",
                doubt_reason=doubt_reason,
            )
        )
        batch.events.append(self._event(item, EventKind.NEEDS_ATTENTION, text))

    def _finish(
        self, item: m.OutboxItem, batch: m.Batch, state: str, kind: EventKind, message: str
    ) -> None:
        if state == m.CANCELLED:
            self.progress.cancelled += 1
        batch.updates.append(m.RowUpdate(item.outbox_id, state=state, last_error=message))
        batch.events.append(self._event(item, kind, message))

    def _verified(self, item: m.OutboxItem, batch: m.Batch, inv: InvoiceState, how: str) -> None:
        self.progress.verified += 1
        batch.updates.append(
            m.RowUpdate(
                item.outbox_id,
                state=m.VERIFIED,
                balance_after=inv.balance,
                mark_verified_at=True,
                clear_error=True,
                txn_event="reconciled",
            )
        )
        batch.events.append(
            self._event(item, EventKind.VERIFIED, f"Verified {self._what(item)}: {how}.")
        )

    def _mismatch(
        self,
        item: m.OutboxItem,
        batch: m.Batch,
        message: str,
        *,
        expected: Money | None,
        actual: Money | None,
    ) -> None:
        self.progress.mismatches += 1
        batch.updates.append(m.RowUpdate(item.outbox_id, state=m.MISMATCH, last_error=message))
        batch.mismatches.append(
            m.MismatchRecord(
                key=f"verify:{item.outbox_id}",
                kind="verify",
                message=message,
                invoice_id=item.result_invoice_id or item.posting.invoice_id,
                invoice_number=item.posting.invoice_number,
                st_payment_id=item.st_payment_id or "",
                outbox_id=item.outbox_id,
                marker=item.posting.marker,
                expected=expected,
                actual=actual,
            )
        )
        batch.events.append(self._event(item, EventKind.MISMATCH, message))

    def _verify_later(self, item: m.OutboxItem, batch: m.Batch, exc: PosterError) -> None:
        delay = self.backoff.delay(2, retry_after=getattr(exc, "retry_after", None))
        self.progress.retried += 1
        batch.updates.append(
            m.RowUpdate(
                item.outbox_id,
                state=m.POSTED,
                next_attempt_at=self.clock() + timedelta(seconds=delay),
                last_error=f"Verification postponed: {exc.message}",
            )
        )
        batch.events.append(
            self._event(
                item,
                EventKind.RETRY,
                f"Posted; reading the invoice back failed ({exc.message}). Retry in {delay:.0f} s.",
                retry_in=delay,
            )
        )
