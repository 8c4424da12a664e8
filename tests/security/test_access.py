"""No way in without a PIN: each finding of the security review (issue 15) as a test.

Every call that changes operators, settings, money or postings names a signed-in operator whose
role is read from the ledger; the one anonymous act is creating the first admin of an empty
ledger. Real SQLite file and real PostgreSQL (the ``ledger_url`` fixture runs both).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from posplus_tui import config
from posplus_tui.domain.money import Money
from posplus_tui.domain.roles import Action
from posplus_tui.ledger import Ledger
from posplus_tui.secrets import MemoryKeyring, SecretStore
from posplus_tui.services.audit import AuditService
from posplus_tui.services.errors import NotPermitted, SupervisorRequired
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.reconcile.service import ReconcileService
from posplus_tui.services.setup import SetupProblem, SetupService
from tests.services.conftest import FAST_PIN_COST, Staff


def _actors(ledger: Ledger, action: str) -> list[str]:
    with ledger.engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT actor FROM audit_events WHERE action = :a ORDER BY seq"), {"a": action}
            ).scalars()
        )


def _roles(ledger: Ledger) -> dict[str, str]:
    with ledger.engine.connect() as conn:
        return dict(conn.execute(text("SELECT name, role FROM operators")).all())


# -- operators -----------------------------------------------------------------------------------


def test_only_the_first_admin_of_an_empty_ledger_is_added_by_nobody(ledger: Ledger) -> None:
    ops = OperatorService(ledger, station="Counter 1", pin_cost=FAST_PIN_COST)
    with pytest.raises(NotPermitted, match="only an admin"):
        ops.add_sync("Carl Clerk", "clerk", "3333")  # the first operator is an admin
    first = ops.add_sync("Alice Admin", "admin", "1111")
    assert _actors(ledger, "operator_added") == ["first admin (empty ledger)"]
    with pytest.raises(NotPermitted, match="only an admin"):
        ops.add_sync("mallory", "admin", "6666")  # the ledger is no longer empty
    ops.add_sync("Bob Admin", "admin", "2222", by=first.id)  # an id is enough
    assert set(_roles(ledger)) == {"Alice Admin", "Bob Admin"}


def test_nobody_signed_in_cannot_add_reset_or_promote(ledger: Ledger, staff: Staff) -> None:
    """The review's `mallory`: Setup opened with nobody signed in added an admin as "system"."""
    ops = OperatorService(ledger, station="Counter 1", pin_cost=FAST_PIN_COST)
    before = _roles(ledger)
    with pytest.raises(NotPermitted):
        ops.add_sync("mallory", "admin", "6666")
    with pytest.raises(NotPermitted):
        ops.update_sync(staff.admin.id, pin="6666")  # reset the admin's PIN
    with pytest.raises(NotPermitted):
        ops.update_sync(staff.clerk.id, role="admin")
    with pytest.raises(NotPermitted):
        ops.update_sync(staff.clerk.id, role="admin", by=staff.clerk)  # nor by themselves
    with pytest.raises(NotPermitted):
        ops.update_sync(staff.clerk.id, role="admin", by=staff.supervisor)
    # A forged operator object: the role is read from the ledger, never from the object.
    forged = SimpleNamespace(id=staff.clerk.id, role="admin", is_supervisor=True, name="x")
    with pytest.raises(NotPermitted):
        ops.update_sync(staff.clerk.id, role="admin", by=forged)  # type: ignore[arg-type]
    assert _roles(ledger) == before
    assert "system" not in _actors(ledger, "operator_added")


# -- settings ------------------------------------------------------------------------------------


def _setup(tmp_path: Path, operators: OperatorService | None, ledger: Ledger) -> SetupService:
    store = SecretStore(backend=MemoryKeyring(), environ={}, tenant="4242")
    service = SetupService(config.Settings(), store, config_path=tmp_path / "c.toml")
    service.operators = operators
    service.audit = AuditService(ledger, station="Counter 1")
    return service


async def test_setup_save_checks_the_role_in_the_ledger(
    tmp_path: Path, ledger: Ledger, operators: OperatorService, staff: Staff
) -> None:
    setup = _setup(tmp_path, operators, ledger)
    rogue = {"terminal_url": "poslink+tcp://203.0.113.9:10009"}
    for who in (None, staff.clerk, staff.supervisor, staff.clerk.id, "Alice Admin"):
        with pytest.raises(SetupProblem):
            await setup.save(rogue, {}, by=who)
    assert not (tmp_path / "c.toml").exists()  # nothing written
    await setup.save({"terminal_url": "sim://"}, {}, by=staff.tech)
    await setup.save({"station_name": "Counter 9"}, {}, by=staff.admin.id)
    assert _actors(ledger, "setting_changed") == ["Tina Tech", "Alice Admin"]
    await operators.disable(staff.tech.id, by=staff.admin)
    with pytest.raises(SetupProblem, match="cannot change the setup"):
        await setup.save({"terminal_url": "sim://x"}, {}, by=staff.tech)


async def test_first_run_setup_saves_without_an_operator_only_on_an_empty_ledger(
    tmp_path: Path, ledger: Ledger
) -> None:
    ops = OperatorService(ledger, station="Counter 1", pin_cost=FAST_PIN_COST)
    setup = _setup(tmp_path, ops, ledger)
    await setup.save({"tenant_id": "4242"}, {}, by=None)
    assert _actors(ledger, "setting_changed") == ["first-run setup"]
    ops.add_sync("Alice Admin", "admin", "1111")
    with pytest.raises(SetupProblem, match="Sign in as an admin or a technician"):
        await setup.save({"tenant_id": "4243"}, {}, by=None)


# -- reconcile -----------------------------------------------------------------------------------


async def test_reconcile_never_trusts_a_duck_typed_operator(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> None:
    """An object with ``is_supervisor=True`` and no id marked a posting done by hand."""
    for ops in (None, operators):
        service = ReconcileService(ledger, None, station="Counter 1", operators=ops)  # type: ignore[arg-type]
        duck = SimpleNamespace(is_supervisor=True, name="mallory", role="supervisor")
        with pytest.raises(SupervisorRequired):
            await service.mark_posted_by_hand(1, "done", operator=duck)
        with pytest.raises(SupervisorRequired):
            await service.cancel(1, "done", operator=duck)
        with pytest.raises(SupervisorRequired):
            await service.retry_now(1, operator=duck)
    # The clerk's own OperatorInfo with a forged flag is no better: the role comes from the ledger.
    service = ReconcileService(ledger, None, station="Counter 1", operators=operators)  # type: ignore[arg-type]
    with pytest.raises(SupervisorRequired):
        await service.mark_posted_by_hand(1, "done", operator=staff.clerk)


# -- approvals -----------------------------------------------------------------------------------


async def test_an_approval_covers_exactly_what_was_approved(
    ledger: Ledger, operators: OperatorService, staff: Staff, clock
) -> None:
    """Asked for a $1 refund of sale A by Carl at Counter 1: nothing else."""
    other_clerk = operators.add_sync("Cleo Clerk", "clerk", "5555", by=staff.admin)
    ask = {
        "action": Action.REFUND,
        "requested_by": staff.clerk,
        "target": "A",
        "amount": Money(100),
    }
    approval = await operators.approve_as_supervisor("Sam Super", "2222", **ask)
    wrong = [
        (staff.clerk, Action.REFUND, "B", Money(50_000)),  # another sale, another amount
        (staff.clerk, Action.REFUND, "B", Money(100)),  # another sale
        (staff.clerk, Action.REFUND, "A", Money(50_000)),  # another amount
        (other_clerk, Action.REFUND, "A", Money(100)),  # another clerk
        (staff.clerk, Action.VOID, "A", Money(100)),  # another action
        (staff.tech, Action.REFUND, "A", Money(100)),  # a technician holding it
    ]
    for who, action, target, amount in wrong:
        with pytest.raises(NotPermitted):
            operators.authorize_sync(who, action, approval, target=target, amount=amount)
    # Another station's service never honours it either.
    elsewhere = OperatorService(ledger, station="Counter 2", pin_cost=FAST_PIN_COST, clock=clock)
    elsewhere._approvals = dict(operators._approvals)
    with pytest.raises(SupervisorRequired, match="different request"):
        elsewhere.authorize_sync(
            staff.clerk, Action.REFUND, approval, target="A", amount=Money(100)
        )
    got = operators.authorize_sync(
        staff.clerk, Action.REFUND, approval, target="A", amount=Money(100)
    )
    assert got is not None and got.id == staff.supervisor.id
    # The audit names both operators and what was approved.
    with ledger.engine.connect() as conn:
        actor, subject, details = conn.execute(
            text(
                "SELECT actor, subject, details FROM audit_events "
                "WHERE action = 'approval_granted' ORDER BY seq DESC"
            )
        ).first()
    assert actor == "Sam Super" and subject == "A"
    assert '"requested_by":"Carl Clerk"' in details and '"amount_cents":100' in details


async def test_an_approval_dies_with_its_supervisor(
    operators: OperatorService, staff: Staff
) -> None:
    ask = {"action": Action.VOID, "requested_by": staff.clerk, "target": "A", "amount": Money(9)}
    use = {"target": "A", "amount": Money(9)}
    approval = await operators.approve_as_supervisor("Sam Super", "2222", **ask)
    await operators.disable(staff.supervisor.id, by=staff.admin)
    with pytest.raises(SupervisorRequired, match="no longer allowed"):
        operators.authorize_sync(staff.clerk, Action.VOID, approval, **use)
    await operators.enable(staff.supervisor.id, by=staff.admin)
    approval = await operators.approve_as_supervisor("Sam Super", "2222", **ask)
    await operators.update(staff.supervisor.id, role="clerk", by=staff.admin)  # demoted
    with pytest.raises(SupervisorRequired, match="no longer allowed"):
        operators.authorize_sync(staff.clerk, Action.VOID, approval, **use)
    await operators.update(staff.supervisor.id, role="supervisor", by=staff.admin)
    approval = await operators.approve_as_supervisor("Sam Super", "2222", **ask)
    for _ in range(5):  # someone locks Sam out with wrong PINs
        with pytest.raises(Exception):  # noqa: B017 - SignInFailed, then OperatorLocked
            await operators.sign_in("Sam Super", "0000")
    with pytest.raises(SupervisorRequired, match="no longer allowed"):
        operators.authorize_sync(staff.clerk, Action.VOID, approval, **use)


async def test_a_supervisor_never_approves_their_own_request(
    operators: OperatorService, staff: Staff, ledger: Ledger
) -> None:
    with pytest.raises(SupervisorRequired, match="own request"):
        await operators.approve_as_supervisor(
            "Sam Super", "2222", action=Action.REFUND, requested_by=staff.supervisor, target="A"
        )
    assert _actors(ledger, "approval_refused") == ["Sam Super"]
