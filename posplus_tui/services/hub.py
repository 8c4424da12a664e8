"""One event hub for everything the services announce: payments, reconciliation, terminal frames,
the payment desk, recovery passes and supervised tasks.

Publishing never waits and never fails. Callbacks run in the order they subscribed (one that
raises is logged and skipped; one that returns an awaitable is scheduled on the running loop).
Each ``stream()`` has a bounded queue: a subscriber that falls behind loses its *oldest* events,
which are counted (``dropped``, per stream and for the hub), so a stalled screen can never hold up
a payment or the reconcile worker, nor grow memory without end. What must not be lost is in the
ledger (transactions, the reconcile history); a stream is a live view of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Final, Generic, TypeVar

__all__ = ["DEFAULT_QUEUE_SIZE", "EventHub", "Stream"]

log = logging.getLogger(__name__)

E = TypeVar("E")

#: How many events a stream holds for a subscriber that has not read them yet.
DEFAULT_QUEUE_SIZE: Final = 1_000


class _Closed:
    """Put on a stream's queue by :meth:`EventHub.close`: the iterator ends there."""


_CLOSED: Final = _Closed()


class Stream(Generic[E]):
    """One subscriber's bounded queue; ``dropped`` counts what it lost by falling behind."""

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[E | _Closed] = asyncio.Queue(max(1, size))
        self.dropped = 0

    def put(self, item: E | _Closed) -> bool:
        """Queue ``item``; when full, drop the oldest first. True when something was dropped."""
        lost = False
        while True:
            try:
                self.queue.put_nowait(item)
                return lost
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    self.queue.get_nowait()
                    self.dropped += 1
                    lost = True


class EventHub(Generic[E]):
    """Fan-out of one kind of event ``E`` to callbacks and to bounded async streams."""

    def __init__(self, name: str = "events", *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.name = name
        self.queue_size = queue_size
        #: Events lost by slow streams, all streams together.
        self.dropped = 0
        self._callbacks: list[Callable[[E], object]] = []
        self._streams: list[Stream[E]] = []
        self._tasks: set[asyncio.Future[object]] = set()

    @property
    def subscribers(self) -> int:
        return len(self._callbacks) + len(self._streams)

    def subscribe(self, callback: Callable[[E], object]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event from now on; returns the unsubscribe."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    async def stream(self, size: int | None = None) -> AsyncIterator[E]:
        """``async for event in hub.stream(): …`` until :meth:`close`; holds at most ``size``
        unread events (the hub's ``queue_size`` by default), dropping the oldest."""
        stream: Stream[E] = Stream(size or self.queue_size)
        self._streams.append(stream)
        try:
            while True:
                item = await stream.queue.get()
                if isinstance(item, _Closed):
                    return
                yield item
        finally:
            with contextlib.suppress(ValueError):
                self._streams.remove(stream)

    def publish(self, event: E, extra: Callable[[E], object] | None = None) -> None:
        """Deliver ``event`` to every stream, then every callback (and ``extra``, a one-call
        listener). Call it from the event loop's thread when there are streams."""
        for stream in list(self._streams):
            if stream.put(event):
                self.dropped += 1
                if stream.dropped == 1:
                    log.warning(
                        "%s: a slow subscriber fell behind; oldest events dropped", self.name
                    )
        for callback in [*self._callbacks, *([extra] if extra is not None else [])]:
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    self._schedule(result)
            except Exception:  # a broken listener never stops a payment or the worker
                log.exception("%s: a subscriber failed", self.name)

    def publish_many(self, events: Iterable[E]) -> None:
        for event in events:
            self.publish(event)

    def close(self) -> None:
        """End every ``stream()`` iterator (after the events already queued for it)."""
        for stream in list(self._streams):
            stream.put(_CLOSED)

    def _schedule(self, awaitable: Awaitable[object]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Future[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: a subscriber failed", self.name, exc_info=task.exception())
