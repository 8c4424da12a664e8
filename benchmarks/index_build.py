"""Benchmark: building the local invoice index from ServiceTitan, against the pull alone.

The sandbox is served in its own process (``posplus sandbox serve``, optionally with
``--latency-ms``, or ``--base-url`` for one already served). Two arms read the same export feeds
(invoices, then payments) from the start, with the same client:
- the pull: every page fetched and parsed into models, nothing written (the floor);
- the build: ``SyncService.sync_once`` into a fresh SQLite ledger (a real file, WAL, full fsync):
  each page written in one transaction with its feed token, the index rows and their search
  words in batches, mismatch checks included.
``ratio`` is build / pull (goal ≤ 1.2).

    uv run python benchmarks/index_build.py                 # the large seed, 101,381 invoices
    uv run python benchmarks/index_build.py --quick         # the demo seed
    uv run python benchmarks/index_build.py --latency-ms 40

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.servicetitan_client import served_in_own_process
from posplus_tui.servicetitan.sandbox import Sandbox


async def pull(sandbox: Sandbox, url: str) -> tuple[float, int]:
    async with sandbox.client_for(url) as st:
        await st.list_payment_types()  # token and payment type outside the timing, as below
        start = time.perf_counter()
        invoices = 0
        for what in ("invoices", "payments"):
            async for page in st.follow_export(what):
                if what == "invoices":
                    invoices += len(page.items)
        return time.perf_counter() - start, invoices


async def build(sandbox: Sandbox, url: str, folder: Path) -> tuple[float, int, int, int]:
    from posplus_tui.ledger import open_ledger
    from posplus_tui.services.sync import SyncService

    ledger = open_ledger(f"sqlite:///{folder / 'ledger.sqlite3'}")
    try:
        async with sandbox.client_for(url) as st:
            sync = SyncService(ledger.engine, st, payment_type_name="POS+")
            await sync.payment_type_id()
            start = time.perf_counter()
            report = await sync.sync_once()
            elapsed = time.perf_counter() - start
        from sqlalchemy import text

        with ledger.engine.connect() as conn:
            indexed = conn.execute(text("SELECT count(*) FROM invoice_index")).scalar_one()
            words = conn.execute(text("SELECT count(*) FROM invoice_search")).scalar_one()
        return elapsed, report.invoices, int(indexed), int(words)
    finally:
        ledger.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the demo seed")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    size = "demo" if args.quick else "large"
    sandbox = Sandbox(seed=args.seed, size="demo")  # the credentials come from the seed
    serving: Any = (
        contextlib.nullcontext(args.base_url.rstrip("/"))
        if args.base_url
        else served_in_own_process(args.seed, size, args.latency_ms)
    )
    pulls: list[float] = []
    builds: list[float] = []
    with serving as url, tempfile.TemporaryDirectory(prefix="posplus-bench-") as tmp:
        for r in range(args.rounds):
            folder = Path(tmp) / f"r{r}"
            folder.mkdir()
            arms = [("pull", None), ("build", folder)]
            for name, where in arms if r % 2 == 0 else arms[::-1]:
                if where is None:
                    wall, invoices = asyncio.run(pull(sandbox, url))
                    pulls.append(wall)
                else:
                    wall, invoices, indexed, searchable = asyncio.run(build(sandbox, url, where))
                    builds.append(wall)
                print(f"round {r + 1}: {name} {wall:.2f}s, {invoices} invoices")
    p, b = min(pulls), min(builds)
    result = {
        "benchmark": "index_build",
        "sandbox_size": size,
        "latency_ms": args.latency_ms,
        "invoices": invoices,
        "indexed": indexed,
        "searchable": searchable,
        "pull_s": round(p, 2),
        "build_s": round(b, 2),
        "pull_invoices_per_s": round(invoices / p, 1),
        "build_invoices_per_s": round(invoices / b, 1),
        "ratio": round(b / p, 3),
        "goal_ratio": 1.2,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
