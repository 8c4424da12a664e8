"""In-process transport: httpx's ASGI transport plus what a socket would do on its own —
honour the read timeout (while the server carries on with the work), and turn a cut-off reply
into a transport error."""

from __future__ import annotations

import asyncio

import httpx

from posplus_tui.servicetitan.sandbox.app import ReplyDropped

__all__ = ["SandboxTransport"]


def _forget(task: asyncio.Task[httpx.Response]) -> None:
    """Collect the outcome of a reply nobody waits for any more (no 'never retrieved' noise)."""
    if not task.cancelled():
        task.exception()


class SandboxTransport(httpx.ASGITransport):
    """``httpx.ASGITransport`` ignores timeouts and re-raises app errors; a real connection
    would time out and would see the peer close. This makes the in-process sandbox behave so:
    after a client timeout the sandbox still finishes the request, as a real server would."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = (request.extensions.get("timeout") or {}).get("read")
        work = asyncio.ensure_future(super().handle_async_request(request))
        try:
            if timeout:
                return await asyncio.wait_for(asyncio.shield(work), timeout)
            return await work
        except TimeoutError as exc:
            work.add_done_callback(_forget)
            raise httpx.ReadTimeout("the sandbox did not answer in time", request=request) from exc
        except ReplyDropped as exc:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from exc
