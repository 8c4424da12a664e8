"""``python -m drivers.spin.simulator [--port PORT] [--tpn TPN] [--authkey KEY] [--fault NAME[:N]]
[--control-stdin]``

Serves the SPIn simulator on 127.0.0.1 and prints its driver URL (``spin+http://…?tpn=…``) as the
first stdout line, then serves until killed. The auth key is never printed. With
``--control-stdin`` it takes ``fault NAME [COUNT]``, ``clear`` and ``records`` (what it approved)
on stdin, answers one JSON line each, and stops when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from drivers.spin.simulator.faults import FAULTS
from drivers.spin.simulator.http import serve_spin
from drivers.spin.simulator.model import SpinSimulator

ALWAYS = 10**9
DEFAULT_TPN = "SIMTPN000001"
DEFAULT_AUTHKEY = "SIMAUTHKEY"


def parse_fault(text: str) -> tuple[str, int]:
    name, _, count = text.partition(":")
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}: choose from {', '.join(FAULTS)}")
    if count == "*":
        return name, ALWAYS
    if count and (not count.isdigit() or int(count) < 1):
        raise ValueError(f"fault count {count!r} must be a positive number or '*'")
    return name, int(count or 1)


def add_spin_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None, help="SPIn: port on 127.0.0.1 (0: any)")
    parser.add_argument("--tpn", default=DEFAULT_TPN, help=f"SPIn: the TPN (default {DEFAULT_TPN})")
    parser.add_argument(
        "--authkey",
        default=None,
        help="SPIn: the auth key the simulator accepts (default: POSPLUS_TERMINAL_AUTHKEY, "
        f"else {DEFAULT_AUTHKEY})",
    )
    parser.add_argument(
        "--proxy-timeout-ms",
        type=int,
        default=120_000,
        help="SPIn: when the proxy gives up (2007) if a request names no SPInProxyTimeout",
    )


def make_simulator(args: argparse.Namespace, authkey: str) -> SpinSimulator:
    port = 0 if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise ValueError(f"--port {port} is out of range 0–65535")
    if not args.tpn.isascii() or not args.tpn.isalnum() or len(args.tpn) > 20:
        raise ValueError(f"--tpn {args.tpn!r}: letters and digits, at most 20")
    if not authkey or not authkey.isprintable() or len(authkey) > 64:
        raise ValueError("--authkey: give the key as plain text (at most 64 characters)")
    for name in ("card_wait_ms", "delay_ms", "slow_ms", "proxy_timeout_ms"):
        if getattr(args, name, 0) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must not be negative")
    sim = SpinSimulator(
        tpn=args.tpn,
        authkey=authkey,
        card_wait_ms=args.card_wait_ms,
        delay_ms=args.delay_ms,
        slow_ms=args.slow_ms,
        proxy_timeout_ms=args.proxy_timeout_ms,
    )
    for name, count in (parse_fault(f) for f in args.fault):
        sim.inject(name, count)
    return sim


def control(sim: SpinSimulator, line: str) -> str:
    """One control command (``fault NAME [COUNT]``, ``clear``, ``records``): one JSON line back.
    ``records`` lists what the simulator approved and its open batch."""
    words = line.split()
    try:
        if not words:
            return json.dumps({"ok": True})
        if words[0] == "fault" and len(words) in (2, 3):
            name, count = parse_fault(words[1] + (f":{words[2]}" if len(words) == 3 else ""))
            sim.inject(name, count)
            return json.dumps({"ok": True, "faults": sim.faults})
        if words[0] == "clear" and len(words) == 1:
            sim.clear_faults()
            return json.dumps({"ok": True})
        if words[0] == "records" and len(words) == 1:
            approvals = [{"type": k, "reference_id": r, "cents": c} for k, r, c in sim.approvals]
            batch = [
                {
                    "reference_id": r.ref,
                    "type": r.kind,
                    "status_code": r.status_code,
                    "approved_cents": r.approved_cents,
                    "voided": r.voided,
                }
                for r in sim.records.values()
            ]
            return json.dumps({"ok": True, "approvals": approvals, "batch": batch})
    except ValueError as exc:
        return json.dumps({"ok": False, "error": str(exc)})
    return json.dumps(
        {
            "ok": False,
            "error": f"unknown command {line.strip()!r}: fault NAME [COUNT] | clear | records",
        }
    )


def _start_control(
    sim: SpinSimulator, loop: asyncio.AbstractEventLoop, stop: asyncio.Event
) -> None:
    """Stdin is read in a thread (portable); each command runs on the simulator's loop."""

    def reader() -> None:
        for line in sys.stdin:
            done = threading.Event()

            def run_one(text: str = line, finished: threading.Event = done) -> None:
                print(control(sim, text), flush=True)
                finished.set()

            loop.call_soon_threadsafe(run_one)
            done.wait(5)
        loop.call_soon_threadsafe(stop.set)  # stdin closed: the parent is gone

    threading.Thread(target=reader, name="spin-sim-control", daemon=True).start()


async def run(
    args: argparse.Namespace, authkey: str, announce: Callable[[str], object] = print
) -> None:
    sim = make_simulator(args, authkey)
    server = await serve_spin(sim, "127.0.0.1", 0 if args.port is None else args.port)
    announce(server.url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if getattr(args, "control_stdin", False):
        _start_control(sim, loop, stop)
    try:
        await stop.wait()
    finally:
        await server.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drivers.spin.simulator")
    add_spin_arguments(parser)
    parser.add_argument("--card-wait-ms", type=int, default=0)
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--slow-ms", type=int, default=1500)
    parser.add_argument("--fault", action="extend", nargs="+", default=[], metavar="NAME[:COUNT]")
    parser.add_argument("--control-stdin", action="store_true")
    args = parser.parse_args(argv)
    try:
        asyncio.run(run(args, args.authkey or DEFAULT_AUTHKEY, lambda t: print(t, flush=True)))
    except ValueError as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"simulator: cannot listen: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
