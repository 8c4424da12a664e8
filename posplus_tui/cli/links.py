"""``posplus links sandbox …``: the local Stripe-shaped sandbox for payment links, over real HTTP.

``serve`` prints the base URL and the test secret key to put in Settings (and to hand to the
official ``stripe`` SDK: ``StripeClient(key, base_addresses={"api": url})``); ``fault`` and
``pay`` drive a running one from another terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from posplus_tui.cli.common import CliError

FAULTS = (
    "slow", "status", "commit-500", "commit-empty", "commit-truncated", "commit-drop",
    "late-events", "clear", "state",
)  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    links = sub.add_parser("links", help="payment links: the local Stripe sandbox")
    links_sub = links.add_subparsers(dest="links_command", metavar="ACTION")
    sb = links_sub.add_parser("sandbox", help="run or drive the local Stripe-shaped sandbox")
    sb_sub = sb.add_subparsers(dest="links_sandbox_command", metavar="ACTION")

    serve = sb_sub.add_parser(
        "serve", help="serve the sandbox (API and hosted payment page) and print its test key"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=12111, help="port (12111; 0 picks a free one)")
    serve.add_argument(
        "--key", default=None, help="the sk_test_… key to accept (default: a new random one)"
    )
    serve.set_defaults(func=_serve)

    fault = sb_sub.add_parser("fault", help="make a running sandbox misbehave")
    fault.add_argument(
        "kind",
        help="slow (wait --seconds), status (answer --status, do nothing), commit-500 / "
        "commit-empty / commit-truncated / commit-drop (do it, then spoil the reply), "
        "late-events (new events listable --seconds later; 0 stops), clear, or state",
    )
    _target(fault)
    fault.add_argument("--count", type=int, default=1, help="how many calls (1)")
    fault.add_argument("--seconds", type=float, default=5.0, help="for slow / late-events (5)")
    fault.add_argument("--status", type=int, default=500, help="for status (500)")
    fault.add_argument("--method", help="only calls with this HTTP method (GET, POST)")
    fault.add_argument("--path", help="only calls whose path contains this (e.g. /v1/refunds)")
    fault.set_defaults(func=_fault)

    pay = sb_sub.add_parser(
        "pay", help="pay (or decline) a link without a browser, as a test customer would"
    )
    pay.add_argument("link_id", help="the payment link id (plink_…)")
    pay.add_argument("--decline", action="store_true", help="use the declining test card")
    _target(pay)
    pay.set_defaults(func=_pay)

    sb.set_defaults(func=lambda args: sb.print_help() or 0)
    links.set_defaults(func=lambda args: links.print_help() or 0)


def _target(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", required=True, help="the sandbox base URL it printed")
    p.add_argument("--key", required=True, help="the sandbox's sk_test_… key it printed")


def _serve(args: argparse.Namespace) -> int:
    from gateways.stripe.sandbox import StripeSandboxApp, base_url_for, bind, serve_forever

    if not 0 <= args.port <= 65535:
        raise CliError(f"--port {args.port} is not a port; use 1–65535 (or 0 for a free one).", 2)
    if args.key is not None and (not args.key.startswith("sk_test_") or len(args.key) < 16):
        raise CliError(
            "--key must be a test secret key: sk_test_ and at least 8 more characters.", 2
        )
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        raise CliError(f"{exc}. Pick another --port, or stop what is using it.", 2) from exc
    app = StripeSandboxApp(secret_key=args.key)
    url = base_url_for(sock)
    print(f"Stripe sandbox (payment links) listening on {url}")
    print("Use these in Settings → Payment links (provider: stripe):")
    print(f"  base_url   = {url}")
    print(f"  secret_key = {app.secret_key}")
    print("Test cards: 4242 4242 4242 4242 approves, 4000 0000 0000 0002 declines.")
    print("Press Ctrl+C to stop.", flush=True)
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C is how a sandbox is meant to stop
        serve_forever(app, sock, log_level="warning")
    print("Sandbox stopped.")
    return 0


def _post(args: argparse.Namespace, action: str, data: dict[str, str]) -> dict:
    import httpx

    base = args.url.rstrip("/")
    headers = {"Authorization": f"Bearer {args.key}"}
    try:
        if action == "state":
            resp = httpx.get(f"{base}/_sandbox/state", headers=headers, timeout=10)
        else:
            resp = httpx.post(f"{base}/_sandbox/{action}", data=data, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise CliError(f"Cannot reach the sandbox at {base} ({exc}). Is it running?", 3) from exc
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code != 200:
        message = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
        raise CliError(f"The sandbox refused: {message or resp.status_code}.", 2)
    return body if isinstance(body, dict) else {}


def _fault(args: argparse.Namespace) -> int:
    if args.kind not in FAULTS:
        raise CliError(f"Unknown fault {args.kind!r}: use one of {', '.join(FAULTS)}.", 2)
    if args.count < 1:
        raise CliError("--count must be at least 1.", 2)
    if args.kind == "state":
        body = _post(args, "state", {})
    elif args.kind == "clear":
        body = _post(args, "faults/clear", {})
    elif args.kind == "late-events":
        body = _post(args, "late_events", {"seconds": str(args.seconds)})
    else:
        order = {
            "kind": args.kind,
            "count": str(args.count),
            "seconds": str(args.seconds),
            "status": str(args.status),
        }
        if args.method:
            order["method"] = args.method.upper()
        if args.path:
            order["path"] = args.path
        body = _post(args, "faults", order)
    for key, value in body.items():
        print(f"{key}: {value}")
    return 0


def _pay(args: argparse.Namespace) -> int:
    outcome = "decline" if args.decline else "approve"
    body = _post(args, f"payment_links/{args.link_id}/pay", {"outcome": outcome})
    word = "approved" if body.get("approved") else "declined"
    print(f"Payment {word}: {body.get('message')} (payment {body.get('payment_intent')})")
    return 0
