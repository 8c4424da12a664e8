"""Background work that never dies silently.

Every long-running task of the app (the reconcile worker, the export-feed sync, the terminal
checks, recovery at start-up) runs under a :class:`Supervisor`: a crash is logged with its
traceback, shown on the status bar in words ("Posting to ServiceTitan stopped: … retrying in
30 s") and the work is started again after a back-off that grows with each crash in a row. A task
that ends on its own while the app is running, or is cancelled by someone else, counts as a
crash: only :meth:`Supervisor.aclose` stops supervised work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from posplus_tui.redaction import redact
from posplus_tui.services.errors import ServiceError
from posplus_tui.services.hub import EventHub

__all__ = ["BACKOFF", "HEALTHY_AFTER", "Supervisor", "TaskTrouble"]

log = logging.getLogger(__name__)

#: Seconds before the 1st, 2nd, 3rd … restart after crashes in a row (the last one repeats).
BACKOFF: tuple[float, ...] = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
#: A task that has run this long since its restart is well again: its trouble leaves the status
#: bar and the next crash starts the back-off from the beginning.
HEALTHY_AFTER = 60.0

Work = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class TaskTrouble:
    """Why a supervised task stopped, for the status bar."""

    what: str  # "Posting to ServiceTitan"
    reason: str  # one short sentence, redacted
    crashes: int  # in a row
    retry_at: float | None  # monotonic time of the restart; None when it is not restarted

    def words(self, now: float) -> str:
        if self.retry_at is None:
            return f"{self.what} failed: {self.reason}"
        wait = math.ceil(self.retry_at - now)
        if wait > 0:
            return f"{self.what} stopped: {self.reason} · retrying in {wait} s"
        return f"{self.what} restarted after: {self.reason}"


def reason_of(exc: BaseException) -> str:
    """A crash in words a clerk can pass on: the service's own sentence, else the error's."""
    orig = getattr(exc, "orig", None)  # a database error: the driver's words, not the SQL
    if isinstance(orig, Exception):
        exc = orig
    if isinstance(exc, ServiceError):
        text = exc.message
    elif isinstance(exc, asyncio.CancelledError):
        text = "it was cancelled"
    else:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        text = text or type(exc).__name__
    text = redact(text)
    return text if len(text) <= 90 else text[:89] + "…"


class _Ended(Exception):
    """Supervised work returned while the app was still running."""

    def __init__(self) -> None:
        super().__init__("it ended on its own")


class Supervisor:
    """Runs named background tasks, restarts them after a crash and says what is wrong."""

    def __init__(
        self,
        *,
        backoff: Sequence[float] = BACKOFF,
        healthy_after: float = HEALTHY_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backoff = tuple(backoff)
        self.healthy_after = healthy_after
        self.clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._current: dict[str, asyncio.Task[None]] = {}
        self._stops: dict[str, Callable[[], object]] = {}
        self._trouble: dict[str, TaskTrouble] = {}
        self._hub: EventHub[str] = EventHub("supervisor")
        self._closing = False
        self._closed: asyncio.Event | None = None  # made on first use, inside the running loop
        self._wake: dict[str, asyncio.Event] = {}

    # -- starting work -------------------------------------------------------------------------

    def keep_running(
        self, name: str, what: str, work: Work, *, stop: Callable[[], object] | None = None
    ) -> asyncio.Task[None]:
        """Run ``work()`` in the background for as long as the app runs, restarting it after a
        crash. ``stop`` asks it to finish on its own at shutdown (before it is cancelled).
        Starting a name that is already running returns the running task."""
        running = self._tasks.get(name)
        if running is not None and not running.done():
            return running
        if stop is not None:
            self._stops[name] = stop
        task = asyncio.create_task(self._keep(name, what, work), name=f"posplus-{name}")
        self._tasks[name] = task
        return task

    def run_once(self, name: str, what: str, work: Awaitable[object]) -> asyncio.Task[None]:
        """Run one piece of work in the background (a terminal check): a crash is logged and
        shown, not retried here; the next run under the same name clears it when it succeeds."""
        task = asyncio.create_task(self._once(name, what, work), name=f"posplus-{name}")
        self._tasks[name] = task
        return task

    async def attempt(self, name: str, what: str, work: Work) -> bool:
        """Run ``work()`` now and wait for it (recovery at start-up). After a crash it is logged,
        shown and tried again in the background with back-off until it succeeds; returns
        whether the first try succeeded."""
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._crashed(name, what, exc, 1)
            self._tasks[name] = asyncio.create_task(
                self._keep(name, what, work, crashes=1, once=True), name=f"posplus-{name}"
            )
            return False
        self._clear(name)
        return True

    # -- what is wrong ---------------------------------------------------------------------------

    def trouble(self) -> list[str]:
        """What is wrong with background work now, in words (empty when all is well)."""
        now = self.clock()
        words = []
        for name, trouble in list(self._trouble.items()):
            retry_at = trouble.retry_at
            if retry_at is not None and now - retry_at >= self.healthy_after:
                running = self._tasks.get(name)
                if running is not None and not running.done():
                    del self._trouble[name]
                    continue
            words.append(trouble.words(now))
        return words

    def trouble_of(self, name: str) -> TaskTrouble | None:
        return self._trouble.get(name)

    def subscribe(self, listener: Callable[[], object]) -> Callable[[], None]:
        """``listener()`` is called whenever a task crashes or recovers."""
        return self._hub.subscribe(lambda _name: listener())

    def task(self, name: str) -> asyncio.Task[None] | None:
        """The supervising task for ``name`` (it lives across restarts)."""
        return self._tasks.get(name)

    def retry_now(self, name: str) -> bool:
        """Cut the back-off of ``name`` short (after a fix); False when it is not waiting."""
        wake = self._wake.get(name)
        if wake is None or name not in self._trouble:
            return False
        wake.set()
        return True

    def current(self, name: str) -> asyncio.Task[None] | None:
        """The running attempt of ``name``: cancelling it counts as a crash (tests kill it)."""
        return self._current.get(name)

    # -- stopping --------------------------------------------------------------------------------

    async def aclose(self, grace: float = 10.0) -> None:
        """Ask the tasks that can finish on their own (their ``stop``) to do so, wait up to
        ``grace`` seconds for them, then cancel whatever is still running."""
        self._closing = True
        if self._closed is not None:
            self._closed.set()
        for stop in self._stops.values():
            with contextlib.suppress(Exception):
                stop()
        tasks = [t for t in self._tasks.values() if not t.done()]
        stoppable = [t for name, t in self._tasks.items() if name in self._stops and not t.done()]
        if stoppable:
            await asyncio.wait(stoppable, timeout=grace)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        self._stops.clear()

    # -- the loops -------------------------------------------------------------------------------

    async def _keep(
        self, name: str, what: str, work: Work, *, crashes: int = 0, once: bool = False
    ) -> None:
        if crashes:
            await self._pause(name, self._delay(crashes))
        while not self._closing:
            started = self.clock()
            trouble = self._trouble.get(name)
            if trouble is not None:  # restarting (maybe early, after retry_now): say so
                self._trouble[name] = replace(trouble, retry_at=started)
                self._notify(name)
            attempt = asyncio.create_task(self._run(work), name=f"posplus-{name}-run")
            self._current[name] = attempt
            try:
                await asyncio.shield(attempt)
                if once:
                    self._clear(name)
                    return
                if self._closing:
                    return
                raise _Ended()
            except asyncio.CancelledError:
                if not attempt.cancelled():  # the supervisor itself was cancelled: stop
                    attempt.cancel()
                    with contextlib.suppress(BaseException):
                        await attempt
                    raise
                if self._closing:
                    return
                exc: BaseException = asyncio.CancelledError()
            except Exception as error:
                exc = error
            finally:
                self._current.pop(name, None)
            if self.clock() - started >= self.healthy_after:
                crashes = 0  # it ran well for a while: start the back-off again
            crashes += 1
            self._crashed(name, what, exc, crashes)
            await self._pause(name, self._delay(crashes))

    async def _pause(self, name: str, seconds: float) -> None:
        """The back-off: cut short when the supervisor closes or :meth:`retry_now` is called."""
        if self._closed is None:
            self._closed = asyncio.Event()
            if self._closing:
                self._closed.set()
        wake = self._wake.setdefault(name, asyncio.Event())
        wake.clear()
        waits = [asyncio.ensure_future(self._closed.wait()), asyncio.ensure_future(wake.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()

    @staticmethod
    async def _run(work: Work) -> None:
        await work()

    async def _once(self, name: str, what: str, work: Awaitable[object]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._crashed(name, what, exc, 1, retry=False)
        else:
            self._clear(name)

    def _delay(self, crashes: int) -> float:
        return self.backoff[min(crashes, len(self.backoff)) - 1]

    def _crashed(
        self, name: str, what: str, exc: BaseException, crashes: int, *, retry: bool = True
    ) -> None:
        delay = self._delay(crashes) if retry else None
        trouble = TaskTrouble(
            what, reason_of(exc), crashes, None if delay is None else self.clock() + delay
        )
        self._trouble[name] = trouble
        then = f"retrying in {delay:g} s" if delay is not None else "not retried"
        log.error("%s stopped (%s crash in a row); %s", what, crashes, then, exc_info=exc)
        self._notify(name)

    def _clear(self, name: str) -> None:
        if self._trouble.pop(name, None) is not None:
            log.info("%s works again", name)
            self._notify(name)

    def _notify(self, name: str) -> None:
        self._hub.publish(name)  # a broken listener never stops supervision
