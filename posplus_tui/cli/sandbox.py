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
    serve.add_argument(
        "--latency-ms", type=float, default=0.0,
        help="delay added to every response, as a wide-area network adds it (0)",
    )  # fmt: skip
    serve.set_defaults(func=_serve)
    fault = sb_sub.add_parser(
        "fault", help="make a running sandbox misbehave (for training and manual tests)"
    )
    fault.add_argument(
        "kind",
        help="what to do: an HTTP status for the next calls (408, 429, 500, 502, …), slow "
        "replies, drop (save, then cut the reply), commit-status / commit-empty / "
        "commit-malformed (save, then answer --status, an empty body or a broken one), "
        "late-visibility (new payments show in lists and exports --seconds later), post-off, "
        "post-on, revoke-scope (--scope, e.g. tn.settings.employees:r: as an app made "
        "without it), expire-tokens, delete-invoice, clear, or state (just show it)",
    )
    fault.add_argument("--url", required=True, help="the sandbox base URL it printed")
    fault.add_argument("--app-key", required=True, help="the sandbox app key it printed")
    fault.add_argument("--count", type=int, default=1, help="how many calls (1)")
    fault.add_argument("--seconds", type=float, default=5.0, help="delay for 'slow' (5)")
    fault.add_argument("--retry-after", default=None, help="Retry-After for 429 (1)")
    fault.add_argument("--invoice-id", type=int, help="for delete-invoice: the invoice id")
    fault.add_argument("--scope", help="for revoke-scope: the scope the app loses")
    fault.add_argument("--method", help="only calls with this HTTP method (GET, POST, PATCH)")
    fault.add_argument(
        "--path", help="only calls whose path contains this (e.g. /payments, /invoices)"
    )
    fault.add_argument(
        "--status", type=int, default=None,
        help="for commit-*: the status of the reply after saving (commit-status: 500)",
    )  # fmt: skip
    fault.set_defaults(func=_fault)
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
    if not 0 <= args.latency_ms <= 60_000:
        raise CliError(
            f"--latency-ms {args.latency_ms:g} is out of range: use 0 to 60000 milliseconds.", 2
        )
    sandbox = Sandbox(
        seed=args.seed, size=args.size, rate_per_second=args.rate or None,
        token_ttl=args.token_ttl, latency_ms=args.latency_ms,
    )  # fmt: skip
    c = sandbox.credentials
    url = base_url_for(sock)
    if args.latency_ms:
        print(f"Every response waits {args.latency_ms:g} ms, as over a wide-area network.")
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


FAULT_KINDS = (
    "slow", "drop", "commit-status", "commit-empty", "commit-malformed", "late-visibility",
    "post-off", "post-on", "revoke-scope", "expire-tokens", "delete-invoice", "clear", "state",
)  # fmt: skip


def _fault(args: argparse.Namespace) -> int:
    import httpx

    if args.kind not in FAULT_KINDS and not (args.kind.isdigit() and 100 <= int(args.kind) <= 599):
        raise CliError(
            f"Unknown fault {args.kind!r}: use an HTTP status (e.g. 408, 429, 500) or one of "
            f"{', '.join(FAULT_KINDS)}.",
            2,
        )

    base = args.url.rstrip("/")
    headers = {"ST-App-Key": args.app_key}
    try:
        if args.kind == "state":
            resp = httpx.get(f"{base}/_sandbox/state", headers=headers, timeout=10)
        else:
            if args.kind == "delete-invoice" and args.invoice_id is None:
                raise CliError(
                    "delete-invoice needs --invoice-id ID (the API id, not the number).", 2
                )
            if args.kind == "revoke-scope" and not args.scope:
                raise CliError("revoke-scope needs --scope, e.g. tn.settings.employees:r.", 2)
            order = {
                "kind": args.kind,
                "scope": args.scope,
                "count": args.count,
                "seconds": args.seconds,
                "retry_after": args.retry_after,
                "invoice_id": args.invoice_id,
                "method": args.method.upper() if args.method else None,
                "path_contains": args.path,
                "status": args.status,
            }
            resp = httpx.post(f"{base}/_sandbox/faults", json=order, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise CliError(f"Cannot reach the sandbox at {base} ({exc}). Is it running?", 3) from exc
    body = resp.json() if resp.headers.get("content-type", "").startswith("application/") else {}
    if resp.status_code != 200:
        raise CliError(f"The sandbox refused: {body.get('message') or resp.status_code}.", 2)
    if args.kind == "state":
        for key, value in body.items():
            print(f"{key}: {value}")
    else:
        print(f"Sandbox: {body['applied']}.")
    return 0
