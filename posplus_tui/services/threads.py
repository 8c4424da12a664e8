"""Blocking service methods awaited off the event loop: write the method once, get its twin.

The ledger (SQLAlchemy), scrypt and the keyring block. A service writes ``add_sync`` and declares
``add = off_loop(add_sync)``: the same parameters, checked by mypy, run in a worker thread so the
screen never waits on the database.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

__all__ = ["off_loop"]

P = ParamSpec("P")
T = TypeVar("T")


def off_loop(blocking: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
    """``blocking`` as a coroutine function that runs it in a worker thread."""

    @functools.wraps(blocking)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(blocking, *args, **kwargs)

    return run
