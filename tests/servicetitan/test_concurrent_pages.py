"""A pull built for a real network: paged lists fetch several pages at once, in order, with one
token and inside the rate budget; the sandbox can add a WAN's latency to every response."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from posplus_tui.servicetitan.sandbox import Sandbox
from tests.servicetitan.conftest import FAST


class Watch:
    """ASGI wrapper: counts requests in flight, and can rewrite the first page's totalCount
    (as if the list grew or shrank between the first page and the next)."""

    def __init__(self, app: Any, *, total_shift: int = 0) -> None:
        self.app = app
        self.total_shift = total_shift
        self.in_flight = 0
        self.most = 0
        self.pages: list[int] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or "/invoices" not in scope["path"]:
            await self.app(scope, receive, send)
            return
        query = dict(
            part.split("=", 1) for part in scope["query_string"].decode().split("&") if part
        )
        self.pages.append(int(query.get("page", 1)))
        first = query.get("includeTotal") == "true"
        held: dict[str, Any] = {}

        async def rewrite(message: Any) -> None:
            if not (first and self.total_shift):
                await send(message)
            elif message["type"] == "http.response.start":
                held["start"] = message
            else:
                body = json.loads(message["body"])
                body["totalCount"] += self.total_shift
                raw = json.dumps(body).encode()
                start = dict(held["start"])
                start["headers"] = [
                    (k, str(len(raw)).encode() if k == b"content-length" else v)
                    for k, v in start["headers"]
                ]
                await send(start)
                await send({**message, "body": raw})

        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await self.app(scope, receive, rewrite)
        finally:
            self.in_flight -= 1


async def pull_all(sandbox: Sandbox, app: Any, **options: Any) -> tuple[list[int], int]:
    import httpx

    opts = {**FAST, **options}
    async with sandbox.client(transport=httpx.ASGITransport(app=app), **opts) as st:
        ids = [inv.id async for inv in st.iter_invoices(page_size=200)]
        return ids, st.token_requests


@pytest.fixture
def slow_sandbox() -> Sandbox:
    return Sandbox(seed=1, rate_per_second=None, latency_ms=15)


async def test_pages_come_several_at_once_in_order_with_one_token(slow_sandbox: Sandbox) -> None:
    one = Watch(slow_sandbox.app)
    in_order, _ = await pull_all(slow_sandbox, one, page_concurrency=1)
    many = Watch(slow_sandbox.app)
    ids, tokens = await pull_all(slow_sandbox, many, page_concurrency=4)
    assert ids == in_order and len(ids) == len(set(ids)) > 2000
    assert one.most == 1
    assert many.most == 4  # never more than asked for
    assert sorted(many.pages) == list(range(1, len(ids) // 200 + 2))  # each page once
    assert tokens == 1


@pytest.mark.parametrize("shift", [-450, 1000], ids=["list-grew", "list-shrank"])
async def test_a_count_that_is_out_of_date_loses_nothing_and_fails_nothing(
    slow_sandbox: Sandbox, shift: int
) -> None:
    """The count is a hint: a list that grew is read on past it, page by page; one that shrank
    ends at the first page that says there is no more."""
    expected, _ = await pull_all(slow_sandbox, slow_sandbox.app, page_concurrency=1)
    watch = Watch(slow_sandbox.app, total_shift=shift)
    ids, _ = await pull_all(slow_sandbox, watch, page_concurrency=4)
    assert ids == expected


async def test_the_rate_budget_holds_with_pages_in_flight() -> None:
    """With the API's own limit on (429 past it) and the client's limiter at the same rate,
    fetching pages at once never earns a 429."""
    sandbox = Sandbox(seed=1, rate_per_second=60.0, latency_ms=5)
    ids, _ = await pull_all(
        sandbox, sandbox.app, page_concurrency=6, rate_per_second=60.0, rate_burst=10.0
    )
    assert len(ids) > 2000
    assert sandbox.stats.rate_limited == 0


async def test_the_sandbox_adds_its_latency_to_every_response() -> None:
    sandbox = Sandbox(seed=1, rate_per_second=None, latency_ms=60)
    async with sandbox.client(**FAST) as st:
        start = time.perf_counter()
        await st.list_payment_types()  # the token, then the list: two responses
        assert time.perf_counter() - start >= 0.12


def test_sandbox_serve_refuses_a_latency_out_of_range() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "posplus_tui", "sandbox", "serve", "--port", "0",
         "--latency-ms", "-5"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--latency-ms -5" in done.stderr and len(done.stderr.strip().splitlines()) == 1
