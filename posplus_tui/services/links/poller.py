"""The poller: each round settles unknown creates and refunds, reads the provider's events after
the stored cursor, expires links whose time is up, and reads open links directly now and then."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gateways import (
    GatewayError,
    LinkCreated,
    LinkState,
    RefundState,
)
from posplus_tui.domain.links import LINK_OPEN_STATES, LinkStatus
from posplus_tui.domain.links import LinkEvent as LinkMove
from posplus_tui.domain.money import Money
from posplus_tui.domain.transactions import TxnState
from posplus_tui.services.errors import ServiceError
from posplus_tui.services.links.core import LinkCore, PollRound

__all__ = ["LinkPoller"]

log = logging.getLogger(__name__)


class LinkPoller(LinkCore):
    """The rounds that learn from the provider what happened to our links and refunds."""

    async def poll_once(self) -> PollRound:
        """One round: settle unknown creates and refunds, read the events after the stored cursor,
        expire links whose time is up, and read open links directly now and then."""
        done = PollRound()
        await self._settle_unknown_links(done)
        await self._settle_refunds(done)
        await self._read_events(done)
        await self._expire_due(done)
        now = asyncio.get_running_loop().time()
        if now - self._last_read >= self.settings.read_every:
            self._last_read = now
            await self._read_open_links(done)
        if done.events or done.paid or done.closed or done.settled or done.duplicates:
            self._changed()
        return done

    async def run(self) -> None:
        """The poller's loop (supervised by the container; one per station, any number of
        stations: each event is claimed once in the ledger)."""
        self._stop.clear()
        while not self._stop.is_set():
            await self.poll_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.poll_interval)

    def stop(self) -> None:
        self._stop.set()

    async def _read_events(self, done: PollRound) -> None:
        for _page in range(50):  # bounded; the next round goes on
            cursor = await self._db(self._store.cursor)
            page = await self._gateway.changes_since(cursor)
            for event in page.events:
                await self._handle(event, done)
            if page.cursor:
                await self._db(self._store.move_cursor, cursor, page.cursor)
            if not page.has_more:
                return

    async def _read_open_links(self, done: PollRound) -> None:
        for link in await self._db(self._store.links_in, LINK_OPEN_STATES):
            try:
                status = await self._gateway.read_link(link.provider_link_id)
            except GatewayError as exc:
                done.problems.append(f"{link.reference}: {exc}")
                continue
            await self._record_read(status, done)
            if not status.payments and status.state in (LinkState.EXPIRED, LinkState.DEACTIVATED):
                move = (
                    LinkMove.EXPIRED if status.state is LinkState.EXPIRED else LinkMove.DEACTIVATED
                )
                await self._db(self._store.mark_closed, link.id, move, actor="links")
                done.closed.append(link.reference)

    async def _expire_due(self, done: PollRound) -> None:
        now = self._clock()
        for link in await self._db(self._store.links_in, LINK_OPEN_STATES):
            if link.expires_at is not None and link.expires_at <= now:
                try:
                    await self._deactivate(link, actor="links", expire=True)
                    done.closed.append(link.reference)
                except ServiceError as exc:
                    done.problems.append(f"{link.reference}: {exc.message}")

    async def _settle_unknown_links(self, done: PollRound) -> None:
        cutoff = self._clock() - self.settings.abandoned_after
        for link in await self._db(
            self._store.links_in, frozenset({LinkStatus.UNKNOWN, LinkStatus.INTENT})
        ):
            if link.state is LinkStatus.INTENT and link.created_at > cutoff:
                continue  # its station is creating it right now
            try:
                found = await self._gateway.find_by_reference(link.reference)
            except GatewayError as exc:
                done.problems.append(f"{link.reference}: {exc}")
                continue
            if found is None:
                await self._db(
                    self._store.mark_failed,
                    link.id,
                    "the payment service has no link with this reference: nothing to pay",
                    actor="links",
                )
            else:
                created = LinkCreated(found.link_id, found.url, found.amount_cents, link.reference)
                await self._db(self._store.mark_created, link.id, created, actor="links")
                await self._record_read(found)
            done.settled.append(link.reference)

    async def _settle_refunds(self, done: PollRound) -> None:
        """A link refund whose answer was lost is asked again with the same idempotency key: the
        provider replays its first answer, so it is never refunded twice."""
        for row in await self._db(self._store.refunds_to_settle):
            assert row.id is not None and row.parent_id is not None
            if TxnState(row.state) is TxnState.INTENT:
                if row.created_at > self._clock() - self.settings.abandoned_after:
                    continue
                await self._db(self._store.discard, row.id, reason="never sent to the provider")
                continue
            parent = await self._db(self._store.get_by_id, row.parent_id)
            link = await self._db(self._store.link_by_ref, parent.ecr_ref)
            if TxnState(row.state) is TxnState.UNKNOWN and row.host_ref:
                # Pending at the provider: read it, never ask for it again.
                try:
                    result = await self._gateway.read_refund(row.host_ref)
                except GatewayError as exc:
                    done.problems.append(f"{row.ecr_ref}: {exc}")
                    continue
                if result.state in (RefundState.PENDING, RefundState.UNKNOWN):
                    continue
                await self._record_refund(link, row.ecr_ref, row.id, "links", result)
            else:
                await self._refund_at_provider(
                    link, row.ecr_ref, row.id, Money(row.amount_cents), "links"
                )
            done.settled.append(row.ecr_ref)
