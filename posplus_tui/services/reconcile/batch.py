"""One batch of outbox rows: check originals, search doubtful rows, read balances, post, verify."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from posplus_tui.domain.money import Money
from posplus_tui.services.reconcile import model as m
from posplus_tui.services.reconcile.events import EventKind
from posplus_tui.services.reconcile.poster import PosterError, PostResult
from posplus_tui.services.reconcile.verify import VerifySteps


class BatchSteps(VerifySteps):
    """The steps of one claimed batch, each ending in one database transaction."""

    async def _process(self, items: list[m.OutboxItem]) -> None:
        batch = m.Batch()
        ready: list[m.OutboxItem] = []
        # A void claimed together with its never-tried sale: neither goes to ServiceTitan.
        by_id = {i.outbox_id: i for i in items}
        dropped: set[int] = set()
        for item in items:
            sale = by_id.get(item.original_outbox_id or -1)
            if (
                item.posting.action == "void_payment"
                and sale is not None
                and sale.state == m.PENDING
                and sale.attempts == 0
                and await self._cancel_unposted_original(item)
            ):
                dropped.update({item.outbox_id, sale.outbox_id})
        for item in items:
            if item.outbox_id in dropped:
                continue
            if item.posting.action in ("post_refund", "void_payment"):
                verdict = await self._check_original(item, batch)
                if verdict is None:
                    continue
                item = verdict
            ready.append(item)

        to_verify = [i for i in ready if i.state == m.POSTED]
        in_doubt = [i for i in ready if i.state == m.POSTING]
        fresh = [i for i in ready if i.state == m.PENDING]

        # 2. rows whose earlier POST may have landed: search before anything else, and post
        # again only once every source agrees it is absent (see _settle_doubt)
        if in_doubt:
            found = await self._gather(self._search, in_doubt, batch)
            unseen: list[m.OutboxItem] = []
            for item, result in zip(in_doubt, found, strict=True):
                if isinstance(result, PostResult):
                    to_verify.append(self._posted(item, result, batch, balance_before=None))
                elif result is None:
                    unseen.append(item)
            if unseen:
                seen, absent = await self._settle_doubt(unseen, batch)
                for item, result in seen:
                    to_verify.append(self._posted(item, result, batch, balance_before=None))
                fresh.extend(absent)
        # 3. post the fresh rows, after one read of their invoices
        if fresh:
            fresh = await self._pre_read(fresh, batch)
        if fresh:
            await self._commit(batch)
            batch = m.Batch()
            results = await self._gather(self._post_one, fresh, batch)
            for item, result in zip(fresh, results, strict=True):
                if isinstance(result, PostResult):
                    to_verify.append(
                        self._posted(item, result, batch, balance_before=item.balance_before)
                    )
        # 4. verify; written in one transaction with the posting results (a crash before it
        # leaves the rows "posting", and the next worker finds them by their marker)
        if to_verify:
            await self._verify(to_verify, batch)
        await self._commit(batch)

    async def _check_original(self, item: m.OutboxItem, batch: m.Batch) -> m.OutboxItem | None:
        """Refunds and voids wait for their sale; a void of a sale never posted cancels both."""
        is_void = item.posting.action == "void_payment"
        state = item.original_state
        if item.original_outbox_id is None or state in (m.POSTED, m.VERIFIED, m.MISMATCH):
            if item.posting.original_payment_id or not is_void:
                return item
            self._attention(
                item,
                batch,
                "The ServiceTitan payment of the original sale is not known, so it cannot be "
                "deactivated automatically.",
                "Deactivate the sale's payment in ServiceTitan by hand, then mark this void "
                "posted by hand with a note.",
            )
            return None
        if (
            is_void
            and state == m.PENDING
            and not item.original_claimed
            and await self._cancel_unposted_original(item)
        ):
            return None
        if is_void and state == m.CANCELLED:
            self._finish(
                item,
                batch,
                m.CANCELLED,
                EventKind.CANCELLED,
                "The sale was never posted to ServiceTitan, so there is nothing to void there.",
            )
            # the void's own transaction is settled too (nothing to post), and audited
            batch.updates[-1].txn_event = "reconciled"
            batch.updates[-1].nothing_to_post = item.posting
            return None
        if state in (m.NEEDS_ATTENTION, m.CANCELLED):
            what = "void" if is_void else "refund"
            self._attention(
                item,
                batch,
                f"The original sale is not in ServiceTitan (it is {state.replace('_', ' ')}).",
                f"Resolve the sale first (retry it or mark it posted by hand), then retry this {what}.",
            )
            return None
        # the sale is still on its way: come back shortly, without counting an attempt
        batch.updates.append(
            m.RowUpdate(
                item.outbox_id,
                next_attempt_at=self.clock() + timedelta(seconds=self.dependency_wait),
            )
        )
        return None

    async def _cancel_unposted_original(self, void: m.OutboxItem) -> bool:
        """A void of a sale never posted: both rows end cancelled, nothing goes to ServiceTitan.
        False when the store found the sale had moved on meanwhile (the void is then posted)."""
        events = await asyncio.to_thread(
            self.store.cancel_unposted_original, void, self._claim_id(), self.clock(), self.station
        )
        if events is None:
            return False
        self.progress.cancelled += 2
        self.bus.publish_many(events)
        return True

    async def _search(self, item: m.OutboxItem, batch: m.Batch) -> PostResult | Exception | None:
        try:
            result = await self.poster.find(item.posting)
        except PosterError as exc:
            self._handle_error(item, exc, batch, during="search")
            return exc
        if result is not None:
            self.progress.found_existing += 1
        return result

    async def _pre_read(self, items: list[m.OutboxItem], batch: m.Batch) -> list[m.OutboxItem]:
        """Read the balances of the invoices about to be posted to (one call per 50)."""
        ids = sorted({i.posting.invoice_id for i in items})
        try:
            states = await self.poster.read_invoices(ids)
        except PosterError as exc:
            for item in items:
                self._handle_error(item, exc, batch, during="read")
            return []
        out: list[m.OutboxItem] = []
        for item in items:
            inv = states.get(item.posting.invoice_id)
            if inv is None and item.posting.action == "post_payment":
                self._attention(
                    item,
                    batch,
                    f"Invoice {item.posting.invoice_number or item.posting.invoice_id} no longer "
                    "exists in ServiceTitan (deleted or merged).",
                    "Find the invoice that replaced it, then post this payment there by hand and "
                    "mark it posted with a note — or refund the customer.",
                )
                continue
            if item.attempts == 0 and item.state == m.PENDING:
                queued = self._event(item, EventKind.QUEUED, f"Queued {self._what(item)}.")
                if item.queued_at is not None:
                    queued = replace(queued, time=item.queued_at)
                batch.events.append(queued)
            attempts = item.attempts + 1
            item = replace(
                item,
                attempts=attempts,
                balance_before=inv.balance if inv else None,
                state=m.POSTING,
                attempted_at=self.clock(),
                doubt_checks=0,
                doubt_reason="",
            )
            batch.updates.append(
                m.RowUpdate(
                    item.outbox_id,
                    state=m.POSTING,
                    attempts=attempts,
                    release=False,
                    balance_before=item.balance_before,
                    invoice_total=inv.total if inv else None,
                    result_invoice_id=item.posting.invoice_id,
                    # committed before the POST: a crash from here on leaves a dated doubt
                    attempted_at=item.attempted_at,
                    doubt_checks=0,
                    doubt_reason="",
                )
            )
            batch.events.append(
                self._event(
                    item, EventKind.POSTING, f"Posting {self._what(item)} (try {attempts})."
                )
            )
            out.append(item)
        return out

    async def _post_one(self, item: m.OutboxItem, batch: m.Batch) -> PostResult | Exception:
        try:
            return await self.poster.post(item.posting)
        except PosterError as exc:
            self._handle_error(item, exc, batch, during="post")
            return exc

    def _posted(
        self, item: m.OutboxItem, result: PostResult, batch: m.Batch, balance_before: Money | None
    ) -> m.OutboxItem:
        before = result.balance_before if result.balance_before is not None else balance_before
        if result.invoice_id != item.posting.invoice_id and result.balance_before is None:
            before = None
        self.progress.posted += 1
        if result.found_existing:
            why = (
                f"after: {item.doubt_reason.rstrip('.')}"
                if item.doubt_reason
                else "the worker posting it stopped before recording the reply"
            )
            message = (
                f"Found {self._what(item)} already in ServiceTitan as payment {result.payment_id} "
                f"({why}); not posted again."
            )
        else:
            message = f"Posted {self._what(item)} as ServiceTitan payment {result.payment_id}."
        if result.note:
            message += f" {result.note}"
        batch.updates.append(
            m.RowUpdate(
                item.outbox_id,
                state=m.POSTED,
                release=False,
                st_payment_id=result.payment_id,
                result_invoice_id=result.invoice_id,
                balance_before=before,
                expected_delta=result.balance_delta,
                mark_posted_at=True,
                clear_error=True,
                txn_event="posted",
            )
        )
        batch.events.append(self._event(item, EventKind.POSTED, message))
        return replace(
            item,
            state=m.POSTED,
            st_payment_id=result.payment_id,
            result_invoice_id=result.invoice_id,
            balance_before=before,
            expected_delta=result.balance_delta,
        )
