"""The ServiceTitan posting channel.

- Sales and deposits: ``POST /payments`` with one split to the invoice's API id, the marker first in
  the memo and as the export id.
- Refunds: a negative payment on the sale's invoice; when ServiceTitan's balance rules refuse that,
  an adjustment invoice (``adjustmentToId`` = the sale's invoice) carries the negative payment.
- Voids: the sale's payment is deactivated (``PATCH active=false``), which restores the balance.

Every ServiceTitan error is turned into one of the four outcomes the worker understands.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from posplus_tui.domain.money import Money
from posplus_tui.services.reconcile.marker import carries_marker, find_marker, memo_for
from posplus_tui.services.reconcile.payment_type import (
    PaymentTypeSetupError,
    ResolvedPaymentType,
    TypeCandidate,
    resolve_payment_type,
)
from posplus_tui.services.reconcile.poster import (
    InvoiceState,
    NeedsAttention,
    OutcomeUnknown,
    Posting,
    PostResult,
    RemotePayment,
    RetryLater,
    SetupProblem,
)
from posplus_tui.servicetitan import (
    AuthError,
    NotFoundError,
    Payment,
    PermissionDenied,
    RateLimited,
    ServerUnavailable,
    ServiceTitanClient,
    ServiceTitanError,
    ValidationError,
)
from posplus_tui.servicetitan import OutcomeUnknown as StOutcomeUnknown

MAX_IDS = 50
#: How far before the transaction's time a marker search looks (clock skew, late posting).
SEARCH_SLACK = timedelta(days=2)

POST_DISABLED_FIX = (
    "Approved payments stay safe in the outbox. Record them in ServiceTitan by hand and use "
    "“Mark posted by hand” (h on Reconcile), or ask the ServiceTitan admin to give the app "
    "the Accounting → Payments permission (Settings → Integrations → API Application Access)."
)


def _server_words(exc: ServiceTitanError) -> str:
    """What the server said, as plainly as we have it."""
    if isinstance(exc, ValidationError) and exc.field_errors:
        parts = [
            " ".join(msgs) if not name else f"{name}: {' '.join(msgs)}"
            for name, msgs in exc.field_errors.items()
        ]
        return "; ".join(parts)
    return exc.detail or exc.title


def suggest_action(action: str, server_message: str) -> str:
    """What a supervisor should do about a refusal, from the server's words."""
    text = server_message.lower()
    if any(word in text for word in ("negative", "balance", "exceed", "more than")):
        if action == "post_payment":
            return (
                "The invoice no longer owes this much (paid another way, or changed). Open it in "
                "ServiceTitan: if it was paid twice, refund the customer; otherwise post the "
                "payment where it belongs by hand and mark it posted with a note."
            )
        return (
            "Create the refund in ServiceTitan by hand (an adjustment invoice with a negative "
            "payment), then mark this refund posted with a note."
        )
    if "invoice" in text and ("not found" in text or "deleted" in text or "exist" in text):
        return (
            "The invoice was deleted or merged in ServiceTitan. Find the invoice that replaced it, "
            "post the payment there by hand and mark it posted with a note."
        )
    if "pending" in text or "status" in text or "exported" in text or "posted" in text:
        return (
            "The payment was already exported to accounting, so ServiceTitan will not change it. "
            "Record the void there as a refund on an adjustment invoice, then mark this posted "
            "by hand with a note."
        )
    if "type" in text:
        return "Check the payment type set up for this app in ServiceTitan, then use Retry now."
    return "Check the invoice in ServiceTitan, fix what the message names, then use Retry now."


class ServiceTitanPoster:
    """:class:`~posplus_tui.services.reconcile.poster.Poster` over the ServiceTitan client."""

    def __init__(self, client: ServiceTitanClient, payment_type_name: str) -> None:
        self.client = client
        self.payment_type_name = payment_type_name
        self.payment_type: ResolvedPaymentType | None = None

    # -- setup ---------------------------------------------------------------------------------

    async def prepare(self) -> None:
        with self._errors("prepare"):
            types = await self.client.list_payment_types(include_inactive=True)
        try:
            self.payment_type = resolve_payment_type(
                self.payment_type_name,
                [TypeCandidate(str(t.id), t.name, t.active) for t in types],
            )
        except PaymentTypeSetupError as exc:
            raise SetupProblem(exc.message, exc.fix) from exc

    @property
    def type_id(self) -> int:
        if self.payment_type is None:
            raise SetupProblem(
                "The ServiceTitan payment type has not been resolved yet.",
                "Start reconciliation again.",
            )
        return int(self.payment_type.id)

    # -- posting -------------------------------------------------------------------------------

    async def post(self, posting: Posting) -> PostResult:
        if posting.action == "post_payment":
            return await self._post_payment(posting)
        if posting.action == "post_refund":
            return await self._post_refund(posting)
        if posting.action == "void_payment":
            return await self._void(posting)
        raise NeedsAttention(
            f"Unknown outbox action “{posting.action}”.", "Report this to support; do not retry."
        )

    async def _post_payment(self, posting: Posting) -> PostResult:
        with self._errors("post", posting.action):
            payment = await self.client.create_payment(
                self.type_id,
                [(posting.invoice_id, abs(posting.amount))],
                memo=memo_for(posting.marker, posting.description),
                export_id=posting.marker,
                auth_code=posting.auth_code or None,
                paid_on=posting.paid_on,
            )
        return PostResult(str(payment.id), posting.invoice_id, -abs(posting.amount))

    async def _post_refund(self, posting: Posting) -> PostResult:
        memo = memo_for(posting.marker, posting.description or "refund")
        try:
            with self._errors("post", posting.action):
                payment = await self.client.create_payment(
                    self.type_id,
                    [(posting.invoice_id, -abs(posting.amount))],
                    memo=memo,
                    export_id=posting.marker,
                    auth_code=posting.auth_code or None,
                    paid_on=posting.paid_on,
                )
            return PostResult(str(payment.id), posting.invoice_id, abs(posting.amount))
        except NeedsAttention as refused:
            if not _wants_adjustment(refused.server_message):
                raise
        # The balance rules refuse a negative payment on the sale's invoice: use an adjustment
        # invoice. Creating it could itself lose its reply, so look for ours first.
        adjustment = await self._find_adjustment(posting)
        if adjustment is None:
            with self._errors("post", posting.action):
                adjustment = await self.client.create_adjustment_invoice(
                    posting.invoice_id,
                    items=[(f"Refund {posting.marker}", -abs(posting.amount))],
                    summary=f"Refund {posting.marker}",
                    export_id=posting.marker,
                )
        before = await self._balance_of(adjustment)
        with self._errors("post", posting.action):
            payment = await self.client.create_payment(
                self.type_id,
                [(adjustment, -abs(posting.amount))],
                memo=memo,
                export_id=posting.marker,
                auth_code=posting.auth_code or None,
                paid_on=posting.paid_on,
            )
        return PostResult(
            str(payment.id),
            adjustment,
            abs(posting.amount),
            note=f"Recorded on adjustment invoice id {adjustment}.",
            balance_before=before,
        )

    async def _void(self, posting: Posting) -> PostResult:
        if not posting.original_payment_id:
            raise NeedsAttention(
                "The sale's ServiceTitan payment is not known.",
                "Deactivate it in ServiceTitan by hand, then mark this void posted with a note.",
            )
        pid = int(posting.original_payment_id)
        with self._errors("read"):
            current = await self.client.get_payment(pid)
        if current.active is False:
            return PostResult(
                str(pid), posting.invoice_id, abs(posting.amount), found_existing=True
            )
        memo = f"{current.memo or ''} | VOID {posting.marker}".strip(" |")
        with self._errors("post", posting.action):
            await self.client.update_payment(
                pid,
                type_id=current.type_id,
                splits=current.splits,
                active=False,
                memo=memo[:500],
            )
        return PostResult(str(pid), posting.invoice_id, abs(posting.amount))

    # -- searching -----------------------------------------------------------------------------

    async def find(self, posting: Posting) -> PostResult | None:
        if posting.action == "void_payment":
            if not posting.original_payment_id:
                return None
            with self._errors("read"):
                found = await self.client.list_payments(ids=[int(posting.original_payment_id)])
            if found and found[0].active is False:
                return PostResult(
                    str(found[0].id), posting.invoice_id, abs(posting.amount), found_existing=True
                )
            return None
        invoice_ids = [posting.invoice_id]
        if posting.action == "post_refund":
            adjustment = await self._find_adjustment(posting)
            if adjustment is not None:
                invoice_ids.append(adjustment)
        with self._errors("read"):
            payments = await self.client.list_payments(
                applied_to_invoice_ids=invoice_ids,
                paid_on_after=posting.paid_on - SEARCH_SLACK,
                active_state="All",
            )
        ours = [
            p for p in payments if carries_marker(posting.marker, p.memo, p.export_id, p.auth_code)
        ]
        if not ours:
            return None
        if len(ours) > 1:
            ids = ", ".join(str(p.id) for p in ours)
            raise NeedsAttention(
                f"ServiceTitan has {len(ours)} payments carrying {posting.marker} (ids {ids}).",
                "Deactivate all but one of them in ServiceTitan, then mark this posted by hand "
                "with the remaining payment id.",
            )
        payment = ours[0]
        on = payment.splits[0].invoice_id if payment.splits else posting.invoice_id
        delta = -abs(posting.amount) if posting.action == "post_payment" else abs(posting.amount)
        return PostResult(str(payment.id), on, delta, found_existing=True)

    async def find_in_feed(
        self, postings: Sequence[Posting], since: datetime
    ) -> dict[int, PostResult]:
        """The payment export feed read from the day before ``since`` to its end (the export
        takes a date, and a day of slack covers time zones): postings whose marker is in it."""
        wanted = {p.marker: p for p in postings}
        start = (since - timedelta(days=1)).date().isoformat()
        latest: dict[int, Payment] = {}
        with self._errors("read"):
            async for page in self.client.follow_export("payments", start):
                for payment in page.items:
                    latest[payment.id] = payment
        out: dict[int, PostResult] = {}
        for payment in latest.values():
            marker = find_marker(payment.memo, payment.export_id, payment.auth_code)
            posting = wanted.get(marker or "")
            if posting is None or not carries_marker(
                posting.marker, payment.memo, payment.export_id, payment.auth_code
            ):
                continue
            if posting.outbox_id in out:
                raise NeedsAttention(
                    f"ServiceTitan's payment export has more than one payment carrying "
                    f"{posting.marker} (ids {out[posting.outbox_id].payment_id}, {payment.id}).",
                    "Deactivate all but one of them in ServiceTitan, then mark this posted by "
                    "hand with the remaining payment id.",
                )
            on = payment.splits[0].invoice_id if payment.splits else posting.invoice_id
            delta = posting.balance_delta
            out[posting.outbox_id] = PostResult(str(payment.id), on, delta, found_existing=True)
        return out

    async def _find_adjustment(self, posting: Posting) -> int | None:
        with self._errors("read"):
            adjustments = await self.client.find_invoices(adjustment_to_id=posting.invoice_id)
        for inv in adjustments:
            if carries_marker(posting.marker, inv.summary, *(i.description for i in inv.items)):
                return inv.id
        return None

    async def _balance_of(self, invoice_id: int) -> Money | None:
        states = await self.read_invoices([invoice_id])
        state = states.get(invoice_id)
        return state.balance if state else None

    # -- reading back --------------------------------------------------------------------------

    async def read_invoices(self, invoice_ids: Sequence[int]) -> dict[int, InvoiceState | None]:
        wanted = list(dict.fromkeys(int(i) for i in invoice_ids))
        with self._errors("read"):
            found = await self.client.get_invoices(wanted)
        by_id = {
            inv.id: InvoiceState(inv.id, inv.balance, inv.total, inv.number or "", inv.active)
            for inv in found
        }
        return {i: by_id.get(i) for i in wanted}

    async def get_payments(self, payment_ids: Sequence[str]) -> dict[str, RemotePayment]:
        ids = [int(p) for p in dict.fromkeys(payment_ids) if str(p).isdigit()]
        chunks = [ids[i : i + MAX_IDS] for i in range(0, len(ids), MAX_IDS)]
        with self._errors("read"):
            results = await asyncio.gather(
                *(self.client.list_payments(ids=chunk, active_state="All") for chunk in chunks)
            )
        return {str(p.id): remote_payment(p) for batch in results for p in batch}

    async def payments_on_invoice(self, invoice_id: int) -> list[RemotePayment]:
        with self._errors("read"):
            found = await self.client.list_payments(
                applied_to_invoice_ids=[invoice_id], active_state="ActiveOnly"
            )
        return [remote_payment(p) for p in found]

    # -- errors --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, during: str, action: str = "") -> Iterator[None]:
        """ServiceTitan errors → the worker's four outcomes."""
        try:
            yield
        except StOutcomeUnknown as exc:
            raise OutcomeUnknown(exc.title) from exc
        except RateLimited as exc:
            raise RetryLater(exc.title, retry_after=exc.retry_after) from exc
        except ServerUnavailable as exc:
            raise RetryLater(exc.title) from exc
        except (AuthError, PermissionDenied) as exc:
            raise SetupProblem(exc.title, exc.fix) from exc
        except ValidationError as exc:
            if during != "post":
                raise RetryLater(f"{exc.title} {_server_words(exc)}") from exc
            words = _server_words(exc)
            raise NeedsAttention(words, suggest_action(action, words)) from exc
        except NotFoundError as exc:
            if during == "post" and exc.status == 404 and not _names_a_record(exc):
                raise SetupProblem(
                    "ServiceTitan no longer accepts payments through the API (it answered "
                    "“not found” to creating a payment).",
                    POST_DISABLED_FIX,
                ) from exc
            if during == "post":
                words = _server_words(exc)
                raise NeedsAttention(words, suggest_action(action, words)) from exc
            raise RetryLater(exc.title) from exc
        except ServiceTitanError as exc:
            if exc.status == 405 and during == "post":
                raise SetupProblem(
                    "ServiceTitan no longer accepts payments through the API (HTTP 405).",
                    POST_DISABLED_FIX,
                ) from exc
            raise RetryLater(f"{exc.title} {exc.detail or ''}".strip()) from exc


def _names_a_record(exc: NotFoundError) -> bool:
    """A 404 about a record (an invoice or payment that is gone) rather than a missing route."""
    text = (exc.detail or "").lower()
    return any(word in text for word in ("invoice", "payment ", "payment id", "record"))


def _wants_adjustment(server_message: str) -> bool:
    text = server_message.lower()
    return any(
        word in text for word in ("adjustment", "negative", "balance", "exceed", "more than")
    )


def remote_payment(p: Payment) -> RemotePayment:
    return RemotePayment(
        id=str(p.id),
        type_id=str(p.type_id or ""),
        total=p.total,
        active=p.active is not False,
        memo=p.memo or "",
        export_id=p.export_id or "",
        applied=tuple((s.invoice_id, s.amount) for s in p.splits),
    )
