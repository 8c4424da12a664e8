"""``posplus reconcile``: post approved payments to ServiceTitan from the command line.

    posplus reconcile --once      post everything waiting, wait out retries, then stop
    posplus reconcile --follow    keep posting as payments arrive (a back-office PC), and follow
                                  ServiceTitan's export feeds for mismatches
    posplus reconcile --status    today's summary and what needs attention (the default)
    posplus reconcile --sync      read ServiceTitan's export feeds once (index + mismatches)

Run by hand (a terminal), ``--once`` shows a live progress line. Exit codes: 0 all posted and
verified; 3 something needs attention or is mismatched; 2 setup problem (the message says what to fix).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from typing import Any, TextIO

from posplus_tui.cli.common import CliError, load_settings
from posplus_tui.domain.outbox import OUTBOX_ATTENTION_STATES, OUTBOX_OPEN_STATES

NEEDS_ATTENTION_EXIT = 3


def register(sub: argparse._SubParsersAction) -> None:
    rc = sub.add_parser(
        "reconcile",
        help="post approved payments to ServiceTitan (exactly once) and verify them",
        description=__doc__.split("\n\n", 1)[1].replace("``", "") if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = rc.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="drain the outbox once, then stop")
    mode.add_argument("--follow", action="store_true", help="keep draining until Ctrl+C")
    mode.add_argument("--status", action="store_true", help="today's summary and problems")
    mode.add_argument("--sync", action="store_true", help="follow the export feeds once")
    rc.add_argument("--database-url", metavar="URL", help="ledger database (default: the settings)")
    rc.add_argument(
        "--deadline",
        type=float,
        metavar="SECONDS",
        help="--once: stop waiting for retries after this long (default: wait until done)",
    )
    rc.add_argument("--no-progress", action="store_true", help="no live progress line")
    rc.add_argument("--batch", type=int, default=50, help=argparse.SUPPRESS)
    rc.add_argument("--concurrency", type=int, default=8, help=argparse.SUPPRESS)
    rc.add_argument("--rate", type=float, default=None, help=argparse.SUPPRESS)
    rc.add_argument("--lease", type=float, default=120.0, help=argparse.SUPPRESS)
    rc.add_argument("--doubt-wait", type=float, default=None, help=argparse.SUPPRESS)
    rc.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    if args.database_url:
        from dataclasses import replace

        settings = replace(settings, database_url=args.database_url)
    if args.status or not (args.once or args.follow or args.sync):
        return _status(settings)
    return asyncio.run(_async_main(args, settings))


def _open(settings: Any, args: argparse.Namespace) -> tuple[Any, Any]:
    from posplus_tui.ledger import LedgerError, open_ledger
    from posplus_tui.secrets import SecretStore, SecretStoreError
    from posplus_tui.services.reconcile.factory import NotConfigured, client_from_settings

    try:
        ledger = open_ledger(settings.database_url)
    except LedgerError as exc:
        raise CliError(str(exc), 2) from exc
    from posplus_tui.services.audit import sign_the_chain

    try:  # the worker's events are signed like the app's
        sign_the_chain(ledger.engine, SecretStore(tenant=settings.tenant_id or "default"))
    except BaseException:
        ledger.dispose()
        raise
    options: dict[str, Any] = {}
    if args.rate is not None:
        options["rate_per_second"] = args.rate or None
    try:
        client = client_from_settings(
            settings, SecretStore(tenant=settings.tenant_id or "default"), **options
        )
    except (NotConfigured, SecretStoreError) as exc:
        ledger.dispose()
        raise CliError(str(exc), 2) from exc
    return ledger, client


async def _async_main(args: argparse.Namespace, settings: Any) -> int:
    from posplus_tui.services.errors import ServiceError
    from posplus_tui.services.reconcile.factory import build_bundle

    ledger, client = _open(settings, args)
    options: dict[str, Any] = {
        "batch_size": args.batch,
        "concurrency": args.concurrency,
        "lease_seconds": args.lease,
    }
    if args.doubt_wait is not None:
        options["doubt_wait"] = args.doubt_wait
    bundle = build_bundle(settings, ledger, client, **options)
    try:
        if args.sync:
            report = await bundle.sync.sync_once()
            print(
                f"Read {report.invoices} invoice and {report.payments} payment changes; "
                f"{len(report.mismatches)} new mismatch(es)."
            )
            for mm in report.mismatches:
                print(f"  ! {mm.message}")
            return NEEDS_ATTENTION_EXIT if report.mismatches else 0
        if args.follow:
            return await _follow(bundle)
        return await _once(bundle, args)
    except ServiceError as exc:
        raise CliError(str(exc), 2) from exc
    finally:
        await bundle.aclose()
        ledger.dispose()


async def _once(bundle: Any, args: argparse.Namespace) -> int:
    live = sys.stderr.isatty() and not args.no_progress
    started = time.monotonic()
    deadline = started + args.deadline if args.deadline else None

    def show(p: Any) -> None:
        if live:
            _progress_line(sys.stderr, p, time.monotonic() - started)

    progress = await bundle.reconcile.drain_once(deadline=deadline, on_progress=show)
    if live:
        sys.stderr.write("\n")
    took = time.monotonic() - started
    print(
        f"Posted {progress.posted} (of which {progress.found_existing} were already in "
        f"ServiceTitan), verified {progress.verified}, needs attention {progress.needs_attention}, "
        f"mismatches {progress.mismatches}, cancelled {progress.cancelled} in {took:.1f} s."
    )
    problems = await bundle.reconcile.postings()
    for row in problems:
        print(f"  ! #{row.outbox_id} {row.transaction_ref} invoice {row.invoice_number} "
              f"{row.amount}: {row.last_error}")  # fmt: skip
    counts = await bundle.reconcile.counts()
    waiting = sum(counts.get(s, 0) for s in OUTBOX_OPEN_STATES)
    if waiting:
        print(f"{waiting} still waiting (retrying later or being posted by another station).")
    return NEEDS_ATTENTION_EXIT if problems else 0


def _progress_line(out: TextIO, p: Any, elapsed: float) -> None:
    rate = p.verified / elapsed if elapsed > 0 else 0.0
    out.write(
        f"\r posted {p.posted:>5} · verified {p.verified:>5} · retrying {p.retried:>4} · "
        f"needs attention {p.needs_attention:>3} · mismatches {p.mismatches:>3} · "
        f"{rate:5.1f}/s   "
    )
    out.flush()


async def _follow(bundle: Any) -> int:
    def show(event: Any) -> None:
        when = event.time.astimezone().strftime("%H:%M:%S")
        amount = event.amount.format() if event.amount else ""
        print(
            f"{when} {event.kind.value:<15} {event.invoice_number or '-':<10} {amount:>11}  "
            f"{event.message}",
            flush=True,
        )

    bundle.reconcile.subscribe(show)
    print("Posting payments to ServiceTitan as they arrive. Press Ctrl+C to stop.", flush=True)
    sync_task = asyncio.create_task(bundle.sync.run())
    try:
        await bundle.reconcile.run_forever()
    finally:
        bundle.sync.stop()
        sync_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sync_task
    return 0


def _status(settings: Any) -> int:
    from posplus_tui.ledger import LedgerError, open_ledger
    from posplus_tui.services.reconcile.store import ReconcileStore
    from posplus_tui.services.reconcile.summary import sparkline

    try:
        ledger = open_ledger(settings.database_url)
    except LedgerError as exc:
        raise CliError(str(exc), 2) from exc
    try:
        store = ReconcileStore(ledger.engine)
        from datetime import datetime

        summary = store.summary(datetime.now().astimezone().date())
        print(f"Today ({summary.day}): {summary.total.count} postings, {summary.total.amount}")
        for method, tally in sorted(summary.by_method.items()):
            print(f"  {method:<14} {tally.count:>5}  {tally.amount.format():>14}")
        print(
            f"  posted {summary.posted.count} ({summary.posted.amount}) · pending "
            f"{summary.pending.count} ({summary.pending.amount}) · needs attention "
            f"{summary.needs_attention.count} ({summary.needs_attention.amount})"
        )
        print(f"  per hour {sparkline(summary.per_hour)}")
        problems = store.postings(tuple(OUTBOX_ATTENTION_STATES))
        for row in problems:
            print(f"  ! #{row.outbox_id} {row.transaction_ref} invoice {row.invoice_number} "
                  f"{row.amount}: {row.last_error}")  # fmt: skip
        for mm in store.mismatches():
            print(f"  ≠ {mm.message}")
        return NEEDS_ATTENTION_EXIT if problems else 0
    finally:
        ledger.dispose()
