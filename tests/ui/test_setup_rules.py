"""The pure rules behind Setup: look-alike payment types and case-exact usernames."""

from posplus_tui.services.setup import (
    PaymentTypeOption,
    check_username_against,
    look_alikes,
    looks_alike,
)


def test_payment_types_that_a_person_could_confuse() -> None:
    types = [
        PaymentTypeOption(1, "POS+"),
        PaymentTypeOption(2, "POS Plus"),
        PaymentTypeOption(3, "pos+ card"),
        PaymentTypeOption(4, "Cash"),
        PaymentTypeOption(5, "Check"),
    ]
    assert look_alikes(types, "POS+") == ["POS Plus", "pos+ card"]
    assert look_alikes(types, "Cash") == []
    assert not looks_alike("Cash", "Check")
    assert looks_alike("Credit Card", "Credit Crad")


def test_username_is_checked_case_exactly() -> None:
    known = ["JSmith", "mary.k", "Accounting"]
    assert check_username_against("JSmith", known).status == "exact"
    near = check_username_against("jsmith", known)
    assert near.status == "case" and near.suggestion == "JSmith"
    assert "JSmith" in near.message and "capital" in near.message
    missing = check_username_against("bob", known)
    assert missing.status == "missing" and "bob" in missing.message
    assert check_username_against("  ", known).status == "missing"
