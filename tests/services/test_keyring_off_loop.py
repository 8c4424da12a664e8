"""The keyring is never read on the event loop: a real OS keyring may block (D-Bus, a locked
wallet) and would freeze every screen. A keyring that notes where it is called proves it."""

from __future__ import annotations

import asyncio

import pytest

from posplus_tui.config import Settings
from posplus_tui.secrets import MemoryKeyring, SecretStore
from posplus_tui.services.container import Services
from posplus_tui.services.setup import ConnectionForm, SetupService


class WhereKeyring(MemoryKeyring):
    """Records, for each read, whether it ran on a thread with a running event loop."""

    def __init__(self) -> None:
        super().__init__()
        self.on_loop: list[bool] = []

    def get_password(self, service: str, username: str) -> str | None:
        try:
            asyncio.get_running_loop()
            self.on_loop.append(True)
        except RuntimeError:
            self.on_loop.append(False)
        return super().get_password(service, username)


async def test_testing_the_connection_reads_stored_secrets_off_the_loop() -> None:
    ring = WhereKeyring()
    settings = Settings(tenant_id="1047000001", client_id="cid")
    store = SecretStore(backend=ring, environ={}, tenant=settings.tenant_id)
    setup = SetupService(settings, store, client_factory=None, terminal_tester=None)
    await setup.test_connection(ConnectionForm("production", "1047000001", "cid", "", ""))
    assert ring.on_loop and not any(ring.on_loop)


async def test_go_live_reads_the_secrets_off_the_loop() -> None:
    ring = WhereKeyring()
    settings = Settings(
        environment="production",
        tenant_id="1047000001",
        client_id="cid",
        reconciliation_username="DLee",
        terminal_url="sim://",
    )
    store = SecretStore(backend=ring, environ={}, tenant=settings.tenant_id)
    store.set("client_secret", "s3cret-value")
    store.set("app_key", "ak-value")
    services = Services(mode="run", settings=Settings(), secrets=store)
    # No ledger in this bare container: wiring stops there, after the secrets were read.
    with pytest.raises(RuntimeError, match="ledger"):
        await services.go_live(settings, store)
    assert ring.on_loop and not any(ring.on_loop)
