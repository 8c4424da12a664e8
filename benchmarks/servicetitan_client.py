"""Benchmark: invoices pulled through ServiceTitanClient vs bare httpx, same pages, same run.

The sandbox is served over real loopback HTTP by ``posplus sandbox serve`` in its own process, as
the real API is (``--in-thread`` serves it from this process instead; ``--base-url URL`` pulls
from one already served, e.g. ``posplus sandbox serve --size large --latency-ms 40``).
``--latency-ms N`` makes the served sandbox wait N ms before every response, as a wide-area
network does: loopback answers in microseconds, ServiceTitan in tens of milliseconds.

Three arms fetch the same ``GET /invoices`` pages with one token each:
- the client: typed models (Money, dates, addresses), its rate limiter, its retry wrapper, and
  ``page_concurrency`` pages in flight (``--concurrency``);
- the same client one page at a time (``page_concurrency=1``): how the pull worked before, and
  what a sequential client (such as servicepytan) does;
- the floor: bare httpx + ``.json()`` doing the same concurrent pages inside the same rate budget
  (a 60/s token bucket written here, not the client's).
``ratio`` is client / floor (goal ≤ 1.2); ``speedup_vs_sequential`` is sequential / client
(goal ≥ 2 with 40 ms latency). ``cpu_ratio`` is the client's CPU against the floor's.

    uv run python benchmarks/servicetitan_client.py --latency-ms 40   # 10,000 invoices
    uv run python benchmarks/servicetitan_client.py --quick           # 2,000, demo seed

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from posplus_tui.servicetitan.sandbox import Sandbox

Timing = tuple[float, float, int]  # wall seconds, CPU seconds (whole process), invoices


async def via_client(
    sandbox: Sandbox, url: str, n: int, page_size: int, concurrency: int
) -> Timing:
    async with sandbox.client_for(url, page_concurrency=concurrency) as st:
        await st.list_payment_types()  # token fetched outside the timing
        start, cpu = time.perf_counter(), time.process_time()
        count = 0
        async for _inv in st.iter_invoices(page_size=page_size):
            count += 1
            if count >= n:
                break
        return time.perf_counter() - start, time.process_time() - cpu, count


class Bucket:
    """The floor's rate budget: ``rate`` calls a second, ``burst`` at once (as the API allows)."""

    def __init__(self, rate: float = 60.0, burst: float = 10.0) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self) -> None:
        async with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


async def via_httpx(sandbox: Sandbox, url: str, n: int, page_size: int, concurrency: int) -> Timing:
    c = sandbox.credentials
    bucket = Bucket()
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        tok = (
            await http.post(
                "/connect/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": c.client_id,
                    "client_secret": c.client_secret,
                },
            )
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {tok}", "ST-App-Key": c.app_key}
        path = f"/accounting/v2/tenant/{c.tenant_id}/invoices"

        async def get(page: int, total: bool = False) -> dict:  # type: ignore[type-arg]
            await bucket.take()
            params: dict[str, object] = {"page": page, "pageSize": page_size}
            if total:
                params["includeTotal"] = "true"
            r = await http.get(path, params=params, headers=headers)  # type: ignore[arg-type]
            r.raise_for_status()
            return r.json()  # type: ignore[no-any-return]

        start, cpu = time.perf_counter(), time.process_time()
        first = await get(1, total=True)
        count = min(len(first["data"]), n)
        last = min(-(-int(first["totalCount"]) // page_size), -(-n // page_size))
        page = 2
        window: deque[asyncio.Task[dict]] = deque()  # type: ignore[type-arg]
        while count < n and (page <= last or window):
            while page <= last and len(window) < concurrency:
                window.append(asyncio.ensure_future(get(page)))
                page += 1
            body = await window.popleft()
            count += min(len(body["data"]), n - count)
        for task in window:
            task.cancel()
        return time.perf_counter() - start, time.process_time() - cpu, count


@contextmanager
def served_in_own_process(seed: int, size: str, latency_ms: float) -> Iterator[str]:
    """``posplus sandbox serve`` on a free loopback port; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "posplus_tui", "sandbox", "serve", "--port", "0",
         "--seed", str(seed), "--size", size, "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if " listening on " in line:
                yield line.rsplit(" ", 1)[1].strip()
                return
        raise RuntimeError("the sandbox server stopped before it was listening")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 invoices from the demo seed")
    parser.add_argument("--invoices", type=int, default=None)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=4, help="pages in flight (4)")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay the served sandbox adds (0)"
    )
    parser.add_argument(
        "--base-url", default=None, help="pull from a sandbox already served at this URL"
    )
    parser.add_argument("--seed", type=int, default=1, help="the served sandbox's --seed (1)")
    parser.add_argument(
        "--in-thread", action="store_true", help="serve the sandbox from a thread of this process"
    )
    args = parser.parse_args()
    n = args.invoices or (2_000 if args.quick else 10_000)
    rounds = args.rounds or (1 if args.quick else 5)
    size = "demo" if args.quick else "large"
    t0 = time.perf_counter()
    # The credentials (all this process needs of a sandbox served elsewhere) come from the seed.
    sandbox = Sandbox(
        seed=args.seed, size="demo" if args.base_url else size, latency_ms=args.latency_ms
    )
    build_s = time.perf_counter() - t0
    # Here the sandbox's records would share our heap: freeze them so both arms pay only for
    # their own objects.
    gc.collect()
    gc.freeze()
    times: dict[str, list[float]] = {"client": [], "sequential": [], "bare": []}
    cpu: dict[str, list[float]] = {"client": [], "sequential": [], "bare": []}
    counts: set[int] = set()
    if args.base_url:
        serving: Any = contextlib.nullcontext(args.base_url.rstrip("/"))
    elif args.in_thread:
        serving = sandbox.serve_in_thread()
    else:
        serving = served_in_own_process(args.seed, size, args.latency_ms)
    arms = {
        "client": lambda url: via_client(sandbox, url, n, args.page_size, args.concurrency),
        "sequential": lambda url: via_client(sandbox, url, n, args.page_size, 1),
        "bare": lambda url: via_httpx(sandbox, url, n, args.page_size, args.concurrency),
    }
    with serving as url:
        for r in range(rounds):
            # rotate which arm goes first, so drift on a busy machine hits all alike
            order = list(arms)[r % 3 :] + list(arms)[: r % 3]
            line = []
            for name in order:
                wall, used, count = asyncio.run(arms[name](url))
                times[name].append(wall)
                cpu[name].append(used)
                counts.add(count)
                line.append(f"{name} {wall:.3f}s (cpu {used:.3f}s)")
            print(f"round {r + 1}: " + ", ".join(line))
    if len(counts) != 1:
        raise SystemExit(f"the arms read different numbers of invoices: {sorted(counts)}")
    count = counts.pop()
    med = {k: statistics.median(v) for k, v in times.items()}
    # Each round's arms ran back to back: the median of per-round ratios cancels most of the
    # load from other processes.
    ratio = statistics.median(c / b for c, b in zip(times["client"], times["bare"], strict=True))
    speedup = statistics.median(
        s / c for s, c in zip(times["sequential"], times["client"], strict=True)
    )
    result = {
        "benchmark": "servicetitan_client",
        "invoices": count,
        "page_size": args.page_size,
        "concurrency": args.concurrency,
        "latency_ms": args.latency_ms,
        "rounds": rounds,
        "sandbox_served": (
            f"at {args.base_url}"
            if args.base_url
            else "in a thread"
            if args.in_thread
            else "in its own process"
        ),
        "client_s": round(med["client"], 4),
        "sequential_client_s": round(med["sequential"], 4),
        "bare_httpx_s": round(med["bare"], 4),
        "ratio": round(ratio, 3),
        "goal_ratio": 1.2,
        "speedup_vs_sequential": round(speedup, 2),
        "goal_speedup_at_40ms": 2.0,
        "cpu_ratio": round(statistics.median(cpu["client"]) / statistics.median(cpu["bare"]), 3),
        "client_invoices_per_s": round(count / med["client"], 1),
        "sequential_invoices_per_s": round(count / med["sequential"], 1),
        "bare_invoices_per_s": round(count / med["bare"], 1),
        "sandbox_build_s": round(build_s, 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
