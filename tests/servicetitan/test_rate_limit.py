"""The client's own limiter keeps a busy counter under the server's per-tenant limit."""

from __future__ import annotations

import asyncio

from posplus_tui.servicetitan.sandbox import Sandbox

from .conftest import make_client, serve


async def test_client_limiter_avoids_429s_from_a_strict_server(mode, request):
    sandbox = Sandbox(seed=6, rate_per_second=30)
    await _busy(sandbox, serve(sandbox, request) if mode == "http" else None)
    assert sandbox.stats.rate_limited == 0


async def _busy(sandbox: Sandbox, url: str | None) -> None:
    async with make_client(sandbox, url, rate_per_second=30, rate_burst=5) as st:
        await asyncio.gather(*(st.list_payment_types() for _ in range(40)))


async def test_without_the_limiter_the_server_throttles_and_the_client_recovers():
    sandbox = Sandbox(seed=6, rate_per_second=30)
    async with make_client(sandbox, None, rate_per_second=None) as st:
        results = await asyncio.gather(*(st.list_payment_types() for _ in range(40)))
    assert all(results)
    assert sandbox.stats.rate_limited > 0


async def test_clients_of_one_tenant_share_the_budget():
    sandbox = Sandbox(seed=6, rate_per_second=10)
    lookup = make_client(sandbox, None, rate_per_second=10, rate_burst=2)
    poster = make_client(sandbox, None, rate_per_second=10, rate_burst=2)
    async with lookup, poster:
        await asyncio.gather(
            *(st.list_payment_types() for st in (lookup, poster) for _ in range(12))
        )
        assert lookup._limiter is poster._limiter
    # together they stayed under the server's 10/s: separate budgets would have made 20/s
    assert sandbox.stats.rate_limited == 0
