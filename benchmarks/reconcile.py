"""Benchmark: approved payments drained to the served sandbox at its 60 requests/s limit.

The sandbox runs in its own process (``posplus sandbox serve``, real loopback HTTP, rate limit
60 req/s); the worker drains a SQLite ledger with N approved sales (default 3,000) and posts,
verifies (invoice read-backs batched by ids), and we measure in the same run:

- ``requests_per_limit``: API requests/s achieved ÷ the limit (goal ≥ 0.9)
- ``verified_per_limit``: payments posted *and verified* per second ÷ the limit (goal ≥ 0.8)
- ``duplicates``: markers with more than one payment in the sandbox (goal 0)
- ``share_429``: share of requests answered 429 (goal ≤ 1 %)

    uv run python benchmarks/reconcile.py            # 3,000 payments (~1 minute)
    uv run python benchmarks/reconcile.py --quick    # 300 payments
    uv run python benchmarks/reconcile.py --stations 2 --pg-url postgresql://…/db

With ``--stations N`` (N ≥ 2) N worker processes drain one PostgreSQL ledger (a fresh database made
on the server of ``--pg-url``, or of POSPLUS_TEST_PG_URL) for one tenant, sharing its 60 requests/s
through the ledger; the requests and 429s of all of them count together, over the time from the
first start to the last finish.

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from posplus_tui.ledger import open_ledger  # noqa: E402
from posplus_tui.services.reconcile.marker import find_marker  # noqa: E402
from posplus_tui.services.reconcile.service import ReconcileService  # noqa: E402
from posplus_tui.services.reconcile.st_poster import ServiceTitanPoster  # noqa: E402
from posplus_tui.servicetitan import ServiceTitanClient  # noqa: E402
from tests.reconcile.ledgerdata import add_many  # noqa: E402

LIMIT = 60.0


class CountingTransport(httpx.AsyncHTTPTransport):
    """Counts every API request and every 429 (token requests excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0
        self.throttled = 0
        self.counting = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if self.counting and "/connect/token" not in request.url.path:
            self.requests += 1
            if response.status_code == 429:
                self.throttled += 1
        return response


def start_sandbox(rate: float) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "posplus_tui",
            "sandbox",
            "serve",
            "--port",
            "0",
            "--rate",
            str(rate),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    info: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.match(r"\s*(base_url|tenant_id|client_id|client_secret|app_key)\s*=\s*(\S+)", line)
        if m:
            info[m.group(1)] = m.group(2)
        if line.startswith("Press Ctrl+C"):
            break
    return proc, info


async def run(n: int, batch: int, concurrency: int, lanes: int) -> dict[str, object]:
    proc, info = start_sandbox(LIMIT)
    tmp = tempfile.mkdtemp(prefix="posplus-bench-")
    ledger = open_ledger(f"sqlite:///{tmp}/ledger.sqlite3")
    transport = CountingTransport()
    client = ServiceTitanClient(
        "sandbox",
        info["tenant_id"],
        info["client_id"],
        info["client_secret"],
        info["app_key"],
        base_url=info["base_url"],
        transport=transport,
        rate_per_second=LIMIT,
    )
    try:
        # open invoices with room for a few $1.00 payments each (read before the clock starts)
        invoices = [
            (inv.id, inv.number or "")
            async for inv in client.iter_invoices(page_size=5000)
            if inv.adjustment_to_id is None and inv.balance.cents >= 500
        ]
        per_invoice = -(-n // len(invoices))
        chosen = [invoices[i % len(invoices)] for i in range(n)]
        rows = add_many(ledger, chosen, cents=100)
        service = ReconcileService(
            ledger,
            ServiceTitanPoster(client, "POS+"),
            station="bench",
            batch_size=batch,
            concurrency=concurrency,
            lanes=lanes,
        )
        await service.worker.prepare()
        await asyncio.sleep(1.1)  # let the server's bucket refill after the setup reads
        transport.counting = True
        started = time.perf_counter()
        progress = await service.drain_once()
        elapsed = time.perf_counter() - started
        transport.counting = False
        # duplicates, counted from the sandbox's payment export feed
        markers: Counter[str] = Counter()
        token = None
        while True:
            page = await client.export_payments(token)
            for p in page.items:
                marker = find_marker(p.memo, p.export_id)
                if marker:
                    markers[marker] += 1
            token = page.continue_from
            if not page.has_more:
                break
        ours = {r.marker for r in rows}
        duplicates = sum(1 for m, c in markers.items() if m in ours and c > 1)
        missing = sum(1 for m in ours if markers[m] == 0)
    finally:
        await client.aclose()
        ledger.dispose()
        proc.terminate()
        proc.wait(10)
    rps = transport.requests / elapsed
    vps = progress.verified / elapsed
    result = {
        "benchmark": "reconcile",
        "payments": n,
        "payments_per_invoice_max": per_invoice,
        "seconds": round(elapsed, 2),
        "requests": transport.requests,
        "requests_per_second": round(rps, 2),
        "verified": progress.verified,
        "verified_per_second": round(vps, 2),
        "limit": LIMIT,
        "lanes": lanes,
        "batch": batch,
        "requests_per_limit": round(rps / LIMIT, 3),
        "verified_per_limit": round(vps / LIMIT, 3),
        "duplicates": duplicates,
        "missing": missing,
        "needs_attention": progress.needs_attention,
        "mismatches": progress.mismatches,
        "share_429": round(transport.throttled / max(1, transport.requests), 4),
        "goals_met": {
            "requests_per_limit>=0.9": rps / LIMIT >= 0.9,
            "verified_per_limit>=0.8": vps / LIMIT >= 0.8,
            "duplicates==0": duplicates == 0,
            "share_429<=0.01": transport.throttled / max(1, transport.requests) <= 0.01,
        },
    }
    return result


def _fresh_database(server: str) -> tuple[str, str]:
    """A new, empty database on ``server``: (its SQLAlchemy URL, the plain server URL)."""
    import uuid

    import psycopg

    plain = server.replace("postgresql+psycopg://", "postgresql://")
    name = f"posplus_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = plain.rpartition("/")
    return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1), plain


def _drop_database(url: str, plain: str) -> None:
    import psycopg

    name = url.rpartition("/")[2]
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def child(
    db_url: str, info: dict[str, str], batch: int, concurrency: int, lanes: int
) -> None:
    """One station: prepare, say READY, wait for GO on stdin, drain, print one JSON line."""
    from posplus_tui.services.reconcile.factory import share_rate_budget

    ledger = open_ledger(db_url)
    transport = CountingTransport()
    client = ServiceTitanClient(
        "sandbox", info["tenant_id"], info["client_id"], info["client_secret"], info["app_key"],
        base_url=info["base_url"], transport=transport, rate_per_second=LIMIT,
    )  # fmt: skip
    shared = share_rate_budget(ledger, client)
    service = ReconcileService(
        ledger,
        ServiceTitanPoster(client, "POS+"),
        station=f"bench-{os.getpid()}",
        batch_size=batch,
        concurrency=concurrency,
        lanes=lanes,
    )
    try:
        await service.worker.prepare()
        print("READY", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        transport.counting = True
        started = time.time()
        progress = await service.drain_once()
        ended = time.time()
        transport.counting = False
    finally:
        await client.aclose()
        ledger.dispose()
    print(
        json.dumps(
            {
                "requests": transport.requests,
                "throttled": transport.throttled,
                "started": started,
                "ended": ended,
                "verified": progress.verified,
                "needs_attention": progress.needs_attention,
                "mismatches": progress.mismatches,
                "shared_budget": shared,
            }
        ),
        flush=True,
    )


async def run_stations(
    n: int, stations: int, server: str, batch: int, concurrency: int, lanes: int
) -> dict[str, object]:
    proc, info = start_sandbox(LIMIT)
    db_url, plain = _fresh_database(server)
    children: list[subprocess.Popen[str]] = []
    try:
        ledger = open_ledger(db_url)
        async with ServiceTitanClient(
            "sandbox", info["tenant_id"], info["client_id"], info["client_secret"],
            info["app_key"], base_url=info["base_url"], rate_per_second=LIMIT,
        ) as client:  # fmt: skip
            invoices = [
                (inv.id, inv.number or "")
                async for inv in client.iter_invoices(page_size=5000)
                if inv.adjustment_to_id is None and inv.balance.cents >= 500
            ]
            chosen = [invoices[i % len(invoices)] for i in range(n)]
            rows = add_many(ledger, chosen, cents=100)
            ledger.dispose()
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            args = ["--batch", str(batch), "--concurrency", str(concurrency), "--lanes", str(lanes)]
            children = [
                subprocess.Popen(
                    [sys.executable, __file__, "--child", db_url, json.dumps(info), *args],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for _ in range(stations)
            ]
            for c in children:
                assert c.stdout is not None
                line = c.stdout.readline()
                if not line.startswith("READY"):
                    raise RuntimeError(f"a station did not start: {line!r}")
            await asyncio.sleep(1.1)  # let the server's bucket refill after the setup reads
            for c in children:
                assert c.stdin is not None
                c.stdin.write("GO\n")
                c.stdin.flush()
            reports = []
            for c in children:
                out, _ = c.communicate(timeout=3_600)
                reports.append(json.loads(out.strip().splitlines()[-1]))
            markers: Counter[str] = Counter()
            token = None
            while True:
                page = await client.export_payments(token)
                for p in page.items:
                    marker = find_marker(p.memo, p.export_id)
                    if marker:
                        markers[marker] += 1
                token = page.continue_from
                if not page.has_more:
                    break
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
                c.wait(10)
        proc.terminate()
        proc.wait(10)
        _drop_database(db_url, plain)
    ours = {r.marker for r in rows}
    duplicates = sum(1 for m, c in markers.items() if m in ours and c > 1)
    missing = sum(1 for m in ours if markers[m] == 0)
    elapsed = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
    requests = sum(r["requests"] for r in reports)
    throttled = sum(r["throttled"] for r in reports)
    verified = sum(r["verified"] for r in reports)
    rps = requests / elapsed
    share = throttled / max(1, requests)
    return {
        "benchmark": "reconcile",
        "stations": stations,
        "ledger": "postgresql",
        "shared_budget": all(r["shared_budget"] for r in reports),
        "payments": n,
        "seconds": round(elapsed, 2),
        "requests": requests,
        "requests_by_station": [r["requests"] for r in reports],
        "requests_per_second": round(rps, 2),
        "verified": verified,
        "verified_per_second": round(verified / elapsed, 2),
        "limit": LIMIT,
        "requests_per_limit": round(rps / LIMIT, 3),
        "verified_per_limit": round(verified / elapsed / LIMIT, 3),
        "duplicates": duplicates,
        "missing": missing,
        "needs_attention": sum(r["needs_attention"] for r in reports),
        "mismatches": sum(r["mismatches"] for r in reports),
        "throttled": throttled,
        "share_429": round(share, 4),
        "goals_met": {
            "requests_per_limit>=0.9": rps / LIMIT >= 0.9,
            "duplicates==0": duplicates == 0,
            "share_429<=0.01": share <= 0.01,
        },
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        db_url, info = sys.argv[2], json.loads(sys.argv[3])
        opts = argparse.ArgumentParser()
        for name, default in (("--batch", 50), ("--concurrency", 8), ("--lanes", 2)):
            opts.add_argument(name, type=int, default=default)
        o = opts.parse_args(sys.argv[4:])
        asyncio.run(child(db_url, info, o.batch, o.concurrency, o.lanes))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 payments instead of 3,000")
    parser.add_argument("-n", type=int, default=None, help="number of payments")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--lanes", type=int, default=2)
    parser.add_argument(
        "--stations", type=int, default=1,
        help="worker processes sharing one PostgreSQL ledger and one tenant (2+ needs --pg-url)",
    )  # fmt: skip
    parser.add_argument(
        "--pg-url", default=os.environ.get("POSPLUS_TEST_PG_URL"),
        help="PostgreSQL server URL; a fresh database is made there and dropped after",
    )  # fmt: skip
    args = parser.parse_args()
    n = args.n or (300 if args.quick else 3_000)
    os.environ.setdefault("POSPLUS_DATA_DIR", tempfile.mkdtemp(prefix="posplus-bench-data-"))
    if args.stations > 1:
        if not args.pg_url:
            parser.error("--stations needs --pg-url (or POSPLUS_TEST_PG_URL)")
        result = asyncio.run(
            run_stations(n, args.stations, args.pg_url, args.batch, args.concurrency, args.lanes)
        )
        print(
            f"{args.stations} stations verified {result['verified']} payments in "
            f"{result['seconds']} s: {result['requests_per_second']} req/s together (limit "
            f"{LIMIT:.0f}/s), {result['duplicates']} duplicates, "
            f"{result['share_429']:.2%} answered 429"
        )
        print(json.dumps(result))
        return
    result = asyncio.run(run(n, args.batch, args.concurrency, args.lanes))
    print(
        f"{result['verified']} payments verified in {result['seconds']} s: "
        f"{result['requests_per_second']} req/s, {result['verified_per_second']} verified/s "
        f"(limit {LIMIT:.0f}/s), {result['duplicates']} duplicates, "
        f"{result['share_429']:.2%} answered 429"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
