"""Building the reconcile, sync and lookup services from the settings and the keyring.

Used by ``posplus reconcile`` and by the app's services container, so both talk to ServiceTitan the
same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from posplus_tui.config import Settings
from posplus_tui.ledger import Ledger
from posplus_tui.secrets import SecretStore
from posplus_tui.services.errors import ServiceError
from posplus_tui.services.lookup import LookupService
from posplus_tui.services.reconcile.events import EventBus
from posplus_tui.services.reconcile.ratebudget import LedgerRateBudget, budget_key
from posplus_tui.services.reconcile.service import ReconcileService
from posplus_tui.services.reconcile.st_poster import ServiceTitanPoster
from posplus_tui.services.sync import SyncService
from posplus_tui.servicetitan import ServiceTitanClient

#: After a lost reply from the sandbox, wait this long before searching for the marker (its
#: slowest injected reply takes 5 s); against ServiceTitan the worker's default (100 s) applies.
SANDBOX_DOUBT_WAIT = 10.0


class NotConfigured(ServiceError):
    """ServiceTitan is not set up enough to post payments."""


def client_from_settings(
    settings: Settings, secrets: SecretStore, **client_options: Any
) -> ServiceTitanClient:
    """A ServiceTitan client for the configured tenant; :class:`NotConfigured` names what is
    missing and where to set it."""
    missing = [k for k in ("tenant_id", "client_id") if not getattr(settings, k)]
    if settings.environment == "sandbox" and not settings.sandbox_url:
        missing.append("sandbox_url")
    secret_values = {name: secrets.get(name) for name in ("client_secret", "app_key")}
    missing += [name for name, value in secret_values.items() if not value]
    if missing:
        raise NotConfigured(
            f"ServiceTitan is not set up: {', '.join(missing)} missing.",
            "Open Setup → ServiceTitan (or `posplus config set KEY VALUE`; secrets go to the "
            "keyring through Setup, or POSPLUS_CLIENT_SECRET / POSPLUS_APP_KEY for a service).",
        )
    if settings.environment == "sandbox":
        client_options.setdefault("base_url", settings.sandbox_url)
    return ServiceTitanClient(
        settings.environment,
        settings.tenant_id,
        settings.client_id,
        secret_values["client_secret"] or "",
        secret_values["app_key"] or "",
        **client_options,
    )


@dataclass
class ReconcileBundle:
    """The three services that talk to ServiceTitan for the counter, sharing one client and bus."""

    client: ServiceTitanClient
    reconcile: ReconcileService
    sync: SyncService
    lookup: LookupService
    bus: EventBus

    async def aclose(self) -> None:
        await self.reconcile.stop()
        self.sync.stop()
        await self.client.aclose()


def share_rate_budget(ledger: Ledger, client: ServiceTitanClient) -> bool:
    """On PostgreSQL every station shares the tenant's request budget through the ledger; on
    SQLite this station is the whole budget (the client's own limiter). True when shared."""
    rate = client.rate_per_second
    if ledger.engine.dialect.name != "postgresql" or not rate:
        return False
    key = budget_key(client.environment.name, client.tenant_id, client.app_key_fingerprint)
    client.share_budget(LedgerRateBudget(ledger.engine, key, rate))
    return True


def build_bundle(
    settings: Settings,
    ledger: Ledger,
    client: ServiceTitanClient,
    *,
    operators: Any = None,
    **worker_options: Any,
) -> ReconcileBundle:
    bus = EventBus()
    share_rate_budget(ledger, client)
    if client.environment.name not in ("production", "integration"):
        # the local sandbox has no 100 s server deadline: a lost reply is settled sooner
        worker_options.setdefault("doubt_wait", SANDBOX_DOUBT_WAIT)
    poster = ServiceTitanPoster(client, settings.payment_type_name)
    reconcile = ReconcileService(
        ledger,
        poster,
        station=settings.station_name,
        bus=bus,
        operators=operators,
        **worker_options,
    )
    sync = SyncService(
        ledger.engine,
        client,
        payment_type_name=settings.payment_type_name,
        bus=bus,
        station=settings.station_name,
    )
    lookup = LookupService(ledger.engine, client)
    return ReconcileBundle(client, reconcile, sync, lookup, bus)
