"""Benchmark: invoices pulled through ServiceTitanClient vs bare httpx, same pages, same run.

The sandbox is served over real loopback HTTP by ``posplus sandbox serve`` in its own process, as
the real API is: served from a thread of this process it would share the interpreter lock with
the client, and every microsecond of client work would also stall the server (``--in-thread``
measures that way, for comparison). Both arms fetch the same ``GET /invoices`` pages with the same
token; the client also builds typed models (Money, dates, addresses), goes through its rate
limiter and its retry wrapper. The floor is bare httpx + ``.json()``. ``cpu_ratio`` is the
client's own CPU time against the floor's: what the client costs beyond waiting for the API.

    uv run python benchmarks/servicetitan_client.py            # 10,000 invoices, large seed
    uv run python benchmarks/servicetitan_client.py --quick    # 2,000 invoices, demo seed

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from posplus_tui.servicetitan.sandbox import Sandbox

Timing = tuple[float, float, int]  # wall seconds, CPU seconds (whole process), invoices


async def via_client(sandbox: Sandbox, url: str, n: int, page_size: int) -> Timing:
    async with sandbox.client_for(url) as st:
        await st.list_payment_types()  # token fetched outside the timing
        start, cpu = time.perf_counter(), time.process_time()
        count = 0
        async for _inv in st.iter_invoices(page_size=page_size):
            count += 1
            if count >= n:
                break
        return time.perf_counter() - start, time.process_time() - cpu, count


async def via_httpx(sandbox: Sandbox, url: str, n: int, page_size: int) -> Timing:
    c = sandbox.credentials
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
        start, cpu = time.perf_counter(), time.process_time()
        count, page = 0, 1
        while count < n:
            r = await http.get(path, params={"page": page, "pageSize": page_size}, headers=headers)
            r.raise_for_status()
            body = r.json()
            count += min(len(body["data"]), n - count)
            if not body["hasMore"]:
                break
            page += 1
        return time.perf_counter() - start, time.process_time() - cpu, count


@contextmanager
def served_in_own_process(seed: int, size: str) -> Iterator[str]:
    """``posplus sandbox serve`` on a free loopback port; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "posplus_tui", "sandbox", "serve", "--port", "0",
         "--seed", str(seed), "--size", size],
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
    parser.add_argument(
        "--in-thread", action="store_true", help="serve the sandbox from a thread of this process"
    )
    args = parser.parse_args()
    n = args.invoices or (2_000 if args.quick else 10_000)
    rounds = args.rounds or (1 if args.quick else 9)
    size = "demo" if args.quick else "large"
    t0 = time.perf_counter()
    # The server limit stays at the documented 60 rps; the client's limiter stays on too.
    sandbox = Sandbox(seed=1, size=size)
    build_s = time.perf_counter() - t0
    # In real life the API's data lives in another process. Here the sandbox's 100,000-record
    # heap shares ours, and every full GC pass would walk it on the client's allocations:
    # freeze it so both arms pay only for their own objects.
    gc.collect()
    gc.freeze()
    print(f"sandbox ({size}) built in {build_s:.2f}s; {len(sandbox.data.invoices)} invoices")
    client_times: list[float] = []
    bare_times: list[float] = []
    client_cpu: list[float] = []
    bare_cpu: list[float] = []
    serving = sandbox.serve_in_thread() if args.in_thread else served_in_own_process(1, size)
    with serving as url:
        for r in range(rounds):
            # alternate which arm goes first, so drift on a busy machine hits both alike
            if r % 2 == 0:
                bt, bc, bn = asyncio.run(via_httpx(sandbox, url, n, args.page_size))
                ct, cc, cn = asyncio.run(via_client(sandbox, url, n, args.page_size))
            else:
                ct, cc, cn = asyncio.run(via_client(sandbox, url, n, args.page_size))
                bt, bc, bn = asyncio.run(via_httpx(sandbox, url, n, args.page_size))
            assert bn == cn == min(n, len(sandbox.data.invoices)), (bn, cn)
            bare_times.append(bt)
            client_times.append(ct)
            bare_cpu.append(bc)
            client_cpu.append(cc)
            print(
                f"round {r + 1}: client {ct:.3f}s (cpu {cc:.3f}s), "
                f"bare httpx {bt:.3f}s (cpu {bc:.3f}s), ratio {ct / bt:.3f}"
            )
    client_s = statistics.median(client_times)
    bare_s = statistics.median(bare_times)
    # Each round's two arms ran back to back: the median of per-round ratios cancels most of
    # the load from other processes.
    ratio = statistics.median(c / b for c, b in zip(client_times, bare_times, strict=True))
    count = min(n, len(sandbox.data.invoices))
    result = {
        "benchmark": "servicetitan_client",
        "invoices": count,
        "page_size": args.page_size,
        "rounds": rounds,
        "sandbox_size": size,
        "sandbox_served": "in a thread" if args.in_thread else "in its own process",
        "client_s": round(client_s, 4),
        "bare_httpx_s": round(bare_s, 4),
        "ratio": round(ratio, 3),
        "ratio_of_medians": round(client_s / bare_s, 3),
        # CPU time of this process: the client's own work (with --in-thread, the server's too)
        "cpu_ratio": round(statistics.median(client_cpu) / statistics.median(bare_cpu), 3),
        "goal_ratio": 1.2,
        "client_invoices_per_s": round(count / client_s, 1),
        "bare_invoices_per_s": round(count / bare_s, 1),
        "sandbox_build_s": round(build_s, 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
