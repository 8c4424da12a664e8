"""Token life: 200 concurrent calls across an expiry share exactly one refresh."""

from __future__ import annotations

import asyncio

from posplus_tui.servicetitan.sandbox import ManualClock, Sandbox

from .conftest import FAST, serve


async def _burst(sandbox: Sandbox, base_url: str | None, clock: ManualClock, how: str) -> None:
    opts = {**FAST, "rate_per_second": None, "clock": clock}
    client = sandbox.client(**opts) if base_url is None else sandbox.client_for(base_url, **opts)
    async with client as st:
        await st.list_payment_types()
        assert sandbox.stats.token_requests == 1
        if how == "expired":
            clock.advance(901)  # both sides now see the token as expired
        else:
            sandbox.faults.expire_tokens()  # the server forgets it; the client does not know
        results = await asyncio.gather(*(st.list_payment_types() for _ in range(200)))
    assert all(results)
    assert sandbox.stats.token_requests == 2
    assert sandbox.stats.max_token_in_flight == 1


async def test_200_calls_across_a_token_expiry_make_one_token_request(mode):
    clock = ManualClock()
    sandbox = Sandbox(seed=2, rate_per_second=None, token_delay=0.05, clock=clock)
    if mode == "http":
        with sandbox.serve_in_thread() as url:
            await _burst(sandbox, url, clock, "expired")
    else:
        await _burst(sandbox, None, clock, "expired")


async def test_200_calls_that_all_get_401_make_one_token_request(mode, request):
    clock = ManualClock()
    sandbox = Sandbox(seed=2, rate_per_second=None, token_delay=0.05, clock=clock)
    url = serve(sandbox, request) if mode == "http" else None
    await _burst(sandbox, url, clock, "revoked")


async def test_token_is_renewed_a_minute_before_expiry(sandbox):
    clock = ManualClock()
    sb = Sandbox(seed=2, rate_per_second=None, clock=clock)
    async with sb.client(clock=clock, **FAST) as st:
        await st.list_payment_types()
        clock.advance(900 - 61)
        await st.list_payment_types()
        assert sb.stats.token_requests == 1
        clock.advance(2)  # now inside the last minute: renew before the server would refuse
        await st.list_payment_types()
        assert sb.stats.token_requests == 2
