"""``posplus sandbox serve``: the local ServiceTitan over real HTTP, for training and tests."""

from __future__ import annotations

import argparse
import contextlib
import sys

from posplus_tui.cli.common import CliError


def register(sub: argparse._SubParsersAction) -> None:
    sb = sub.add_parser("sandbox", help="run the local ServiceTitan sandbox")
    sb_sub = sb.add_subparsers(dest="sandbox_command", metavar="ACTION")
    serve = sb_sub.add_parser(
        "serve", help="serve the sandbox API over HTTP and print the credentials to use"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port (8765; 0 picks a free one)")
    serve.add_argument("--seed", type=int, default=1, help="seed for the data (1)")
    serve.add_argument(
        "--size", choices=("demo", "large"), default="demo",
        help="demo: ~2,400 invoices; large: 100,000+ invoices",
    )  # fmt: skip
    serve.add_argument(
        "--rate", type=float, default=60.0,
        help="requests per second per tenant before 429 (60; 0 turns the limit off)",
    )  # fmt: skip
    serve.add_argument("--token-ttl", type=int, default=900, help="token lifetime in seconds")
    serve.set_defaults(func=_serve)
    sb.set_defaults(func=lambda args: sb.print_help() or 0)


def _serve(args: argparse.Namespace) -> int:
    from posplus_tui.servicetitan.sandbox import Sandbox
    from posplus_tui.servicetitan.sandbox.server import base_url_for, bind, serve_forever

    if not 0 <= args.port <= 65535:
        raise CliError(f"--port {args.port} is not a port; use 1–65535 (or 0 for a free one).", 2)
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        raise CliError(f"{exc}. Pick another --port, or stop what is using it.", 2) from exc
    sandbox = Sandbox(
        seed=args.seed, size=args.size, rate_per_second=args.rate or None, token_ttl=args.token_ttl
    )
    c = sandbox.credentials
    url = base_url_for(sock)
    print(f"ServiceTitan sandbox (seed {args.seed}, {args.size}) listening on {url}")
    print("Use these in Settings → ServiceTitan (environment: sandbox):")
    print(f"  base_url      = {url}")
    print(f"  token_url     = {url}/connect/token")
    print(f"  tenant_id     = {c.tenant_id}")
    print(f"  client_id     = {c.client_id}")
    print(f"  client_secret = {c.client_secret}")
    print(f"  app_key       = {c.app_key}")
    print(f"  POS+ payment type id = {sandbox.cases['pos_plus_type_id']}")
    print("Press Ctrl+C to stop.", flush=True)
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C is how a sandbox is meant to stop
        serve_forever(sandbox.app, sock, log_level="warning")
    print("Sandbox stopped.")
    return 0
