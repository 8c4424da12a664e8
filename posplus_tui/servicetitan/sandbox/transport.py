"""In-process transport: httpx's ASGI transport plus what a socket would do on its own —
honour the read timeout, and turn a cut-off reply into a transport error."""

from __future__ import annotations

import asyncio

import httpx

from posplus_tui.servicetitan.sandbox.app import ReplyDropped

__all__ = ["SandboxTransport"]


class SandboxTransport(httpx.ASGITransport):
    """``httpx.ASGITransport`` ignores timeouts and re-raises app errors; a real connection
    would time out and would see the peer close. This makes the in-process sandbox behave so."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = (request.extensions.get("timeout") or {}).get("read")
        try:
            if timeout:
                return await asyncio.wait_for(super().handle_async_request(request), timeout)
            return await super().handle_async_request(request)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("the sandbox did not answer in time", request=request) from exc
        except ReplyDropped as exc:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from exc
