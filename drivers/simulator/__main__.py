"""``python -m drivers.simulator (--tcp HOST:PORT | --pty) [--baud N] [--fault NAME[:COUNT] …]``

Prints where it listens as the first line on stdout (``poslink+tcp://127.0.0.1:PORT`` or
``poslink+serial:///dev/pts/N?baud=N``) so a parent process can read it, then serves until killed.
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
from typing import TYPE_CHECKING

from drivers.simulator.faults import FAULTS
from drivers.simulator.model import Simulator

if TYPE_CHECKING:
    from drivers.simulator.pty import PtySimServer
    from drivers.simulator.servers import TcpSimServer

ALWAYS = 10**9  # a fault count that never runs out


def parse_hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(
            f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:10009, port 0 picks a free one)"
        )
    value = int(port)
    if not 0 <= value <= 65535:
        raise ValueError(f"port {value} is out of range 0–65535")
    return host.strip("[]"), value


def parse_fault(text: str) -> tuple[str, int]:
    name, _, count = text.partition(":")
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}: choose from {', '.join(FAULTS)}")
    if count == "*":
        return name, ALWAYS
    if count and (not count.isdigit() or int(count) < 1):
        raise ValueError(f"fault count {count!r} must be a positive number or '*'")
    return name, int(count or 1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP (port 0: any free port)")
    where.add_argument("--pty", action="store_true", help="serve on a new pseudo-terminal (POSIX)")
    parser.add_argument(
        "--baud",
        type=int,
        default=None,
        help="line speed to honour, 10 bits per byte (pty: default 9600; tcp: unpaced unless given)",
    )
    parser.add_argument("--delay-ms", type=int, default=0, help="host processing delay")
    parser.add_argument("--card-wait-ms", type=int, default=0, help="time the cardholder takes")
    parser.add_argument(
        "--slow-ms", type=int, default=1500, help="delay added by the slow_reply fault"
    )
    parser.add_argument(
        "--control-stdin",
        action="store_true",
        help="read commands on stdin: 'fault NAME [COUNT]', 'clear', 'records' (one JSON line each)",
    )
    parser.add_argument(
        "--fault",
        action="extend",
        nargs="+",
        default=[],
        metavar="NAME[:COUNT]",
        help=f"faults armed at start, COUNT times each (default 1, '*' for always): {', '.join(FAULTS)}",
    )


async def run(args: argparse.Namespace, announce: Callable[[str], object] = print) -> None:
    if not args.tcp and not args.pty:
        raise ValueError("say where to serve: --tcp HOST:PORT (port 0: any free one) or --pty")
    faults = [parse_fault(f) for f in args.fault]
    if args.baud is not None and not 50 <= args.baud <= 4_000_000:
        raise ValueError(f"--baud {args.baud}: give a line speed such as 9600 or 115200")
    for name in ("delay_ms", "card_wait_ms", "slow_ms"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must not be negative")
    baud = args.baud if args.baud else (9600 if args.pty else None)
    sim = Simulator(
        delay_ms=args.delay_ms, card_wait_ms=args.card_wait_ms, slow_ms=args.slow_ms, baud=baud
    )
    for name, count in faults:
        sim.inject(name, count)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    server: TcpSimServer | PtySimServer
    if args.tcp:
        from drivers.simulator.servers import serve_tcp

        host, port = parse_hostport(args.tcp)
        server = await serve_tcp(sim, host, port)
        announce(server.url)
    else:
        from drivers.simulator.pty import serve_pty

        server = await serve_pty(sim, baud or 9600)
        announce(server.url)
    if getattr(args, "control_stdin", False):
        _start_control(sim, loop, stop)
    try:
        await stop.wait()
    finally:
        await server.close()


def control(sim: Simulator, line: str) -> str:
    """One control command for a simulator in another process; returns one JSON line."""
    words = line.split()
    try:
        if not words:
            return json.dumps({"ok": True})
        if words[0] == "fault" and len(words) in (2, 3):
            name, count = parse_fault(words[1] + (f":{words[2]}" if len(words) == 3 else ""))
            sim.inject(name, count)
            return json.dumps({"ok": True, "faults": sim.faults})
        if words[0] == "clear":
            sim.clear_faults()
            return json.dumps({"ok": True})
        if words[0] == "records":
            records = [
                {
                    "ecr_ref": r.ecr_ref,
                    "type": r.txn_type,
                    "result": r.result_code,
                    "approved_cents": r.approved_cents,
                    "host_ref": r.host_ref,
                    "batch": r.batch,
                    "voided": r.voided,
                    "refunded_cents": r.refunded_cents,
                }
                for r in sim.records.values()
            ]
            return json.dumps({"ok": True, "records": records})
    except ValueError as exc:
        return json.dumps({"ok": False, "error": str(exc)})
    return json.dumps(
        {
            "ok": False,
            "error": f"unknown command {line.strip()!r}: fault NAME [COUNT] | clear | records",
        }
    )


def _start_control(sim: Simulator, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Stdin is read in a thread (portable); each command runs on the loop."""

    def reader() -> None:
        for line in sys.stdin:
            done = threading.Event()

            def run(text: str = line, finished: threading.Event = done) -> None:
                print(control(sim, text), flush=True)
                finished.set()

            loop.call_soon_threadsafe(run)
            done.wait(5)
        loop.call_soon_threadsafe(stop.set)  # stdin closed: the parent is gone

    threading.Thread(target=reader, name="sim-control", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m drivers.simulator", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        asyncio.run(run(args, announce=lambda text: print(text, flush=True)))
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
