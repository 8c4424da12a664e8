"""Typed ServiceTitan records. Amounts are domain ``Money``; ids are ints; times aware UTC.

Each ``from_api`` reads the wire shape of the v2 tenant API (money arrives as strings, payment
``typeId`` as a string in list rows and an int in create/update replies).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, NamedTuple, TypeVar

from posplus_tui.domain.money import MAX_CENTS, Money

__all__ = [
    "Address",
    "AppliedTo",
    "Contact",
    "Customer",
    "Employee",
    "ExportPage",
    "Invoice",
    "InvoiceItem",
    "Job",
    "JobRef",
    "Location",
    "NamedRef",
    "Payment",
    "PaymentSplit",
    "PaymentType",
    "Technician",
]

T = TypeVar("T")
_ZERO = Money(0)


_new = object.__new__
_set = object.__setattr__
_tuple_new = tuple.__new__
#: Parsed amounts by their exact API text (bounded; Money is immutable, so sharing is safe).
_MONEY_CACHE: dict[str, Money] = {}
_MONEY_CACHE_SIZE = 16_384


def _money(value: Any) -> Money:
    """API amount → Money. The usual ``"123.45"`` takes a fast exact path and equal strings
    share one (immutable) Money: a page of invoices repeats the same prices over and over, so
    this saves most of the parsing and the allocations. Anything else goes through
    ``Money.from_decimal``'s full checks."""
    if value.__class__ is str:
        cached = _MONEY_CACHE.get(value)
        if cached is not None:
            return cached
        text = value
        negative = text[:1] == "-"
        if negative:
            text = text[1:]
        whole, _, frac = text.partition(".")
        if len(frac) == 2 and whole.isdigit() and frac.isdigit() and whole.isascii():
            cents = int(whole) * 100 + int(frac)
            if cents <= MAX_CENTS:
                money = _new(Money)
                _set(money, "cents", -cents if negative else cents)
                if len(_MONEY_CACHE) < _MONEY_CACHE_SIZE:
                    _MONEY_CACHE[value] = money
                return money
    if value is None or value == "":
        return _ZERO
    return Money.from_decimal(value if isinstance(value, str | Decimal | int) else str(value))


_fromiso = datetime.fromisoformat


def _when(value: Any) -> datetime | None:
    return _fromiso(value) if value else None


def _builder(cls: type[T]) -> Callable[..., T]:
    """A fast positional constructor for a frozen, slotted dataclass used on hot paths.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``; an invoice
    page builds tens of thousands of records, so this writes the slots directly, one line per
    field, in code generated here as ``dataclasses`` generates ``__init__`` (all fields must be
    given, in declaration order). Instances stay frozen for everyone else.
    """
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = ["    obj = _new(_cls)"]
    for i, name in enumerate(names):
        scope[f"_set{i}"] = cls.__dict__[name].__set__
        lines.append(f"    _set{i}(obj, v{i})")
    params = ", ".join(f"v{i}" for i in range(len(names)))
    exec(f"def build({params}):\n" + "\n".join([*lines, "    return obj"]), scope)
    return scope["build"]  # type: ignore[no-any-return]


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


@dataclass(frozen=True, slots=True)
class NamedRef:
    id: int
    name: str | None

    @classmethod
    def from_api(cls, d: dict[str, Any] | None) -> NamedRef | None:
        return None if not d else cls(int(d["id"]), d.get("name"))


@dataclass(frozen=True, slots=True)
class Address:
    street: str | None = None
    unit: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None

    @classmethod
    def from_api(cls, d: dict[str, Any] | None) -> Address | None:
        if not d:
            return None
        return cls(
            d.get("street"), d.get("unit"), d.get("city"), d.get("state"), d.get("zip"),
            d.get("country"),
        )  # fmt: skip

    def one_line(self) -> str:
        """``12 Oak St, Apt 3, Springfield, IL 62701`` for a list row."""
        street = ", ".join(p for p in (self.street, self.unit) if p)
        tail = " ".join(p for p in (self.state, self.zip) if p)
        return ", ".join(p for p in (street, self.city, tail) if p)


@dataclass(frozen=True, slots=True)
class JobRef:
    id: int
    number: str | None
    type: str | None


class InvoiceItem(NamedTuple):
    """One invoice line. A named tuple: an invoice page holds thousands, so they stay cheap."""

    id: int
    description: str | None
    quantity: Decimal
    price: Money
    total: Money
    type: str
    sku_id: int | None
    sku_name: str | None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> InvoiceItem:
        get = d.get
        sku = get("skuId")
        return _tuple_new(
            cls,
            (
                int(d["id"]),
                get("description"),
                Decimal(get("quantity") or "0"),
                _money(get("price")),
                _money(get("total")),
                get("type") or "Service",
                None if sku is None else int(sku),
                get("skuName"),
            ),
        )


_new_address = _builder(Address)
_new_ref = _builder(NamedRef)
_new_job_ref = _builder(JobRef)


def _address(d: dict[str, Any] | None) -> Address | None:
    if not d:
        return None
    get = d.get
    return _new_address(
        get("street"), get("unit"), get("city"), get("state"), get("zip"), get("country")
    )


_item = InvoiceItem.from_api


@dataclass(frozen=True, slots=True)
class Invoice:
    """An invoice. ``number`` is what people see (``referenceNumber``); ``id`` is what the API
    takes in ``ids`` and payment splits. They are different."""

    id: int
    number: str | None
    invoice_date: datetime | None
    due_date: datetime | None
    sub_total: Money
    sales_tax: Money
    total: Money
    balance: Money
    customer: NamedRef | None
    customer_address: Address | None
    location_address: Address | None
    business_unit: NamedRef | None
    job: JobRef | None
    adjustment_to_id: int | None
    project_id: int | None
    summary: str | None
    sync_status: str | None
    modified_on: datetime | None
    active: bool = True
    #: The API's item rows, parsed into :attr:`items` on first use: listing and syncing
    #: invoices (the bulk of the traffic: 100,000 in a first sync) never look at them.
    _item_rows: list[dict[str, Any]] | tuple[()] = field(default=(), repr=False, compare=False)
    _items: tuple[InvoiceItem, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def items(self) -> tuple[InvoiceItem, ...]:
        """The invoice lines (parsed once, then kept)."""
        items = self._items
        if items is None:
            rows = self._item_rows
            items = tuple([_item(i) for i in rows]) if rows else ()
            _set(self, "_items", items)
        return items

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Invoice:
        get = d.get
        job = get("job")
        cust = get("customer")
        bu = get("businessUnit")
        items = get("items")
        adj = get("adjustmentToId")
        project = get("projectId")
        return _new_invoice(
            int(d["id"]),
            get("referenceNumber"),
            _when(get("invoiceDate")),
            _when(get("dueDate")),
            _money(get("subTotal")),
            _money(get("salesTax")),
            _money(get("total")),
            _money(get("balance")),
            _new_ref(int(cust["id"]), cust.get("name")) if cust else None,
            _address(get("customerAddress")),
            _address(get("locationAddress")),
            _new_ref(int(bu["id"]), bu.get("name")) if bu else None,
            _new_job_ref(int(job["id"]), job.get("number"), job.get("type")) if job else None,
            None if adj is None else int(adj),
            None if project is None else int(project),
            get("summary"),
            get("syncStatus"),
            _when(get("modifiedOn")),
            get("active", True) is not False,
            items or (),
            None,
        )

    @property
    def job_number(self) -> str | None:
        return self.job.number if self.job else None

    @property
    def customer_id(self) -> int | None:
        return self.customer.id if self.customer else None

    @property
    def customer_name(self) -> str | None:
        return self.customer.name if self.customer else None

    @property
    def amount_paid(self) -> Money:
        return self.total - self.balance

    @property
    def is_adjustment(self) -> bool:
        return self.adjustment_to_id is not None

    @property
    def is_paid(self) -> bool:
        return self.balance.cents == 0 and self.total.cents != 0


_new_invoice = _builder(Invoice)


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    type: str
    value: str
    memo: str | None = None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Contact:
        return cls(int(d["id"]), d.get("type") or "", d.get("value") or "", d.get("memo"))

    @property
    def is_phone(self) -> bool:
        return self.type in ("Phone", "MobilePhone")


@dataclass(frozen=True, slots=True)
class Customer:
    id: int
    name: str
    type: str | None
    active: bool
    address: Address | None
    balance: Money
    do_not_service: bool
    modified_on: datetime | None
    merged_to_id: int | None = None
    contacts: tuple[Contact, ...] = ()

    @classmethod
    def from_api(cls, d: dict[str, Any], contacts: tuple[Contact, ...] = ()) -> Customer:
        return cls(
            id=int(d["id"]),
            name=d.get("name") or "",
            type=d.get("type"),
            active=bool(d.get("active", True)),
            address=Address.from_api(d.get("address")),
            balance=_money(d.get("balance")),
            do_not_service=bool(d.get("doNotService", False)),
            modified_on=_when(d.get("modifiedOn")),
            merged_to_id=_int(d.get("mergedToId")),
            contacts=contacts,
        )

    @property
    def phones(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.contacts if c.is_phone)

    @property
    def emails(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.contacts if c.type == "Email")


@dataclass(frozen=True, slots=True)
class Location:
    id: int
    customer_id: int
    name: str
    active: bool
    address: Address | None
    modified_on: datetime | None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Location:
        return cls(
            int(d["id"]),
            int(d["customerId"]),
            d.get("name") or "",
            bool(d.get("active", True)),
            Address.from_api(d.get("address")),
            _when(d.get("modifiedOn")),
        )


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    number: str
    customer_id: int
    location_id: int
    status: str
    completed_on: datetime | None
    summary: str | None
    business_unit_id: int | None
    job_type_id: int | None
    modified_on: datetime | None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Job:
        return cls(
            int(d["id"]),
            str(d.get("jobNumber") or ""),
            int(d["customerId"]),
            int(d["locationId"]),
            d.get("jobStatus") or "",
            _when(d.get("completedOn")),
            d.get("summary"),
            _int(d.get("businessUnitId")),
            _int(d.get("jobTypeId")),
            _when(d.get("modifiedOn")),
        )


@dataclass(frozen=True, slots=True)
class PaymentSplit:
    """One part of a payment applied to one invoice (by invoice **id**). Negative = refund."""

    invoice_id: int
    amount: Money

    def to_api(self) -> dict[str, Any]:
        return {"invoiceId": self.invoice_id, "amount": self.amount.to_decimal()}


@dataclass(frozen=True, slots=True)
class AppliedTo:
    invoice_id: int
    amount: Money
    applied_on: datetime | None
    applied_by: str | None


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment as listed (``DetailedPaymentResponse``) or as created/updated
    (``PaymentResponse``); fields one shape lacks are None."""

    id: int
    type_id: int | None
    type_name: str | None
    active: bool | None
    memo: str | None
    paid_on: datetime | None
    auth_code: str | None
    check_number: str | None
    export_id: str | None
    status: str | None
    transaction_status: str | None
    total: Money
    unapplied_amount: Money
    customer: NamedRef | None
    reference_number: str | None
    splits: tuple[PaymentSplit, ...]
    applied_to: tuple[AppliedTo, ...] = ()
    refunded_payment_id: int | None = None
    modified_on: datetime | None = None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Payment:
        applied = tuple(
            AppliedTo(
                int(a["appliedTo"]),
                _money(a.get("appliedAmount")),
                _when(a.get("appliedOn")),
                a.get("appliedBy"),
            )
            for a in (d.get("appliedTo") or ())
        )
        if d.get("splits") is not None:
            splits = tuple(
                PaymentSplit(int(s["invoiceId"]), _money(s.get("amount")))
                for s in d["splits"]
                if s.get("invoiceId") is not None
            )
        else:
            splits = tuple(PaymentSplit(a.invoice_id, a.amount) for a in applied)
        total = d.get("total")
        return cls(
            id=int(d["id"]),
            type_id=_int(d.get("typeId")),
            type_name=d.get("type"),
            active=d.get("active"),
            memo=d.get("memo"),
            paid_on=_when(d.get("paidOn") or d.get("date")),
            auth_code=d.get("authCode"),
            check_number=d.get("checkNumber"),
            export_id=d.get("exportId"),
            status=d.get("status"),
            transaction_status=d.get("transactionStatus"),
            total=_money(total) if total is not None else Money.total([s.amount for s in splits]),
            unapplied_amount=_money(d.get("unappliedAmount")),
            customer=NamedRef.from_api(d.get("customer")),
            reference_number=d.get("referenceNumber"),
            splits=splits,
            applied_to=applied,
            refunded_payment_id=_int(d.get("refundedPaymentId")),
            modified_on=_when(d.get("modifiedOn")),
        )

    def mentions(self, marker: str) -> bool:
        """Whether our idempotency marker is in memo, auth code or export id."""
        return any(marker in (v or "") for v in (self.memo, self.auth_code, self.export_id))


@dataclass(frozen=True, slots=True)
class PaymentType:
    id: int
    name: str
    modified_on: datetime | None
    active: bool = True

    @classmethod
    def from_api(cls, d: dict[str, Any], *, active: bool = True) -> PaymentType:
        return cls(int(d["id"]), d.get("name") or "", _when(d.get("modifiedOn")), active)


@dataclass(frozen=True, slots=True)
class Employee:
    id: int
    name: str
    login_name: str | None
    role: str | None
    email: str | None
    active: bool
    business_unit_id: int | None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Employee:
        return cls(
            int(d["id"]),
            d.get("name") or "",
            d.get("loginName"),
            d.get("role"),
            d.get("email"),
            bool(d.get("active", True)),
            _int(d.get("businessUnitId")),
        )


@dataclass(frozen=True, slots=True)
class Technician:
    id: int
    name: str
    login_name: str | None
    email: str | None
    active: bool
    business_unit_id: int | None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Technician:
        return cls(
            int(d["id"]),
            d.get("name") or "",
            d.get("loginName"),
            d.get("email"),
            bool(d.get("active", True)),
            _int(d.get("businessUnitId")),
        )


@dataclass(frozen=True, slots=True)
class ExportPage(Generic[T]):
    """One page of an export feed. Keep ``continue_from`` and pass it to the next call."""

    items: tuple[T, ...]
    continue_from: str | None
    has_more: bool
    raw: tuple[dict[str, Any], ...] = field(default=(), repr=False)
