"""Fixtures: a fresh sandbox per test, and a client reaching it in-process or over loopback HTTP.

One uvicorn server serves the whole session; each test points it at its own fresh sandbox, so the
HTTP runs cost a request, not a server start-up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from posplus_tui.servicetitan import ServiceTitanClient
from posplus_tui.servicetitan.sandbox import Sandbox
from posplus_tui.servicetitan.sandbox.server import serve_in_thread

#: Fast retries in tests; the limiter stays on but high enough not to slow the suite.
FAST = {"backoff_base": 0.01, "backoff_cap": 0.05, "rate_per_second": 500.0, "rate_burst": 100.0}


class Switch:
    """An ASGI app that forwards to whichever sandbox the current test uses."""

    def __init__(self) -> None:
        self.target: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan" or self.target is None:
            return
        await self.target(scope, receive, send)


@pytest.fixture(scope="session")
def served() -> Iterator[tuple[Switch, str]]:
    switch = Switch()
    with serve_in_thread(switch) as url:
        yield switch, url


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(seed=1, rate_per_second=None)


@pytest.fixture(params=["in_process", "http"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def base_url(sandbox: Sandbox, mode: str, request: pytest.FixtureRequest) -> Iterator[str | None]:
    if mode == "http":
        switch, url = request.getfixturevalue("served")
        switch.target = sandbox.app
        yield url
        switch.target = None
    else:
        yield None


def serve(sandbox: Sandbox, request: pytest.FixtureRequest) -> str:
    """Point the session's HTTP server at ``sandbox`` for this test; returns the base URL."""
    switch, url = request.getfixturevalue("served")
    switch.target = sandbox.app
    request.addfinalizer(lambda: setattr(switch, "target", None))
    return url


def make_client(sandbox: Sandbox, base_url: str | None, **kwargs: object) -> ServiceTitanClient:
    opts = {**FAST, **kwargs}
    if base_url is None:
        return sandbox.client(**opts)
    return sandbox.client_for(base_url, **opts)


@pytest.fixture
async def st(sandbox: Sandbox, base_url: str | None) -> AsyncIterator[ServiceTitanClient]:
    async with make_client(sandbox, base_url) as client:
        yield client
