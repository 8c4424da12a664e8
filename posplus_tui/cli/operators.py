"""``posplus operators list|add|set-pin|disable|enable``: operators from the command line.

For the first admin of a new station and for recovery when nobody can sign in at the counter.
The root of trust is local and narrow: on a ledger with no operators, the first one may be added
without signing in, and must be an admin; every other change is made *as* an admin, whose name is
given with ``--as`` and whose PIN is asked for (never taken from the command line, where it would
sit in the shell's history). When standard input is not a terminal, PINs are read one per line in
the order they are asked for.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from posplus_tui.cli.common import CliError, load_settings

if TYPE_CHECKING:
    from posplus_tui.services.operators import OperatorInfo

_T = TypeVar("_T")


def _add_common(parser: argparse.ArgumentParser, *, acting: bool = True) -> None:
    parser.add_argument(
        "--database-url", metavar="URL", help="the ledger (default: the settings' database_url)"
    )
    if acting:
        parser.add_argument(
            "--as",
            dest="acting",
            metavar="ADMIN",
            help="the admin making the change (their PIN is asked); not needed for the first admin",
        )


def register(sub: argparse._SubParsersAction) -> None:
    ops = sub.add_parser("operators", help="list and manage operators (first admin, lost PINs)")
    ops_sub = ops.add_subparsers(dest="operators_command", metavar="ACTION")
    lst = ops_sub.add_parser("list", help="every operator with role, ServiceTitan user and state")
    _add_common(lst, acting=False)
    lst.set_defaults(func=_list)
    add = ops_sub.add_parser("add", help="add an operator (the first one must be an admin)")
    add.add_argument("name", metavar="NAME")
    add.add_argument(
        "--role",
        required=True,
        choices=["clerk", "supervisor", "technician", "admin"],
        help="what they may do",
    )
    add.add_argument(
        "--st-username",
        default="",
        metavar="USER",
        help="their ServiceTitan username, exactly as spelled there (case matters)",
    )
    _add_common(add)
    add.set_defaults(func=_add)
    pin = ops_sub.add_parser("set-pin", help="give an operator a new PIN (also unlocks them)")
    pin.add_argument("name", metavar="NAME")
    _add_common(pin)
    pin.set_defaults(func=_set_pin)
    dis = ops_sub.add_parser("disable", help="stop an operator from signing in")
    dis.add_argument("name", metavar="NAME")
    _add_common(dis)
    dis.set_defaults(func=lambda args: _set_disabled(args, True))
    ena = ops_sub.add_parser("enable", help="let a disabled operator sign in again")
    ena.add_argument("name", metavar="NAME")
    _add_common(ena)
    ena.set_defaults(func=lambda args: _set_disabled(args, False))
    ops.set_defaults(func=lambda args: ops.print_help() or 0)


def _ask(prompt: str) -> str:
    """A PIN: hidden at a terminal, one line of standard input otherwise."""
    if sys.stdin is not None and sys.stdin.isatty():
        try:
            return getpass.getpass(prompt)
        except EOFError:
            raise CliError("No PIN was typed: nothing was changed.", exit_code=2) from None
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise CliError(
            f"{prompt.strip().rstrip(':')} was expected on standard input: nothing was changed.",
            exit_code=2,
        )
    return line.strip()


def _new_pin(name: str) -> str:
    pin = _ask(f"New PIN for {name} (4 to 8 digits): ")
    if sys.stdin is not None and sys.stdin.isatty() and _ask("The same PIN again: ") != pin:
        raise CliError("The two PINs differ: nothing was changed.", exit_code=2)
    return pin


class _Context:
    """The ledger and the operator service for one command, closed on exit."""

    def __init__(self, args: argparse.Namespace, *, must_exist: bool, signs: bool = True) -> None:
        from posplus_tui.ledger import LedgerError, open_ledger
        from posplus_tui.services.operators import OperatorService

        settings = load_settings(args)
        url = args.database_url or settings.database_url
        try:
            self.ledger = open_ledger(url, must_exist=must_exist)
        except LedgerError as exc:
            raise CliError(str(exc), exit_code=3) from exc
        from posplus_tui.secrets import SecretStore
        from posplus_tui.services.audit import sign_the_chain

        try:  # a command that writes audit events signs them with this station's key
            if signs:
                sign_the_chain(
                    self.ledger.engine, SecretStore(tenant=settings.tenant_id or "default")
                )
        except BaseException:
            self.ledger.dispose()
            raise
        self.service = OperatorService(self.ledger, station=settings.station_name)

    def __enter__(self) -> _Context:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.ledger.dispose()

    def find(self, name: str) -> OperatorInfo:
        """The operator named ``name``: exactly as spelled first, else ignoring case."""
        wanted = name.strip()
        everyone = self.service.list_sync()
        for same in (lambda op: op.name == wanted, lambda op: op.name.lower() == wanted.lower()):
            found = next((op for op in everyone if same(op)), None)
            if found is not None:
                return found
        raise CliError(f"There is no operator named {name!r} ('posplus operators list').", 4)

    def acting_admin(self, args: argparse.Namespace) -> OperatorInfo:
        """The admin making the change, signed in with their PIN."""
        from posplus_tui.services.errors import ServiceError

        if not args.acting:
            raise CliError(
                "This ledger already has operators: name the admin making the change with "
                "--as NAME (their PIN is asked). If no admin can sign in, restore a backup "
                "('posplus db backups') or ask your technician.",
                exit_code=2,
            )
        pin = _ask(f"PIN of {args.acting}: ")
        try:
            return self.service.sign_in_sync(args.acting, pin)
        except ServiceError as exc:
            raise CliError(f"{exc} Nothing was changed.", exit_code=5) from exc


def _service_call(func: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    from posplus_tui.services.errors import ServiceError

    try:
        return func(*args, **kwargs)
    except ServiceError as exc:
        raise CliError(f"{exc} Nothing was changed.", exit_code=5) from exc


def _list(args: argparse.Namespace) -> int:
    with _Context(args, must_exist=True, signs=False) as ctx:
        operators = ctx.service.list_sync()
    if not operators:
        print(
            "no operators yet: add the first admin with 'posplus operators add NAME --role admin'."
        )
        return 0
    print(f"{'NAME':24} {'ROLE':11} {'SERVICETITAN USER':24} STATE")
    for op in operators:
        state = "disabled" if op.disabled else ("locked" if op.locked_until else "active")
        print(f"{op.name:24} {op.role.value:11} {op.st_username or '—':24} {state}")
    return 0


def _add(args: argparse.Namespace) -> int:
    with _Context(args, must_exist=False) as ctx:
        first = ctx.service.count_sync() == 0
        if first:
            if args.role != "admin":
                raise CliError(
                    "The first operator must be an admin (--role admin): only an admin can add "
                    "the others.",
                    exit_code=2,
                )
            by = None
        else:
            by = ctx.acting_admin(args)
        pin = _new_pin(args.name)
        added = _service_call(
            ctx.service.add_sync, args.name, args.role, pin, st_username=args.st_username, by=by
        )
    print(f"added {added.name} ({added.role.value}){' — the first admin' if first else ''}.")
    return 0


def _set_pin(args: argparse.Namespace) -> int:
    with _Context(args, must_exist=True) as ctx:
        by = ctx.acting_admin(args)
        target = ctx.find(args.name)
        pin = _new_pin(target.name)
        _service_call(ctx.service.update_sync, target.id, pin=pin, by=by)
    print(f"{target.name} has a new PIN (and is unlocked).")
    return 0


def _set_disabled(args: argparse.Namespace, disabled: bool) -> int:
    with _Context(args, must_exist=True) as ctx:
        by = ctx.acting_admin(args)
        target = ctx.find(args.name)
        _service_call(ctx.service.update_sync, target.id, disabled=disabled, by=by)
    print(f"{target.name} is {'disabled' if disabled else 'enabled'}.")
    return 0
