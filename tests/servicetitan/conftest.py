"""Fixtures: a fresh sandbox per test, and a client reaching it in-process or over loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from posplus_tui.servicetitan import ServiceTitanClient
from posplus_tui.servicetitan.sandbox import Sandbox

#: Fast retries in tests; the limiter stays on but high enough not to slow the suite.
FAST = {"backoff_base": 0.01, "backoff_cap": 0.05, "rate_per_second": 500.0, "rate_burst": 100.0}


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(seed=1, rate_per_second=None)


@pytest.fixture(params=["in_process", "http"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def base_url(sandbox: Sandbox, mode: str) -> Iterator[str | None]:
    if mode == "http":
        with sandbox.serve_in_thread() as url:
            yield url
    else:
        yield None


def make_client(sandbox: Sandbox, base_url: str | None, **kwargs: object) -> ServiceTitanClient:
    opts = {**FAST, **kwargs}
    if base_url is None:
        return sandbox.client(**opts)
    return sandbox.client_for(base_url, **opts)


@pytest.fixture
async def st(sandbox: Sandbox, base_url: str | None) -> AsyncIterator[ServiceTitanClient]:
    async with make_client(sandbox, base_url) as client:
        yield client
