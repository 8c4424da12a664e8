"""UI benchmark.

(a) Start-up to the first interactive frame, headless: the demo app (services already built, as the
    CLI does before the app starts) beside a bare Textual app, in the same run. Ratio goal ≤ 1.5.
    Service build time (ledger migrations, sandbox seeding) is reported separately.
(b) Keystroke to updated Lookup results, measured from outside the app (key sent → the first
    frame after the list answers it), with the 100,000-invoice index (the sandbox's large seed,
    filled through the real export-feed sync) or, with ``--invoices N``, an index of N generated
    invoices: p50 and p95 ms (goal p95 ≤ 16.7 ms, one frame, at 100k; ≤ 25 ms at 1,000,000),
    beside a floor measured the same way in the same run (a bare Textual app refilling a table
    from memory on every key), and the process's RSS (goal ≤ 150 MB at 1,000,000).

Prints one JSON object on the last line. ``--quick`` does fewer rounds on a smaller index;
``--no-startup`` skips (a).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual import events
from textual.app import App, ComposeResult
from textual.keys import _character_to_key
from textual.widgets import DataTable, Footer, Header, Input, Static


class BareApp(App[None]):
    """The floor: a Textual app with a header, one field and a footer."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("bare")
        yield Input()
        yield Footer()


async def first_frame(make_app, ready) -> float:  # type: ignore[no-untyped-def]
    """Seconds from constructing the app to the first frame on which ``ready`` holds."""
    start = time.perf_counter()
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        while not ready(app):
            await pilot.pause()
        elapsed = time.perf_counter() - start
    return elapsed


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench_startup(rounds: int, folder: Path) -> dict[str, float]:
    from posplus_tui.cli.app_cmds import freeze_heap
    from posplus_tui.services.wiring import build_demo
    from posplus_tui.ui.app import PosPlusApp

    build_times: list[float] = []
    freeze_times: list[float] = []
    bare: list[float] = []
    ours: list[float] = []
    for i in range(rounds):
        freeze_heap()  # as for ours below: the same collector state for both apps
        bare.append(await first_frame(BareApp, lambda app: app.screen.query(Input)))
        t0 = time.perf_counter()
        services = build_demo(folder / f"s{i}", card_wait_ms=0)
        build_times.append(time.perf_counter() - t0)
        # What `posplus demo` / `posplus run` do between building the services and app.run().
        t0 = time.perf_counter()
        freeze_heap()
        freeze_times.append(time.perf_counter() - t0)

        def make(services=services):  # type: ignore[no-untyped-def]
            return PosPlusApp(services, status_every=0)

        ours.append(await first_frame(make, lambda app: app.screen.query("#signin-username")))
    b, o = statistics.median(bare), statistics.median(ours)
    return {
        "startup_bare_ms": round(b * 1000, 1),
        "startup_app_ms": round(o * 1000, 1),
        "startup_ratio": round(o / b, 2),
        # Every round, so the run-to-run noise shows.
        "startup_bare_rounds_ms": [round(x * 1000, 1) for x in bare],
        "startup_app_rounds_ms": [round(x * 1000, 1) for x in ours],
        "services_build_ms": round(statistics.median(build_times) * 1000, 1),
        "heap_freeze_ms": round(statistics.median(freeze_times) * 1000, 1),
    }


class FloorApp(App[None]):
    """The keystroke floor: Textual echoing a key into a field and refilling a 40-row table
    with rows already in memory (no search at all), the way Lookup's table is refilled."""

    def __init__(self, rows: list[list[str]]) -> None:
        super().__init__()
        self.rows = rows
        self.shown_for = ""

    def compose(self) -> ComposeResult:
        yield Input(id="search")
        yield DataTable(id="results", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for col in ("Invoice", "Job", "Customer", "Date", "Total", "Balance", "Status"):
            table.add_column(col, key=col)
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        table = self.query_one(DataTable)
        table.clear()
        start = len(event.value) % 5
        table.add_rows(self.rows[start : start + 40])
        self.shown_for = event.value.strip()


def rss_mb() -> float:
    """This process's resident memory now (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def type_words(app, pilot, screen, words: list[str]) -> list[float]:  # type: ignore[no-untyped-def]
    """Per key, ms from sending it to the first frame drawn after the list answers it.

    Measured from outside the app: the key goes in as a terminal would send it, the list is
    watched through what the screen shows (``shown_for``, the table's rows laid out), and the
    clock stops in a callback Textual runs after the next refresh."""
    search = screen.query_one("#search")
    table = screen.query_one("#results")
    latencies: list[float] = []
    for word in words:
        search.value = ""
        while screen.shown_for != "":
            await pilot.pause()
        await pilot.pause()
        typed = ""
        for ch in word:
            # Posted as the terminal driver posts it (Pilot.press also waits for the whole
            # process to go idle, which on a busy machine costs more than the key itself).
            key = events.Key(ch if ch.isalnum() else _character_to_key(ch), ch)
            start = time.perf_counter()
            app.post_message(key)
            typed += ch
            wanted = typed.strip()
            while search.value != typed:
                await asyncio.sleep(0.0002)
            while screen.shown_for != wanted or (
                table.row_count
                and table.virtual_size.height != table.header_height + table.row_count
            ):
                await asyncio.sleep(0.0002)
            painted = asyncio.Event()
            app.call_after_refresh(painted.set)
            await painted.wait()
            latencies.append((time.perf_counter() - start) * 1000)
    return latencies


async def bench_floor(words: list[str]) -> list[float]:
    rows = [
        [f"{40000 + i}", f"{40000 + i}", f"Customer {i}", "03/02/26", "$1.00", "$1.00", "open"]
        for i in range(45)
    ]
    app = FloorApp(rows)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        return await type_words(app, pilot, app, words)


FIRST = ["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David",
         "Maria", "Jose", "Wei", "Anh", "Susan", "Sofia", "Karen", "Daniel", "Nancy"]  # fmt: skip
LAST = ["Smith", "Garcia", "Johnson", "Torres", "Nguyen", "Brown", "Lee", "Martinez", "Davis",
        "Lopez", "Wilson", "Anderson", "Thomas", "Moore", "Jackson", "Martin", "Harris", "Clark",
        "Lewis", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill", "Green", "Adams"]  # fmt: skip
STREETS = ["Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Elm St", "Pine Rd", "Park Pl",
           "Lake View Blvd", "Washington St", "Lincoln Ave"]  # fmt: skip
CITIES = ["Springfield", "Peoria", "Decatur", "Champaign", "Bloomington", "Urbana"]


def generate_index(engine, n: int) -> float:  # type: ignore[no-untyped-def]
    """``n`` invoices written straight into the ledger's index (names, addresses, phones and
    numbers shaped like the sandbox's), 20,000 to a transaction, search words included.
    Returns the seconds it took."""
    import random

    from sqlalchemy import insert

    from posplus_tui.ledger.tables.reconcile import InvoiceIndexRow
    from posplus_tui.services.search import rank_key, reindex

    rng = random.Random(1)
    t = InvoiceIndexRow.__table__  # type: ignore[attr-defined]
    start = time.perf_counter()
    now = datetime.now(UTC)
    for first in range(0, n, 20_000):
        rows = []
        for i in range(first, min(n, first + 20_000)):
            cust = i // 3
            crng = random.Random(cust)
            name = f"{crng.choice(FIRST)} {crng.choice(LAST)}"
            paid = rng.random() < 0.8
            total = rng.randint(5_000, 900_000)
            balance = 0 if paid else rng.randint(100, total)
            day = f"20{rng.randint(19, 26):02d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            inv_id = 88_000_000 + i
            rows.append(
                {
                    "id": inv_id,
                    "number": str(30_000 + i) if i % 7 else f"{30_000 + i - 1}-2",
                    "job_number": str(30_000 + i - i % 7),
                    "job_id": 77_000_000 + i // 2,
                    "customer_id": 66_000_000 + cust,
                    "customer_name": name,
                    "customer_name_norm": name.casefold(),
                    "phone_digits": f"{crng.choice(['217', '309', '312', '618'])}555{cust % 10_000:04d}",
                    "address": f"{crng.randint(1, 9999)} {crng.choice(STREETS)}, "
                    f"{crng.choice(CITIES)}, IL 6{crng.randint(1000, 2999)}",
                    "total_cents": total,
                    "balance_cents": balance,
                    "invoice_date": f"{day}T00:00:00+00:00",
                    "adjustment_to_id": None,
                    "active": True,
                    "modified_on": f"{day}T00:00:00+00:00",
                    "updated_at": now,
                    "search_rank": rank_key(inv_id, balance, day),
                }
            )
        with engine.begin() as conn:
            conn.execute(insert(t), rows)
            reindex(conn, [], rows)
    return time.perf_counter() - start


def _generate(url: str, n: int, out: Any) -> None:
    from posplus_tui.ledger import open_ledger

    ledger = open_ledger(url)
    try:
        out.put(generate_index(ledger.engine, n))
    finally:
        ledger.dispose()


def generate_in_child(url: str, n: int) -> float:
    """Generate the index from another process, so this one's memory holds only what the app
    itself keeps (a real index is synced over days, not built in the app's heap)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_generate, args=(url, n, out))
    child.start()
    seconds = out.get()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"generating the index failed (exit code {child.exitcode})")
    return float(seconds)


async def bench_keystrokes(
    folder: Path, size: str, words: list[str], generated: int | None
) -> dict[str, object]:
    """Type each word a key at a time into Lookup; time each key until the table answers it."""
    from posplus_tui.services.wiring import build_demo
    from posplus_tui.ui.app import PosPlusApp

    t0 = time.perf_counter()
    services = build_demo(
        folder, card_wait_ms=0, sandbox_size="demo" if generated else size, sync_on_start=False
    )
    rss_before = rss_mb()
    if generated:
        index_s = generate_in_child(services.ledger.url, generated)
        how = "generated"
    else:
        await services.sync.sync_once()
        index_s = time.perf_counter() - t0
        how = f"sandbox {size} seed through the export-feed sync"
    from posplus_tui.cli.app_cmds import freeze_heap

    freeze_heap()  # as `posplus demo` / `posplus run` do before the app starts
    floor = await bench_floor(words)
    app = PosPlusApp(services, status_every=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.press(*"clerk", "enter", *"1111", "enter")
        while getattr(app.screen, "AREA", "") != "Lookup":
            await pilot.pause()
        latencies = await type_words(app, pilot, app.screen, words)
        rss = rss_mb()
        if os.environ.get("POSPLUS_BENCH_VERBOSE"):
            print([round(x) for x in latencies], file=sys.stderr)
    # The search alone (the service the screen calls, same prefixes): what the index costs.
    searches: list[float] = []
    for word in words:
        for end in range(1, len(word) + 1):
            start = time.perf_counter()
            await services.lookup_local.search(word[:end], limit=40)  # as Lookup asks
            searches.append((time.perf_counter() - start) * 1000)
    from sqlalchemy import text

    with services.ledger.engine.connect() as conn:
        indexed = conn.execute(text("select count(*) from invoice_index")).scalar_one()
    p95, floor_p95 = pct(latencies, 0.95), pct(floor, 0.95)
    goal = 16.7 if indexed <= 200_000 else 25.0
    return {
        "index_invoices": int(indexed),
        "index": how,
        "index_build_s": round(index_s, 1),
        "keystrokes": len(latencies),
        "keystroke_p50_ms": round(statistics.median(latencies), 1),
        "keystroke_p95_ms": round(p95, 1),
        "keystroke_max_ms": round(max(latencies), 1),
        "keystroke_floor_p50_ms": round(statistics.median(floor), 1),
        "keystroke_floor_p95_ms": round(floor_p95, 1),
        "keystroke_ratio_p95": round(p95 / floor_p95, 2),
        "keystroke_goal_p95_ms": goal,
        "search_p50_ms": round(statistics.median(searches), 2),
        "search_p95_ms": round(pct(searches, 0.95), 2),
        "rss_mb": round(rss, 1),
        # The same process before the index was built or synced (app services, sandbox seed):
        # what the index and the typing added is the difference.
        "rss_before_index_mb": round(rss_before, 1),
        "rss_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_goal_mb": 150 if indexed > 200_000 else None,
        # The machine is shared: how busy it was while this ran (2 cores).
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller index")
    parser.add_argument(
        "--invoices", type=int, default=None, help="a generated index of this many invoices"
    )
    parser.add_argument("--no-startup", action="store_true", help="keystrokes only")
    args = parser.parse_args()
    rounds = 0 if args.no_startup else 2 if args.quick else 9
    with tempfile.TemporaryDirectory(prefix="posplus-bench-") as tmp:
        folder = Path(tmp)
        for i in range(rounds):
            (folder / f"s{i}").mkdir()
        result: dict[str, object] = {"benchmark": "ui", "quick": args.quick}
        if rounds:
            result.update(asyncio.run(bench_startup(rounds, folder)))
        words = ["Smith", "Garcia", "4033", "40336", "2175551", "Torres", "88200532", "Nguyen",
                 "mar lo", "Oak"]  # fmt: skip
        size = "demo" if args.quick else "large"
        (folder / "keys").mkdir()
        result.update(asyncio.run(bench_keystrokes(folder / "keys", size, words, args.invoices)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
