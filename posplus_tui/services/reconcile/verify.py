"""Verifying postings by reading the invoices back, and settling the doubt a lost reply leaves."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import timedelta

from posplus_tui.domain.money import Money
from posplus_tui.services.reconcile import model as m
from posplus_tui.services.reconcile.events import EventKind
from posplus_tui.services.reconcile.marker import carries_marker
from posplus_tui.services.reconcile.outcomes import OutcomeSteps
from posplus_tui.services.reconcile.poster import InvoiceState, PosterError, PostResult, RetryLater


class VerifySteps(OutcomeSteps):
    """The balance must move by exactly our amount; a doubt is settled before any re-post."""

    async def _settle_doubt(
        self, items: list[m.OutboxItem], batch: m.Batch
    ) -> tuple[list[tuple[m.OutboxItem, PostResult]], list[m.OutboxItem]]:
        """Rows whose marker search found nothing: are they really absent?

        Absent only when, after the doubt window, the search has come back empty at least twice,
        the payment export feed read to its end does not carry the marker, and the invoice
        balance is where it was before the attempt (or every move of it is explained by payments
        ServiceTitan lists). Returns (found in the feed, proved absent); every other row stays
        ``posting`` and is looked at again, or goes to a person once the sources keep disagreeing.
        """
        now = self.clock()
        voids = [i for i in items if i.posting.action == "void_payment"]
        # a void is a PATCH that reads the payment first: repeating it cannot double anything
        items = [i for i in items if i.posting.action != "void_payment"]
        if not items:
            return [], voids
        since = min((i.attempted_at or i.queued_at or now) for i in items)
        try:
            in_feed = await self.poster.find_in_feed([i.posting for i in items], since)
            ids = sorted({i.result_invoice_id or i.posting.invoice_id for i in items})
            invoices = await self.poster.read_invoices(ids)
        except PosterError as exc:
            for item in items:
                self._handle_error(item, exc, batch, during="search")
            return [], voids
        seen: list[tuple[m.OutboxItem, PostResult]] = []
        absent: list[m.OutboxItem] = list(voids)
        for item in items:
            hit = in_feed.get(item.outbox_id)
            if hit is not None:
                self.progress.found_existing += 1
                seen.append((item, hit))
                continue
            checks = item.doubt_checks + 1
            started = item.attempted_at or (now - timedelta(seconds=self.doubt_wait))
            waited = (now - started).total_seconds()
            balance = await self._balance_agrees(item, invoices)
            if isinstance(balance, PostResult):
                self.progress.found_existing += 1
                seen.append((item, balance))
                continue
            if balance is None and waited >= self.doubt_wait and checks >= 2:
                batch.events.append(
                    self._event(
                        item,
                        EventKind.RETRY,
                        f"{item.posting.marker} is not in ServiceTitan: {checks} searches over "
                        f"{waited:.0f} s, the payment export and the invoice balance agree. "
                        "Posting it again.",
                    )
                )
                absent.append(replace(item, doubt_checks=checks))
                continue
            if balance is not None and waited >= self.doubt_patience:
                self._doubt_to_person(item, batch, balance)
                continue
            left = self.doubt_wait - waited
            delay = max(0.02, min(self.doubt_wait / 2, left) if left > 0 else self.doubt_wait / 2)
            why = (
                f"Not found in ServiceTitan yet ({checks} searches); "
                + (
                    "still inside the time it may take to show. "
                    if balance is None
                    else f"but {balance} "
                )
                + "Not posting again until every check agrees."
            )
            self.progress.retried += 1
            batch.updates.append(
                m.RowUpdate(
                    item.outbox_id,
                    state=m.POSTING,
                    doubt_checks=checks,
                    next_attempt_at=now + timedelta(seconds=delay),
                    last_error=why,
                )
            )
            batch.events.append(
                self._event(
                    item, EventKind.RETRY, f"{why} Look again in {delay:.0f} s.", retry_in=delay
                )
            )
        return seen, absent

    async def _balance_agrees(
        self, item: m.OutboxItem, invoices: dict[int, InvoiceState | None]
    ) -> str | PostResult | None:
        """``None`` when the invoice balance says our posting is not there; the posting when the
        invoice's own payment list carries its marker; else, in words, why the balance suggests
        it may be there."""
        invoice_id = item.result_invoice_id or item.posting.invoice_id
        inv = invoices.get(invoice_id)
        if inv is None:
            return "the invoice can no longer be read, so its balance cannot confirm it."
        before = item.balance_before
        if before is not None and inv.balance == before:
            return None
        try:
            applied = await self.poster.payments_on_invoice(invoice_id)
        except PosterError as exc:
            return f"its payments could not be read ({exc.message})."
        mine = [p for p in applied if carries_marker(item.posting.marker, p.memo, p.export_id)]
        if len(mine) == 1:
            # it became visible between the marker search and this read: found, never a reason
            # to post again (nor "someone else's payment" explaining the balance)
            return PostResult(
                mine[0].id, invoice_id, item.posting.balance_delta, found_existing=True
            )
        if mine:
            ids = ", ".join(p.id for p in mine)
            return (
                f"ServiceTitan lists {len(mine)} payments carrying {item.posting.marker} ({ids})."
            )
        listed = Money.total(
            [
                amt
                for p in applied
                if p.active
                for (inv_id, amt) in p.applied
                if inv_id == invoice_id
            ]
        )
        if inv.total - listed == inv.balance:
            return None  # every move of the balance is a payment ServiceTitan lists, not ours
        if before is not None and inv.balance == before + self._delta(item):
            return (
                f"the invoice balance moved from {before} to {inv.balance}, exactly by this "
                "amount, and no listed payment explains it."
            )
        return (
            f"the invoice balance is {inv.balance} (it was {before if before is not None else '?'} "
            f"before the attempt) and its listed payments do not explain it "
            f"(total {inv.total} less payments {listed} is {inv.total - listed})."
        )

    def _doubt_to_person(self, item: m.OutboxItem, batch: m.Batch, balance: str) -> None:
        """The search finds nothing but the balance says otherwise, for longer than ServiceTitan
        should take: a person decides, told what happened and what each source said."""
        what = item.doubt_reason or "the app stopped while posting, before the reply was recorded"
        number = item.posting.invoice_number or item.posting.invoice_id
        self._attention(
            item,
            batch,
            doubt_reason=what,
            server_message=f"Not sure whether {self._what(item)} is in ServiceTitan. The attempt: {what.rstrip('.')}. "
            f"ServiceTitan does not list a payment carrying {item.posting.marker}, but {balance}",
            action=f"Do not post it again by hand and do not refund the customer. Open invoice {number} "
            f"in ServiceTitan: if a payment of {abs(item.posting.amount)} is there, use “Mark "
            "posted by hand” with its payment id; if there is none, use Retry now (the app "
            "searches again before posting).",
        )

    async def _verify(self, items: list[m.OutboxItem], batch: m.Batch) -> None:
        """One read per 50 invoices; fall back to reading the payments only when numbers differ."""
        ids = sorted({i.result_invoice_id or i.posting.invoice_id for i in items})
        try:
            invoices = await self.poster.read_invoices(ids)
        except PosterError as exc:
            for item in items:
                self._verify_later(item, batch, exc)
            return
        groups: dict[int, list[m.OutboxItem]] = defaultdict(list)
        for item in items:
            groups[item.result_invoice_id or item.posting.invoice_id].append(item)
        for invoice_id, group in groups.items():
            inv = invoices.get(invoice_id)
            if inv is None:
                for item in group:
                    self._mismatch(
                        item,
                        batch,
                        f"Posted, but invoice {self._invoice_label(item)} can no longer be read "
                        "back from ServiceTitan (deleted?).",
                        expected=None,
                        actual=None,
                    )
                continue
            known = [i for i in group if i.balance_before is not None]
            befores = {i.balance_before for i in known}
            if len(known) == len(group) and len(befores) == 1:
                before = known[0].balance_before
                assert before is not None
                expected = before + Money.total([self._delta(i) for i in group])
                if inv.balance == expected:
                    for item in group:
                        self._verified(item, batch, inv, f"balance moved {before} → {inv.balance}")
                    continue
            await self._verify_by_payments(group, inv, batch)

    async def _verify_by_payments(
        self, group: list[m.OutboxItem], inv: InvoiceState, batch: m.Batch
    ) -> None:
        """Numbers differ (or no pre-read): check our payments and the invoice's own arithmetic."""
        try:
            ours = await self.poster.get_payments(
                [i.st_payment_id for i in group if i.st_payment_id]
            )
            applied = await self.poster.payments_on_invoice(inv.invoice_id)
        except PosterError as exc:
            for item in group:
                self._verify_later(item, batch, exc)
            return
        applied_total = Money.total(
            [
                amt
                for p in applied
                if p.active
                for (inv_id, amt) in p.applied
                if inv_id == inv.invoice_id
            ]
        )
        consistent = inv.total - applied_total == inv.balance
        # one of ours on this invoice saved moments ago may be what the list does not show yet
        settling = any(self._recent(i) for i in group)
        for item in group:
            pay = ours.get(item.st_payment_id or "")
            want_active = item.posting.action != "void_payment"
            delta = self._delta(item)
            before = item.balance_before
            if pay is None and self._recent(item):
                # it answered with this id moments ago: lists lag the balance, look again later
                self._verify_later(
                    item,
                    batch,
                    RetryLater(f"ServiceTitan does not list payment {item.st_payment_id} yet."),
                )
                continue
            if pay is None:
                self._mismatch(
                    item,
                    batch,
                    f"ServiceTitan payment {item.st_payment_id} for {self._what(item)} is missing.",
                    expected=delta,
                    actual=Money(0),
                )
                continue
            if pay.active != want_active:
                self._mismatch(
                    item,
                    batch,
                    f"ServiceTitan payment {pay.id} is {'inactive' if want_active else 'still active'}.",
                    expected=abs(item.posting.amount),
                    actual=pay.total,
                )
                continue
            mine = Money.total([amt for (inv_id, amt) in pay.applied if inv_id == inv.invoice_id])
            if want_active and abs(mine) != abs(item.posting.amount):
                self._mismatch(
                    item,
                    batch,
                    f"ServiceTitan payment {pay.id} applies {mine} to invoice "
                    f"{self._invoice_label(item)}, the ledger says {item.posting.amount}.",
                    expected=item.posting.amount,
                    actual=mine,
                )
                continue
            if not consistent and settling:
                # a payment saved moments ago may not be listed yet: the sum settles itself
                self._verify_later(
                    item,
                    batch,
                    RetryLater(
                        f"Invoice {self._invoice_label(item)}'s payments do not add up to its "
                        "balance yet."
                    ),
                )
                continue
            if not consistent:
                self._mismatch(
                    item,
                    batch,
                    f"Invoice {self._invoice_label(item)} balance is {inv.balance}; its total "
                    f"{inv.total} less its payments {applied_total} would be "
                    f"{inv.total - applied_total}.",
                    expected=inv.total - applied_total,
                    actual=inv.balance,
                )
                continue
            note = f"payment {pay.id} is on the invoice; balance now {inv.balance}"
            if before is not None:
                note += f" (was {before}; other payments moved it too)"
            self._verified(item, batch, inv, note)
