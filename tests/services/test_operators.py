"""Operators on a real ledger: management, sign-in, lockout, supervisor approvals, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from posplus_tui.domain.money import Money
from posplus_tui.domain.roles import Action, Role
from posplus_tui.ledger import Ledger
from posplus_tui.ledger.audit import verify
from posplus_tui.services.errors import (
    InvalidRequest,
    NotPermitted,
    OperatorLocked,
    SignInFailed,
    SupervisorRequired,
)
from posplus_tui.services.operators import OperatorService, hash_pin, verify_pin

from .conftest import Clock, Staff


def _audit_actions(ledger: Ledger) -> list[tuple[str, str]]:
    with ledger.engine.connect() as conn:
        return [
            (r[0], r[1])
            for r in conn.execute(text("SELECT action, actor FROM audit_events ORDER BY seq"))
        ]


def test_pin_hash_is_salted_scrypt_and_never_the_pin() -> None:
    a, b = hash_pin("123456", cost=16), hash_pin("123456", cost=16)
    assert a != b and a.startswith("scrypt$16$") and "123456" not in a
    assert verify_pin("123456", a) and not verify_pin("123457", a)
    assert not verify_pin("1234", "garbage")


async def test_add_list_and_st_username_kept_exactly(
    operators: OperatorService, staff: Staff, ledger: Ledger
) -> None:
    names = [o.name for o in await operators.list()]
    assert names == ["Alice Admin", "Carl Clerk", "Sam Super", "Tina Tech"]
    clerk = await operators.get(staff.clerk.id)
    assert clerk.st_username == " Carl.C@Shop " and clerk.role is Role.CLERK
    with ledger.engine.connect() as conn:
        stored = conn.execute(text("SELECT pin_hash FROM operators")).scalars().all()
    # No field of a stored hash is a PIN (a hex digest may contain "3333" by chance).
    assert all(h.startswith("scrypt$") and "3333" not in h.split("$") for h in stored)


async def test_bad_input_is_refused_with_a_fix(operators: OperatorService, staff: Staff) -> None:
    with pytest.raises(InvalidRequest, match="4 to 8 digits"):
        await operators.add("Zed", "clerk", "12", by=staff.admin)
    with pytest.raises(InvalidRequest, match="not a role") as info:
        await operators.add("Zed", "boss", "1234", by=staff.admin)
    assert "clerk, supervisor, technician, admin" in info.value.fix
    with pytest.raises(InvalidRequest, match="already an operator"):
        await operators.add("carl clerk", "clerk", "1234", by=staff.admin)
    assert len(await operators.list()) == 4


async def test_only_an_admin_manages_operators(operators: OperatorService, staff: Staff) -> None:
    with pytest.raises(NotPermitted, match="cannot manage operators"):
        await operators.add("Zed", "clerk", "1234", by=staff.supervisor)
    with pytest.raises(NotPermitted):
        await operators.disable(staff.clerk.id, by=staff.clerk)


async def test_update_disable_and_last_admin_is_kept(
    operators: OperatorService, staff: Staff
) -> None:
    updated = await operators.update(
        staff.clerk.id, role="supervisor", st_username="carl", by=staff.admin
    )
    assert updated.role is Role.SUPERVISOR and updated.st_username == "carl"
    with pytest.raises(InvalidRequest, match="last active admin"):
        await operators.disable(staff.admin.id, by=staff.admin)
    with pytest.raises(InvalidRequest, match="last active admin"):
        await operators.update(staff.admin.id, role="clerk", by=staff.admin)
    await operators.disable(staff.tech.id, by=staff.admin)
    with pytest.raises(SignInFailed, match="do not match an active operator"):
        await operators.sign_in("Tina Tech", "4444")
    assert [o.name for o in await operators.list(include_disabled=False)] == [
        "Alice Admin",
        "Carl Clerk",
        "Sam Super",
    ]
    await operators.update(staff.tech.id, pin="9876", by=staff.admin)
    await operators.enable(staff.tech.id, by=staff.admin)
    assert (await operators.sign_in("tina tech", "9876")).name == "Tina Tech"


def _age_lock(ledger: Ledger, seconds: float) -> None:
    """Time passing for a lockout: the lock's end moves ``seconds`` earlier in the ledger (on
    PostgreSQL the lock is counted in the database server's time, which a test cannot move)."""
    from datetime import timedelta

    from sqlalchemy import select, update

    from posplus_tui.ledger.tables import Operator

    with ledger.session() as session:
        for row in session.execute(
            select(Operator).where(Operator.locked_until.is_not(None))  # type: ignore[union-attr]
        ).scalars():
            session.execute(
                update(Operator)
                .where(Operator.id == row.id)
                .values(locked_until=row.locked_until - timedelta(seconds=seconds))
            )


async def test_sign_in_and_five_wrong_pins_lock_for_five_minutes(
    operators: OperatorService, staff: Staff, clock: Clock, ledger: Ledger
) -> None:
    assert (await operators.sign_in("Carl Clerk", "3333")).id == staff.clerk.id
    for _ in range(4):
        with pytest.raises(SignInFailed) as info:
            await operators.sign_in("Carl Clerk", "0000")
        assert "do not match" in info.value.message and "5 wrong PINs" in info.value.fix
    with pytest.raises(OperatorLocked, match="locked for 5 minutes"):
        await operators.sign_in("Carl Clerk", "0000")
    # Even the right PIN is refused while locked.
    with pytest.raises(OperatorLocked) as locked:
        await operators.sign_in("Carl Clerk", "3333")
    assert "Wait about 5 minutes" in locked.value.fix
    _age_lock(ledger, 4 * 60 + 58)
    with pytest.raises(OperatorLocked):
        await operators.sign_in("Carl Clerk", "3333")
    _age_lock(ledger, 5)
    assert (await operators.sign_in("Carl Clerk", "3333")).name == "Carl Clerk"
    # Others were never affected.
    assert (await operators.sign_in("Sam Super", "2222")).name == "Sam Super"
    actions = [a for a, _ in _audit_actions(ledger)]
    assert actions.count("sign_in_failed") == 4 and actions.count("operator_locked") == 1
    assert actions.count("sign_in") == 3
    assert actions.count("sign_in_refused") == 2  # the tries while locked are on record too
    assert verify(ledger.engine).ok


async def test_supervisor_approval(operators: OperatorService, staff: Staff, clock: Clock) -> None:
    # A clerk cannot refund without an approval; a supervisor can.
    with pytest.raises(SupervisorRequired, match="needs a supervisor"):
        operators.authorize_sync(staff.clerk, Action.REFUND)
    assert operators.authorize_sync(staff.supervisor, Action.REFUND) == staff.supervisor
    assert operators.authorize_sync(staff.clerk, Action.CHARGE) is None

    ask = {"requested_by": staff.clerk, "target": "R-1", "amount": Money(100)}
    with pytest.raises(SupervisorRequired, match="clerk and cannot approve"):
        await operators.approve_as_supervisor("Carl Clerk", "3333", action=Action.REFUND, **ask)
    with pytest.raises(SignInFailed, match="do not match"):
        await operators.approve_as_supervisor("Sam Super", "9999", action=Action.REFUND, **ask)

    approval = await operators.approve_as_supervisor("Sam Super", "2222", action=Action.VOID, **ask)
    with pytest.raises(SupervisorRequired, match="approved a void, not a refund"):
        operators.authorize_sync(
            staff.clerk, Action.REFUND, approval, target="R-1", amount=Money(100)
        )
    assert (
        operators.authorize_sync(
            staff.clerk, Action.VOID, approval, target="R-1", amount=Money(100)
        ).name
        == "Sam Super"
    )
    operators.spend(approval)
    with pytest.raises(SupervisorRequired, match="already used"):
        operators.authorize_sync(
            staff.clerk, Action.VOID, approval, target="R-1", amount=Money(100)
        )

    late = await operators.approve_as_supervisor("Sam Super", "2222", action=Action.VOID, **ask)
    clock.advance(minutes=3)
    with pytest.raises(SupervisorRequired, match="expired"):
        operators.authorize_sync(staff.clerk, Action.VOID, late, target="R-1", amount=Money(100))


async def test_wrong_approval_pins_count_toward_the_lock(
    operators: OperatorService, staff: Staff
) -> None:
    ask = {"action": Action.REFUND, "requested_by": staff.clerk}
    for _ in range(4):
        with pytest.raises(SignInFailed):
            await operators.approve_as_supervisor("Sam Super", "0000", **ask)
    with pytest.raises(OperatorLocked):
        await operators.approve_as_supervisor("Sam Super", "0000", **ask)
    with pytest.raises(OperatorLocked):
        await operators.sign_in("Sam Super", "2222")


async def test_a_card_number_typed_as_a_name_is_not_audited(
    operators: OperatorService, staff: Staff, ledger: Ledger
) -> None:
    with pytest.raises(SignInFailed):
        await operators.sign_in("4111 1111 1111 1111", "1234")
    actors = [actor for _a, actor in _audit_actions(ledger)]
    assert "4111 1111 1111 1111" not in actors and "(unknown name)" in actors


async def test_technician_cannot_charge(operators: OperatorService, staff: Staff) -> None:
    with pytest.raises(NotPermitted, match="cannot do this"):
        operators.authorize_sync(staff.tech, Action.CHARGE)
