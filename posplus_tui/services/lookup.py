"""Finding the invoice a customer wants to pay: by invoice number, job number, customer name,
phone or API id — from the local index first (instant), then ServiceTitan for anything missing.

Every match is returned. A number can be both an invoice number and a job number, one job can have
several invoices (projects, adjustments): the clerk chooses, never the app.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, func, or_, select, update
from sqlmodel import Session, col

from posplus_tui.domain.money import Money
from posplus_tui.ledger.tables.reconcile import InvoiceIndexRow
from posplus_tui.services.card_guard import refuse_card_data
from posplus_tui.services.errors import InvalidRequest, UnknownRecord
from posplus_tui.services.reconcile.marker import PREFIX as MARKER_PREFIX
from posplus_tui.services.reconcile.marker import find_marker
from posplus_tui.services.sync import digits, norm_name, upsert_index
from posplus_tui.servicetitan import (
    Invoice,
    NotFoundError,
    ServiceTitanClient,
    ServiceTitanError,
)

#: An int64 id has at most 19 digits.
#: The longest search there is a use for (a customer name and more).
MAX_SEARCH = 200
_MAX_ID = 2**63 - 1
_PHONE_CHARS = re.compile(r"^[\d\s()+.\-]+$")
#: Name searches stop here; the clerk should type more of the name.
MAX_NAME_RESULTS = 200


@dataclass(frozen=True)
class InvoiceSummary:
    """One search hit, as the lookup list shows it."""

    id: int
    number: str
    job_number: str
    customer_name: str
    customer_id: int | None
    address: str
    total: Money
    balance: Money
    invoice_date: str = ""
    is_adjustment: bool = False
    #: How it matched: ``number``, ``job``, ``id``, ``phone`` or ``name``.
    matched_by: str = ""
    #: ``index`` (local copy) or ``servicetitan`` (just read).
    source: str = "index"


@dataclass(frozen=True)
class ItemLine:
    description: str
    quantity: str
    price: Money
    total: Money
    type: str


@dataclass(frozen=True)
class PaymentLine:
    id: int
    paid_on: datetime | None
    type_name: str
    amount: Money
    memo: str
    active: bool
    #: Posted by this app (carries a ``POSPLUS-`` marker).
    ours: bool
    #: Our ECR reference when it is ours: the payment engine counts it as in the balance.
    ref: str = ""


@dataclass(frozen=True)
class InvoiceDetail:
    """Everything the payment screen shows about one invoice (read fresh from ServiceTitan)."""

    id: int
    number: str
    job_number: str
    customer_id: int | None
    customer_name: str
    phones: tuple[str, ...]
    emails: tuple[str, ...]
    address: str
    sub_total: Money
    tax: Money
    total: Money
    balance: Money
    invoice_date: datetime | None
    adjustment_to_id: int | None
    items: tuple[ItemLine, ...] = field(default_factory=tuple)
    payments: tuple[PaymentLine, ...] = field(default_factory=tuple)
    summary: str = ""


def _summary(row: InvoiceIndexRow | Invoice, matched_by: str, source: str) -> InvoiceSummary:
    if isinstance(row, Invoice):
        address = row.location_address or row.customer_address
        return InvoiceSummary(
            id=row.id,
            number=row.number or "",
            job_number=row.job_number or "",
            customer_name=row.customer_name or "",
            customer_id=row.customer_id,
            address=address.one_line() if address else "",
            total=row.total,
            balance=row.balance,
            invoice_date=row.invoice_date.date().isoformat() if row.invoice_date else "",
            is_adjustment=row.is_adjustment,
            matched_by=matched_by,
            source=source,
        )
    return InvoiceSummary(
        id=row.id,
        number=row.number,
        job_number=row.job_number,
        customer_name=row.customer_name,
        customer_id=row.customer_id,
        address=row.address,
        total=Money(row.total_cents),
        balance=Money(row.balance_cents),
        invoice_date=row.invoice_date[:10],
        is_adjustment=row.adjustment_to_id is not None,
        matched_by=matched_by,
        source=source,
    )


_ORDER = {"number": 0, "job": 1, "id": 2, "phone": 3, "name": 4}


class LookupService:
    """``search(text)`` → every matching invoice; ``open(invoice_id)`` → its detail."""

    def __init__(
        self, engine: Engine, client: ServiceTitanClient | None = None, *, use_api: bool = True
    ) -> None:
        self.engine = engine
        self.client = client
        #: ``False`` (or no client): the local index only, for an instant answer while typing.
        self.use_api = use_api and client is not None

    async def search(self, text: str) -> list[InvoiceSummary]:
        """Every invoice matching ``text``: index first, ServiceTitan for each kind of match
        the index has nothing for. Raises :class:`InvalidRequest` for an empty search."""
        query = (text or "").strip().lstrip("#").strip()
        if not query:
            raise InvalidRequest(
                "Type something to search for.",
                "Enter an invoice number, a job number, a customer name or a phone number.",
            )
        # Card data is refused before it reaches the index, ServiceTitan or the log; so is a
        # search longer than any invoice, job, name or phone could be.
        refuse_card_data(query, "search", limit=MAX_SEARCH)
        kinds = self._kinds(query)
        found: dict[int, InvoiceSummary] = {}
        local = await asyncio.to_thread(self._search_index, query, kinds)
        for kind in kinds:
            hits = local.get(kind, [])
            if not hits and self.use_api:
                try:
                    hits = await self._search_api(query, kind)
                except ServiceTitanError as exc:
                    if not found and not any(local.values()):
                        raise InvalidRequest(exc.title, exc.fix) from exc
                    hits = []
            for hit in hits:
                found.setdefault(hit.id, hit)
        return sorted(
            found.values(),
            key=lambda s: (_ORDER.get(s.matched_by, 9), s.is_adjustment, s.number, s.id),
        )

    @staticmethod
    def _kinds(query: str) -> list[str]:
        plain = query.replace(" ", "")
        kinds: list[str] = []
        if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9\-_/.]*", plain) and any(c.isdigit() for c in plain):
            kinds += ["number", "job"]
            if plain.isdigit() and int(plain) <= _MAX_ID:
                kinds.append("id")
        if _PHONE_CHARS.match(query) and len(digits(query)) >= 7:
            kinds.append("phone")
        if any(c.isalpha() for c in query) and not (kinds and " " not in query and len(query) < 3):
            kinds.append("name")
        return kinds

    # -- the index -------------------------------------------------------------------------------

    def _search_index(self, query: str, kinds: list[str]) -> dict[str, list[InvoiceSummary]]:
        t = InvoiceIndexRow
        out: dict[str, list[InvoiceSummary]] = {}
        plain = query.replace(" ", "")
        with Session(self.engine) as session:
            for kind in kinds:
                if kind == "number":
                    cond = func.lower(t.number) == plain.lower()
                elif kind == "job":
                    cond = func.lower(t.job_number) == plain.lower()
                elif kind == "id":
                    cond = col(t.id) == int(plain)
                elif kind == "phone":
                    cond = col(t.phone_digits).like(f"%{digits(query)}%")
                else:
                    cond = col(t.customer_name_norm).like(
                        f"%{_escape(norm_name(query))}%", escape="\\"
                    )
                rows = (
                    session.execute(
                        select(t).where(cond, col(t.active) == True).limit(MAX_NAME_RESULTS)  # noqa: E712
                    )
                    .scalars()
                    .all()
                )
                out[kind] = [_summary(r, kind, "index") for r in rows]
        return out

    def _remember(self, invoices: list[Invoice], phone: str = "") -> None:
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            upsert_index(session, invoices, now)
            if phone:
                customer_ids = {i.customer_id for i in invoices if i.customer_id}
                self._remember_phone(session, customer_ids, phone)
            session.commit()

    @staticmethod
    def _remember_phone(session: Session, customer_ids: set[int], phone: str) -> None:
        t = InvoiceIndexRow.__table__
        for cid in customer_ids:
            session.execute(
                update(t)
                .where(
                    t.c.customer_id == cid, or_(t.c.phone_digits == "", t.c.phone_digits.is_(None))
                )
                .values(phone_digits=phone[:32])
            )

    # -- ServiceTitan ------------------------------------------------------------------------------

    async def _search_api(self, query: str, kind: str) -> list[InvoiceSummary]:
        assert self.client is not None
        plain = query.replace(" ", "")
        phone = ""
        if kind == "number":
            invoices = await self.client.find_invoices(number=plain)
        elif kind == "job":
            invoices = await self.client.find_invoices(job_number=plain)
        elif kind == "id":
            invoices = await self.client.get_invoices([int(plain)])
        else:
            if kind == "phone":
                phone = digits(query)
                customers = await self.client.find_customers(phone=phone, limit=MAX_NAME_RESULTS)
            else:
                customers = await self.client.find_customers(name=query, limit=MAX_NAME_RESULTS)
            lists = await asyncio.gather(
                *(self.client.find_invoices(customer_id=c.id) for c in customers[:25])
            )
            invoices = [inv for batch in lists for inv in batch]
        invoices = [inv for inv in invoices if inv.active][:MAX_NAME_RESULTS]
        if invoices:
            await asyncio.to_thread(self._remember, invoices, phone)
        return [_summary(inv, kind, "servicetitan") for inv in invoices]

    async def open(self, invoice_id: int) -> InvoiceDetail:
        """The invoice with its customer, address, items and payments, read fresh."""
        if self.client is None:
            raise InvalidRequest(
                "ServiceTitan is not connected, so the invoice cannot be opened.",
                "Finish Setup → ServiceTitan, then try again.",
            )
        try:
            invoices = await self.client.get_invoices([int(invoice_id)])
        except ServiceTitanError as exc:
            raise InvalidRequest(exc.title, exc.fix) from exc
        if not invoices:
            raise UnknownRecord(
                f"Invoice id {invoice_id} is not in ServiceTitan any more (deleted or merged).",
                "Search again by invoice or job number.",
            )
        inv = invoices[0]
        try:
            customer_task = (
                self.client.get_customer(inv.customer_id) if inv.customer_id else _none()
            )
            customer, payments = await asyncio.gather(
                customer_task,
                self.client.list_payments(applied_to_invoice_ids=[inv.id], active_state="All"),
            )
        except NotFoundError:
            customer, payments = None, []
        except ServiceTitanError as exc:
            raise InvalidRequest(exc.title, exc.fix) from exc
        phones = tuple(customer.phones) if customer else ()
        await asyncio.to_thread(self._remember, [inv], digits(phones[0]) if phones else "")
        address = inv.location_address or inv.customer_address
        return InvoiceDetail(
            id=inv.id,
            number=inv.number or "",
            job_number=inv.job_number or "",
            customer_id=inv.customer_id,
            customer_name=(customer.name if customer else inv.customer_name) or "",
            phones=phones,
            emails=tuple(customer.emails) if customer else (),
            address=address.one_line() if address else "",
            sub_total=inv.sub_total,
            tax=inv.sales_tax,
            total=inv.total,
            balance=inv.balance,
            invoice_date=inv.invoice_date,
            adjustment_to_id=inv.adjustment_to_id,
            summary=inv.summary or "",
            items=tuple(
                ItemLine(
                    i.description or i.sku_name or "",
                    f"{i.quantity.normalize():f}",
                    i.price,
                    i.total,
                    i.type,
                )
                for i in inv.items
            ),
            payments=tuple(
                PaymentLine(
                    id=p.id,
                    paid_on=p.paid_on,
                    type_name=p.type_name or str(p.type_id or ""),
                    amount=Money.total([s.amount for s in p.splits if s.invoice_id == inv.id])
                    if p.splits
                    else p.total,
                    memo=p.memo or "",
                    active=p.active is not False,
                    ours=find_marker(p.memo, p.export_id, p.auth_code) is not None,
                    ref=_our_ref(p.memo, p.export_id, p.auth_code),
                )
                for p in payments
            ),
        )


def _our_ref(*texts: str | None) -> str:
    marker = find_marker(*texts)
    return marker.removeprefix(MARKER_PREFIX) if marker else ""


async def _none() -> None:
    return None


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
