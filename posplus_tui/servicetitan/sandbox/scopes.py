"""Which API scope each sandbox route needs, so a scope left out of the app can be refused."""

from __future__ import annotations

__all__ = ["ALL_SCOPES", "ROUTE_SCOPES", "scope_for"]

#: The scope each route needs, by (module, first path segment, write?). ServiceTitan documents
#: scopes as ``tn.<module>.<resource>:r|w`` but not which route needs which: these pairings are
#: inferred [I] from the resource names.
ROUTE_SCOPES: dict[tuple[str, str, bool], str] = {
    ("accounting", "invoices", False): "tn.acc.invoices:r",
    ("accounting", "invoices", True): "tn.acc.invoices:w",
    ("accounting", "payments", False): "tn.acc.payments:r",
    ("accounting", "payments", True): "tn.acc.payments:w",
    ("accounting", "payment-types", False): "tn.acc.paymenttypes:r",
    ("accounting", "export", False): "tn.acc.export:r",
    ("crm", "customers", False): "tn.crm.customers:r",
    ("crm", "locations", False): "tn.crm.locations:r",
    ("jpm", "jobs", False): "tn.jpm.jobs:r",
    ("settings", "employees", False): "tn.settings.employees:r",
    ("settings", "technicians", False): "tn.settings.technicians:r",
}
ALL_SCOPES = frozenset(ROUTE_SCOPES.values())


def scope_for(method: str, module: str, rest: str) -> str:
    """The scope a call needs ("" for a route the table does not know)."""
    first = rest.split("/", 1)[0]
    return ROUTE_SCOPES.get((module, first, method != "GET"), "")
