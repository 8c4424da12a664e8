"""Gaps a schema-driven fuzzer found against the official OpenAPI files: documented routes that
answered 404, and documented filters the sandbox ignored. Each filter is applied (the rows
prove it) or refused with a 400 — never silently ignored."""

from __future__ import annotations

from typing import Any

import pytest

from posplus_tui.servicetitan import ServiceTitanClient, ValidationError
from posplus_tui.servicetitan.sandbox import Sandbox
from tests.servicetitan import openapi


def _documented(module: str, path: str, name: str) -> bool:
    op = openapi.operation(module, "GET", f"GET /{module}/v2/tenant/{{tenant}}/{path}")
    assert op is not None, path
    return name in {p["name"] for p in op.get("parameters", [])}


@pytest.mark.parametrize(
    ("module", "resource", "rows"),
    [
        ("accounting", "payment-types", "payment_types"),
        ("settings", "employees", "employees"),
        ("settings", "technicians", "technicians"),
    ],
)
async def test_get_by_id_routes_answer(
    st: ServiceTitanClient, sandbox: Sandbox, module: str, resource: str, rows: str
) -> None:
    assert openapi.operation(module, "GET", f"GET /{module}/v2/tenant/{{tenant}}/{resource}/{{id}}")
    records = getattr(sandbox.store, rows)
    first = next(iter(records.values() if isinstance(records, dict) else records))
    got = await st.request("GET", module, f"{resource}/{first.id}")
    assert got["id"] == first.id and got["name"] == first.name
    with pytest.raises(Exception) as missing:
        await st.request("GET", module, f"{resource}/999999999")
    assert getattr(missing.value, "status", None) == 404


async def _invoice_ids(st: ServiceTitanClient, **params: Any) -> list[int]:
    return [inv.id async for inv in st.iter_invoices(page_size=5000, **params)]


async def test_invoice_filters_are_applied(st: ServiceTitanClient, sandbox: Sandbox) -> None:
    for name in ("businessUnitId", "batchId", "orderBy", "orderByDirection"):
        assert _documented("accounting", "invoices", name), name
    every = sandbox.store.invoice_list
    unit = every[0].business_unit_id
    in_unit = await _invoice_ids(st, businessUnitId=unit)
    assert in_unit and len(in_unit) < len(every)
    assert in_unit == [i.id for i in every if i.business_unit_id == unit and not i.deleted]
    assert await _invoice_ids(st, batchId=1) == []  # no sandbox invoice is in a batch
    by_total = await st.find_invoices(customer_id=every[0].customer_id, orderBy="total",
                                      orderByDirection="desc")  # fmt: skip
    totals = [inv.total.cents for inv in by_total]
    assert totals == sorted(totals, reverse=True) and len(totals) >= 1
    for bad in ({"orderBy": "colour"}, {"orderBy": "id", "orderByDirection": "sideways"}):
        with pytest.raises(ValidationError):
            await st.find_invoices(customer_id=every[0].customer_id, **bad)


async def test_payment_date_filters_are_applied(st: ServiceTitanClient, sandbox: Sandbox) -> None:
    for name in ("createdOnOrAfter", "createdBefore", "modifiedBefore"):
        assert _documented("accounting", "payments", name), name
    pays = sorted(sandbox.store.payment_list, key=lambda p: p.created_ts)
    assert len(pays) > 4
    cut = pays[len(pays) // 2].created_ts
    stamp = _iso(cut)
    before = {p.id async for p in st.iter_payments(createdBefore=stamp, activeState="All")}
    after = {p.id async for p in st.iter_payments(createdOnOrAfter=stamp, activeState="All")}
    assert before == {p.id for p in pays if p.created_ts < cut}
    assert after == {p.id for p in pays if p.created_ts >= cut}
    mod_cut = sorted(p.modified_ts for p in pays)[len(pays) // 2]
    mod_before = {p.id async for p in st.iter_payments(modifiedBefore=_iso(mod_cut),
                                                        activeState="All")}  # fmt: skip
    assert mod_before == {p.id for p in pays if p.modified_ts < mod_cut}
    with pytest.raises(ValidationError):
        await st.list_payments(transactionType="Refund")  # refused, not ignored


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
