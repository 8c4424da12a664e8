"""The sandbox at the wire: auth, routes, pagination, PATCH rules, duplicates, rate limit, seed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from posplus_tui.servicetitan.sandbox import IN_PROCESS_BASE_URL, ManualClock, Sandbox
from posplus_tui.servicetitan.sandbox.seed import build_seed


class Raw:
    """Bare httpx against the sandbox, to look at status codes, headers and bodies."""

    def __init__(self, sandbox: Sandbox, http: httpx.AsyncClient) -> None:
        self.sb = sandbox
        self.http = http
        self.token = ""

    @property
    def t(self) -> str:
        return f"/accounting/v2/tenant/{self.sb.credentials.tenant_id}"

    async def login(self) -> str:
        c = self.sb.credentials
        r = await self.http.post(
            "/connect/token",
            data={
                "grant_type": "client_credentials",
                "client_id": c.client_id,
                "client_secret": c.client_secret,
            },
        )
        assert r.status_code == 200, r.text
        self.token = r.json()["access_token"]
        return self.token

    def headers(self, **extra: str) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.token}", "ST-App-Key": self.sb.credentials.app_key}
        h.update(extra)
        return h

    async def get(self, path: str, **params: object) -> httpx.Response:
        return await self.http.get(path, params=params, headers=self.headers())

    async def send(self, method: str, path: str, body: object) -> httpx.Response:
        return await self.http.request(method, path, json=body, headers=self.headers())


@pytest.fixture
async def raw(sandbox: Sandbox) -> AsyncIterator[Raw]:
    async with httpx.AsyncClient(
        transport=sandbox.transport(), base_url=IN_PROCESS_BASE_URL
    ) as http:
        api = Raw(sandbox, http)
        await api.login()
        yield api


async def test_token_endpoint_rejects_bad_credentials(raw, sandbox):
    c = sandbox.credentials
    r = await raw.http.post(
        "/connect/token",
        data={"grant_type": "client_credentials", "client_id": c.client_id, "client_secret": "x"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_client"
    r = await raw.http.post("/connect/token", data={"grant_type": "password"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    ok = await raw.http.post(
        "/connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": c.client_id,
            "client_secret": c.client_secret,
        },
    )
    assert ok.json()["expires_in"] == 900 and ok.json()["token_type"] == "Bearer"


async def test_both_headers_and_a_live_token_are_required(raw, sandbox):
    path = f"{raw.t}/payment-types"
    assert (await raw.http.get(path)).status_code == 401
    assert (
        await raw.http.get(path, headers={"ST-App-Key": sandbox.credentials.app_key})
    ).status_code == 401
    only_token = {"Authorization": f"Bearer {raw.token}"}
    assert (await raw.http.get(path, headers=only_token)).status_code == 401
    bad_key = {**only_token, "ST-App-Key": "nope"}
    assert (await raw.http.get(path, headers=bad_key)).status_code == 403
    unknown = {"Authorization": "Bearer made-up", "ST-App-Key": sandbox.credentials.app_key}
    assert (await raw.http.get(path, headers=unknown)).status_code == 401
    other_tenant = path.replace(str(sandbox.credentials.tenant_id), "42")
    assert (await raw.http.get(other_tenant, headers=raw.headers())).status_code == 403
    assert (await raw.get(path)).status_code == 200


async def test_an_expired_token_gets_401():
    clock = ManualClock()
    sb = Sandbox(seed=4, rate_per_second=None, clock=clock, token_ttl=900)
    async with httpx.AsyncClient(transport=sb.transport(), base_url=IN_PROCESS_BASE_URL) as http:
        api = Raw(sb, http)
        await api.login()
        assert (await api.get(f"{api.t}/payment-types")).status_code == 200
        clock.advance(900)
        r = await api.get(f"{api.t}/payment-types")
        assert r.status_code == 401 and "expired" in r.json()["error_description"]


async def test_only_tenant_routes_exist_and_there_is_no_invoice_by_id(raw, sandbox):
    inv_id = sandbox.cases["paid_invoice_id"]
    assert (await raw.get(f"{raw.t}/invoices/{inv_id}")).status_code == 404
    assert (await raw.get("/accounting/v2/invoices")).status_code == 404
    assert (await raw.get(f"{raw.t}/nothing-here")).status_code == 404
    r = await raw.get(f"{raw.t}/invoices", ids=str(inv_id))
    assert r.status_code == 200 and r.json()["data"][0]["id"] == inv_id


async def test_wire_shapes_money_as_strings_times_with_z_nulls_present(raw, sandbox):
    inv = (await raw.get(f"{raw.t}/invoices", ids=str(sandbox.cases["paid_invoice_id"]))).json()
    row = inv["data"][0]
    assert isinstance(row["total"], str) and isinstance(row["balance"], str)
    assert row["invoiceDate"].endswith("Z") and "batch" in row and row["batch"] is None
    pays = (await raw.get(f"{raw.t}/payments", appliedToInvoiceIds=str(row["id"]))).json()
    assert pays["data"] and all(isinstance(p["typeId"], str) for p in pays["data"])
    r = await raw.send(
        "POST",
        f"{raw.t}/payments",
        {
            "typeId": sandbox.cases["pos_plus_type_id"],
            "splits": [{"invoiceId": sandbox.cases["unpaid_invoice_id"], "amount": 12.5}],
        },
    )
    body = r.json()
    assert r.status_code == 200 and isinstance(body["typeId"], int)
    assert Decimal(str(body["splits"][0]["amount"])) == Decimal("12.5")


async def test_pagination_limits_and_total_count(raw, sandbox):
    path = f"{raw.t}/invoices"
    first = (await raw.get(path, pageSize=100)).json()
    assert first["page"] == 1 and first["hasMore"] and first["totalCount"] is None
    assert len(first["data"]) == 100
    counted = (await raw.get(path, pageSize=100, includeTotal="true")).json()
    assert counted["totalCount"] == len(sandbox.data.invoices)
    last_page = -(-len(sandbox.data.invoices) // 100)
    last = (await raw.get(path, pageSize=100, page=last_page)).json()
    assert last["hasMore"] is False and 0 < len(last["data"]) <= 100
    assert (await raw.get(path, pageSize=0)).status_code == 400
    assert (await raw.get(path, pageSize=5001)).status_code == 400
    bad = await raw.get(path, ids=",".join(str(i.id) for i in sandbox.data.invoices[:51]))
    assert bad.status_code == 400 and "ids" in bad.json()["errors"]
    ids = [r["id"] for r in first["data"]]
    again = (await raw.get(path, pageSize=100)).json()
    assert [r["id"] for r in again["data"]] == ids  # stable order


async def test_payment_validation_in_api_error_shape(raw, sandbox):
    inv_id = sandbox.cases["unpaid_invoice_id"]
    pos = sandbox.cases["pos_plus_type_id"]
    cases = [
        ({"splits": [{"invoiceId": inv_id, "amount": 1}]}, "typeId"),
        ({"typeId": 1, "splits": [{"invoiceId": inv_id, "amount": 1}]}, "typeId"),
        ({"typeId": pos, "splits": []}, "splits"),
        ({"typeId": pos, "splits": [{"invoiceId": 5, "amount": 1}]}, "splits[0].invoiceId"),
        ({"typeId": pos, "splits": [{"invoiceId": inv_id, "amount": 0}]}, "splits[0].amount"),
        ({"typeId": pos, "splits": [{"invoiceId": inv_id, "amount": 1.001}]}, "splits[0].amount"),
        ({"typeId": pos, "splits": [{"invoiceId": inv_id, "amount": 10**6}]}, "splits[0].amount"),
    ]
    for body, field in cases:
        r = await raw.send("POST", f"{raw.t}/payments", body)
        problem = r.json()
        assert r.status_code == 400, body
        assert set(problem) == {"type", "title", "status", "traceId", "errors", "data"}
        assert field in problem["errors"], (body, problem)


async def test_patch_rules_pending_only_void_restores_balance(raw, sandbox):
    inv_id = sandbox.cases["unpaid_invoice_id"]
    pos = sandbox.cases["pos_plus_type_id"]

    async def balance() -> str:
        r = await raw.get(f"{raw.t}/invoices", ids=str(inv_id))
        return r.json()["data"][0]["balance"]

    start = await balance()
    split = [{"invoiceId": inv_id, "amount": 10}]
    pid = (await raw.send("POST", f"{raw.t}/payments", {"typeId": pos, "splits": split})).json()[
        "id"
    ]
    assert await balance() != start
    missing = await raw.send("PATCH", f"{raw.t}/payments/{pid}", {"memo": "x"})
    assert missing.status_code == 400
    ok = await raw.send(
        "PATCH", f"{raw.t}/payments/{pid}", {"typeId": pos, "splits": split, "active": False}
    )
    assert ok.status_code == 200 and ok.json()["active"] is False
    assert await balance() == start
    again = await raw.send("PATCH", f"{raw.t}/payments/{pid}", {"typeId": pos, "splits": split})
    assert again.status_code == 409
    posted = (
        await raw.send(
            "POST", f"{raw.t}/payments", {"typeId": pos, "splits": split, "status": "Posted"}
        )
    ).json()["id"]
    r = await raw.send("PATCH", f"{raw.t}/payments/{posted}", {"typeId": pos, "splits": split})
    assert r.status_code == 409 and "Pending" in r.json()["title"]
    assert (
        await raw.send("PATCH", f"{raw.t}/payments/1", {"typeId": pos, "splits": split})
    ).status_code == 404


async def test_duplicate_posts_make_duplicate_payments(raw, sandbox):
    inv_id = sandbox.cases["unpaid_invoice_id"]
    body = {
        "typeId": sandbox.cases["pos_plus_type_id"],
        "splits": [{"invoiceId": inv_id, "amount": 5}],
        "memo": "same",
    }
    a = (await raw.send("POST", f"{raw.t}/payments", body)).json()["id"]
    b = (await raw.send("POST", f"{raw.t}/payments", body)).json()["id"]
    assert a != b
    listed = (await raw.get(f"{raw.t}/payments", appliedToInvoiceIds=str(inv_id))).json()
    assert {p["id"] for p in listed["data"]} == {a, b}


async def test_rate_limit_answers_429_with_retry_after_in_seconds():
    sb = Sandbox(seed=5, rate_per_second=5)
    async with httpx.AsyncClient(transport=sb.transport(), base_url=IN_PROCESS_BASE_URL) as http:
        api = Raw(sb, http)
        await api.login()
        statuses = [(await api.get(f"{api.t}/payment-types")) for _ in range(12)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited and int(limited[0].headers["Retry-After"]) >= 1
    assert not limited[0].headers["content-type"].startswith("application/json")


async def test_export_feed_follows_changes_with_continue_from(raw, sandbox):
    sandbox.app.export_page_size = 1000
    token, seen, pages = None, 0, 0
    while True:
        body = (
            await raw.get(f"{raw.t}/export/invoices", **({"from": token} if token else {}))
        ).json()
        seen += len(body["data"])
        pages += 1
        token = body["continueFrom"]
        if not body["hasMore"]:
            break
    assert seen == len(sandbox.data.invoices) and pages == 3
    empty = (await raw.get(f"{raw.t}/export/invoices", **{"from": token})).json()
    assert empty["data"] == [] and empty["hasMore"] is False
    inv_id = sandbox.cases["unpaid_invoice_id"]
    body = {
        "typeId": sandbox.cases["pos_plus_type_id"],
        "splits": [{"invoiceId": inv_id, "amount": 1}],
    }
    pid = (await raw.send("POST", f"{raw.t}/payments", body)).json()["id"]
    changed = (await raw.get(f"{raw.t}/export/invoices", **{"from": token})).json()
    assert [r["id"] for r in changed["data"]] == [inv_id]
    repeated = (
        await raw.get(f"{raw.t}/export/invoices", **{"from": token, "includeRecentChanges": "true"})
    ).json()
    assert len(repeated["data"]) > 1 and repeated["data"][-1]["id"] == inv_id
    last_seed = max(p.modified_ts for p in sandbox.data.payments)
    since = time.strftime("%Y-%m-%d", time.gmtime(last_seed + 86_400))
    pays = (await raw.get(f"{raw.t}/export/payments", **{"from": since})).json()
    assert pid in [p["id"] for p in pays["data"]]
    assert all(p["modifiedOn"][:10] >= since for p in pays["data"])
    assert (await raw.get(f"{raw.t}/export/payments", **{"from": "garbage"})).status_code == 400


def test_seed_is_deterministic_and_covers_the_cases():
    a, b, c = build_seed(7), build_seed(7), build_seed(8)
    assert [(i.id, i.number, i.balance_cents) for i in a.invoices] == [
        (i.id, i.number, i.balance_cents) for i in b.invoices
    ]
    assert a.client_secret == b.client_secret != c.client_secret
    assert [i.id for i in a.invoices] != [i.id for i in c.invoices]
    assert len(a.customers) >= 300 and len(a.invoices) >= 2000
    assert all(cu.contacts and cu.location_ids for cu in a.customers)
    numbers = {i.number for i in a.invoices}
    assert not numbers & {str(i.id) for i in a.invoices}
    for key in (
        "overridden_number_invoice_id", "two_invoice_job_id", "adjustment_invoice_id",
        "paid_invoice_id", "part_paid_invoice_id", "unpaid_invoice_id", "pos_plus_type_id",
        "inactive_type_id",
    ):  # fmt: skip
        assert key in a.cases
    names = [t.name for t in a.payment_types]
    assert "POS+" in names and len([n for n in names if "POS" in n]) >= 3
    assert any(not t.active for t in a.payment_types)
    assert any(i.total_cents < 0 for i in a.invoices)  # a credit adjustment


def test_large_seed_has_100k_invoices_and_builds_fast():
    start = time.perf_counter()
    big = build_seed(1, "large")
    assert len(big.invoices) >= 100_000
    assert time.perf_counter() - start < 15
