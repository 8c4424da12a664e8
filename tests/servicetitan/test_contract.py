"""Every sandbox reply and every client request body, checked against the official OpenAPI files.

One broad session runs through the client (plus raw calls for error replies); a recorder in the
sandbox keeps each exchange; each is validated against the operation's schema for its status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from posplus_tui.domain.money import Money
from posplus_tui.servicetitan import NotFoundError, ValidationError
from posplus_tui.servicetitan.sandbox import IN_PROCESS_BASE_URL, Exchange, Sandbox

from . import openapi
from .conftest import FAST

EXPORTS = {
    "GET /accounting/v2/tenant/{tenant}/export/invoices": "Accounting.V2.InvoiceResponse",
    "GET /accounting/v2/tenant/{tenant}/export/payments": "Accounting.V2.DetailedPaymentResponse",
}


@pytest.fixture(scope="module")
def exchanges() -> Iterator[list[Exchange]]:
    import asyncio

    sandbox = Sandbox(seed=11, rate_per_second=None)
    seen: list[Exchange] = []
    sandbox.app.recorder = seen.append
    sandbox.app.export_page_size = 100
    asyncio.run(_session(sandbox, seen))
    yield seen


#: Exchanges before this index were made by the client; after it, raw calls made on purpose.
CLIENT_PART: dict[str, int] = {}


async def _session(sb: Sandbox, seen: list[Exchange]) -> None:
    cases = sb.cases
    async with sb.client(**FAST) as st:
        inv = await st.get_invoice(cases["unpaid_invoice_id"])
        await st.get_invoices([i.id for i in sb.data.invoices[:60]])
        await st.find_invoices(number=inv.number)
        await st.find_invoices(job_number=inv.job_number)
        await st.find_invoices(customer_id=inv.customer_id, statuses=["Posted", "Pending"])
        await st.find_invoices(job_id=sb.cases["two_invoice_job_id"])
        await st.find_invoices(adjustment_to_id=sb.data.invoices[0].id)
        n = 0
        async for _ in st.iter_invoices(page_size=100, includeTotal=True):
            n += 1
            if n == 250:  # three pages are enough for the shapes
                break
        await st.list_payment_types(include_inactive=True)
        paid = await st.create_payment(
            cases["pos_plus_type_id"], [(inv.id, Money(1234))], memo="POSPLUS-C1",
            export_id="POSPLUS-C1", auth_code="A1B2C3", paid_on=inv.invoice_date,
            status="Pending", transaction_status="Success",
        )  # fmt: skip
        await st.list_payments(applied_to_invoice_ids=[inv.id], paid_on_after=inv.invoice_date)
        await st.list_payments(customer_id=inv.customer_id)
        await st.update_payment(paid.id, memo="POSPLUS-C1 edited", check_number="1001")
        adj = await st.create_adjustment_invoice(
            inv.id, items=[("Refund", Money(-500))], summary="Refund", number=f"{inv.number}-R"
        )
        await st.create_payment(cases["refund_type_id"], [(adj, Money(-500))], memo="refund")
        await st.void_payment(paid.id)
        for _ in range(2):
            await st.list_payments()
        cust = await st.get_customer(inv.customer_id)
        await st.find_customers(name=cust.name.split()[0], with_contacts=True, limit=3)
        await st.find_customers(phone=cust.phones[0])
        await st.find_locations(customer_id=cust.id)
        await st.get_location(sb.data.locations[0].id)
        await st.get_job(inv.job.id)
        await st.find_jobs(number=inv.job_number)
        await st.find_jobs(customer_id=inv.customer_id)
        await st.list_employees(active="Any")
        await st.list_technicians(active="Any")
        page = await st.export_invoices()
        await st.export_invoices(page.continue_from)
        today = datetime.now(UTC).date().isoformat()
        recent = await st.export_invoices(today)  # a date works as a starting point too
        await st.export_invoices(recent.continue_from, include_recent_changes=True)
        pays = await st.export_payments()
        await st.export_payments(pays.continue_from, include_recent_changes=True)
        # error replies in the documented ApiErrorResponse shape
        with pytest.raises(ValidationError):
            await st.create_payment(cases["inactive_type_id"], [(inv.id, Money(1))])
        with pytest.raises(ValidationError):
            await st.create_payment(cases["pos_plus_type_id"], [(inv.id, Money(10**8))])
        with pytest.raises(NotFoundError):
            await st.get_customer(5)
        with pytest.raises(NotFoundError):
            await st.get_job(5)
        with pytest.raises(ValidationError):  # voided: 409
            await st.update_payment(paid.id, memo="again")
    CLIENT_PART["end"] = len(seen)
    # a few raw calls the client never makes on purpose
    async with httpx.AsyncClient(transport=sb.transport(), base_url=IN_PROCESS_BASE_URL) as http:
        c = sb.credentials
        tok = (
            await http.post(
                "/connect/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": c.client_id,
                    "client_secret": c.client_secret,
                },
            )
        ).json()["access_token"]
        h = {"Authorization": f"Bearer {tok}", "ST-App-Key": c.app_key}
        t = f"/accounting/v2/tenant/{c.tenant_id}"
        await http.get(f"{t}/invoices", params={"pageSize": 0}, headers=h)
        await http.post(f"{t}/invoices", json={"summary": "no original"}, headers=h)
        await http.post(f"{t}/invoices", json={"adjustmentToId": 5}, headers=h)
        await http.patch(f"{t}/payments/5", json={"typeId": 1, "splits": []}, headers=h)


def _json(ex: Exchange) -> Any:
    return json.loads(ex.body)


def test_every_route_the_client_uses_was_exercised(exchanges):
    routes = {ex.route for ex in exchanges if ex.route and ex.route not in ("token", "admin")}
    assert len(routes) == 17, sorted(routes)
    statuses = {ex.status for ex in exchanges}
    assert {200, 400, 404, 409} <= statuses


def test_every_response_matches_the_openapi_schema(exchanges):
    checked = 0
    problems: list[str] = []
    for ex in exchanges:
        if not ex.route or ex.route in ("token", "admin"):
            continue
        module = ex.route.split("/")[1]
        if ex.route in EXPORTS:
            if ex.status != 200:
                continue
            body = _json(ex)
            assert set(body) == {"hasMore", "continueFrom", "data"}
            assert isinstance(body["continueFrom"], str) and isinstance(body["hasMore"], bool)
            item = openapi.validator(module, openapi.component(module, EXPORTS[ex.route]))
            for row in body["data"]:
                row = dict(row)
                if "Invoice" in EXPORTS[ex.route]:
                    assert isinstance(row.pop("active"), bool)
                problems += openapi.errors_of(item, row)
            checked += 1
            continue
        op = openapi.operation(module, ex.method, ex.route)
        assert op is not None, f"{ex.route} is not in the OpenAPI file"
        schema = openapi.response_schema(op, ex.status)
        if schema is None and ex.status in (400, 404, 409):
            # ApiErrorResponse is the documented error body; some operations omit the status
            schema = openapi.component(module, "ApiErrorResponse")
        assert schema is not None, f"{ex.route} answered {ex.status}, not declared in the spec"
        errs = openapi.errors_of(openapi.validator(module, schema), _json(ex))
        problems += [f"{ex.method} {ex.path} {ex.status}: {e}" for e in errs]
        checked += 1
    assert not problems, "\n".join(problems[:20])
    assert checked > 40


def test_every_client_request_body_matches_the_openapi_schema(exchanges):
    """Every POST/PATCH body the client sent, accepted or refused by the sandbox's rules."""
    checked = 0
    for ex in exchanges[: CLIENT_PART["end"]]:
        if ex.method not in ("POST", "PATCH") or not ex.route or ex.route in ("token", "admin"):
            continue
        module = ex.route.split("/")[1]
        op = openapi.operation(module, ex.method, ex.route)
        schema = openapi.request_schema(op)
        errs = openapi.errors_of(openapi.validator(module, schema), ex.request_body)
        assert not errs, f"{ex.route}: {errs}"
        checked += 1
    assert checked >= 7


#: Query parameters the 2026 catalog adds (reference §2) and the client may send.
SPEC26_PARAMS = {
    "GET /accounting/v2/tenant/{tenant}/payments": {"appliedToInvoiceIds", "activeState"},
}


def test_every_client_query_parameter_is_one_the_api_documents(exchanges):
    checked = 0
    for ex in exchanges[: CLIENT_PART["end"]]:
        if ex.method != "GET" or ex.route in (None, "token", "admin") or ex.route in EXPORTS:
            continue
        module = ex.route.split("/")[1]
        op = openapi.operation(module, ex.method, ex.route)
        documented = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
        unknown = set(ex.query) - documented - SPEC26_PARAMS.get(ex.route, set())
        assert not unknown, f"{ex.route} sent undocumented parameters {unknown}"
        checked += 1
    assert checked > 30
    for ex in exchanges:
        if ex.route in EXPORTS:
            assert set(ex.query) <= {"from", "includeRecentChanges"}


def test_invoice_list_rows_carry_no_fields_beyond_the_2024_file(exchanges):
    for ex in exchanges:
        if ex.route == "GET /accounting/v2/tenant/{tenant}/invoices" and ex.status == 200:
            for row in _json(ex)["data"]:
                assert "active" not in row
            return
    pytest.fail("no invoice list reply recorded")


def test_gateway_errors_are_not_api_error_response():
    import asyncio

    sb = Sandbox(seed=12, rate_per_second=None)
    seen: list[Exchange] = []
    sb.app.recorder = seen.append

    async def run() -> None:
        sb.faults.throttle_next(1, retry_after=0)
        sb.faults.fail_next(1, 502)
        async with sb.client(**FAST) as st:
            await st.list_payment_types()

    asyncio.run(run())
    gateway = [ex for ex in seen if ex.status in (429, 502)]
    assert len(gateway) == 2
    for ex in gateway:
        assert not ex.content_type.startswith("application/json")


def test_the_checker_catches_drift(exchanges):
    """Money as a number, a missing required field or an unknown field must all be caught."""
    ex = next(
        e for e in exchanges
        if e.route == "GET /accounting/v2/tenant/{tenant}/invoices" and e.status == 200
    )  # fmt: skip
    op = openapi.operation("accounting", "GET", ex.route)
    check = openapi.validator("accounting", openapi.response_schema(op, 200))
    good = _json(ex)
    assert openapi.errors_of(check, good) == []
    for mutate in (
        lambda row: row.__setitem__("total", 12.5),
        lambda row: row.pop("id"),
        lambda row: row.__setitem__("surprise", 1),
        lambda row: row["items"][0].__setitem__("type", "Gizmo"),
    ):
        bad = json.loads(ex.body)
        mutate(bad["data"][0])
        assert openapi.errors_of(check, bad), mutate
    pay = openapi.validator(
        "accounting", openapi.component("accounting", "Accounting.V2.PaymentCreateRequest")
    )
    assert openapi.errors_of(pay, {"typeId": 1, "splits": [{"invoiceId": 2, "amount": "1.00"}]})
    assert not openapi.errors_of(pay, {"typeId": 1, "splits": [{"invoiceId": 2, "amount": 1.5}]})
