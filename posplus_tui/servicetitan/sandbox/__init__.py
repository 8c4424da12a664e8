"""A faithful local ServiceTitan: same paths and wire shapes, seeded data, faults on demand.

sandbox = Sandbox(seed=1)
async with sandbox.client() as st:          # in-process (httpx ASGI transport)
    ...
with sandbox.serve_in_thread() as base_url:  # real HTTP on loopback (uvicorn)
    ...
sandbox.faults.throttle_next(3)              # misbehave on demand (see ``Faults``)

``sandbox.cases`` names the interesting seed records (an overridden number, a job with two
invoices, an adjustment, paid / part-paid / unpaid invoices, the POS+ and an inactive payment
type). A sandbox served by ``posplus sandbox serve`` takes the same faults over HTTP
(``posplus sandbox fault``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from posplus_tui.servicetitan.client import ServiceTitanClient
from posplus_tui.servicetitan.sandbox.app import Exchange, ReplyDropped, SandboxApp, Stats
from posplus_tui.servicetitan.sandbox.faults import Faults
from posplus_tui.servicetitan.sandbox.seed import SeedData, Size, build_seed
from posplus_tui.servicetitan.sandbox.server import serve_in_thread as _serve_in_thread
from posplus_tui.servicetitan.sandbox.store import Store
from posplus_tui.servicetitan.sandbox.transport import SandboxTransport

__all__ = [
    "IN_PROCESS_BASE_URL",
    "Credentials",
    "Exchange",
    "Faults",
    "ManualClock",
    "ReplyDropped",
    "Sandbox",
    "SandboxTransport",
    "Stats",
]

#: The base URL in-process clients use (never resolved: the ASGI transport answers).
IN_PROCESS_BASE_URL = "http://sandbox.servicetitan.local"


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the sandbox accepts: put these in Settings → ServiceTitan to use it."""

    tenant_id: int
    client_id: str
    client_secret: str
    app_key: str


class ManualClock:
    """A wall clock tests can move forward (token expiry without waiting)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Sandbox:
    """One sandbox tenant: ``.app`` (ASGI), ``.credentials``, ``.faults``, ``.client()``,
    ``.serve_in_thread()``, plus ``.cases`` (ids of the interesting seed records)."""

    def __init__(
        self,
        seed: int = 1,
        size: Size = "demo",
        *,
        token_ttl: int = 900,
        rate_per_second: float | None = 60.0,
        token_delay: float = 0.0,
        clock: Callable[[], float] = time.time,
        latency_ms: float = 0.0,
    ) -> None:
        self.seed = seed
        self.size = size
        self.data: SeedData = build_seed(seed, size)
        self.store = Store(self.data, clock)
        self.faults = Faults(self.store)
        self.app = SandboxApp(
            self.store,
            self.faults,
            token_ttl=token_ttl,
            rate_per_second=rate_per_second,
            token_delay=token_delay,
            clock=clock,
            latency=max(0.0, latency_ms) / 1000,
        )
        self.credentials = Credentials(
            self.data.tenant_id, self.data.client_id, self.data.client_secret, self.data.app_key
        )

    @property
    def cases(self) -> dict[str, int]:
        return self.data.cases

    @property
    def stats(self) -> Stats:
        return self.app.stats

    def transport(self) -> SandboxTransport:
        return SandboxTransport(app=self.app)

    def client(self, **kwargs: Any) -> ServiceTitanClient:
        """An in-process client over the ASGI transport (no sockets). ``kwargs`` go to
        :class:`ServiceTitanClient` (e.g. ``rate_per_second``, ``timeout``)."""
        kwargs.setdefault("base_url", IN_PROCESS_BASE_URL)
        kwargs.setdefault("transport", self.transport())
        return self.client_for(kwargs.pop("base_url"), **kwargs)

    def client_for(self, base_url: str, **kwargs: Any) -> ServiceTitanClient:
        """A client for this sandbox served at ``base_url`` (e.g. from :meth:`serve_in_thread`)."""
        c = self.credentials
        environment = kwargs.pop("environment", "sandbox")
        return ServiceTitanClient(
            environment, c.tenant_id, c.client_id, c.client_secret, c.app_key,
            base_url=base_url, **kwargs,
        )  # fmt: skip

    @contextlib.contextmanager
    def serve_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve over real HTTP (uvicorn, loopback by default); yields the base URL."""
        with _serve_in_thread(self.app, host, port) as base_url:
            yield base_url
