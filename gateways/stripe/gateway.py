"""Stripe Payment Links through the official ``stripe`` SDK (``StripeClient``, async methods).

One link per invoice amount: a Price made for it (``product_data`` creates its Product), a
Payment Link on that Price limited to one completed session, our reference and the caller's
metadata on the link, the price and the PaymentIntent. Paid is learned from the events list
(polled with a cursor: a counter PC is behind NAT) or a direct read, never from a redirect.

The SDK's automatic retries are off: an ambiguous call raises ``GatewayUnknown`` and the caller
decides (same idempotency key, or ``find_by_reference``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar, cast

import stripe

from gateways.base import (
    ChangePage,
    LinkCreated,
    LinkGateway,
    LinkPayment,
    LinkState,
    LinkStatus,
    RefundResult,
)
from gateways.errors import (
    GatewayAuthError,
    GatewayConfigError,
    GatewayNotFound,
    GatewayRefused,
    GatewayUnknown,
)
from gateways.stripe import mapping as m
from gateways.stripe.events import EVENT_TYPES, translate

__all__ = ["EVENT_TYPES", "STRIPE_API_VERSION", "StripeGateway"]

#: The API version of the OpenAPI subset the code was written against (pinned on every call).
STRIPE_API_VERSION = "2023-08-16"
EXPIRED_MESSAGE = "This payment link has expired. Please contact us for a new one."
_MAX_AMOUNT = 99_999_999  # Stripe's ceiling for unit_amount in USD (cents)
_T = TypeVar("_T")


def _dict(value: Any) -> dict[str, Any]:
    """An SDK object as plain data (``StripeObject.to_dict`` recurses)."""
    if isinstance(value, stripe.StripeObject):
        return value.to_dict()
    if isinstance(value, dict):
        return value
    raise m.Unreadable(f"reply is {type(value).__name__}, not an object")


class StripeGateway(LinkGateway):
    """A Stripe account (test or live key). ``base_url`` points the SDK at the local sandbox;
    ``None`` means Stripe itself."""

    provider = "stripe"

    def __init__(
        self,
        secret_key: str,
        *,
        base_url: str | None = None,
        currency: str = "usd",
        timeout: float = 20.0,
        clock: Callable[[], float] = time.time,
        confirmation_message: str | None = None,
    ) -> None:
        if not secret_key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
            raise GatewayConfigError(
                "A Stripe secret key starts with sk_test_ or sk_live_ (restricted: rk_…); "
                "copy it from the Stripe dashboard, Developers → API keys."
            )
        self.livemode = "_live_" in secret_key
        self._http = stripe.HTTPXClient(timeout=timeout)
        addresses: dict[str, str] = {}
        if base_url:
            addresses = {"api": base_url.rstrip("/")}
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses=cast(Any, addresses),
            http_client=self._http,
            max_network_retries=0,
            stripe_version=STRIPE_API_VERSION,
        )
        self.currency = currency.lower()
        self._clock = clock
        self._confirmation = confirmation_message

    # ---------------------------------------------------------------- plumbing

    async def _call(self, what: str, call: Awaitable[_T]) -> _T:
        """Run one SDK call; map every failure onto the gateway's four outcomes."""
        try:
            return await call
        except stripe.StripeError as exc:
            if exc.http_status == 409:  # the same idempotency key is still being worked on
                raise GatewayUnknown(
                    f"Stripe is still working on an earlier attempt to {what}; read it back.",
                    request_id=exc.request_id,
                ) from exc
            self._raise_mapped(what, exc)

    @staticmethod
    def _raise_mapped(what: str, exc: stripe.StripeError) -> NoReturn:
        """Auth → GatewayAuthError; 404 → GatewayNotFound; other clear 4xx → GatewayRefused;
        connection trouble, 5xx, 429, unreadable bodies → GatewayUnknown."""
        words = str(exc.user_message or exc)
        if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
            raise GatewayAuthError(
                f"Stripe refused the secret key while trying to {what} ({words}). "
                "Check the key in Settings → Payment links."
            ) from exc
        if isinstance(exc, stripe.IdempotencyError):
            raise GatewayRefused("idempotency_error", words) from exc
        if isinstance(exc, stripe.InvalidRequestError) and exc.http_status == 404:
            raise GatewayNotFound(
                f"Stripe has no such object ({words}).", object_id=exc.param
            ) from exc
        if isinstance(exc, stripe.InvalidRequestError | stripe.CardError):
            raise GatewayRefused(
                exc.code or "invalid_request_error", words, param=exc.param
            ) from exc
        status = exc.http_status
        if (
            not isinstance(exc, stripe.APIConnectionError | stripe.APIError | stripe.RateLimitError)
            and status is not None
            and 400 <= status < 500
        ):
            raise GatewayRefused(str(exc.code or "stripe_error"), words) from exc
        raise GatewayUnknown(
            f"No clear answer from Stripe while trying to {what} ({words}); it may have happened.",
            request_id=exc.request_id,
        ) from exc

    async def _read(self, what: str, call: Awaitable[Any], kind: str) -> dict[str, Any]:
        value = await self._call(what, call)
        try:
            return dict(m.obj(_dict(value), kind))
        except m.Unreadable as exc:
            raise GatewayUnknown(f"Stripe's reply to {what} could not be read: {exc}.") from exc

    async def _list(self, what: str, call: Awaitable[Any]) -> tuple[list[dict[str, Any]], bool]:
        value = _dict(await self._call(what, call))
        data, has_more = value.get("data"), value.get("has_more")
        if (
            value.get("object") != "list"
            or not isinstance(data, list)
            or not isinstance(has_more, bool)
        ):
            raise GatewayUnknown(f"Stripe's list reply to {what} could not be read.")
        return [_dict(d) for d in data], has_more

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), tz=UTC)

    # ---------------------------------------------------------------- create

    async def create_link(
        self,
        *,
        amount_cents: int,
        reference: str,
        description: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
        expires_at: datetime | None = None,
    ) -> LinkCreated:
        if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
            raise GatewayRefused("amount_invalid", "The amount must be whole cents.")
        if not 50 <= amount_cents <= _MAX_AMOUNT:
            raise GatewayRefused(
                "amount_invalid", "A payment link must be for $0.50 to $999,999.99."
            )
        if not reference or len(reference) > 200:
            raise GatewayRefused(
                "reference_invalid", "The link needs a reference of 1–200 characters."
            )
        if not idempotency_key or len(idempotency_key) > 200:
            raise GatewayRefused(
                "idempotency_key_invalid", "The idempotency key must be 1–200 characters."
            )
        meta = {str(k): str(v) for k, v in metadata.items()}
        meta[m.REF_KEY] = reference
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise GatewayRefused("expires_at_invalid", "The expiry needs a time zone.")
            if expires_at <= self._now():
                raise GatewayRefused("expires_at_invalid", "The expiry is already in the past.")
            meta[m.EXPIRES_KEY] = str(int(expires_at.timestamp()))
        if len(meta) > 50 or any(len(k) > 40 or len(v) > 500 for k, v in meta.items()):
            raise GatewayRefused(
                "metadata_invalid",
                "Stripe takes at most 50 metadata keys (≤40 characters, values ≤500).",
            )
        name = (description.strip() or f"Payment {reference}")[:250]
        price = await self._read(
            "create the price",
            self._client.v1.prices.create_async(
                cast(Any, {
                    "currency": self.currency,
                    "unit_amount": amount_cents,
                    "product_data": {"name": name, "metadata": meta},
                    "metadata": meta,
                }),
                {"idempotency_key": f"{idempotency_key}:price"},
            ),
            "price",
        )  # fmt: skip
        params: dict[str, Any] = {
            "line_items": [{"price": price["id"], "quantity": 1}],
            "metadata": meta,
            "payment_intent_data": {"metadata": meta, "description": name},
            # One completed session only (Stripe's current API; absent from the 2023 subset).
            "restrictions": {"completed_sessions": {"limit": 1}},
        }
        if self._confirmation:
            params["after_completion"] = {
                "type": "hosted_confirmation",
                "hosted_confirmation": {"custom_message": self._confirmation},
            }
        link = await self._read(
            "create the payment link",
            self._client.v1.payment_links.create_async(
                cast(Any, params), {"idempotency_key": f"{idempotency_key}:link"}
            ),
            "payment_link",
        )
        try:
            url = m.as_str(link, "url")
            active = link.get("active")
            if not url.startswith(("https://", "http://")) or active is not True:
                raise m.Unreadable("the new link has no URL or is not active")
            got = m.metadata(link).get(m.REF_KEY)
            if got != reference:
                raise m.Unreadable(f"the new link carries reference {got!r}")
        except m.Unreadable as exc:
            raise GatewayUnknown(f"Stripe's new payment link could not be read: {exc}.") from exc
        return LinkCreated(
            link_id=link["id"],
            url=url,
            amount_cents=amount_cents,
            reference=reference,
            state=LinkState.OPEN,
            expires_at=expires_at,
        )

    # ---------------------------------------------------------------- read

    async def _payments(self, link_id: str) -> tuple[LinkPayment, ...]:
        """Every paid Checkout Session of the link, with its card's brand and last four."""
        payments: list[LinkPayment] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"payment_link": link_id, "limit": 100}
            if after:
                params["starting_after"] = after
            sessions, has_more = await self._list(
                "list the link's checkout sessions",
                self._client.v1.checkout.sessions.list_async(cast(Any, params)),
            )
            for session in sessions:
                if session.get("status") == "complete" and session.get("payment_status") == "paid":
                    payments.append(await self._payment_of(session, link_id))
            if not has_more or not sessions:
                break
            after = str(sessions[-1].get("id"))
        payments.sort(key=lambda p: p.paid_at)
        return tuple(payments)

    async def _payment_of(self, session: Mapping[str, Any], link_id: str) -> LinkPayment:
        pi_id = session.get("payment_intent")
        if not isinstance(pi_id, str) or not pi_id:
            raise GatewayUnknown("A paid checkout session names no payment; read it again later.")
        intent = await self._read(
            "read the payment",
            self._client.v1.payment_intents.retrieve_async(pi_id, {"expand": ["latest_charge"]}),
            "payment_intent",
        )
        try:
            return m.payment_from(session, intent, link_id)
        except m.Unreadable as exc:
            raise GatewayUnknown(f"Stripe's payment {pi_id} could not be read: {exc}.") from exc

    async def _fetch_link(self, link_id: str) -> dict[str, Any]:
        return await self._read(
            "read the payment link",
            self._client.v1.payment_links.retrieve_async(link_id, {"expand": ["line_items"]}),
            "payment_link",
        )

    def _status(self, link: Mapping[str, Any], payments: tuple[LinkPayment, ...]) -> LinkStatus:
        try:
            meta = m.metadata(link)
            return LinkStatus(
                link_id=str(link["id"]),
                state=m.link_state(link, payments),
                amount_cents=m.link_amount(link),
                payments=payments,
                reference=meta.get(m.REF_KEY, ""),
                url=m.as_str(link, "url", optional=True),
                metadata=meta,
                expires_at=m.expires_at_of(link),
            )
        except m.Unreadable as exc:
            raise GatewayUnknown(f"Stripe's payment link could not be read: {exc}.") from exc

    async def read_link(self, link_id: str) -> LinkStatus:
        """A direct read. A link past its expiry that is still active is switched off here
        (Stripe's links have no expiry of their own), unless it was paid meanwhile."""
        link = await self._fetch_link(link_id)
        payments = await self._payments(link_id)
        status = self._status(link, payments)
        if (
            status.state is LinkState.OPEN
            and status.expires_at is not None
            and status.expires_at <= self._now()
        ):
            return await self.expire(link_id)
        return status

    async def find_by_reference(self, reference: str) -> LinkStatus | None:
        """Walk the account's links (newest first) for our reference. Stripe's search API is
        not in the subset, so this lists; a paid match wins over an unpaid one."""
        matches: list[str] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["starting_after"] = after
            links, has_more = await self._list(
                "list payment links", self._client.v1.payment_links.list_async(cast(Any, params))
            )
            for link in links:
                meta = link.get("metadata")
                if isinstance(meta, Mapping) and meta.get(m.REF_KEY) == reference:
                    matches.append(str(link.get("id")))
            if not has_more or not links:
                break
            after = str(links[-1].get("id"))
        if not matches:
            return None
        found = [await self.read_link(link_id) for link_id in matches]
        found.sort(key=lambda s: (s.state is not LinkState.PAID, s.state is not LinkState.OPEN))
        return found[0]

    # ---------------------------------------------------------------- events

    async def changes_since(self, cursor: str | None, limit: int = 100) -> ChangePage:
        """Stripe lists events newest first. With a cursor, ``ending_before=cursor`` gives the
        ``limit`` events just newer than it (still newest first; ``has_more``: even newer ones
        remain), which are returned oldest first with the newest as the next cursor. Without a
        cursor (or with one Stripe no longer knows), it walks back with ``starting_after`` to the
        oldest event Stripe keeps (30 days).
        """
        limit = max(1, min(100, limit))
        base: dict[str, Any] = {"limit": limit, "types": list(EVENT_TYPES)}
        if cursor:
            try:
                events, has_more = await self._list(
                    "list events",
                    self._client.v1.events.list_async(cast(Any, {**base, "ending_before": cursor})),
                )
            except GatewayNotFound:
                # The cursor's event is gone (Stripe keeps events 30 days): start again from the
                # oldest kept. Events seen before come again; they are handled idempotently.
                return await self.changes_since(None, limit)
            events.reverse()
        else:
            newest_first: list[dict[str, Any]] = []
            after: str | None = None
            while True:
                params = dict(base, limit=100)
                if after:
                    params["starting_after"] = after
                page, more = await self._list(
                    "list events", self._client.v1.events.list_async(cast(Any, params))
                )
                newest_first.extend(page)
                if not more or not page:
                    break
                after = str(page[-1].get("id"))
            oldest_first = list(reversed(newest_first))
            events, has_more = oldest_first[:limit], len(oldest_first) > limit
        out = tuple([await translate(e, self) for e in events])
        next_cursor = out[-1].event_id if out else cursor
        return ChangePage(events=out, cursor=next_cursor, has_more=has_more)

    async def _link_of_intent(self, pi_id: str) -> str:
        sessions, _more = await self._list(
            "find the payment's checkout session",
            self._client.v1.checkout.sessions.list_async(
                cast(Any, {"payment_intent": pi_id, "limit": 1})
            ),
        )
        return str(sessions[0].get("payment_link") or "") if sessions else ""

    # ---------------------------------------------------------------- changes

    async def deactivate(self, link_id: str) -> LinkStatus:
        await self._read(
            "deactivate the payment link",
            self._client.v1.payment_links.update_async(link_id, {"active": False}),
            "payment_link",
        )
        return await self.read_link(link_id)

    async def expire(self, link_id: str) -> LinkStatus:
        """Switch the link off as expired: inactive, with our marker and a message the customer
        sees on the link's page."""
        link = await self._fetch_link(link_id)
        if link.get("active") is True:
            await self._read(
                "expire the payment link",
                self._client.v1.payment_links.update_async(
                    link_id,
                    cast(Any, {
                        "active": False,
                        "inactive_message": EXPIRED_MESSAGE,
                        "metadata": {m.ENDED_KEY: m.EXPIRED},
                    }),
                ),
                "payment_link",
            )  # fmt: skip
            link = await self._fetch_link(link_id)
        return self._status(link, await self._payments(link_id))

    async def refund(
        self, payment_id: str, *, amount_cents: int | None, idempotency_key: str
    ) -> RefundResult:
        if amount_cents is not None and (
            isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0
        ):
            raise GatewayRefused("amount_invalid", "A refund must be for at least one cent.")
        if not idempotency_key or len(idempotency_key) > 200:
            raise GatewayRefused(
                "idempotency_key_invalid", "The idempotency key must be 1–200 characters."
            )
        params: dict[str, Any] = {"payment_intent": payment_id}
        if amount_cents is not None:
            params["amount"] = amount_cents
        refund = await self._read(
            "refund the payment",
            self._client.v1.refunds.create_async(
                cast(Any, params), {"idempotency_key": f"{idempotency_key}:refund"}
            ),
            "refund",
        )
        try:
            got_pi = m.as_str(refund, "payment_intent", optional=True)
            if got_pi and got_pi != payment_id:
                raise m.Unreadable(f"refund names payment {got_pi!r}")
            got_amount = m.as_int(refund, "amount")
            if got_amount <= 0 or (amount_cents is not None and got_amount != amount_cents):
                raise m.Unreadable(f"refund is for {got_amount} cents, {amount_cents} were asked")
            return RefundResult(
                refund_id=str(refund["id"]),
                payment_id=payment_id,
                amount_cents=m.as_int(refund, "amount"),
                state=m.refund_state(refund),
                failure_reason=m.as_str(refund, "failure_reason", optional=True),
            )
        except m.Unreadable as exc:
            raise GatewayUnknown(f"Stripe's refund reply could not be read: {exc}.") from exc

    async def read_refund(self, refund_id: str) -> RefundResult:
        refund = await self._read(
            "read the refund", self._client.v1.refunds.retrieve_async(refund_id), "refund"
        )
        try:
            if refund.get("id") != refund_id:
                raise m.Unreadable(f"reply is refund {refund.get('id')!r}, not {refund_id!r}")
            return RefundResult(
                refund_id=refund_id,
                payment_id=m.as_str(refund, "payment_intent", optional=True),
                amount_cents=m.as_int(refund, "amount"),
                state=m.refund_state(refund),
                failure_reason=m.as_str(refund, "failure_reason", optional=True),
            )
        except m.Unreadable as exc:
            raise GatewayUnknown(f"Stripe's refund could not be read: {exc}.") from exc

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]
