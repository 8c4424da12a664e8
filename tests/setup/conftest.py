"""Set-up and operations tests reuse the services' real-ledger fixtures."""

from tests.services.conftest import clock, ledger, operators, staff  # noqa: F401
