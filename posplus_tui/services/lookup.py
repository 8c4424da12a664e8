"""Finding the invoice a customer wants to pay: by invoice number, job number, customer name,
phone or API id — from the local index first (instant), then ServiceTitan for anything missing.

Every match is returned. A number can be both an invoice number and a job number, one job can have
several invoices (projects, adjustments): the clerk chooses, never the app.

Locally, an invoice, job or API id typed exactly comes first; then every invoice whose name,
address, phone or numbers have words beginning with the words typed (``services.search``), open
balances first, then the newest.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, func, or_, select, update
from sqlmodel import Session

from posplus_tui.domain.money import Money
from posplus_tui.ledger.tables.reconcile import InvoiceIndexRow
from posplus_tui.services.card_guard import refuse_card_data
from posplus_tui.services.errors import InvalidRequest, UnknownRecord
from posplus_tui.services.invoice_index import digits, norm_name, upsert_index
from posplus_tui.services.reconcile.marker import PREFIX as MARKER_PREFIX
from posplus_tui.services.reconcile.marker import find_marker
from posplus_tui.services.search import Interrupter, is_phone_like, reindex, search_ids, words
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
#: Kinds answered by an exact match on one column; the others by the word search.
_EXACT = ("number", "job", "id")
_TEXT = "text"


def _matched_by(row: InvoiceIndexRow, terms: list[str], phone_like: bool) -> str:
    """Which field a word-search hit matched, for the clerk (``phone``, ``name``, ``address``,
    ``number`` prefix as ``text``)."""
    if phone_like:
        return "phone"
    name_words = norm_name(row.customer_name).split()
    if all(any(w.startswith(t) for w in name_words) for t in terms):
        return "name"
    if any(t in row.address.casefold() for t in terms):
        return "address"
    return "text"


def _negated_date(iso: str) -> str:
    """Sorts ISO dates newest first inside an ascending sort."""
    return "".join(chr(0x10FFFF - ord(c)) for c in iso[:10])


class LookupService:
    """``search(text)`` → every matching invoice; ``open(invoice_id)`` → its detail."""

    def __init__(
        self, engine: Engine, client: ServiceTitanClient | None = None, *, use_api: bool = True
    ) -> None:
        self.engine = engine
        self.client = client
        #: ``False`` (or no client): the local index only, for an instant answer while typing.
        self.use_api = use_api and client is not None

    async def search(self, text: str, *, limit: int = MAX_NAME_RESULTS) -> list[InvoiceSummary]:
        """Every invoice matching ``text``: exact numbers and ids first, then the word-prefix
        matches best first (open balance, then most recent), at most ``limit`` + 1 of them (so
        a caller can tell there are more); ServiceTitan for each kind of match the index has
        nothing for. Raises :class:`InvalidRequest` for an empty search.

        Cancelling the call (a newer keystroke) interrupts the database query in flight."""
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
        stop = Interrupter()
        try:
            local = await asyncio.to_thread(self._search_index, query, kinds, stop, limit)
        except asyncio.CancelledError:
            stop.interrupt()
            raise
        # The word search answers for the name and phone kinds together.
        text_hits = local.pop(_TEXT, [])
        for kind in kinds:
            hits = local.get(kind, []) if kind in _EXACT else text_hits
            if not hits and self.use_api:
                try:
                    hits = await self._search_api(query, kind)
                except ServiceTitanError as exc:
                    if not found and not text_hits and not any(local.values()):
                        raise InvalidRequest(exc.title, exc.fix) from exc
                    hits = []
            for hit in hits:
                found.setdefault(hit.id, hit)
        for hit in text_hits:  # word prefixes of numbers and addresses, after the exact kinds
            found.setdefault(hit.id, hit)
        # Exact numbers first (a clerk typing a number means that number), then by rank: the
        # index's order, and ServiceTitan's own answers by the same rule.
        position = {hit.id: i for i, hit in enumerate(text_hits)}
        return sorted(
            found.values(),
            key=lambda s: (
                _ORDER.get(s.matched_by, 3) if s.matched_by in _EXACT else 3,
                position.get(s.id, len(position)),
                s.balance.cents <= 0,
                _negated_date(s.invoice_date),
                s.id,
            ),
        )

    @staticmethod
    def _kinds(query: str) -> list[str]:
        plain = query.replace(" ", "")
        kinds: list[str] = []
        if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9\-_/.]*", plain) and any(c.isdigit() for c in plain):
            kinds += ["number", "job"]
            if plain.isdigit() and int(plain) <= _MAX_ID:
                kinds.append("id")
        if is_phone_like(query):
            kinds.append("phone")
        if any(c.isalpha() for c in query) and not (kinds and " " not in query and len(query) < 3):
            kinds.append("name")
        return kinds

    # -- the index -------------------------------------------------------------------------------

    def _search_index(
        self,
        query: str,
        kinds: list[str],
        stop: Interrupter | None = None,
        limit: int = MAX_NAME_RESULTS,
    ) -> dict[str, list[InvoiceSummary]]:
        # Plain rows, not ORM objects: building 200 of those cost more than the search itself.
        t = InvoiceIndexRow.__table__
        out: dict[str, list[InvoiceSummary]] = {}
        plain = query.replace(" ", "")
        phone_like = "phone" in kinds
        terms = words(query, phone_like=phone_like)
        with Session(self.engine) as session:
            conn = session.connection()
            if stop is not None:
                stop.attach(conn.connection.dbapi_connection)
            try:
                for kind in kinds:
                    if kind not in _EXACT:
                        continue
                    if kind == "number":
                        cond = func.lower(t.c.number) == plain.lower()
                    elif kind == "job":
                        cond = func.lower(t.c.job_number) == plain.lower()
                    else:
                        cond = t.c.id == int(plain)
                    rows = session.execute(
                        select(t).where(cond, t.c.active == True).limit(MAX_NAME_RESULTS)  # noqa: E712
                    )
                    out[kind] = [_summary(r, kind, "index") for r in rows]  # type: ignore[arg-type]
                ids = search_ids(conn, terms, limit + 1)
                rows_by_id = (
                    {r.id: r for r in session.execute(select(t).where(t.c.id.in_(ids)))}
                    if ids
                    else {}
                )
            finally:
                if stop is not None:
                    stop.detach()
        out[_TEXT] = [
            _summary(rows_by_id[i], _matched_by(rows_by_id[i], terms, phone_like), "index")  # type: ignore[arg-type]
            for i in ids
            if i in rows_by_id
        ]
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
        """Give the customer's invoices that have no phone this one, words included."""
        t = InvoiceIndexRow.__table__
        if not customer_ids:
            return
        missing = or_(t.c.phone_digits == "", t.c.phone_digits.is_(None))
        where = (t.c.customer_id.in_(sorted(customer_ids)), missing)
        stale = [
            r.search_rank
            for r in session.execute(select(t.c.search_rank).where(*where))
            if r.search_rank is not None
        ]
        ids = list(session.execute(select(t.c.id).where(*where)).scalars())
        if not ids:
            return
        session.execute(update(t).where(t.c.id.in_(ids)).values(phone_digits=phone[:32]))
        fresh = [r._mapping for r in session.execute(select(t).where(t.c.id.in_(ids)))]
        reindex(session.connection(), stale, fresh)

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
