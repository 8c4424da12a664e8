"""``posplus links sandbox serve`` in its own process, used by the official ``stripe`` SDK as it
would use Stripe: objects, idempotency, errors, auto-paging of events, and the CLI's controls."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import stripe

from posplus_tui.cli import main


@pytest.fixture(scope="module")
def served_cli() -> Iterator[tuple[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "posplus_tui", "links", "sandbox", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "Ctrl+C" in line:
            break
    out = "".join(lines)
    try:
        fields = dict(re.findall(r"^\s+(\w+)\s+= (\S+)$", out, re.M))
        assert fields["base_url"].startswith("http://127.0.0.1:"), out
        assert fields["secret_key"].startswith("sk_test_"), out
        yield fields["base_url"], fields["secret_key"]
    finally:
        proc.terminate()
        proc.wait(10)


def _client(url: str, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": url}, max_network_retries=0)


def test_the_official_sdk_works_against_the_served_sandbox(served_cli, capsys):
    url, key = served_cli
    sc = _client(url, key)
    product = sc.v1.products.create({"name": "Invoice INV-7"})
    price = sc.v1.prices.create({"currency": "usd", "unit_amount": 4_200, "product": product.id})
    assert (price.unit_amount, price.product) == (4_200, product.id)
    params = {
        "line_items": [{"price": price.id, "quantity": 1}],
        "metadata": {"invoice_id": "7"},
        "restrictions": {"completed_sessions": {"limit": 1}},
    }
    link = sc.v1.payment_links.create(params, {"idempotency_key": "sdk-1"})  # type: ignore[arg-type]
    assert link.url.startswith(url + "/b/") and link.active
    replay = sc.v1.payment_links.create(params, {"idempotency_key": "sdk-1"})  # type: ignore[arg-type]
    assert replay.id == link.id and replay.last_response.headers["idempotent-replayed"] == "true"
    with pytest.raises(stripe.IdempotencyError):
        sc.v1.payment_links.create(
            {"line_items": [{"price": price.id, "quantity": 2}]}, {"idempotency_key": "sdk-1"}
        )
    expanded = sc.v1.payment_links.retrieve(link.id, {"expand": ["line_items"]})
    assert expanded.line_items is not None and expanded.line_items.data[0].amount_total == 4_200

    # a customer pays (the CLI's shortcut for the hosted page), then a partial refund
    opts = ["--url", url, "--key", key]
    assert main(["links", "sandbox", "pay", link.id, "--decline", *opts]) == 0
    assert main(["links", "sandbox", "pay", link.id, *opts]) == 0
    out = capsys.readouterr().out
    assert "Payment declined: Your card was declined." in out and "Payment approved" in out
    (session,) = [
        s for s in sc.v1.checkout.sessions.list({"payment_link": link.id}).data
        if s.status == "complete"
    ]  # fmt: skip
    assert session.payment_status == "paid" and session.amount_total == 4_200
    intent = sc.v1.payment_intents.retrieve(
        str(session.payment_intent), {"expand": ["latest_charge"]}
    )
    charge = intent.latest_charge
    assert isinstance(charge, stripe.Charge)
    assert charge.payment_method_details.card.last4 == "4242"  # type: ignore[union-attr]
    refund = sc.v1.refunds.create(
        {"payment_intent": intent.id, "amount": 1_000}, {"idempotency_key": "r"}
    )
    assert (refund.amount, refund.status) == (1_000, "succeeded")
    assert sc.v1.refunds.retrieve(refund.id).amount == 1_000
    sc.v1.payment_links.update(link.id, {"active": False})
    assert sc.v1.payment_links.retrieve(link.id).active is False

    # the SDK's own paginator walks the events with starting_after, newest first
    listed = sc.v1.events.list({"limit": 2})
    assert listed.has_more
    walked = [e.id for e in listed.auto_paging_iter()]
    assert len(walked) == len(set(walked)) >= 10
    created = [sc.v1.events.retrieve(i).created for i in walked]
    assert created == sorted(created, reverse=True)
    newer = sc.v1.events.list({"ending_before": walked[3], "limit": 2})
    assert [e.id for e in newer.data] == walked[1:3] and newer.has_more
    # the SDK pages forward in time from ending_before (next cursor = the page's first, newest
    # item; stop when has_more is false): the semantics the gateway's cursor relies on
    forward = sc.v1.events.list({"ending_before": walked[-1], "limit": 3}).auto_paging_iter()
    assert [e.id for e in forward] == list(reversed(walked[:-1]))

    # checkout sessions directly, and their expiry
    cs = sc.v1.checkout.sessions.create({
        "mode": "payment", "success_url": "https://example.invalid/ok",
        "line_items": [{"price": price.id, "quantity": 1}],
    })  # fmt: skip
    assert cs.status == "open" and cs.url
    assert sc.v1.checkout.sessions.expire(cs.id).status == "expired"

    # errors in Stripe's shape
    with pytest.raises(stripe.InvalidRequestError) as missing:
        sc.v1.payment_links.retrieve("plink_1nothing")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        sc.v1.prices.create(
            {"currency": "usd", "unit_amount": 1, "product": product.id, "colour": "red"}
        )  # type: ignore[typeddict-unknown-key]
    assert unknown.value.http_status == 400 and unknown.value.code == "parameter_unknown"
    with pytest.raises(stripe.AuthenticationError) as auth:
        _client(url, "sk_test_wrong_wrong_wrong").v1.products.retrieve(product.id)
    assert auth.value.http_status == 401

    # a trainer spoils the next create from another terminal: the SDK sees an API error
    assert main(["links", "sandbox", "fault", "commit-500", "--path", "/v1/products", *opts]) == 0
    with pytest.raises(stripe.APIError):
        sc.v1.products.create({"name": "x"})
    assert main(["links", "sandbox", "fault", "state", *opts]) == 0
    assert "faults: []" in capsys.readouterr().out


def test_serve_refuses_a_bad_key_and_port_with_a_sentence(capsys):
    assert main(["links", "sandbox", "serve", "--key", "pk_live_x"]) == 2
    assert "--key must be a test secret key" in capsys.readouterr().err
    assert main(["links", "sandbox", "serve", "--port", "70000"]) == 2
    assert (
        main(["links", "sandbox", "fault", "melt", "--url", "http://127.0.0.1:9", "--key", "k"])
        == 2
    )
    assert "Unknown fault 'melt'" in capsys.readouterr().err
