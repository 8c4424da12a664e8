"""The sandbox's in-memory rows: plain slotted objects, cheap enough for 100,000+ invoices."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ContactRec",
    "CustomerRec",
    "EmployeeRec",
    "InvoiceRec",
    "JobRec",
    "LocationRec",
    "PaymentRec",
    "PaymentTypeRec",
]


@dataclass(slots=True)
class ContactRec:
    id: int
    type: str
    value: str
    memo: str | None
    modified_ts: int


@dataclass(slots=True)
class CustomerRec:
    id: int
    name: str
    type: str
    street: str
    unit: str | None
    city: str
    state: str
    zip: str
    active: bool
    do_not_service: bool
    created_ts: int
    modified_ts: int
    contacts: list[ContactRec] = field(default_factory=list)
    location_ids: list[int] = field(default_factory=list)
    phone_digits: str = ""


@dataclass(slots=True)
class LocationRec:
    id: int
    customer_id: int
    name: str
    street: str
    unit: str | None
    city: str
    state: str
    zip: str
    created_ts: int
    modified_ts: int


@dataclass(slots=True)
class JobRec:
    id: int
    number: str
    customer_id: int
    location_id: int
    status: str
    type_name: str
    job_type_id: int
    business_unit_id: int
    summary: str
    created_ts: int
    modified_ts: int
    completed_ts: int | None
    project_id: int | None = None


@dataclass(slots=True)
class InvoiceRec:
    id: int
    number: str
    job_id: int | None
    customer_id: int
    location_id: int
    invoice_ts: int
    sub_cents: int
    tax_cents: int
    balance_cents: int
    business_unit_id: int
    sync_status: str
    created_ts: int
    modified_ts: int
    summary: str
    item_seed: int
    adjustment_to_id: int | None = None
    project_id: int | None = None
    deleted: bool = False
    seq: int = 0
    #: Items given explicitly (adjustment invoices created through the API); else generated.
    items: list[tuple[str, int, int]] | None = None  # (description, quantity, unit cents)

    @property
    def total_cents(self) -> int:
        return self.sub_cents + self.tax_cents


@dataclass(slots=True)
class PaymentTypeRec:
    id: int
    name: str
    active: bool
    modified_ts: int


@dataclass(slots=True)
class PaymentRec:
    id: int
    type_id: int
    splits: list[tuple[int, int]]  # (invoice id, cents)
    customer_id: int | None
    memo: str | None
    paid_ts: int
    auth_code: str | None
    check_number: str | None
    export_id: str | None
    status: str
    transaction_status: str | None
    active: bool
    created_ts: int
    modified_ts: int
    created_by: str
    reference_number: str
    refunded_payment_id: int | None = None
    seq: int = 0
    #: Wall time from which lists and exports show it (a lagging read replica; see Faults).
    visible_ts: float = 0.0

    @property
    def total_cents(self) -> int:
        return sum(c for _, c in self.splits)


@dataclass(slots=True)
class EmployeeRec:
    id: int
    name: str
    login_name: str
    role: str
    email: str | None
    phone: str | None
    active: bool
    business_unit_id: int | None
    created_ts: int
    modified_ts: int
    technician: bool = False
