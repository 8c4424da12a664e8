"""Links follow their invoice: when it is paid another way (a terminal payment here, or a
payment ServiceTitan's sync shows), the open links it no longer owes are deactivated."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.money import Money
from posplus_tui.domain.transactions import Tender
from posplus_tui.services.errors import InvalidRequest, ServiceError, UnknownRecord
from posplus_tui.services.events import PaymentEvent, PaymentEventKind
from posplus_tui.services.links.core import InvoiceReader, LinkCore, PaymentFeed
from posplus_tui.services.links.store import LinkView

__all__ = ["InvoiceWatch"]

log = logging.getLogger(__name__)
#: A terminal payment that moved money on the invoice.
_SETTLED_KINDS = frozenset(
    {PaymentEventKind.APPROVED, PaymentEventKind.PARTIAL, PaymentEventKind.RECOVERED}
)


class InvoiceWatch(LinkCore):
    """Deactivates the open links of an invoice that no longer owes what they ask."""

    def follow_invoices(self, reader: InvoiceReader) -> None:
        """How to read an invoice fresh from ServiceTitan (the lookup): needed to notice it was
        paid another way."""
        self._invoice_reader = reader

    def watch_payments(self, payments: PaymentFeed) -> Callable[[], None]:
        """After a terminal payment is approved on an invoice with open links, check that the
        invoice still owes what they ask for (deactivate those it no longer does)."""

        def on_event(event: PaymentEvent) -> None:
            if event.kind in _SETTLED_KINDS and event.ecr_ref:
                self._spawn(self._after_payment(event.ecr_ref))

        return payments.subscribe(on_event)

    def invoices_seen(self, invoice_ids: Iterable[str]) -> None:
        """ServiceTitan's sync read these invoices (changed since its last pass): check those
        with open links (a payment taken in the office lowers the balance too)."""
        self._spawn(self._sync_ids(list(invoice_ids)))

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(work)
        except RuntimeError:  # no loop (a sync caller): the poller's reads catch up
            work.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait for the checks started by :meth:`watch_payments` / :meth:`invoices_seen`."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _after_payment(self, ecr_ref: str) -> None:
        try:
            txn = await self._db(self._store.get, ecr_ref)
        except ServiceError:
            return
        if txn.tender is not Tender.LINK and txn.is_approved:
            await self._sync_ids([txn.invoice_id])

    async def _sync_ids(self, invoice_ids: list[str]) -> None:
        if not invoice_ids:
            return
        with_links = set(await self._db(self._store.invoices_with_open_links))
        for invoice_id in invoice_ids:
            if str(invoice_id) not in with_links:
                continue
            try:
                await self.sync_invoice_id(str(invoice_id))
            except Exception:  # a background check: logged, tried again at the next read
                log.exception("checking the links of invoice %s failed", invoice_id)

    async def sync_invoice_id(self, invoice_id: str) -> list[LinkView]:
        """Read the invoice fresh and deactivate the open links it no longer owes. An invoice
        ServiceTitan no longer has (deleted, merged) owes nothing."""
        open_links = [x for x in await self.links_for_invoice(invoice_id) if x.is_open]
        if not open_links or self._invoice_reader is None:
            return []
        try:
            invoice = await self._invoice_reader(invoice_id)
        except UnknownRecord:
            first = open_links[0]
            invoice = InvoiceFacts(invoice_id, first.invoice_number, first.customer_id, Money(0))
        return await self.sync_invoice(invoice)

    async def sync_invoice(self, invoice: InvoiceFacts) -> list[LinkView]:
        """When ServiceTitan's balance no longer covers the open links (paid another way),
        deactivate them, newest first, until it does. Returns the links switched off."""
        holds = await self._db(self._store.invoice_holds, invoice)
        in_links = sum(x.amount.cents for x in holds.links)
        room = holds.balance.cents - (holds.held.cents - in_links)
        open_links = [x for x in await self.links_for_invoice(invoice.invoice_id) if x.is_open]
        total = sum(x.amount.cents for x in open_links)
        off: list[LinkView] = []
        for link in open_links:  # newest first
            if total <= max(room, 0):
                break
            try:
                off.append(await self._deactivate(link, actor="links"))
                total -= link.amount.cents
            except InvalidRequest as exc:  # the customer paid it first: recorded, not switched off
                log.warning(
                    "link %s was paid before it could be deactivated: %s",
                    link.reference,
                    exc.message,
                )
                total -= link.amount.cents
            except ServiceError as exc:
                log.warning("could not deactivate %s: %s", link.reference, exc.message)
        if off:
            await self._db(
                self._store.audit,
                "links_deactivated_paid_elsewhere",
                "links",
                invoice.number,
                links=",".join(x.reference for x in off),
                balance=invoice.balance.to_api(),
            )
            self._changed()
        return off
