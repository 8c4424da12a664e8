"""Terminal round trip versus the wire: sales through the real driver to the simulator over a pty.

For each line speed the simulator runs in its own process (``python -m drivers.simulator --pty``),
paced at 10 bits per byte, with zero processing delay and no card wait. Each sale's round trip runs
the whole exchange — request → ACK → reply → ACK → the terminal's EOT — and is divided by the wire
time of every byte of it (both ways × 10 / baud; they follow one another): 1.0 would be a driver that
adds nothing to the line. Goals: ≤ 1.05 at 9600, ≤ 1.2 at 115200 (median).

    uv run python benchmarks/terminal.py [--quick] [--protocol poslink|spin|all]

Dejavoo SPIn (HTTP): the SPIn simulator runs in its own process; each driver sale (codec, httpx,
a fresh connection, reply checks) is timed against the simulator's own response time for the
same request sent as raw bytes on a bare socket (connect, write, read to close), the two
interleaved so load affects both alike. ``spin.median_ratio`` is the driver's overhead factor
(1.0: the driver adds nothing); goal ≤ 1.5.

The last line is one JSON object. The figures are latencies, so a machine busy with other work
inflates them; the JSON records the load average before the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers import Approved, open_terminal
from drivers.poslink.terminal import PosLinkTerminal
from drivers.trace import FrameTrace

GOALS = {9600: 1.05, 115200: 1.2}
SPIN_GOAL = 1.5


def waited_for(traces: list[FrameTrace]) -> int:
    """Bytes of the whole exchange, each of which the next waits for: the request frame, the
    terminal's ACK, its reply, our ACK and the terminal's closing EOT."""
    return sum(t.size for t in traces if t.kind != "note")


async def measure(baud: int, sales: int) -> dict[str, float | int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drivers.simulator",
        "--pty",
        "--baud",
        str(baud),
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        traces: list[FrameTrace] = []
        terminal = open_terminal(f"{url}&timeout=10&ack_timeout=3", trace=traces.append)
        assert isinstance(terminal, PosLinkTerminal)
        await terminal.initialize()
        for i in range(3):  # warm-up: imports, thread start
            await terminal.sale(1000, f"W{baud}{i}")
        ratios: list[float] = []
        trips: list[float] = []
        sizes: list[int] = []
        for i in range(sales):
            traces.clear()
            started = time.perf_counter()
            result = await terminal.sale(1000 + (i % 50) * 100, f"B{baud}{i:06d}")
            elapsed = time.perf_counter() - started
            if not isinstance(result, Approved):
                raise RuntimeError(f"sale {i} at {baud} baud: {result}")
            size = waited_for(traces)
            ratios.append(elapsed / (size * 10 / baud))
            trips.append(elapsed)
            sizes.append(size)
        await terminal.close()
    finally:
        proc.terminate()
        await proc.wait()
    return {
        "baud": baud,
        "sales": sales,
        "median_ratio": round(statistics.median(ratios), 4),
        "p90_ratio": round(statistics.quantiles(ratios, n=10)[-1], 4),
        "median_round_trip_ms": round(statistics.median(trips) * 1000, 3),
        "wire_ms": round(statistics.median(sizes) * 10 / baud * 1000, 3),
        "bytes_per_sale": int(statistics.median(sizes)),
        "goal": GOALS[baud],
        "meets_goal": statistics.median(ratios) <= GOALS[baud],
    }


async def _raw_exchange(host: str, port: int, request: bytes) -> bytes:
    """The floor: one request as bytes on a bare socket, read to the server's close."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request)
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


async def measure_spin(sales: int) -> dict[str, float | int | bool]:
    from drivers.spin import codec
    from drivers.spin.terminal import SpinTerminal

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drivers.spin.simulator",
        "--port",
        "0",
        "--authkey",
        "BENCHKEY00",
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        terminal = open_terminal(f"{url}&timeout=10", authkey="BENCHKEY00")
        assert isinstance(terminal, SpinTerminal)
        host, port = url.removeprefix("spin+http://").split("?")[0].rsplit(":", 1)
        creds = codec.Credentials(terminal.options.tpn, "BENCHKEY00")

        def raw_request(ref: str) -> bytes:
            req = codec.sale(creds, ref, 1000)
            head = (
                f"POST {req.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(req.body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            return head.encode() + req.body

        for i in range(5):  # warm-up: imports, first connections
            await terminal.sale(1000, f"SW{i}")
            await _raw_exchange(host, int(port), raw_request(f"SRW{i}"))
        driver: list[float] = []
        floor: list[float] = []
        for i in range(sales):
            started = time.perf_counter()
            result = await terminal.sale(1000, f"SB{i:06d}")
            driver.append(time.perf_counter() - started)
            if not isinstance(result, Approved):
                raise RuntimeError(f"SPIn sale {i}: {result}")
            request = raw_request(f"SR{i:06d}")
            started = time.perf_counter()
            reply = await _raw_exchange(host, int(port), request)
            floor.append(time.perf_counter() - started)
            if b'"0000"' not in reply:
                raise RuntimeError(f"raw SPIn sale {i}: {reply[:200]!r}")
        await terminal.close()
    finally:
        proc.terminate()
        await proc.wait()
    ratio = statistics.median(driver) / statistics.median(floor)
    return {
        "sales": sales,
        "median_driver_ms": round(statistics.median(driver) * 1000, 3),
        "median_simulator_ms": round(statistics.median(floor) * 1000, 3),
        "median_overhead_ms": round(
            (statistics.median(driver) - statistics.median(floor)) * 1000, 3
        ),
        "median_ratio": round(ratio, 4),
        "goal": SPIN_GOAL,
        "meets_goal": ratio <= SPIN_GOAL,
    }


async def main(quick: bool, protocol: str = "all") -> dict[str, object]:
    out: dict[str, object] = {"benchmark": "terminal", "quick": quick, "cpus": os.cpu_count()}
    if hasattr(os, "getloadavg"):  # the ratios are latency figures: a busy machine inflates them
        out["load_average_before"] = round(os.getloadavg()[0], 2)
    if protocol in ("all", "spin"):
        spin = await measure_spin(30 if quick else 200)
        print(
            f"  SPIn: median driver sale {spin['median_driver_ms']} ms, simulator alone "
            f"{spin['median_simulator_ms']} ms → ratio {spin['median_ratio']} (goal ≤ {SPIN_GOAL})",
            flush=True,
        )
        out["spin"] = spin
        out["ratio_spin"] = spin["median_ratio"]
        if protocol == "spin":
            out["meets_goals"] = spin["meets_goal"]
            return out
    for baud, sales in ((9600, 15 if quick else 60), (115200, 40 if quick else 200)):
        res = await measure(baud, sales)
        print(
            f"{baud:>6} baud: median round trip {res['median_round_trip_ms']} ms for {res['bytes_per_sale']} "
            f"bytes ({res['wire_ms']} ms on the wire) → ratio {res['median_ratio']} (goal ≤ {res['goal']})",
            flush=True,
        )
        out[str(baud)] = res
    out["ratio_9600"] = out["9600"]["median_ratio"]  # type: ignore[index]
    out["ratio_115200"] = out["115200"]["median_ratio"]  # type: ignore[index]
    out["meets_goals"] = all(out[str(b)]["meets_goal"] for b in GOALS) and (  # type: ignore[index]
        protocol != "all" or bool(out["spin"]["meets_goal"])  # type: ignore[index]
    )
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sales (a few seconds)")
    parser.add_argument("--protocol", choices=("all", "poslink", "spin"), default="all")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.quick, args.protocol))))
