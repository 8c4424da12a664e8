"""The sandbox tenant's state and rules: queries, payments and balances, PATCH rules, voids,
refunds, adjustment invoices, deletions and the export feeds.

Every rejection raises :class:`ApiProblem`, which the app turns into the documented
``ApiErrorResponse`` body. A lock guards changes because the served sandbox runs in its own thread.
"""

from __future__ import annotations

import base64
import bisect
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from posplus_tui.servicetitan.sandbox import wire
from posplus_tui.servicetitan.sandbox.records import (
    CustomerRec,
    InvoiceRec,
    PaymentRec,
)
from posplus_tui.servicetitan.sandbox.seed import SeedData

__all__ = ["ApiProblem", "Feed", "Store"]

MAX_IDS = 50
EXPORT_PAGE = 1000


class ApiProblem(Exception):
    """A 4xx the sandbox answers in ``ApiErrorResponse`` shape."""

    def __init__(self, status: int, title: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.errors = errors or {}


def bad_request(field_name: str, message: str) -> ApiProblem:
    return ApiProblem(400, "One or more validation errors occurred.", {field_name: [message]})


@dataclass
class Feed:
    """An append-only change feed: (seq, record). A record changed again gets a new entry; its
    older entries are stale and only replayed when ``includeRecentChanges`` is asked for."""

    seqs: list[int] = field(default_factory=list)
    rows: list[Any] = field(default_factory=list)

    def add(self, seq: int, rec: Any) -> None:
        self.seqs.append(seq)
        self.rows.append(rec)


def parse_time(value: str | None, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace(" ", "+"))
    except ValueError as exc:
        raise bad_request(name, f"The value '{value}' is not valid for {name}.") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def parse_int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise bad_request(name, f"The value '{value}' is not valid.") from exc


def parse_ids(value: str | None, name: str = "ids") -> list[int] | None:
    if value is None or value.strip() == "":
        return None
    try:
        ids = [int(p) for p in value.split(",") if p.strip()]
    except ValueError as exc:
        raise bad_request(name, f"'{value}' must be a comma-separated list of ids.") from exc
    if len(ids) > MAX_IDS:
        raise bad_request(name, f"The maximum number of ids is {MAX_IDS}; {len(ids)} were given.")
    return ids


def _amount_cents(value: Any, name: str) -> int:
    if isinstance(value, bool) or value is None:
        raise bad_request(name, "The amount is required and must be a number.")
    try:
        dec = Decimal(str(value))
    except InvalidOperation as exc:
        raise bad_request(name, f"'{value}' is not a number.") from exc
    scaled = dec * 100
    if not dec.is_finite() or scaled != scaled.to_integral_value():
        raise bad_request(name, "The amount can have at most two decimals.")
    return int(scaled)


class Store:
    """One tenant's data plus the rules that change it."""

    def __init__(self, seed: SeedData, clock: Callable[[], float] = time.time) -> None:
        self.seed = seed
        self.clock = clock
        self.lock = threading.RLock()
        self.customers = {c.id: c for c in seed.customers}
        self.customer_list = list(seed.customers)
        self.locations = {loc.id: loc for loc in seed.locations}
        self.location_list = list(seed.locations)
        self.jobs = {j.id: j for j in seed.jobs}
        self.job_list = list(seed.jobs)
        self.jobs_by_number: dict[str, list[int]] = defaultdict(list)
        for j in seed.jobs:
            self.jobs_by_number[j.number].append(j.id)
        self.invoice_list: list[InvoiceRec] = list(seed.invoices)
        self.invoices: dict[int, InvoiceRec] = {}
        self.by_number: dict[str, list[InvoiceRec]] = defaultdict(list)
        self.by_job: dict[int, list[InvoiceRec]] = defaultdict(list)
        self.by_customer: dict[int, list[InvoiceRec]] = defaultdict(list)
        self.by_adjusted: dict[int, list[InvoiceRec]] = defaultdict(list)
        self.payment_types = {t.id: t for t in seed.payment_types}
        self.payment_list: list[PaymentRec] = list(seed.payments)
        self.payments = {p.id: p for p in seed.payments}
        self.payments_by_invoice: dict[int, list[PaymentRec]] = defaultdict(list)
        self.employees = list(seed.employees)
        self.technicians = list(seed.technicians)
        self.invoice_feed = Feed()
        self.payment_feed = Feed()
        self.deleted_count = 0
        #: Seconds after saving before a new payment shows in lists and exports (0: at once).
        self.visibility_delay = 0.0
        self._seq = 0
        self._next_invoice_id = max(i.id for i in seed.invoices) + 17
        self._next_payment_id = max((p.id for p in seed.payments), default=120_000_000) + 11
        for inv in self.invoice_list:
            self._index_invoice(inv)
            self._seq += 1
            inv.seq = self._seq
            self.invoice_feed.add(self._seq, inv)
        for p in sorted(self.payment_list, key=lambda p: p.created_ts):
            self._index_payment(p)
            self._seq += 1
            p.seq = self._seq
            self.payment_feed.add(self._seq, p)

    # -- indexes --------------------------------------------------------------------------------

    def _index_invoice(self, inv: InvoiceRec) -> None:
        self.invoices[inv.id] = inv
        self.by_number[inv.number.lower()].append(inv)
        if inv.job_id is not None:
            self.by_job[inv.job_id].append(inv)
        self.by_customer[inv.customer_id].append(inv)
        if inv.adjustment_to_id is not None:
            self.by_adjusted[inv.adjustment_to_id].append(inv)

    def _index_payment(self, p: PaymentRec) -> None:
        for inv_id in dict.fromkeys(i for i, _ in p.splits):
            self.payments_by_invoice[inv_id].append(p)

    def _touch_invoice(self, inv: InvoiceRec, now: float) -> None:
        inv.modified_ts = int(now)
        self._seq += 1
        inv.seq = self._seq
        self.invoice_feed.add(self._seq, inv)

    def _touch_payment(self, p: PaymentRec, now: float) -> None:
        p.modified_ts = int(now)
        self._seq += 1
        p.seq = self._seq
        self.payment_feed.add(self._seq, p)

    # -- wire helpers ---------------------------------------------------------------------------

    def invoice_wire(self, inv: InvoiceRec, *, with_active: bool = False) -> dict[str, Any]:
        cust = self.customers[inv.customer_id]
        job = self.jobs.get(inv.job_id) if inv.job_id is not None else None
        return wire.invoice(
            inv, cust, self.locations.get(inv.location_id), job, with_active=with_active
        )

    def payment_wire(self, p: PaymentRec) -> dict[str, Any]:
        t = self.payment_types.get(p.type_id)
        cust = self.customers.get(p.customer_id) if p.customer_id else None
        return wire.payment_detail(p, t.name if t else None, cust)

    def customer_wire(self, c: CustomerRec) -> dict[str, Any]:
        balance = sum(i.balance_cents for i in self.by_customer.get(c.id, ()) if not i.deleted)
        return wire.customer(c, balance)

    # -- invoices -------------------------------------------------------------------------------

    def query_invoices(self, q: dict[str, list[str]]) -> list[InvoiceRec]:
        """Invoices matching the ``GET /invoices`` filters, in id order."""

        def one(name: str) -> str | None:
            values = q.get(name)
            return values[-1] if values else None

        ids = parse_ids(one("ids"))
        number = one("number")
        job_id = parse_int(one("jobId"), "jobId")
        job_number = one("jobNumber")
        customer_id = parse_int(one("customerId"), "customerId")
        adjustment_to = parse_int(one("adjustmentToId"), "adjustmentToId")
        candidates: Iterable[InvoiceRec]
        if ids is not None:
            candidates = sorted(
                (self.invoices[i] for i in set(ids) if i in self.invoices), key=lambda r: r.id
            )
        elif number:
            candidates = self.by_number.get(number.strip().lower(), [])
        elif job_id is not None:
            candidates = self.by_job.get(job_id, [])
        elif job_number:
            candidates = [
                inv for jid in self.jobs_by_number.get(job_number.strip(), []) for inv in
                self.by_job.get(jid, [])
            ]  # fmt: skip
        elif customer_id is not None:
            candidates = self.by_customer.get(customer_id, [])
        elif adjustment_to is not None:
            candidates = self.by_adjusted.get(adjustment_to, [])
        else:
            candidates = self.invoice_list
        checks: list[Callable[[InvoiceRec], bool]] = []
        if number and ids is not None:
            checks.append(lambda r: r.number.lower() == number.strip().lower())
        if job_id is not None:
            checks.append(lambda r: r.job_id == job_id)
        if job_number:
            wanted = set(self.jobs_by_number.get(job_number.strip(), []))
            checks.append(lambda r: r.job_id in wanted)
        if customer_id is not None:
            checks.append(lambda r: r.customer_id == customer_id)
        if adjustment_to is not None:
            checks.append(lambda r: r.adjustment_to_id == adjustment_to)
        business_unit = parse_int(one("businessUnitId"), "businessUnitId")
        if business_unit is not None:
            checks.append(lambda r: r.business_unit_id == business_unit)
        if parse_int(one("batchId"), "batchId") is not None:
            checks.append(lambda r: False)  # no sandbox invoice is in a batch (batch is null)
        order = _invoice_order(one("orderBy"), one("orderByDirection"))
        statuses = [s for v in q.get("statuses", []) for s in v.split(",") if s]
        if statuses:
            allowed = {s.lower() for s in statuses}
            checks.append(lambda r: r.sync_status.lower() in allowed)
        for name, attr, op in (
            ("invoicedOnOrAfter", "invoice_ts", "ge"),
            ("invoicedOnBefore", "invoice_ts", "lt"),
            ("modifiedOnOrAfter", "modified_ts", "ge"),
            ("modifiedBefore", "modified_ts", "lt"),
            ("createdOnOrAfter", "created_ts", "ge"),
            ("createdBefore", "created_ts", "lt"),
        ):
            bound = parse_time(one(name), name)
            if bound is not None:
                checks.append(_time_check(attr, op, bound))
        for name, op in (("totalGreater", "gt"), ("totalLess", "lt")):
            raw = one(name)
            if raw:
                limit = _amount_cents(raw, name)
                checks.append(_total_check(op, limit))
        if not checks and candidates is self.invoice_list and not self.deleted_count:
            rows = self.invoice_list
        else:
            rows = [r for r in candidates if not r.deleted and all(c(r) for c in checks)]
        if order is not None:
            key, reverse = order
            rows = sorted(rows, key=lambda r: (key(r), r.id), reverse=reverse)
        return rows

    def create_adjustment(self, body: Any) -> int:
        if not isinstance(body, dict):
            raise bad_request("request", "A JSON object is required.")
        orig_id = body.get("adjustmentToId")
        if not isinstance(orig_id, int) or isinstance(orig_id, bool):
            raise bad_request("adjustmentToId", "The adjustmentToId field is required.")
        with self.lock:
            orig = self.invoices.get(orig_id)
            if orig is None or orig.deleted:
                raise ApiProblem(404, f"Invoice with id {orig_id} was not found.")
            lines: list[tuple[str, int, int]] = []
            for n, item in enumerate(body.get("items") or []):
                if not isinstance(item, dict) or "description" not in item:
                    raise bad_request(f"items[{n}].description", "Description is required.")
                qty = item.get("quantity")
                if not isinstance(qty, int | Decimal) or isinstance(qty, bool):
                    raise bad_request(f"items[{n}].quantity", "Quantity must be a number.")
                unit = _amount_cents(item.get("unitPrice", 0), f"items[{n}].unitPrice")
                if qty != int(qty):
                    raise bad_request(f"items[{n}].quantity", "Use whole quantities here.")
                lines.append((str(item["description"]), int(qty), unit))
            sub = sum(q * u for _, q, u in lines)
            if body.get("subtotal") is not None and not lines:
                sub = _amount_cents(body["subtotal"], "subtotal")
            tax = _amount_cents(body.get("tax") or 0, "tax")
            now = self.clock()
            self._next_invoice_id += 13
            k = len(self.by_adjusted.get(orig.id, [])) + 1
            inv = InvoiceRec(
                id=self._next_invoice_id,
                number=str(body.get("number") or f"{orig.number}-A{k}"),
                job_id=orig.job_id,
                customer_id=orig.customer_id,
                location_id=orig.location_id,
                invoice_ts=int(parse_time(body.get("invoicedOn"), "invoicedOn") or now),
                sub_cents=sub,
                tax_cents=tax,
                balance_cents=sub + tax,
                business_unit_id=orig.business_unit_id,
                sync_status="Pending",
                created_ts=int(now),
                modified_ts=int(now),
                summary=str(body.get("summary") or "Adjustment"),
                item_seed=orig.item_seed ^ k,
                adjustment_to_id=orig.id,
                project_id=orig.project_id,
                items=lines or [("Adjustment", 1, sub)],
            )
            self.invoice_list.append(inv)
            self._index_invoice(inv)
            self._touch_invoice(inv, now)
            return inv.id

    def delete_invoice(self, invoice_id: int) -> None:
        """Fault: the invoice disappears from lists (exports still show it, inactive)."""
        with self.lock:
            inv = self.invoices[invoice_id]
            if not inv.deleted:
                inv.deleted = True
                self.deleted_count += 1
                self._touch_invoice(inv, self.clock())

    # -- payments -------------------------------------------------------------------------------

    def _check_type(self, type_id: Any) -> int:
        if not isinstance(type_id, int) or isinstance(type_id, bool):
            raise bad_request("typeId", "The typeId field is required.")
        t = self.payment_types.get(type_id)
        if t is None:
            raise bad_request("typeId", f"Payment type {type_id} does not exist.")
        if not t.active:
            raise bad_request("typeId", f"Payment type '{t.name}' ({type_id}) is inactive.")
        return type_id

    def _parse_splits(self, raw: Any) -> list[tuple[int, int]]:
        if not isinstance(raw, list) or not raw:
            raise bad_request("splits", "At least one split (invoiceId and amount) is required.")
        out: list[tuple[int, int]] = []
        seen: set[int] = set()
        for n, s in enumerate(raw):
            if not isinstance(s, dict):
                raise bad_request(f"splits[{n}]", "Each split must be an object.")
            inv_id = s.get("invoiceId")
            if not isinstance(inv_id, int) or isinstance(inv_id, bool):
                raise bad_request(f"splits[{n}].invoiceId", "The invoiceId field is required.")
            inv = self.invoices.get(inv_id)
            if inv is None or inv.deleted:
                raise bad_request(f"splits[{n}].invoiceId", f"Invoice {inv_id} does not exist.")
            if inv_id in seen:
                raise bad_request(f"splits[{n}].invoiceId", f"Invoice {inv_id} appears twice.")
            seen.add(inv_id)
            cents = _amount_cents(s.get("amount"), f"splits[{n}].amount")
            if cents == 0:
                raise bad_request(f"splits[{n}].amount", "The amount cannot be zero.")
            out.append((inv_id, cents))
        customers = {self.invoices[i].customer_id for i, _ in out}
        if len(customers) > 1:
            raise bad_request("splits", "All invoices in one payment must belong to one customer.")
        return out

    def _apply(self, splits: list[tuple[int, int]], sign: int, now: float) -> None:
        """Move balances by ``sign·amount`` after checking none leaves its allowed range."""
        for n, (inv_id, cents) in enumerate(splits):
            inv = self.invoices[inv_id]
            new = inv.balance_cents - sign * cents
            low, high = min(0, inv.total_cents), max(0, inv.total_cents)
            if not low <= new <= high:
                if new < low:
                    msg = (
                        f"The payment of {wire.cents_str(cents)} is more than the balance due "
                        f"({wire.cents_str(inv.balance_cents)}) on invoice {inv.number}; the "
                        "balance cannot go below zero."
                    )
                else:
                    msg = (
                        f"The refund of {wire.cents_str(-cents)} is more than was paid on "
                        f"invoice {inv.number}."
                    )
                raise bad_request(f"splits[{n}].amount", msg)
        for inv_id, cents in splits:
            inv = self.invoices[inv_id]
            inv.balance_cents -= sign * cents
            self._touch_invoice(inv, now)

    def _refunded_payment(self, splits: list[tuple[int, int]]) -> int | None:
        for inv_id, cents in splits:
            if cents >= 0:
                continue
            inv = self.invoices[inv_id]
            targets = [inv_id] + ([inv.adjustment_to_id] if inv.adjustment_to_id else [])
            for target in reversed(targets):
                for p in reversed(self.payments_by_invoice.get(target, [])):
                    if p.active and any(i == target and c > 0 for i, c in p.splits):
                        return p.id
        return None

    def create_payment(self, body: Any, created_by: str = "API") -> PaymentRec:
        if not isinstance(body, dict):
            raise bad_request("request", "A JSON object is required.")
        with self.lock:
            type_id = self._check_type(body.get("typeId"))
            splits = self._parse_splits(body.get("splits"))
            status = body.get("status") or "Pending"
            if status not in ("Pending", "Posted", "Exported"):
                raise bad_request("status", f"'{status}' is not Pending, Posted or Exported.")
            now = self.clock()
            paid = parse_time(body.get("paidOn"), "paidOn")
            self._apply(splits, +1, now)
            self._next_payment_id += 7
            p = PaymentRec(
                id=self._next_payment_id,
                type_id=type_id,
                splits=splits,
                customer_id=self.invoices[splits[0][0]].customer_id,
                memo=body.get("memo"),
                paid_ts=int(paid if paid is not None else now),
                auth_code=body.get("authCode"),
                check_number=body.get("checkNumber"),
                export_id=body.get("exportId"),
                status=status,
                transaction_status=body.get("transactionStatus"),
                active=True,
                created_ts=int(now),
                modified_ts=int(now),
                created_by=created_by,
                reference_number=str(self._next_payment_id - 119_000_000),
                refunded_payment_id=self._refunded_payment(splits),
                visible_ts=self.clock() + self.visibility_delay if self.visibility_delay else 0.0,
            )
            self.payments[p.id] = p
            self.payment_list.append(p)
            self._index_payment(p)
            self._touch_payment(p, now)
            return p

    def update_payment(self, payment_id: int, body: Any) -> PaymentRec:
        if not isinstance(body, dict):
            raise bad_request("request", "A JSON object is required.")
        with self.lock:
            p = self.payments.get(payment_id)
            if p is None:
                raise ApiProblem(404, f"Payment with id {payment_id} was not found.")
            if "typeId" not in body:
                raise bad_request("typeId", "The typeId field is required.")
            if "splits" not in body:
                raise bad_request("splits", "The splits field is required.")
            if p.status != "Pending":
                raise ApiProblem(
                    409,
                    f"Payment {payment_id} is {p.status}; only Pending payments can be changed.",
                )
            if not p.active:
                raise ApiProblem(409, f"Payment {payment_id} is voided and cannot be changed.")
            type_id = body["typeId"]
            if type_id != p.type_id:
                type_id = self._check_type(type_id)
            now = self.clock()
            if body.get("active") is False:
                self._apply(p.splits, -1, now)
                p.active = False
            else:
                new_splits = self._parse_splits(body["splits"])
                if new_splits != p.splits:
                    self._apply(p.splits, -1, now)
                    try:
                        self._apply(new_splits, +1, now)
                    except ApiProblem:
                        self._apply(p.splits, +1, now)
                        raise
                    old = set(dict.fromkeys(i for i, _ in p.splits))
                    p.splits = new_splits
                    for inv_id in dict.fromkeys(i for i, _ in new_splits):
                        if inv_id not in old:
                            self.payments_by_invoice[inv_id].append(p)
            p.type_id = type_id
            for key, attr in (
                ("memo", "memo"),
                ("authCode", "auth_code"),
                ("checkNumber", "check_number"),
                ("exportId", "export_id"),
                ("transactionStatus", "transaction_status"),
            ):
                if key in body:
                    setattr(p, attr, body[key])
            if body.get("paidOn"):
                p.paid_ts = int(parse_time(body["paidOn"], "paidOn") or p.paid_ts)
            if body.get("status"):
                if body["status"] not in ("Pending", "Posted", "Exported"):
                    raise bad_request("status", f"'{body['status']}' is not a payment status.")
                p.status = body["status"]
            self._touch_payment(p, now)
            return p

    def query_payments(self, q: dict[str, list[str]]) -> list[PaymentRec]:
        def one(name: str) -> str | None:
            values = q.get(name)
            return values[-1] if values else None

        ids = parse_ids(one("ids"))
        applied = parse_ids(one("appliedToInvoiceIds"), "appliedToInvoiceIds")
        customer_id = parse_int(one("customerId"), "customerId")
        state = (one("activeState") or "ActiveOnly").lower()
        if state not in ("activeonly", "inactiveonly", "all"):
            raise bad_request("activeState", "Use ActiveOnly, InactiveOnly or All.")
        candidates: Iterable[PaymentRec]
        if ids is not None:
            candidates = [self.payments[i] for i in set(ids) if i in self.payments]
        elif applied is not None:
            found: dict[int, PaymentRec] = {}
            for inv_id in applied:
                for p in self.payments_by_invoice.get(inv_id, []):
                    found[p.id] = p
            candidates = found.values()
        else:
            candidates = self.payment_list
        after = parse_time(one("paidOnAfter"), "paidOnAfter")
        before = parse_time(one("paidOnBefore"), "paidOnBefore")
        mod_after = parse_time(one("modifiedOnOrAfter"), "modifiedOnOrAfter")
        mod_before = parse_time(one("modifiedBefore"), "modifiedBefore")
        created_after = parse_time(one("createdOnOrAfter"), "createdOnOrAfter")
        created_before = parse_time(one("createdBefore"), "createdBefore")
        in_batch = parse_int(one("batchId"), "batchId") is not None or bool(one("batchNumber"))
        for name in ("businessUnitIds", "transactionType", "customField.Fields"):
            if one(name):
                raise bad_request(name, f"The sandbox does not support the {name} filter.")
        statuses = {s.lower() for v in q.get("statuses", []) for s in v.split(",") if s}
        now = self.clock()
        out = []
        for p in candidates:
            if p.visible_ts > now or in_batch:  # not replicated yet; no payment is in a batch
                continue
            if mod_before is not None and p.modified_ts >= mod_before:
                continue
            if created_after is not None and p.created_ts < int(created_after):
                continue
            if created_before is not None and p.created_ts >= created_before:
                continue
            if state == "activeonly" and not p.active:
                continue
            if state == "inactiveonly" and p.active:
                continue
            if customer_id is not None and p.customer_id != customer_id:
                continue
            if after is not None and p.paid_ts < int(after):
                continue
            if before is not None and p.paid_ts >= before:
                continue
            if mod_after is not None and p.modified_ts < int(mod_after):
                continue
            if statuses and p.status.lower() not in statuses:
                continue
            out.append(p)
        out.sort(key=lambda p: p.id)
        return out

    # -- export feeds ---------------------------------------------------------------------------

    def export(
        self, kind: str, start: str | None, recent: bool, page: int = EXPORT_PAGE
    ) -> tuple[list[Any], str, bool]:
        """Rows after ``start`` (a continueFrom token or a date), the next token, hasMore."""
        feed = self.invoice_feed if kind == "invoices" else self.payment_feed
        with self.lock:
            pos = self._feed_start(feed, kind, start)
            rows: list[Any] = []
            i = pos
            n = len(feed.seqs)
            now = self.clock()
            lagging = False
            while i < n and len(rows) < page:
                rec = feed.rows[i]
                if getattr(rec, "visible_ts", 0.0) > now:
                    lagging = True  # the feed has not caught up with this change yet
                    break
                if recent or rec.seq == feed.seqs[i]:
                    rows.append(rec)
                i += 1
            if recent and pos > 0:
                # includeRecentChanges: re-deliver the last few rows too (clients must de-dupe).
                rows = [feed.rows[k] for k in range(max(0, pos - 2), pos)] + rows
            last = feed.seqs[i - 1] if i > 0 else 0
            token = _token(kind, last)
            return rows, token, i < n and not lagging

    def _feed_start(self, feed: Feed, kind: str, start: str | None) -> int:
        if not start:
            return 0
        if len(start) == 10 and start[4] == "-" and start[7] == "-":
            bound = parse_time(start, "from") or 0
            attr = "modified_ts"
            for i, rec in enumerate(feed.rows):
                if getattr(rec, attr) >= bound and rec.seq == feed.seqs[i]:
                    return i
            return len(feed.rows)
        seq = _untoken(kind, start)
        return bisect.bisect_right(feed.seqs, seq)


#: ``orderBy`` names the sandbox sorts invoices by [I: the spec types it as a free string].
_INVOICE_ORDER: dict[str, Callable[[InvoiceRec], Any]] = {
    "id": lambda r: r.id,
    "number": lambda r: r.number,
    "invoicedon": lambda r: r.invoice_ts,
    "invoicedate": lambda r: r.invoice_ts,
    "createdon": lambda r: r.created_ts,
    "modifiedon": lambda r: r.modified_ts,
    "total": lambda r: r.total_cents,
    "balance": lambda r: r.balance_cents,
}


def _invoice_order(
    by: str | None, direction: str | None
) -> tuple[Callable[[InvoiceRec], Any], bool] | None:
    """``orderBy``/``orderByDirection``: applied, or a 400 naming what is accepted."""
    if direction and direction.strip().lower() not in ("asc", "desc", "ascending", "descending"):
        raise bad_request("orderByDirection", "Use Asc or Desc.")
    if not by:
        return None
    key = _INVOICE_ORDER.get(by.strip().lower())
    if key is None:
        raise bad_request(
            "orderBy", f"Cannot order by '{by}'; use one of {', '.join(_INVOICE_ORDER)}."
        )
    return key, (direction or "").strip().lower().startswith("desc")


def _time_check(attr: str, op: str, bound: float) -> Callable[[Any], bool]:
    if op == "ge":
        return lambda r: getattr(r, attr) >= bound
    return lambda r: getattr(r, attr) < bound


def _total_check(op: str, limit: int) -> Callable[[Any], bool]:
    if op == "gt":
        return lambda r: bool(r.total_cents > limit)
    return lambda r: bool(r.total_cents < limit)


def _token(kind: str, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{seq}".encode()).decode().rstrip("=")


def _untoken(kind: str, token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        got_kind, _, seq = raw.partition(":")
        if got_kind != kind:
            raise ValueError(kind)
        return int(seq)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(
            "from", "The 'from' value must be a continueFrom token from this feed or a date."
        ) from exc
