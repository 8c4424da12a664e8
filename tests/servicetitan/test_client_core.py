"""The client against the sandbox, once in-process and once over real loopback HTTP."""

from __future__ import annotations

import httpx
import pytest

from posplus_tui.domain.money import Money
from posplus_tui.servicetitan import (
    AppKeyRejected,
    AuthError,
    NotFoundError,
    PaymentSplit,
    PermissionDenied,
    ScopeMissing,
    ServiceTitanClient,
    TenantRefused,
    ValidationError,
)
from posplus_tui.servicetitan.sandbox import Sandbox


async def test_invoice_by_id_has_typed_money_and_a_number_that_is_not_the_id(st, sandbox):
    inv_id = sandbox.cases["unpaid_invoice_id"]
    inv = await st.get_invoice(inv_id)
    assert inv.id == inv_id
    assert inv.number and inv.number != str(inv.id)
    assert isinstance(inv.total, Money) and isinstance(inv.balance, Money)
    assert inv.balance == inv.total and inv.total.cents > 0
    assert inv.total == inv.sub_total + inv.sales_tax
    assert Money.total([i.total for i in inv.items]) == inv.sub_total
    # The number people see finds the same invoice; the id as a number finds nothing.
    assert [i.id for i in await st.find_invoices(number=inv.number)] == [inv_id]
    assert await st.find_invoices(number=str(inv.id)) == []


async def test_overridden_number_is_found_by_job_number_too(st, sandbox):
    inv = await st.get_invoice(sandbox.cases["overridden_number_invoice_id"])
    assert inv.number != inv.job_number
    by_job = await st.find_invoices(job_number=inv.job_number)
    assert inv.id in [i.id for i in by_job]
    assert [i.id for i in await st.find_invoices(number=inv.number)] == [inv.id]


async def test_a_job_with_two_invoices(st, sandbox):
    job_id = sandbox.cases["two_invoice_job_id"]
    invoices = await st.find_invoices(job_id=job_id)
    assert len(invoices) == 2
    assert len({i.number for i in invoices}) == 2
    job = await st.get_job(job_id)
    assert {i.job_number for i in invoices} == {job.number}


async def test_adjustment_invoice_points_at_its_original(st, sandbox):
    adj = await st.get_invoice(sandbox.cases["adjustment_invoice_id"])
    assert adj.is_adjustment
    original = await st.get_invoice(adj.adjustment_to_id)
    assert original.job and adj.job and original.job.id == adj.job.id


async def test_get_invoices_batches_more_than_50_ids(st, sandbox):
    ids = [inv.id for inv in sandbox.data.invoices[:120]]
    found = await st.get_invoices([*ids, 1, 2, 3])
    assert [i.id for i in found] == ids


async def test_invoices_by_customer_and_paid_states(st, sandbox):
    paid = await st.get_invoice(sandbox.cases["paid_invoice_id"])
    part = await st.get_invoice(sandbox.cases["part_paid_invoice_id"])
    assert paid.is_paid and paid.balance == Money(0)
    assert Money(0) < part.balance < part.total
    mine = await st.find_invoices(customer_id=part.customer_id)
    assert part.id in [i.id for i in mine]
    assert all(i.customer_id == part.customer_id for i in mine)


async def test_iter_invoices_pages_through_everything(st, sandbox):
    seen = [inv.id async for inv in st.iter_invoices(page_size=700)]
    assert len(seen) == len(sandbox.data.invoices) >= 2000
    assert seen == sorted(seen)


async def test_payment_types_by_name_with_inactive_marked(st, sandbox):
    active = await st.list_payment_types()
    assert "POS+" in [t.name for t in active]
    assert all(t.active for t in active)
    every = await st.list_payment_types(include_inactive=True)
    inactive = [t for t in every if not t.active]
    assert sandbox.cases["inactive_type_id"] in [t.id for t in inactive]
    assert len(every) > len(active)


async def test_create_list_update_and_void_a_payment(st, sandbox):
    inv = await st.get_invoice(sandbox.cases["unpaid_invoice_id"])
    pos = next(t for t in await st.list_payment_types() if t.name == "POS+")
    amount = Money(inv.balance.cents // 2)
    paid = await st.create_payment(
        pos.id, [PaymentSplit(inv.id, amount)], memo="POSPLUS-T1", export_id="POSPLUS-T1"
    )
    assert paid.active and paid.status == "Pending" and paid.total == amount
    after = await st.get_invoice(inv.id)
    assert after.balance == inv.balance - amount
    listed = await st.list_payments(applied_to_invoice_ids=[inv.id], paid_on_after=paid.paid_on)
    assert [p.id for p in listed] == [paid.id]
    assert listed[0].type_id == pos.id and listed[0].type_name == "POS+"
    assert listed[0].mentions("POSPLUS-T1")
    found = await st.find_payments_with_marker("POSPLUS-T1", invoice_ids=[inv.id])
    assert [p.id for p in found] == [paid.id]
    updated = await st.update_payment(paid.id, memo="POSPLUS-T1 corrected")
    assert updated.memo == "POSPLUS-T1 corrected" and updated.total == amount
    voided = await st.void_payment(paid.id)
    assert voided.active is False
    assert (await st.get_invoice(inv.id)).balance == inv.balance
    assert [p.id for p in await st.list_payments(ids=[paid.id], active_state="ActiveOnly")] == []


async def test_overpaying_is_rejected_with_the_servers_field_message(st, sandbox):
    inv = await st.get_invoice(sandbox.cases["part_paid_invoice_id"])
    with pytest.raises(ValidationError) as err:
        await st.create_payment(
            sandbox.cases["pos_plus_type_id"], [(inv.id, inv.balance + Money(1))], memo="x"
        )
    assert "splits[0].amount" in err.value.field_errors
    assert "balance" in err.value.fix
    assert (await st.get_invoice(inv.id)).balance == inv.balance


async def test_inactive_payment_type_is_rejected(st, sandbox):
    inv_id = sandbox.cases["unpaid_invoice_id"]
    with pytest.raises(ValidationError) as err:
        await st.create_payment(sandbox.cases["inactive_type_id"], [(inv_id, Money(100))])
    assert "typeId" in err.value.field_errors
    assert err.value.title and err.value.fix


async def test_customers_by_name_and_phone_with_contacts_and_locations(st, sandbox):
    sample = sandbox.data.customers[10]
    by_name = await st.find_customers(name=sample.name.split()[-1].upper(), with_contacts=True)
    assert sample.id in [c.id for c in by_name]
    phone = next(c.value for c in sample.contacts if c.type != "Email")
    by_phone = await st.find_customers(phone=phone)
    assert sample.id in [c.id for c in by_phone]
    cust = await st.get_customer(sample.id)
    assert phone in cust.phones
    loc = await st.get_location(sample.location_ids[0])
    assert loc.customer_id == sample.id
    with pytest.raises(NotFoundError):
        await st.get_customer(1)


async def test_employees_and_technicians_keep_mixed_case_login_names(st):
    employees = await st.list_employees()
    techs = await st.list_technicians()
    logins = [e.login_name for e in employees] + [t.login_name for t in techs]
    assert any(name != name.lower() and name != name.upper() for name in logins if name)
    assert "FClerk" not in [e.login_name for e in employees]  # inactive is left out
    assert "FClerk" in [e.login_name for e in await st.list_employees(active="Any")]


async def test_one_token_for_many_calls_and_both_headers_required(st, sandbox):
    for _ in range(5):
        await st.list_payment_types()
    assert st.token_requests == 1
    assert sandbox.stats.token_requests == 1


async def test_wrong_secret_is_an_auth_error_naming_the_credential(sandbox, base_url):
    c = sandbox.credentials
    kwargs = {"transport": sandbox.transport()} if base_url is None else {}
    url = base_url or "http://sandbox.servicetitan.local"
    async with ServiceTitanClient(
        "sandbox", c.tenant_id, c.client_id, "wrong", c.app_key, base_url=url, **kwargs
    ) as bad:
        with pytest.raises(AuthError) as err:
            await bad.list_payment_types()
    assert "Client Secret" in err.value.fix


async def test_wrong_app_key_and_wrong_tenant_are_permission_errors_naming_each(sandbox, base_url):
    c = sandbox.credentials
    kwargs = {"transport": sandbox.transport()} if base_url is None else {}
    url = base_url or "http://sandbox.servicetitan.local"
    cases = (
        (c.tenant_id, "not-the-key", AppKeyRejected, "App Key"),
        (c.tenant_id + 1, c.app_key, TenantRefused, "Tenant ID"),
    )
    for tenant, key, kind, named in cases:
        async with ServiceTitanClient(
            "sandbox", tenant, c.client_id, c.client_secret, key, base_url=url, **kwargs
        ) as bad:
            with pytest.raises(kind) as err:
                await bad.list_payment_types()
        assert isinstance(err.value, PermissionDenied)
        assert named in err.value.title and named in err.value.fix
        assert "Client Secret" not in err.value.fix


async def test_a_missing_app_key_fetches_no_token_and_blames_the_app_key(sandbox, base_url):
    """Issue 16: without an app key the client used to fetch a token, get 401, fetch a second
    token, and then blame the client id and secret."""
    c = sandbox.credentials
    kwargs = {"transport": sandbox.transport()} if base_url is None else {}
    url = base_url or "http://sandbox.servicetitan.local"
    before = sandbox.stats.token_requests
    async with ServiceTitanClient(
        "sandbox", c.tenant_id, c.client_id, c.client_secret, "", base_url=url, **kwargs
    ) as bad:
        with pytest.raises(AppKeyRejected) as err:
            await bad.list_payment_types()
        assert bad.token_requests == 0
    assert sandbox.stats.token_requests == before
    assert "App Key" in err.value.title and "Client Secret" not in err.value.fix


async def test_the_sandbox_refuses_a_call_without_the_app_key_header_once(sandbox, base_url):
    """The header left out on the wire (not just empty in the client): the 401 comes on a token
    issued for this very call, so the client neither fetches another nor blames the secret."""
    c = sandbox.credentials
    url = base_url or "http://sandbox.servicetitan.local"
    transport = sandbox.transport() if base_url is None else httpx.AsyncHTTPTransport()

    class NoAppKey(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            request.headers.pop("ST-App-Key", None)
            return await transport.handle_async_request(request)

    async with ServiceTitanClient(
        "sandbox", c.tenant_id, c.client_id, c.client_secret, c.app_key,
        base_url=url, transport=NoAppKey(),
    ) as st:  # fmt: skip
        with pytest.raises(AppKeyRejected) as err:
            await st.list_payment_types()
        assert st.token_requests == 1
    assert err.value.status == 401 and err.value.suspect == "app_key"


async def test_a_scope_left_out_names_the_scope_on_the_call_that_needs_it(sandbox, base_url):
    c = sandbox.credentials
    kwargs = {"transport": sandbox.transport()} if base_url is None else {}
    url = base_url or "http://sandbox.servicetitan.local"
    sandbox.faults.revoke_scope("tn.settings.employees:r")
    try:
        async with ServiceTitanClient(
            "sandbox", c.tenant_id, c.client_id, c.client_secret, c.app_key,
            base_url=url, **kwargs,
        ) as st:  # fmt: skip
            assert await st.list_payment_types()  # other scopes still work
            with pytest.raises(ScopeMissing) as err:
                await st.list_employees()
            assert st.token_requests == 1
    finally:
        sandbox.faults.clear()
    assert err.value.scope == "tn.settings.employees:r"
    assert "tn.settings.employees:r" in err.value.title and err.value.status == 403


async def test_production_and_integration_hosts_reach_the_same_sandbox():
    sb = Sandbox(seed=3, rate_per_second=None)
    c = sb.credentials
    seen: list[str] = []

    class Spy(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(str(request.url.copy_with(query=None)))
            return await sb.transport().handle_async_request(request)

    for env in ("production", "integration"):
        async with ServiceTitanClient(
            env, c.tenant_id, c.client_id, c.client_secret, c.app_key, transport=Spy()
        ) as client:
            assert len(await client.list_payment_types()) > 3
    assert "https://auth.servicetitan.io/connect/token" in seen
    assert "https://auth-integration.servicetitan.io/connect/token" in seen
    assert f"https://api.servicetitan.io/accounting/v2/tenant/{c.tenant_id}/payment-types" in seen
    assert any(u.startswith("https://api-integration.servicetitan.io/accounting/v2/") for u in seen)


async def test_refund_as_negative_split_on_an_adjustment_invoice(st, sandbox):
    inv = await st.get_invoice(sandbox.cases["unpaid_invoice_id"])
    pos = sandbox.cases["pos_plus_type_id"]
    paid = await st.create_payment(pos, [(inv.id, Money(5000))], memo="POSPLUS-R1")
    adj_id = await st.create_adjustment_invoice(
        inv.id, items=[("Refund POSPLUS-R1", Money(-2000))], summary="Refund"
    )
    adj = await st.get_invoice(adj_id)
    assert adj.adjustment_to_id == inv.id and adj.total == Money(-2000)
    refund = await st.create_payment(
        sandbox.cases["refund_type_id"], [(adj_id, Money(-2000))], memo="POSPLUS-R1-refund"
    )
    assert refund.total == Money(-2000)
    listed = await st.get_payment(refund.id)
    assert listed.refunded_payment_id == paid.id
    assert (await st.get_invoice(adj_id)).balance == Money(0)
    with pytest.raises(ValidationError):  # more than the adjustment allows
        await st.create_payment(sandbox.cases["refund_type_id"], [(adj_id, Money(-1))])


async def test_follow_export_until_caught_up_then_only_changes(st, sandbox):
    sandbox.app.export_page_size = 1000
    pages = [p async for p in st.follow_export("invoices")]
    assert [p.has_more for p in pages] == [True] * (len(pages) - 1) + [False]
    assert sum(len(p.items) for p in pages) == len(sandbox.data.invoices)
    token = pages[-1].continue_from
    inv_id = sandbox.cases["unpaid_invoice_id"]
    await st.create_payment(sandbox.cases["pos_plus_type_id"], [(inv_id, Money(100))])
    changed = [i async for p in st.follow_export("invoices", token) for i in p.items]
    assert [i.id for i in changed] == [inv_id]
    pays = [p async for p in st.iter_payments(appliedToInvoiceIds=str(inv_id))]
    assert len(pays) == 1 and pays[0].total == Money(100)


async def test_payments_for_more_than_50_invoices_are_read_in_batches(st, sandbox):
    paid = [p for p in sandbox.data.payments][:80]
    invoice_ids = [p.splits[0][0] for p in paid]
    found = await st.list_payments(applied_to_invoice_ids=invoice_ids)
    assert {p.id for p in paid} <= {p.id for p in found}
    by_id = await st.list_payments(ids=[p.id for p in paid])
    assert [p.id for p in by_id] == sorted(p.id for p in paid)
    assert await st.list_payments(ids=[]) == []
