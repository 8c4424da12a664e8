"""``posplus terminal``: tools for a technician at the counter.

``sim`` runs a terminal simulator (PAX POSLink, or Dejavoo SPIn with ``--protocol spin``), ``test``
checks a connection layer by layer, ``log`` shows a live trace of a test exchange (card data and
the SPIn auth key masked). A SPIn terminal's auth key comes from the secret store or
``POSPLUS_TERMINAL_AUTHKEY``, never from the command line of ``test``/``log``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys

from posplus_tui.cli.common import CliError, load_settings


def register(sub: argparse._SubParsersAction) -> None:
    from drivers.simulator.faults import FAULTS
    from drivers.spin.simulator.faults import FAULTS as SPIN_FAULTS

    term = sub.add_parser(
        "terminal", help="card terminal tools: simulator, connection test, frame log"
    )
    term_sub = term.add_subparsers(dest="terminal_command", metavar="ACTION")

    sim = term_sub.add_parser(
        "sim",
        help="run the terminal simulator and print where it listens",
        description=(
            "POSLink faults: "
            + "; ".join(f"{k}: {v}" for k, v in FAULTS.items())
            + ". SPIn faults (--protocol spin): "
            + "; ".join(f"{k}: {v}" for k, v in SPIN_FAULTS.items())
            + "."
        ),
        epilog=(
            "Test amounts (by cents): .01 declined 05, .02 declined 51, .05 partial approval of half, "
            ".07 cardholder cancels, .09 approved but the reply is lost, .11 never answered; "
            "anything else approved."
        ),
    )
    from drivers.simulator.__main__ import add_arguments
    from drivers.spin.simulator.__main__ import add_spin_arguments

    sim.add_argument(
        "--protocol",
        choices=("poslink", "spin"),
        default="poslink",
        help="poslink: PAX over --tcp/--pty (default); spin: Dejavoo SPIn over HTTP on 127.0.0.1",
    )
    add_arguments(sim)
    add_spin_arguments(sim)
    sim.set_defaults(func=_sim)

    test = term_sub.add_parser("test", help="check a terminal connection layer by layer")
    test.add_argument(
        "url", nargs="?", help="terminal URL (default: terminal_url from the settings)"
    )
    test.set_defaults(func=_test)

    log = term_sub.add_parser("log", help="live hex + decoded frame trace of a test exchange")
    log.add_argument(
        "url", nargs="?", help="terminal URL (default: terminal_url from the settings)"
    )
    log.add_argument(
        "--sale",
        metavar="AMOUNT",
        help="also run a sale of AMOUNT (e.g. 1.00) — real money on a real terminal; for the simulator",
    )
    log.set_defaults(func=_log)
    term.set_defaults(func=lambda args: term.print_help() or 0)


def _url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url)
    url = load_settings(args).terminal_url
    if not url:
        raise CliError(
            "no terminal URL given and none in the settings: pass one, e.g. "
            "'posplus terminal test poslink+tcp://192.168.1.50:10009'",
            exit_code=2,
        )
    return url


def _sim(args: argparse.Namespace) -> int:
    if args.protocol == "spin":
        return _sim_spin(args)
    if args.port is not None:
        raise CliError(
            "--port is for --protocol spin; a POSLink simulator takes --tcp 127.0.0.1:PORT",
            exit_code=2,
        )
    from drivers.simulator.__main__ import run

    try:
        asyncio.run(run(args, announce=lambda text: print(text, flush=True)))
    except ValueError as exc:
        raise CliError(str(exc), exit_code=2) from exc
    except OSError as exc:
        raise CliError(f"the simulator cannot listen: {exc}", exit_code=3) from exc
    return 0


def _sim_spin(args: argparse.Namespace) -> int:
    from drivers.spin.simulator.__main__ import DEFAULT_AUTHKEY, run

    if args.tcp or args.pty or args.baud is not None:
        raise CliError(
            "a SPIn simulator serves HTTP on 127.0.0.1: give --port PORT (0: any), not --tcp/--pty/--baud",
            exit_code=2,
        )
    from posplus_tui.services.terminal_access import AUTHKEY_ENV

    authkey = args.authkey or os.environ.get(AUTHKEY_ENV) or DEFAULT_AUTHKEY
    try:
        asyncio.run(run(args, authkey, announce=lambda text: print(text, flush=True)))
    except ValueError as exc:
        raise CliError(str(exc), exit_code=2) from exc
    except OSError as exc:
        raise CliError(f"the simulator cannot listen: {exc}", exit_code=3) from exc
    return 0


def _authkey(args: argparse.Namespace, url: str) -> str | None:
    """The auth key for a SPIn URL: POSPLUS_TERMINAL_AUTHKEY or the secret store."""
    from posplus_tui.services.terminal_access import needs_authkey, terminal_authkey

    if not needs_authkey(url):
        return None
    from posplus_tui.secrets import SecretStore

    tenant = "default"
    with contextlib.suppress(CliError):
        tenant = load_settings(args).tenant_id or "default"
    return terminal_authkey(SecretStore(tenant=tenant))


def _test(args: argparse.Namespace) -> int:
    from drivers.diagnostics import Check, diagnose

    url = _url(args)
    authkey = _authkey(args, url)
    from drivers.registry import display_url

    print(f"Testing {display_url(url)}")

    def show(check: Check) -> None:
        mark = "ok  " if check.ok else "FAIL"
        print(f"  [{mark}] {check.layer:<9} {check.detail}", flush=True)

    result = asyncio.run(diagnose(url, on_check=show, authkey=authkey))
    failed = result.failed
    if failed is None:
        print("OK")
        return 0
    print(
        f"FAILED at the {failed.layer} layer. Hint: {failed.hint or 'see above'}", file=sys.stderr
    )
    return result.exit_code


def _log(args: argparse.Namespace) -> int:
    from drivers import open_terminal
    from drivers.base import Approved
    from drivers.diagnostics import diagnose
    from drivers.trace import FrameTrace

    url = _url(args)
    authkey = _authkey(args, url)
    cents = None
    if args.sale:
        from posplus_tui.domain.money import Money

        try:
            cents = Money.parse(args.sale).cents
        except (ValueError, ArithmeticError) as exc:
            raise CliError(
                f"--sale {args.sale!r}: {exc}. Write an amount like 1.00", exit_code=2
            ) from exc
    start: list[float] = []

    def show(item: FrameTrace) -> None:
        if not start:
            start.append(item.at)
        print(f"{(item.at - start[0]) * 1000:9.1f} ms  {item.line()}", flush=True)

    async def run() -> int:
        result = await diagnose(url, trace=show, authkey=authkey)
        if not result.ok:
            failed = result.failed
            assert failed is not None
            print(
                f"FAILED at the {failed.layer} layer: {failed.detail}. Hint: {failed.hint}",
                file=sys.stderr,
            )
            return result.exit_code
        if cents is not None:
            terminal = open_terminal(url, trace=show, authkey=authkey)
            try:
                ref = f"LOG{secrets.token_hex(5).upper()}"
                outcome = await terminal.sale(cents, ref)
                print(
                    f"sale → {type(outcome).__name__}"
                    + (
                        f" {outcome.brand} ••••{outcome.last4}"
                        if isinstance(outcome, Approved)
                        else ""
                    )
                )
            finally:
                await terminal.close()
        print("OK")
        return 0

    return asyncio.run(run())
