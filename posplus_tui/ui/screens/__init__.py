"""One screen per task."""

from __future__ import annotations

from textual.screen import Screen


def all_screens() -> list[type[Screen]]:
    """Every task screen, in the order the help page lists them."""
    import importlib

    out: list[type[Screen]] = []
    for module, name in (
        ("signin", "SignInScreen"),
        ("lookup", "LookupScreen"),
        ("invoice", "InvoiceScreen"),
        ("charge", "ChargeScreen"),
        ("refund", "RefundScreen"),
        ("payment", "PaymentScreen"),
        ("cards", "CardsScreen"),
        ("reconcile", "ReconcileScreen"),
        ("terminal", "TerminalScreen"),
        ("setup", "SetupScreen"),
    ):
        try:
            mod = importlib.import_module(f"posplus_tui.ui.screens.{module}")
        except ModuleNotFoundError:
            continue
        out.append(getattr(mod, name))
    return out
