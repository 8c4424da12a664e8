"""Test connection, as a service, names the value that is wrong (issue 16): the client id and
secret, the app key, the tenant id, a scope, the payment type, a username's capitals, the
sandbox address. Against the sandbox over its ASGI transport and, for the address, a real
closed port on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest

from posplus_tui.config import Settings
from posplus_tui.ledger import open_ledger
from posplus_tui.secrets import MemoryKeyring, SecretStore
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.setup import ConnectionForm, SetupService
from posplus_tui.services.wiring import servicetitan_client_factory
from posplus_tui.servicetitan.sandbox import IN_PROCESS_BASE_URL, Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(seed=1, rate_per_second=None)
    yield sb
    sb.faults.clear()


def _service(sandbox: Sandbox, operators: OperatorService | None = None, **settings: str):
    c = sandbox.credentials
    s = Settings(
        environment="sandbox",
        tenant_id=str(c.tenant_id),
        client_id=c.client_id,
        payment_type_name=settings.get("payment_type_name", "POS+"),
        reconciliation_username=settings.get("reconciliation_username", "DLee"),
        sandbox_url=IN_PROCESS_BASE_URL,
    )
    secrets = SecretStore(backend=MemoryKeyring(), environ={}, tenant=s.tenant_id)
    factory = servicetitan_client_factory(IN_PROCESS_BASE_URL, sandbox.transport())
    setup = SetupService(s, secrets, client_factory=factory, operators=operators)
    return setup


def _form(sandbox: Sandbox, **changes: str) -> ConnectionForm:
    c = sandbox.credentials
    form = ConnectionForm(
        "sandbox", str(c.tenant_id), c.client_id, c.client_secret, c.app_key, IN_PROCESS_BASE_URL
    )
    return replace(form, **changes)


async def test_the_right_values_connect_with_nothing_to_fix(sandbox) -> None:
    check = await _service(sandbox).test_connection(_form(sandbox))
    assert check.ok and not check.findings and check.field == ""
    assert "To fix" not in check.title


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"client_secret": "cs1.wrong"}, "client_secret", "Client ID / Client Secret"),
        ({"client_id": "cid.someone-else"}, "client_secret", "Client ID / Client Secret"),
        ({"app_key": "ak1.wrong"}, "app_key", "App Key"),
        ({"tenant_id": "1047000099"}, "tenant_id", "Tenant ID"),
        ({"tenant_id": "12ab"}, "tenant_id", "Tenant ID must be a number"),
    ],
)
async def test_a_refused_value_is_named(sandbox, changes, field, words) -> None:
    before = sandbox.stats.token_requests
    check = await _service(sandbox).test_connection(_form(sandbox, **changes))
    assert not check.ok and check.field == field
    assert words in check.title
    if field != "client_secret":
        assert "Client Secret" not in check.title + check.fix
    assert sandbox.stats.token_requests - before <= 1  # never a second token to "make sure"


async def test_a_missing_app_key_is_asked_for_before_anything_is_sent(sandbox) -> None:
    before = sandbox.stats.token_requests
    check = await _service(sandbox).test_connection(_form(sandbox, app_key=""))
    assert not check.ok and "app key" in check.title
    assert sandbox.stats.token_requests == before


@pytest.mark.parametrize(
    ("scope", "step"),
    [
        ("tn.acc.paymenttypes:r", "read the payment types"),
        ("tn.settings.employees:r", "read the employees"),
        ("tn.settings.technicians:r", "read the technicians"),
    ],
)
async def test_a_missing_scope_is_named_with_the_step_that_needs_it(sandbox, scope, step) -> None:
    sandbox.faults.revoke_scope(scope)
    check = await _service(sandbox).test_connection(_form(sandbox))
    assert not check.ok and check.field == "scope"
    assert step in check.title and scope in check.title
    assert "developer.servicetitan.io" in check.fix


async def test_an_unreachable_sandbox_names_the_address() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sb = Sandbox(seed=1, rate_per_second=None)
    c = sb.credentials
    url = f"http://127.0.0.1:{port}"
    settings = Settings(environment="sandbox", tenant_id=str(c.tenant_id), client_id=c.client_id)
    secrets = SecretStore(backend=MemoryKeyring(), environ={}, tenant=settings.tenant_id)
    setup = SetupService(settings, secrets, client_factory=servicetitan_client_factory(url))
    form = ConnectionForm("sandbox", str(c.tenant_id), c.client_id, c.client_secret, c.app_key, url)
    check = await setup.test_connection(form)
    assert not check.ok and check.field == "sandbox_url"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("POS Plus", "No payment type called “POS Plus” exists"),
        ("pos+", "but “POS+” is: capital letters matter"),
        ("POS+ (old terminal)", "is inactive in ServiceTitan"),
        ("", "Choose the payment type"),
    ],
)
async def test_a_wrong_payment_type_is_named(sandbox, name, words) -> None:
    setup = _service(sandbox, payment_type_name=name)
    check = await setup.test_connection(_form(sandbox))
    assert check.ok  # the connection works: the payment type is what to fix
    assert check.field == "payment_type" and "the payment type" in check.title
    assert words in check.findings[0].message


async def test_usernames_must_match_servicetitan_exactly(sandbox, tmp_path) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    try:
        ops = OperatorService(ledger, station="Counter 1", pin_cost=2**4)
        admin = ops.add_sync("Alice", "admin", "1111")
        ops.add_sync("Ana", "clerk", "5678", st_username="counter.clerk1", by=admin)
        ops.add_sync("Ben", "clerk", "5679", st_username="Counter.Clerk1", by=admin)
        ops.add_sync("Cy", "clerk", "5680", st_username="nobody.here", by=admin)
        setup = _service(sandbox, ops, reconciliation_username="dlee")
        check = await setup.test_connection(_form(sandbox))
    finally:
        ledger.dispose()
    assert check.ok and check.field == "reconciliation_username"
    by_field: dict[str, list[str]] = {}
    for f in check.findings:
        by_field.setdefault(f.field, []).append(f.message)
    assert "Probably you meant “DLee”" in by_field["reconciliation_username"][0]
    ana, cy = by_field["operators"]
    assert ana.startswith("Operator Ana:") and "Probably you meant “Counter.Clerk1”" in ana
    assert cy.startswith("Operator Cy:") and "No employee or technician" in cy
    assert not any("Ben" in m for m in by_field["operators"])  # exact: nothing to fix
    # What was typed in the form wins over the saved setting.
    setup.operators = None
    again = await setup.test_connection(_form(sandbox, reconciliation_username="DLee"))
    assert not again.findings
