"""``posplus audit verify | upgrade | key export | key import``: the audit log from the shell.

None of them ever creates a ledger: a mistyped path is said so. The key that signs the chain
lives in the secret store, never in the database; ``key export`` and ``key import`` carry it to
another station sealed under a passphrase typed at both ends (several stations on one
PostgreSQL ledger must sign with the same key).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from posplus_tui.cli.common import CliError, load_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from posplus_tui.secrets import SecretStore

#: Exit codes: 3 no ledger, 6 the chain is broken, 7 a key problem (none, another, not signed).
NO_LEDGER, BROKEN, KEY_PROBLEM = 3, 6, 7


def register(sub: argparse._SubParsersAction) -> None:
    audit = sub.add_parser("audit", help="the audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="ACTION")
    ver = audit_sub.add_parser("verify", help="check every link of the audit chain")
    _add_db_option(ver)
    ver.set_defaults(func=_verify)
    up = audit_sub.add_parser(
        "upgrade",
        help=(
            "sign an old unsigned audit chain from now on, or seal saved cards kept before "
            "cards were sealed (checks the chain first)"
        ),
    )
    _add_db_option(up)
    up.set_defaults(func=_upgrade)
    key = audit_sub.add_parser("key", help="carry the audit key to another station")
    key_sub = key.add_subparsers(dest="key_command", metavar="ACTION")
    exp = key_sub.add_parser(
        "export", help="print this station's audit key sealed under a passphrase you choose"
    )
    _add_db_option(exp)
    exp.set_defaults(func=_export)
    imp = key_sub.add_parser(
        "import", help="store the audit key exported at another station (asks its passphrase)"
    )
    imp.add_argument(
        "wrapped", nargs="?", metavar="TEXT", help="the exported line (default: asked for)"
    )
    _add_db_option(imp)
    imp.set_defaults(func=_import)
    key.set_defaults(func=lambda args: key.print_help() or 0)
    audit.set_defaults(func=lambda args: audit.print_help() or 0)


def _add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="ledger database (sqlite:///PATH or postgresql://USER@HOST/DB); default: the settings",
    )


@contextmanager
def _chain(args: argparse.Namespace) -> Iterator[Engine]:
    """The ledger's engine, never creating one: a missing file or a database without a ledger is
    a sentence and exit 3."""
    from sqlalchemy import inspect

    from posplus_tui.ledger import LedgerError, normalize_url
    from posplus_tui.ledger.engine import make_engine

    url = args.database_url or load_settings(args).database_url
    try:
        engine = make_engine(normalize_url(url), must_exist=True)
    except LedgerError as exc:
        raise CliError(f"{exc} Nothing to do.", exit_code=NO_LEDGER) from exc
    try:
        try:
            with engine.connect() as conn:
                has_chain = inspect(conn).has_table("audit_head")
        except Exception as exc:
            raise CliError(
                f"Cannot open the ledger: {type(exc).__name__}. Check the database URL.",
                exit_code=NO_LEDGER,
            ) from exc
        if not has_chain:
            raise CliError("That database holds no ledger: nothing to do.", exit_code=NO_LEDGER)
        yield engine
    except LedgerError as exc:
        raise CliError(str(exc), exit_code=NO_LEDGER) from exc
    finally:
        engine.dispose()


def _store(args: argparse.Namespace) -> SecretStore:
    from posplus_tui.secrets import SecretStore

    settings = load_settings(args)
    return SecretStore(tenant=settings.tenant_id or "default")


def _key(store: SecretStore) -> str | None:
    from posplus_tui.secrets import SecretStoreError
    from posplus_tui.services.audit import AUDIT_KEY

    try:
        return store.get(AUDIT_KEY)
    except SecretStoreError as exc:
        raise CliError(
            f"Cannot read the secret store: {exc} (with the encrypted secrets file, set "
            "POSPLUS_SECRETS_PASSWORD).",
            exit_code=KEY_PROBLEM,
        ) from exc


def _ask(prompt: str) -> str:
    """A passphrase: hidden at a terminal, one line of standard input otherwise."""
    if sys.stdin is not None and sys.stdin.isatty():
        try:
            return getpass.getpass(prompt)
        except EOFError:
            raise CliError("Nothing was typed: nothing was changed.", exit_code=2) from None
    try:
        line = sys.stdin.readline() if sys.stdin is not None else ""
    except (OSError, ValueError):  # closed or not readable (a service, a captured test run)
        line = ""
    if not line:
        raise CliError(
            f"{prompt.strip().rstrip(':')} was expected on standard input: nothing was changed.",
            exit_code=2,
        )
    return line.rstrip("\r\n")


def _verify(args: argparse.Namespace) -> int:
    """Check the chain, signed with the key from the secret store, against the heads anchored
    outside the ledger and against the money and operator rows. A station without the key says
    so instead of calling every signed event forged."""
    from posplus_tui.ledger import audit as chain
    from posplus_tui.services.audit import anchors_file

    with _chain(args) as engine:
        key = _key(_store(args))
        state = chain.key_state(engine, key)
        if state in (chain.KeyState.MISSING, chain.KeyState.WRONG):
            raise CliError(
                "Cannot check the audit log on this station: " + state.describe(),
                exit_code=KEY_PROBLEM,
            )
        signing = key if state is not chain.KeyState.UNSIGNED else None
        anchors = anchors_file()
        report = chain.verify(engine, key=signing, anchors=anchors)
        print(report.describe())
        if not report.ok:
            return BROKEN
        seq, digest = chain.anchor(engine, anchors)
        print(f"head #{seq} {digest}")
        if state is chain.KeyState.UNSIGNED:
            print(state.describe())
        elif state is chain.KeyState.SIGNED:
            print("signed with this station's audit key.")
        return 0


def _upgrade(args: argparse.Namespace) -> int:
    from posplus_tui.ledger import audit as chain
    from posplus_tui.secrets import SecretStoreError
    from posplus_tui.services.audit import anchors_file, audit_key

    with _chain(args) as engine:
        store = _store(args)
        state = chain.key_state(engine, None)
        if state is chain.KeyState.EMPTY:
            print("The audit log is empty: its first event starts it signed.")
            return 0
        if state is not chain.KeyState.UNSIGNED:
            return _seal_older(engine, store)
        _key(store)  # a locked or missing store is said before anything is checked
        key = audit_key(store, create=True)
        if key is None:
            raise CliError(
                "There is no secret store to keep the audit key in: set up the keyring or the "
                "encrypted secrets file first (README, 'Secrets').",
                exit_code=KEY_PROBLEM,
            )
        try:
            done = chain.upgrade(engine, key, anchors=anchors_file(), actor="posplus audit upgrade")
        except (chain.AuditKeyError, SecretStoreError) as exc:
            raise CliError(str(exc), exit_code=KEY_PROBLEM) from exc
        print(done.describe())
        return 0 if done.ok else BROKEN


def _seal_older(engine: Engine, store: SecretStore) -> int:
    """A signed chain: seal the rows of tables sealed only since this version (cards on file)
    written before it, after checking the chain with this station's key."""
    from posplus_tui.ledger import audit as chain
    from posplus_tui.services.audit import anchors_file

    key = _key(store)
    state = chain.key_state(engine, key)
    if key is None or state is not chain.KeyState.SIGNED:
        raise CliError(
            "Cannot check the audit log on this station: " + state.describe(),
            exit_code=KEY_PROBLEM,
        )
    try:
        done = chain.seal_older(engine, key, anchors=anchors_file(), actor="posplus audit upgrade")
    except chain.AuditKeyError as exc:
        raise CliError(str(exc), exit_code=KEY_PROBLEM) from exc
    if not done.report.ok:
        print(f"{done.report.describe()} Nothing was sealed: a broken chain is not sealed over.")
        return BROKEN
    if not done.rows_sealed:
        print("The audit log is already signed: nothing to upgrade.")
    else:
        print(
            f"The audit log's {done.report.events} events were checked and are intact; "
            f"{done.rows_sealed} rows saved before this version sealed them (cards on file) "
            f"are sealed as they are now (event #{done.signed_from})."
        )
    return 0


def _export(args: argparse.Namespace) -> int:
    from posplus_tui.ledger import audit as chain
    from posplus_tui.services.audit import MIN_PASSPHRASE, KeyTransferError, wrap_key

    with _chain(args) as engine:
        key = _key(_store(args))
        state = chain.key_state(engine, key)
        if key is None:
            raise CliError(
                "This station has no audit key to export"
                + (": " + state.describe() if state is chain.KeyState.MISSING else ".")
                + " Export it from a station that has it.",
                exit_code=KEY_PROBLEM,
            )
        if state is not chain.KeyState.SIGNED:
            raise CliError(
                "Not exported: "
                + (
                    state.describe()
                    if state is not chain.KeyState.EMPTY
                    else "the audit log is empty, so nothing shows this key is the ledger's."
                ),
                exit_code=KEY_PROBLEM,
            )
    passphrase = _ask(f"A passphrase to seal the key ({MIN_PASSPHRASE} characters or more): ")
    if sys.stdin is not None and sys.stdin.isatty() and _ask("The same again: ") != passphrase:
        raise CliError("The two passphrases differ: nothing was exported.", exit_code=2)
    try:
        wrapped = wrap_key(key, passphrase)
    except KeyTransferError as exc:
        raise CliError(f"{exc} Nothing was exported.", exit_code=2) from exc
    print(wrapped)
    print(
        "On the other station run `posplus audit key import`, paste this line and type the same "
        "passphrase. Tell the passphrase in person, not with the line.",
        file=sys.stderr,
    )
    return 0


def _import(args: argparse.Namespace) -> int:
    from posplus_tui.ledger import audit as chain
    from posplus_tui.secrets import SecretStoreError
    from posplus_tui.services.audit import AUDIT_KEY, WRAPPED_PREFIX, KeyTransferError, unwrap_key

    wrapped = args.wrapped or _ask("The exported key (the whole line): ")
    if not "".join(wrapped.split()).startswith(WRAPPED_PREFIX):  # said before a passphrase is asked
        raise CliError(
            f"That is not an exported audit key (it starts with “{WRAPPED_PREFIX}”): paste the "
            "whole line `posplus audit key export` printed. Nothing was stored.",
            exit_code=KEY_PROBLEM,
        )
    passphrase = _ask("Its passphrase: ")
    try:
        key = unwrap_key(wrapped, passphrase)
    except KeyTransferError as exc:
        raise CliError(str(exc), exit_code=KEY_PROBLEM) from exc
    with _chain(args) as engine:
        state = chain.key_state(engine, key)
        if state is chain.KeyState.WRONG:
            raise CliError(
                "That key does not sign this ledger's audit log (it belongs to another ledger): "
                "nothing was stored. Export the key at a station of this ledger.",
                exit_code=KEY_PROBLEM,
            )
        if state is chain.KeyState.UNSIGNED:
            raise CliError(
                "This ledger's audit log is not signed yet: nothing was stored. Run `posplus "
                "audit upgrade` at one station, then export its key.",
                exit_code=KEY_PROBLEM,
            )
    store = _store(args)
    try:
        store.set(AUDIT_KEY, key)
    except SecretStoreError as exc:
        raise CliError(f"{exc} Nothing was stored.", exit_code=KEY_PROBLEM) from exc
    print(
        "The audit key is stored in this station's "
        + store.source(AUDIT_KEY)
        + (
            ": it signs this ledger's audit log."
            if state is chain.KeyState.SIGNED
            else ": the ledger's audit log is still empty."
        )
    )
    return 0
