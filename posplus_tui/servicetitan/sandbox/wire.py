"""Records → the exact JSON shapes of the v2 OpenAPI files (money as strings, ``Z`` times,
nulls present). Pure functions."""

from __future__ import annotations

import random
import time
from decimal import Decimal
from typing import Any

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
from posplus_tui.servicetitan.sandbox.seed import BUSINESS_UNITS, SKUS

__all__ = [
    "cents_str",
    "contact",
    "customer",
    "employee",
    "invoice",
    "invoice_items",
    "job",
    "location",
    "payment_detail",
    "payment_response",
    "payment_type",
    "technician",
    "ts",
]

_BU_NAMES = dict(BUSINESS_UNITS)


def ts(epoch: float | int | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def cents_str(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def cents_num(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def invoice_items(inv: InvoiceRec) -> list[tuple[str, str, int, int]]:
    """(description, type, quantity, unit cents) lines summing exactly to the subtotal."""
    if inv.items is not None:
        return [(d, "Service", q, u) for d, q, u in inv.items]
    sub = inv.sub_cents
    rng = random.Random(inv.item_seed)
    if sub <= 0:
        desc = "Credit adjustment" if sub < 0 else "No-charge visit"
        return [(desc, "PriceModifier" if sub < 0 else "Service", 1, sub)]
    n = 1 if sub < 15_000 else rng.randrange(2, 5)
    lines: list[tuple[str, str, int, int]] = []
    left = sub
    for k in range(n - 1):
        name, kind, _ = SKUS[rng.randrange(len(SKUS))]
        share = max(1, left // (n - k) + rng.randrange(-left // 10, left // 10 + 1))
        share = min(share, left - (n - k - 1))
        qty = 2 if share % 2 == 0 and kind == "Material" and share > 1 else 1
        lines.append((name, kind, qty, share // qty))
        left -= share
    name, kind, _ = SKUS[rng.randrange(len(SKUS))]
    lines.append((name, kind, 1, left))
    return lines


def invoice(
    inv: InvoiceRec,
    cust: CustomerRec,
    loc: LocationRec | None,
    job_rec: JobRec | None,
    *,
    with_active: bool = False,
) -> dict[str, Any]:
    modified = ts(inv.modified_ts)
    items = []
    for n, (desc, kind, qty, unit) in enumerate(invoice_items(inv)):
        items.append(
            {
                "id": inv.id * 8 + n,
                "description": desc,
                "quantity": f"{qty}.00",
                "cost": "0.00",
                "totalCost": "0.00",
                "inventoryLocation": None,
                "price": cents_str(unit),
                "type": kind,
                "skuName": desc,
                "skuId": 50_000 + (inv.item_seed + n) % 997,
                "total": cents_str(unit * qty),
                "inventory": kind != "Service",
                "taxable": kind != "Service",
                "generalLedgerAccount": None,
                "costOfSaleAccount": None,
                "assetAccount": None,
                "membershipTypeId": 0,
                "itemGroup": None,
                "displayName": desc,
                "soldHours": None,
                "modifiedOn": modified,
                "serviceDate": ts(inv.invoice_ts),
                "order": n + 1,
            }
        )
    address = {
        "street": cust.street,
        "unit": cust.unit,
        "city": cust.city,
        "state": cust.state,
        "zip": cust.zip,
        "country": "USA",
    }
    out: dict[str, Any] = {
        "id": inv.id,
        "syncStatus": inv.sync_status,
        "summary": inv.summary,
        "referenceNumber": inv.number,
        "invoiceDate": ts(inv.invoice_ts),
        "dueDate": ts(inv.invoice_ts + 30 * 86_400),
        "subTotal": cents_str(inv.sub_cents),
        "salesTax": cents_str(inv.tax_cents),
        "salesTaxCode": None,
        "total": cents_str(inv.total_cents),
        "balance": cents_str(inv.balance_cents),
        "customer": {"id": cust.id, "name": cust.name},
        "customerAddress": address,
        "locationAddress": (
            {
                "street": loc.street,
                "unit": loc.unit,
                "city": loc.city,
                "state": loc.state,
                "zip": loc.zip,
                "country": "USA",
            }
            if loc
            else None
        ),
        "businessUnit": {"id": inv.business_unit_id, "name": _BU_NAMES.get(inv.business_unit_id)},
        "termName": "Due Upon Receipt",
        "createdBy": "TechMike",
        "batch": None,
        "modifiedOn": modified,
        "adjustmentToId": inv.adjustment_to_id,
        "job": (
            {"id": job_rec.id, "number": job_rec.number, "type": job_rec.type_name}
            if job_rec
            else None
        ),
        "projectId": inv.project_id,
        "royalty": None,
        "employeeInfo": None,
        "commissionEligibilityDate": None,
        "items": items,
        "customFields": [],
    }
    if with_active:
        out["active"] = not inv.deleted
    return out


def customer(c: CustomerRec, balance_cents: int = 0) -> dict[str, Any]:
    return {
        "id": c.id,
        "active": c.active,
        "name": c.name,
        "type": c.type,
        "address": {
            "street": c.street,
            "unit": c.unit,
            "city": c.city,
            "state": c.state,
            "zip": c.zip,
            "country": "USA",
            "latitude": None,
            "longitude": None,
        },
        "customFields": [],
        "balance": cents_num(balance_cents),
        "doNotMail": False,
        "doNotService": c.do_not_service,
        "createdOn": ts(c.created_ts),
        "createdById": 300_001,
        "modifiedOn": ts(c.modified_ts),
        "mergedToId": None,
    }


def contact(c: ContactRec) -> dict[str, Any]:
    phone = c.type in ("Phone", "MobilePhone")
    digits = "".join(ch for ch in c.value if ch.isdigit())
    return {
        "id": c.id,
        "type": c.type,
        "value": c.value,
        "memo": c.memo,
        "modifiedOn": ts(c.modified_ts),
        "phoneSettings": {"phoneNumber": digits if phone else "", "doNotText": False},
    }


def location(loc: LocationRec) -> dict[str, Any]:
    return {
        "id": loc.id,
        "customerId": loc.customer_id,
        "active": True,
        "name": loc.name,
        "address": {
            "street": loc.street,
            "unit": loc.unit,
            "city": loc.city,
            "state": loc.state,
            "zip": loc.zip,
            "country": "USA",
            "latitude": None,
            "longitude": None,
        },
        "customFields": [],
        "createdOn": ts(loc.created_ts),
        "createdById": 300_001,
        "modifiedOn": ts(loc.modified_ts),
        "mergedToId": None,
        "taxZoneId": None,
    }


def job(j: JobRec) -> dict[str, Any]:
    return {
        "id": j.id,
        "jobNumber": j.number,
        "customerId": j.customer_id,
        "locationId": j.location_id,
        "jobStatus": j.status,
        "completedOn": ts(j.completed_ts),
        "businessUnitId": j.business_unit_id,
        "jobTypeId": j.job_type_id,
        "priority": "Normal",
        "campaignId": 8_001,
        "summary": j.summary,
        "customFields": [],
        "appointmentCount": 1,
        "firstAppointmentId": j.id + 1,
        "lastAppointmentId": j.id + 1,
        "recallForId": None,
        "warrantyId": None,
        "jobGeneratedLeadSource": None,
        "noCharge": False,
        "notificationsEnabled": True,
        "createdOn": ts(j.created_ts),
        "createdById": 300_001,
        "modifiedOn": ts(j.modified_ts),
        "tagTypeIds": [],
        "leadCallId": None,
        "bookingId": None,
        "soldById": None,
        "externalData": [],
    }


def payment_type(t: PaymentTypeRec) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "modifiedOn": ts(t.modified_ts)}


def payment_detail(
    p: PaymentRec,
    type_name: str | None,
    cust: CustomerRec | None,
    *,
    spec26: bool = True,
) -> dict[str, Any]:
    """A ``GET /payments`` row (``DetailedPaymentResponse``: ``typeId`` is a string). With
    ``spec26`` the 2026 catalog's extra fields (active, createdOn, modifiedOn,
    refundedPaymentId) are added."""
    out: dict[str, Any] = {
        "id": p.id,
        "syncStatus": p.status,
        "referenceNumber": p.reference_number,
        "date": ts(p.paid_ts),
        "type": type_name,
        "typeId": str(p.type_id),
        "total": cents_str(p.total_cents),
        "unappliedAmount": "0.00",
        "memo": p.memo,
        "customer": {"id": cust.id, "name": cust.name} if cust else None,
        "batch": None,
        "createdBy": p.created_by,
        "generalLedgerAccount": None,
        "appliedTo": [
            {
                "appliedTo": inv_id,
                "appliedAmount": cents_str(cents),
                "appliedOn": ts(p.created_ts),
                "appliedBy": p.created_by,
            }
            for inv_id, cents in p.splits
        ],
        "customFields": [],
        "authCode": p.auth_code,
        "checkNumber": p.check_number,
    }
    if spec26:
        out["active"] = p.active
        out["createdOn"] = ts(p.created_ts)
        out["modifiedOn"] = ts(p.modified_ts)
        out["refundedPaymentId"] = p.refunded_payment_id
    return out


def payment_response(p: PaymentRec) -> dict[str, Any]:
    """The ``POST``/``PATCH /payments`` reply (``PaymentResponse``: ``typeId`` is an int)."""
    return {
        "id": p.id,
        "typeId": p.type_id,
        "active": p.active,
        "memo": p.memo,
        "paidOn": ts(p.paid_ts),
        "authCode": p.auth_code,
        "checkNumber": p.check_number,
        "exportId": p.export_id,
        "transactionStatus": p.transaction_status,
        "status": p.status,
        "splits": [{"invoiceId": i, "amount": cents_num(c)} for i, c in p.splits],
    }


def employee(e: EmployeeRec) -> dict[str, Any]:
    return {
        "id": e.id,
        "name": e.name,
        "role": e.role,
        "businessUnitId": e.business_unit_id,
        "createdOn": ts(e.created_ts),
        "modifiedOn": ts(e.modified_ts),
        "email": e.email,
        "phoneNumber": e.phone,
        "loginName": e.login_name,
        "customFields": [],
        "active": e.active,
    }


def technician(e: EmployeeRec) -> dict[str, Any]:
    return {
        "id": e.id,
        "name": e.name,
        "businessUnitId": e.business_unit_id,
        "createdOn": ts(e.created_ts),
        "modifiedOn": ts(e.modified_ts),
        "email": e.email,
        "phoneNumber": e.phone,
        "loginName": e.login_name,
        "home": None,
        "dailyGoal": Decimal("0"),
        "isManagedTech": False,
        "customFields": [],
        "active": e.active,
    }
