"""``posplus terminal``: tools for a technician at the counter.

``sim`` runs the terminal simulator, ``test`` checks a connection layer by layer, ``log`` shows a
live hex + decoded trace of a test exchange (card data masked).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys

from posplus_tui.cli.common import CliError, load_settings


def register(sub: argparse._SubParsersAction) -> None:
    from drivers.simulator.faults import FAULTS

    term = sub.add_parser(
        "terminal", help="card terminal tools: simulator, connection test, frame log"
    )
    term_sub = term.add_subparsers(dest="terminal_command", metavar="ACTION")

    sim = term_sub.add_parser(
        "sim",
        help="run the terminal simulator and print where it listens",
        description="Faults: " + "; ".join(f"{k}: {v}" for k, v in FAULTS.items()),
        epilog=(
            "Test amounts (by cents): .01 declined 05, .02 declined 51, .05 partial approval of half, "
            ".07 cardholder cancels, .09 approved but the reply is lost, .11 never answered; "
            "anything else approved."
        ),
    )
    from drivers.simulator.__main__ import add_arguments

    add_arguments(sim)
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
    from drivers.simulator.__main__ import run

    try:
        asyncio.run(run(args, announce=lambda text: print(text, flush=True)))
    except ValueError as exc:
        raise CliError(str(exc), exit_code=2) from exc
    except OSError as exc:
        raise CliError(f"the simulator cannot listen: {exc}", exit_code=3) from exc
    return 0


def _test(args: argparse.Namespace) -> int:
    from drivers.diagnostics import Check, diagnose
    from posplus_tui import config

    url = _url(args)
    problem = config.check_terminal_url(url)
    if problem is not None:  # the same sentence as in the settings, before anything is opened
        raise CliError(f"the terminal address “{url}” cannot be used: {problem}", exit_code=2)
    print(f"Testing {url}")

    def show(check: Check) -> None:
        mark = "ok  " if check.ok else "FAIL"
        print(f"  [{mark}] {check.layer:<9} {check.detail}", flush=True)

    result = asyncio.run(diagnose(url, on_check=show))
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
        result = await diagnose(url, trace=show)
        if not result.ok:
            failed = result.failed
            assert failed is not None
            print(
                f"FAILED at the {failed.layer} layer: {failed.detail}. Hint: {failed.hint}",
                file=sys.stderr,
            )
            return result.exit_code
        if cents is not None:
            terminal = open_terminal(url, trace=show)
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
