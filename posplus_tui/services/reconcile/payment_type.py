"""Which ServiceTitan payment type our postings use: resolved by the configured name at start.

The merchant must create exactly one active payment type for this app (the POS+ page calls this out:
reconciliation breaks otherwise). Anything else is a setup error whose text says exactly what to
change in ServiceTitan or in the settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from posplus_tui.services.errors import ServiceError

WHERE = "ServiceTitan › Settings › Accounting › Payment Types"


@dataclass(frozen=True)
class TypeCandidate:
    """A payment type as ServiceTitan lists it (``active`` from the ``active=Any`` listing)."""

    id: str
    name: str
    active: bool = True


@dataclass(frozen=True)
class ResolvedPaymentType:
    id: str
    name: str


class PaymentTypeSetupError(ServiceError):
    """The configured payment type cannot be used: ``message`` says what is wrong, ``fix`` what
    to change in ServiceTitan or in Setup."""


def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


def resolve_payment_type(
    configured_name: str, types: Iterable[TypeCandidate]
) -> ResolvedPaymentType:
    """The one active type named ``configured_name``, or :class:`PaymentTypeSetupError`.

    Names are compared exactly after trimming outer spaces; a type that differs only by case or
    inner spacing is pointed out rather than silently used, because the merchant's reports group
    by the exact name.
    """
    wanted = configured_name.strip()
    all_types = list(types)
    if not wanted:
        raise PaymentTypeSetupError(
            "No payment type name is configured.",
            "Open Setup and enter the name of the payment type created for this app "
            "(setting “payment_type_name”).",
        )
    exact = [t for t in all_types if t.name.strip() == wanted]
    active = [t for t in exact if t.active]
    if len(active) == 1:
        return ResolvedPaymentType(id=str(active[0].id), name=active[0].name.strip())
    if len(active) > 1:
        ids = ", ".join(str(t.id) for t in active)
        raise PaymentTypeSetupError(
            f"ServiceTitan has {len(active)} active payment types named “{wanted}” (ids {ids}).",
            f"In {WHERE}, keep exactly one active payment type named “{wanted}” for this app: "
            "rename or deactivate the others, then restart reconciliation.",
        )
    if exact:
        raise PaymentTypeSetupError(
            f"The payment type “{wanted}” exists in ServiceTitan but is inactive.",
            f"In {WHERE}, reactivate “{wanted}” (id {exact[0].id}), then restart reconciliation.",
        )
    near = [t for t in all_types if _norm(t.name) == _norm(wanted)]
    if near:
        names = ", ".join(f"“{t.name}”" for t in near)
        raise PaymentTypeSetupError(
            f"No payment type is named exactly “{wanted}”; ServiceTitan has {names}.",
            f"Rename it in {WHERE} to “{wanted}”, or set “payment_type_name” in Setup to the "
            "exact name shown in ServiceTitan.",
        )
    active_names = sorted({t.name.strip() for t in all_types if t.active})
    listing = ", ".join(f"“{n}”" for n in active_names[:12]) or "none"
    raise PaymentTypeSetupError(
        f"ServiceTitan has no payment type named “{wanted}” (active types: {listing}).",
        f"In {WHERE}, create one payment type named “{wanted}” for this app only, or set "
        "“payment_type_name” in Setup to the name you created.",
    )
