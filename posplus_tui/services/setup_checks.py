"""Setup's checks as pure rules: payment-type names that look alike or are wrong, usernames in
the wrong capitals, and which value a failed connection test points at. No I/O: the service in
:mod:`posplus_tui.services.setup` feeds them what ServiceTitan answered."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from posplus_tui.redaction import redact

__all__ = [
    "FIELD_WORDS",
    "ConnectionCheck",
    "Finding",
    "PaymentTypeOption",
    "TerminalCheck",
    "UsernameCheck",
    "check_payment_type",
    "check_username_against",
    "connection_failure",
    "look_alikes",
    "looks_alike",
]


@dataclass(frozen=True)
class PaymentTypeOption:
    id: int
    name: str
    active: bool = True


@dataclass(frozen=True)
class Finding:
    """One value that is wrong, found by Test connection: ``field`` is the Setup field to fix
    (``payment_type``, ``reconciliation_username``, ``operators``)."""

    field: str
    message: str


@dataclass(frozen=True)
class ConnectionCheck:
    """The result of Test connection, in words. ``field`` names the value that failed (the id of
    its Setup field, or ``scope`` for a permission only ServiceTitan's portal can give);
    ``findings`` are the values that are wrong although the connection works."""

    ok: bool
    title: str
    fix: str = ""
    payment_types: tuple[PaymentTypeOption, ...] = ()
    field: str = ""
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class UsernameCheck:
    """``exact`` (found as typed), ``case`` (found with other capitals), ``missing`` or
    ``unchecked`` (no connection yet)."""

    status: str
    message: str
    suggestion: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "exact"


@dataclass(frozen=True)
class TerminalCheck:
    ok: bool
    title: str
    fix: str = ""


# -- pure rules ---------------------------------------------------------------------------------


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.casefold().replace("+", "plus"))


def _distance(a: str, b: str) -> int:
    """Levenshtein distance (short strings only)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def looks_alike(a: str, b: str) -> bool:
    """Two payment-type names a person could confuse: same letters ignoring case and punctuation,
    one inside the other, or a typo apart."""
    na, nb = _norm(a), _norm(b)
    if not na or not nb:
        return False
    if na == nb or na in nb or nb in na:
        return True
    return min(len(na), len(nb)) >= 4 and _distance(na, nb) <= 2


def look_alikes(options: Iterable[PaymentTypeOption], chosen: str) -> list[str]:
    """Names of the other active payment types that look like ``chosen`` (an inactive one
    cannot be picked by staff, so it cannot split the reconciliation)."""
    return [
        o.name for o in options if o.active and o.name != chosen and looks_alike(o.name, chosen)
    ]


def check_payment_type(options: Iterable[PaymentTypeOption], name: str) -> str:
    """Why ``name`` cannot be the app's payment type ("" when it can): reconciliation maps the
    type by its exact name, so a missing, inactive or differently capitalised one is named."""
    wanted = name.strip()
    if not wanted:
        return "Choose the payment type this app posts under (one only, for reconciliation)."
    types = list(options)
    exact = [t for t in types if t.name == wanted]
    if any(t.active for t in exact):
        return ""
    if exact:
        return (
            f"The payment type “{wanted}” is inactive in ServiceTitan: payments posted under "
            "it are refused. Reactivate it (Settings → Invoicing → Payment Types) or pick "
            "another here."
        )
    near = [t.name for t in types if t.active and t.name.casefold() == wanted.casefold()]
    if near:
        return (
            f"No payment type is called “{wanted}” exactly, but “{near[0]}” is: capital "
            "letters matter. Pick it here."
        )
    return (
        f"No payment type called “{wanted}” exists. Create one in ServiceTitan (Settings → "
        "Invoicing → Payment Types → Add, Export as Payment) or pick one here."
    )


#: What each step of Test connection reads, in words, for a refusal on that step.
_STEPS = {
    "payment_types": "read the payment types",
    "employees": "read the employees",
    "technicians": "read the technicians",
}


def connection_failure(exc: BaseException, step: str, environment: str) -> ConnectionCheck:
    """Test connection's failure, naming the value to fix: the client id/secret, the app key,
    the tenant id, a missing scope, or the sandbox address. A refusal after an earlier call of
    the same test worked can only be a scope (the app key and tenant were just accepted)."""
    title = getattr(exc, "title", None) or str(exc) or type(exc).__name__
    fix = getattr(exc, "fix", None) or "Check the network, then the values above, and try again."
    suspect = str(getattr(exc, "suspect", "") or "")
    status = getattr(exc, "status", None)
    if not suspect and status == 403 and step != "payment_types":
        suspect = "scope"
    if isinstance(exc, ValueError) and "Tenant ID" in str(exc):
        suspect = "tenant_id"
    if suspect == "scope":
        scope = str(getattr(exc, "scope", "") or "")
        named = f" (the scope {scope})" if scope else ""
        title = (
            f"The app may not {_STEPS.get(step, step)} in ServiceTitan: that permission{named} "
            "was not granted to the app."
        )
        fix = (
            "Scopes are chosen when the app is created at developer.servicetitan.io → My Apps "
            "and cannot be edited: make the app again with every box of Accounting, CRM, Job "
            "Planning and Settings ticked, connect it to the tenant, and type its new keys here."
        )
    elif not suspect and status is None and environment == "sandbox":
        suspect = "sandbox_url"  # nothing answered: the address is the first thing to check
    return ConnectionCheck(False, redact(str(title)), redact(str(fix)), field=suspect)


def check_username_against(username: str, known: Iterable[str]) -> UsernameCheck:
    """Case-exact match of a ServiceTitan username; a match differing only in case is reported
    as the likely mistake, because ServiceTitan treats it as a different user."""
    typed = username.strip()
    if not typed:
        return UsernameCheck("missing", "Type the ServiceTitan username.")
    names = [k for k in known if k]
    if typed in names:
        return UsernameCheck("exact", f"“{typed}” is a ServiceTitan user of this tenant.")
    near = [k for k in names if k.casefold() == typed.casefold()]
    if near:
        return UsernameCheck(
            "case",
            f"“{typed}” is not a user, but “{near[0]}” is: capital letters matter in "
            f"ServiceTitan. Probably you meant “{near[0]}”.",
            suggestion=near[0],
        )
    return UsernameCheck(
        "missing",
        f"No employee or technician of this tenant has the username “{typed}”. "
        "Check the spelling in ServiceTitan (Settings → People).",
    )


#: How a finding's field reads in Test connection's summary.
FIELD_WORDS = {
    "payment_type": "the payment type",
    "reconciliation_username": "the reconciliation user's username",
    "operators": "operators' usernames",
}
