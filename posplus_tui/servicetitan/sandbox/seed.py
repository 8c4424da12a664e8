"""Deterministic seed data: the same seed always gives the same tenant, down to the cent.

Covers the cases a counter meets in real life: invoice ids that differ from the numbers people
see, numbers overridden by hand, a job with two invoices, adjustment invoices, paid / unpaid /
part-paid balances, a "POS+" payment type among look-alikes, and inactive types.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, TypeVar

from posplus_tui.servicetitan.sandbox.records import (
    ContactRec,
    CustomerRec,
    EmployeeRec,
    InvoiceRec,
    JobRec,
    LocationRec,
    PaymentRec,
    PaymentTypeRec,
)

__all__ = ["ANCHOR_TS", "SeedData", "Size", "build_seed"]

Size = Literal["demo", "large"]
T = TypeVar("T")

#: Seed dates end here (fixed, so a seed is the same whatever day it is built).
ANCHOR_TS = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
DAY = 86_400

FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Luis",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Kenji",
    "Donna",
    "Ahmed",
    "Michelle",
    "Priya",
    "Dorothy",
    "Wei",
    "Carol",
    "Olga",
    "Amanda",
    "Mateo",
    "Melissa",
    "Siobhan",
    "Deborah",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "O'Brien",
    "Kowalski",
]
COMPANY = [
    "Acme Property Mgmt",
    "Oak Ridge Apartments",
    "Summit Dental Group",
    "Blue Lake Church",
    "Northside Diner",
    "Riverview HOA",
    "Pinecrest Elementary",
    "Harbor Freight Storage",
    "Maple Leaf Motel",
    "Sunrise Senior Living",
    "Golden Gate Bakery",
    "Cedar Point Offices",
]
STREETS = [
    "Oak St",
    "Maple Ave",
    "Cedar Ln",
    "Pine Rd",
    "Elm St",
    "Washington Blvd",
    "Lake Dr",
    "Hillcrest Ave",
    "Park Pl",
    "Sunset Blvd",
    "River Rd",
    "Meadow Ln",
    "Church St",
    "Highland Ave",
    "Forest Dr",
    "Mill Rd",
]
CITIES = (
    ("Springfield", "IL", "627"),
    ("Decatur", "IL", "625"),
    ("Champaign", "IL", "618"),
    ("Peoria", "IL", "616"),
    ("Bloomington", "IL", "617"),
)
JOB_TYPES = (
    (5001, "Service Call"),
    (5002, "AC Repair"),
    (5003, "Furnace Tune-Up"),
    (5004, "Water Heater Install"),
    (5005, "Drain Cleaning"),
    (5006, "Counter Sale"),
)
BUSINESS_UNITS = ((7101, "HVAC - Service"), (7102, "Plumbing - Service"), (7103, "Install"))
SKUS = (
    ("Diagnostic fee", "Service", 8900),
    ("Labor - standard hour", "Service", 12500),
    ("Capacitor 45/5 MFD", "Material", 4200),
    ("Contactor 30A 2-pole", "Material", 3800),
    ("Furnace filter 16x25x1", "Material", 1800),
    ("Water heater 50 gal gas", "Equipment", 129900),
    ("Drain auger service", "Service", 19500),
    ("Thermostat - programmable", "Equipment", 18900),
    ("Refrigerant R-410A per lb", "Material", 9500),
    ("PVC fittings kit", "Material", 2650),
)

#: (name, active) — "POS+" is the type the counter posts under; the rest are look-alikes.
PAYMENT_TYPES = (
    ("Cash", True),
    ("Check", True),
    ("Credit Card", True),
    ("Visa", True),
    ("MasterCard", True),
    ("American Express", True),
    ("ACH / eCheck", True),
    ("Financing", True),
    ("POS", True),
    ("POS+ Gift Card", True),
    ("POS+", True),
    ("POS+ (old terminal)", False),
    ("Money Order", False),
    ("Refund", True),
)

EMPLOYEES = (
    ("Angela Whitfield", "AWhitfield", "Admin"),
    ("Marco Garcia", "mgarcia", "CSR"),
    ("Dana Lee", "DLee", "Accounting"),
    ("Counter Clerk One", "Counter.Clerk1", "CSR"),
    ("Priya Natarajan", "PNatarajan", "GeneralOffice"),
    ("Tom O'Brien", "tobrien", "Dispatch"),
    ("Olga Kowalski", "OKowalski", "Accounting"),
    ("Sam Rivera", "SRIVERA", "CSR"),
    ("Former Clerk", "FClerk", "CSR"),  # inactive
    ("Owner Account", "Owner.Admin", "Owner"),
)
TECHNICIANS = (
    ("Mike Turner", "TechMike"),
    ("Rosa Ortiz", "r.Ortiz"),
    ("Kenji Sato", "KSato"),
    ("Luis Hernandez", "lhernandez"),
    ("Bill Adams", "BAdams"),
    ("Ahmed Khan", "AKhan.Tech"),
    ("Sarah Nelson", "snelson"),
    ("Jake Miller", "JMiller2"),  # inactive
)


@dataclass
class SeedData:
    """Everything the sandbox starts with, plus where the interesting cases are."""

    seed: int
    tenant_id: int
    client_id: str
    client_secret: str
    app_key: str
    customers: list[CustomerRec] = field(default_factory=list)
    locations: list[LocationRec] = field(default_factory=list)
    jobs: list[JobRec] = field(default_factory=list)
    invoices: list[InvoiceRec] = field(default_factory=list)
    payments: list[PaymentRec] = field(default_factory=list)
    payment_types: list[PaymentTypeRec] = field(default_factory=list)
    employees: list[EmployeeRec] = field(default_factory=list)
    technicians: list[EmployeeRec] = field(default_factory=list)
    #: Named examples (invoice/job/type ids) for the demo, training notes and tests.
    cases: dict[str, int] = field(default_factory=dict)


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def build_seed(seed: int = 1, size: Size = "demo") -> SeedData:
    """Build the tenant for ``seed``. ``demo``: 320 customers, ~2,400 invoices; ``large``:
    4,000 customers and ≥ 100,000 invoices."""
    if size not in ("demo", "large"):
        raise ValueError(f"size must be 'demo' or 'large', not {size!r}")
    rng = random.Random(seed)
    data = SeedData(
        seed=seed,
        tenant_id=1_047_000_000 + seed,
        client_id=f"cid.sandbox{seed}.{_hex(rng, 12)}",
        client_secret=f"cs1.{_hex(rng, 32)}",
        app_key=f"ak1.{_hex(rng, 24)}",
    )
    n_customers, n_jobs = (320, 2_300) if size == "demo" else (4_000, 99_500)
    _people(data, rng)
    _payment_types(data, rng)
    _customers(data, rng, n_customers)
    _jobs_and_invoices(data, rng, n_jobs)
    return data


def _people(data: SeedData, rng: random.Random) -> None:
    next_id = 300_000 + rng.randrange(1000)
    for i, (name, login, role) in enumerate(EMPLOYEES):
        next_id += rng.randrange(3, 40)
        ts = ANCHOR_TS - rng.randrange(200, 900) * DAY
        data.employees.append(
            EmployeeRec(
                id=next_id,
                name=name,
                login_name=login,
                role=role,
                email=f"{login.lower()}@example-hvac.test",
                phone=f"217555{1000 + i:04d}",
                active=login != "FClerk",
                business_unit_id=None,
                created_ts=ts,
                modified_ts=ts + DAY,
            )
        )
    for i, (name, login) in enumerate(TECHNICIANS):
        next_id += rng.randrange(3, 40)
        ts = ANCHOR_TS - rng.randrange(200, 900) * DAY
        data.technicians.append(
            EmployeeRec(
                id=next_id,
                name=name,
                login_name=login,
                role="Technician",
                email=f"{login.lower()}@example-hvac.test",
                phone=f"217555{2000 + i:04d}",
                active=login != "JMiller2",
                business_unit_id=BUSINESS_UNITS[i % 3][0],
                created_ts=ts,
                modified_ts=ts + DAY,
                technician=True,
            )
        )


def _payment_types(data: SeedData, rng: random.Random) -> None:
    next_id = 61_000 + rng.randrange(500)
    for name, active in PAYMENT_TYPES:
        next_id += rng.randrange(1, 90)
        data.payment_types.append(
            PaymentTypeRec(next_id, name, active, ANCHOR_TS - rng.randrange(30, 700) * DAY)
        )
    by_name = {t.name: t.id for t in data.payment_types}
    data.cases["pos_plus_type_id"] = by_name["POS+"]
    data.cases["inactive_type_id"] = by_name["POS+ (old terminal)"]
    data.cases["refund_type_id"] = by_name["Refund"]
    data.cases["cash_type_id"] = by_name["Cash"]


def _customers(data: SeedData, rng: random.Random, n: int) -> None:
    cid = 21_400_000 + rng.randrange(10_000)
    lid = 30_800_000 + rng.randrange(10_000)
    contact_id = 9_100_000 + rng.randrange(10_000)
    for i in range(n):
        cid += rng.randrange(3, 60)
        commercial = i % 9 == 4
        if commercial:
            name = f"{COMPANY[(i // 9) % len(COMPANY)]} #{i // 9 + 1}"
        else:
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        city, state, zip3 = CITIES[rng.randrange(len(CITIES))]
        street = f"{rng.randrange(10, 9999)} {rng.choice(STREETS)}"
        created = ANCHOR_TS - rng.randrange(400, 1500) * DAY
        cust = CustomerRec(
            id=cid,
            name=name,
            type="Commercial" if commercial else "Residential",
            street=street,
            unit=f"Apt {rng.randrange(1, 30)}" if rng.random() < 0.1 else None,
            city=city,
            state=state,
            zip=f"{zip3}{rng.randrange(100):02d}",
            active=i % 97 != 50,
            do_not_service=i % 131 == 7,
            created_ts=created,
            modified_ts=created + rng.randrange(1, 300) * DAY,
        )
        phone = f"217{rng.randrange(200, 999)}{rng.randrange(10_000):04d}"
        contacts: list[tuple[str, str, str | None]] = [
            ("MobilePhone" if rng.random() < 0.6 else "Phone", _fmt_phone(phone), None)
        ]
        if rng.random() < 0.35:
            contacts.append(("Phone", _fmt_phone(f"217{rng.randrange(200, 999)}{i:04d}"), "work"))
        if rng.random() < 0.7:
            contacts.append(("Email", f"{name.split()[0].lower()}{i}@example.test", None))
        for ctype, value, memo in contacts:
            contact_id += rng.randrange(1, 9)
            cust.contacts.append(ContactRec(contact_id, ctype, value, memo, cust.modified_ts))
        cust.phone_digits = " ".join(
            "".join(ch for ch in c.value if ch.isdigit())
            for c in cust.contacts
            if c.type != "Email"
        )
        n_loc = 1 if rng.random() < 0.8 else rng.randrange(2, 4)
        for k in range(n_loc):
            lid += rng.randrange(2, 50)
            if k == 0:
                loc_street, loc_unit = cust.street, cust.unit
            else:
                loc_street, loc_unit = f"{rng.randrange(10, 9999)} {rng.choice(STREETS)}", None
            data.locations.append(
                LocationRec(
                    id=lid,
                    customer_id=cid,
                    name=name if k == 0 else f"{name} - site {k + 1}",
                    street=loc_street,
                    unit=loc_unit,
                    city=city,
                    state=state,
                    zip=cust.zip,
                    created_ts=created,
                    modified_ts=cust.modified_ts,
                )
            )
            cust.location_ids.append(lid)
        data.customers.append(cust)


def _fmt_phone(digits: str) -> str:
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def _ri(rng: random.Random, low: int, high: int) -> int:
    """``randrange(low, high)`` at a tenth of the cost (the large seed calls it a million times)."""
    return low + int(rng.random() * (high - low))


def _pick(rng: random.Random, items: Sequence[T]) -> T:
    return items[int(rng.random() * len(items))]


def _tax(rng: random.Random, sub: int) -> int:
    return 0 if rng.random() < 0.4 else (sub * 825 + 5000) // 10_000


def _jobs_and_invoices(data: SeedData, rng: random.Random, n_jobs: int) -> None:
    customers = data.customers
    job_id = 61_500_000 + _ri(rng, 0, 10_000)
    inv_id = 88_200_000 + _ri(rng, 0, 10_000)
    pay_id = 120_000_000 + _ri(rng, 0, 10_000)
    job_number = 40_300 + _ri(rng, 0, 100)
    span = 730 * DAY
    seed_types = [t.id for t in data.payment_types if t.name in ("Cash", "Check", "Credit Card")]
    overridden_prefix = ("INV-", "WO-", "")
    case = data.cases
    two_invoice_jobs = {n_jobs // 7, n_jobs // 3, n_jobs // 2 + 1}
    for j in range(n_jobs):
        cust = customers[_ri(rng, 0, len(customers))] if j > 5 else customers[j]
        job_id += _ri(rng, 3, 40)
        job_number += _ri(rng, 1, 4)
        jt_id, jt_name = JOB_TYPES[_ri(rng, 0, len(JOB_TYPES))]
        bu_id = BUSINESS_UNITS[_ri(rng, 0, 3)][0]
        created = ANCHOR_TS - span + (span * j) // n_jobs
        completed = created + _ri(rng, 0, 3) * DAY + _ri(rng, 3_600, 30_000)
        loc_id = cust.location_ids[_ri(rng, 0, len(cust.location_ids))]
        job = JobRec(
            id=job_id,
            number=str(job_number),
            customer_id=cust.id,
            location_id=loc_id,
            status="Completed",
            type_name=jt_name,
            job_type_id=jt_id,
            business_unit_id=bu_id,
            summary=f"{jt_name} for {cust.name}",
            created_ts=created,
            modified_ts=completed,
            completed_ts=completed,
        )
        if j in two_invoice_jobs:
            job.project_id = 700_000 + j
        data.jobs.append(job)
        n_inv = 2 if j in two_invoice_jobs else 1
        for k in range(n_inv):
            inv_id += _ri(rng, 5, 60)
            number = job.number if k == 0 else f"{job.number}-{k + 1}"
            overridden = k == 0 and (j % 17 == 3)
            if overridden:
                prefix = overridden_prefix[j % 3]
                number = f"{prefix}{_ri(rng, 100_000, 999_999)}"
            sub = _subtotal(rng)
            tax = _tax(rng, sub)
            inv = InvoiceRec(
                id=inv_id,
                number=number,
                job_id=job.id,
                customer_id=cust.id,
                location_id=loc_id,
                invoice_ts=completed,
                sub_cents=sub,
                tax_cents=tax,
                balance_cents=sub + tax,
                business_unit_id=bu_id,
                sync_status=_pick(rng, ("Pending", "Posted", "Posted", "Exported")),
                created_ts=completed,
                modified_ts=completed,
                summary=job.summary,
                item_seed=_ri(rng, 0, 1 << 30),
                project_id=job.project_id,
            )
            data.invoices.append(inv)
            if n_inv == 2:
                case.setdefault("two_invoice_job_id", job.id)
            if overridden:
                case.setdefault("overridden_number_invoice_id", inv.id)
            pay_id = _seed_payments(data, rng, inv, pay_id, seed_types, j)
            # Now and then an adjustment invoice follows the original on the same job.
            if k == 0 and j % 53 == 11:
                inv_id += _ri(rng, 5, 60)
                credit = j % 2 == 1
                adj_sub = -min(sub, 5000 + _ri(rng, 0, 5000)) if credit else 4500
                adj = InvoiceRec(
                    id=inv_id,
                    number=f"{number}-A1",
                    job_id=job.id,
                    customer_id=cust.id,
                    location_id=loc_id,
                    invoice_ts=completed + DAY * 3,
                    sub_cents=adj_sub,
                    tax_cents=0,
                    balance_cents=adj_sub,
                    business_unit_id=bu_id,
                    sync_status="Posted",
                    created_ts=completed + DAY * 3,
                    modified_ts=completed + DAY * 3,
                    summary="Credit: goodwill discount" if credit else "Additional part",
                    item_seed=_ri(rng, 0, 1 << 30),
                    adjustment_to_id=inv.id,
                )
                data.invoices.append(adj)
                case.setdefault("adjustment_invoice_id", adj.id)
    first_plain = next(
        i for i in data.invoices if i.number.isdigit() and i.adjustment_to_id is None
    )
    case.setdefault("plain_invoice_id", first_plain.id)


def _subtotal(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.03:
        return 0  # no-charge visit
    if r < 0.7:
        return _ri(rng, 89, 650) * 100 + _pick(rng, (0, 0, 50, 99, 25))
    return _ri(rng, 650, 9_500) * 100 + _ri(rng, 0, 100)


def _seed_payments(
    data: SeedData,
    rng: random.Random,
    inv: InvoiceRec,
    pay_id: int,
    types: list[int],
    j: int,
) -> int:
    total = inv.total_cents
    if total <= 0:
        return pay_id
    r = rng.random()
    if r < 0.45:
        amounts = [total]
        data.cases.setdefault("paid_invoice_id", inv.id)
    elif r < 0.6:
        first = max(1, total // _pick(rng, (2, 3, 4)))
        amounts = [first] if rng.random() < 0.7 else [first // 2, first - first // 2]
        data.cases.setdefault("part_paid_invoice_id", inv.id)
    else:
        data.cases.setdefault("unpaid_invoice_id", inv.id)
        return pay_id
    for n, cents in enumerate(amounts):
        if cents <= 0:
            continue
        pay_id += _ri(rng, 3, 50)
        ts = inv.invoice_ts + n * DAY + _ri(rng, 60, 7_200)
        data.payments.append(
            PaymentRec(
                id=pay_id,
                type_id=types[_ri(rng, 0, len(types))],
                splits=[(inv.id, cents)],
                customer_id=inv.customer_id,
                memo="Paid in field" if n == 0 else "Balance payment",
                paid_ts=ts,
                auth_code=None,
                check_number=str(1000 + j % 9000) if rng.random() < 0.3 else None,
                export_id=None,
                status="Posted",
                transaction_status="Success",
                active=True,
                created_ts=ts,
                modified_ts=ts,
                created_by="TechMike",
                reference_number=str(pay_id - 119_000_000),
            )
        )
        inv.balance_cents -= cents
    return pay_id
