"""``python -m drivers.simulator (--tcp HOST:PORT | --pty) [--baud N] [--fault NAME[:COUNT] …]``

Prints where it listens as the first line on stdout (``poslink+tcp://127.0.0.1:PORT`` or
``poslink+serial:///dev/pts/N?baud=N``) so a parent process can read it, then serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from drivers.simulator.faults import FAULTS
from drivers.simulator.model import Simulator


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
    if count and (not count.isdigit() or int(count) < 1):
        raise ValueError(f"fault count {count!r} must be a positive number")
    return name, int(count or 1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP (port 0: any free port)")
    where.add_argument("--pty", action="store_true", help="serve on a new pseudo-terminal (POSIX)")
    parser.add_argument(
        "--baud", type=int, default=None, help="line speed to honour (pty default 9600)"
    )
    parser.add_argument("--delay-ms", type=int, default=0, help="host processing delay")
    parser.add_argument("--card-wait-ms", type=int, default=0, help="time the cardholder takes")
    parser.add_argument(
        "--slow-ms", type=int, default=1500, help="delay added by the slow_reply fault"
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[:COUNT]",
        help=f"inject a fault at start ({', '.join(FAULTS)})",
    )


async def run(args: argparse.Namespace, announce=print) -> None:
    faults = [parse_fault(f) for f in args.fault]
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
    if args.tcp:
        from drivers.simulator.servers import serve_tcp

        host, port = parse_hostport(args.tcp)
        server = await serve_tcp(sim, host, port)
        announce(server.url)
    else:
        from drivers.simulator.pty import serve_pty

        server = await serve_pty(sim, baud or 9600)
        announce(server.url)
    try:
        await stop.wait()
    finally:
        await server.close()


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
