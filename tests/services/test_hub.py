"""The one event hub: publishers never wait, slow streams lose their oldest events (counted),
broken subscribers are skipped, and every service announces through it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from posplus_tui.services.events import PaymentEvent, PaymentEventKind
from posplus_tui.services.hub import EventHub
from posplus_tui.services.reconcile.events import EventBus, EventKind, ReconcileEvent


async def test_a_stalled_stream_never_blocks_the_publisher_and_keeps_the_newest() -> None:
    hub: EventHub[int] = EventHub("test", queue_size=3)
    stream = hub.stream()
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)  # subscribed, reading nothing more after the first event
    for n in range(10):
        hub.publish(n)  # returns at once although nobody reads: it never awaits
    got = [await first, await anext(stream), await anext(stream)]
    assert got == [7, 8, 9]  # the newest three kept, the oldest seven dropped and counted
    assert hub.dropped == 7
    await stream.aclose()
    assert hub.subscribers == 0


async def test_each_stream_has_its_own_bound_and_close_ends_them() -> None:
    hub: EventHub[str] = EventHub("test", queue_size=100)
    fast, slow = hub.stream(), hub.stream(size=2)
    got_fast = asyncio.ensure_future(anext(fast))
    got_slow = asyncio.ensure_future(anext(slow))
    await asyncio.sleep(0)
    hub.publish_many(["a", "b", "c", "d"])
    assert (await got_fast, await got_slow) == ("a", "c")  # the slow one lost "a" and "b"
    hub.close()
    assert [e async for e in fast] == ["b", "c", "d"]
    assert [e async for e in slow] == ["d"]
    assert hub.dropped == 2


async def test_a_broken_callback_is_logged_and_the_others_still_hear(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub: EventHub[int] = EventHub("payments")
    heard: list[int] = []
    awaited: list[int] = []

    def broken(_n: int) -> None:
        raise RuntimeError("a screen went away")

    async def later(n: int) -> None:
        awaited.append(n)

    hub.subscribe(broken)
    unsubscribe = hub.subscribe(heard.append)
    hub.subscribe(later)
    once: list[int] = []
    with caplog.at_level(logging.ERROR):
        hub.publish(1, once.append)
    await asyncio.sleep(0)
    assert heard == [1] and once == [1] and awaited == [1]
    assert any("payments: a subscriber failed" in r.getMessage() for r in caplog.records)
    unsubscribe()
    unsubscribe()  # twice is harmless
    hub.publish(2)
    await asyncio.sleep(0)
    assert heard == [1] and awaited == [1, 2]


async def test_the_services_announce_through_the_hub() -> None:
    """Payments, reconciliation, frames, desk, recovery and supervision share one implementation
    (the unbounded payment queue is gone)."""
    from posplus_tui.services.frame_log import FrameLog

    bus = EventBus()
    assert isinstance(bus, EventHub)
    frames = FrameLog()
    seen: list[str] = []
    frames.subscribe(seen.append)
    frames.record("-> STX T00 ETX")
    assert seen == ["-> STX T00 ETX"] and list(frames.lines) == seen
    stream = bus.stream(size=1)
    nxt = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    bus.publish(ReconcileEvent.now(EventKind.QUEUED, "one"))
    assert (await nxt).message == "one"
    await stream.aclose()


async def test_payment_events_stream_is_bounded() -> None:
    hub: EventHub[PaymentEvent] = EventHub("payments", queue_size=2)
    stream = hub.stream()
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    for n in range(5):
        hub.publish(PaymentEvent(PaymentEventKind.TERMINAL, f"P{n}", "Waiting for card"))
    assert [(await first).ecr_ref, (await anext(stream)).ecr_ref] == ["P3", "P4"]
    assert hub.dropped == 3
    await stream.aclose()
