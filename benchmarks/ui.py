"""UI benchmark.

(a) Start-up to the first interactive frame, headless: the demo app (services already built, as the
    CLI does before the app starts) beside a bare Textual app, in the same run. Ratio goal ≤ 1.5.
    Service build time (ledger migrations, sandbox seeding) is reported separately.
(b) Keystroke to updated Lookup results with the 100,000-invoice index (the sandbox's large seed,
    filled through the real export-feed sync): median and p95 ms, goal p95 ≤ 50 ms.

Prints one JSON object on the last line. ``--quick`` does fewer rounds on a smaller index.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Input, Static


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


async def bench_keystrokes(folder: Path, size: str, words: list[str]) -> dict[str, object]:
    """Type each word a key at a time into Lookup; time each key until the table answers it."""
    from posplus_tui.services.wiring import build_demo
    from posplus_tui.ui.app import PosPlusApp

    t0 = time.perf_counter()
    services = build_demo(folder, card_wait_ms=0, sandbox_size=size, sync_on_start=False)
    await services.sync.sync_once()
    index_s = time.perf_counter() - t0
    from posplus_tui.cli.app_cmds import freeze_heap

    freeze_heap()  # as `posplus demo` / `posplus run` do before the app starts
    app = PosPlusApp(services, status_every=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.press(*"clerk", "enter", *"1111", "enter")
        while getattr(app.screen, "AREA", "") != "Lookup":
            await pilot.pause()
        screen = app.screen
        search = screen.query_one("#search")
        latencies: list[float] = []
        for word in words:
            search.value = ""
            while screen.answered_for != "":
                await pilot.pause()
            for ch in word:
                await pilot.press(ch)
                wanted = search.value.strip()
                while screen.answered_for != wanted:
                    await asyncio.sleep(0.0005)
                # Measured inside the app: from the field's change to the results painted. Only
                # typed keys count (clearing the field between words is not a keystroke).
                latencies.append(screen.latencies_ms[-1])
        if os.environ.get("POSPLUS_BENCH_VERBOSE"):
            print([round(x) for x in latencies], file=sys.stderr)
    from sqlalchemy import text

    with services.ledger.engine.connect() as conn:
        indexed = conn.execute(text("select count(*) from invoice_index")).scalar_one()
    return {
        "index_invoices": int(indexed),
        "index_build_s": round(index_s, 1),
        "keystrokes": len(latencies),
        "keystroke_median_ms": round(statistics.median(latencies), 1),
        "keystroke_p95_ms": round(pct(latencies, 0.95), 1),
        "keystroke_goal_p95_ms": 50,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller index")
    args = parser.parse_args()
    rounds = 2 if args.quick else 9
    with tempfile.TemporaryDirectory(prefix="posplus-bench-") as tmp:
        folder = Path(tmp)
        for i in range(rounds):
            (folder / f"s{i}").mkdir()
        result: dict[str, object] = {"benchmark": "ui", "quick": args.quick}
        result.update(asyncio.run(bench_startup(rounds, folder)))
        words = ["Smith", "Garcia", "4033", "40336", "2175551", "Torres", "88200532", "Nguyen"]
        size = "demo" if args.quick else "large"
        (folder / "keys").mkdir()
        result.update(asyncio.run(bench_keystrokes(folder / "keys", size, words)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
