"""A hostile Stripe written apart from the sandbox: it answers each call with whatever the test
scripted (any status, any bytes), so the provider's reading of replies can be attacked directly."""

from __future__ import annotations

import json
from collections import deque
from typing import Any


class HostileStripe:
    """ASGI app: pops ``(status, body)`` from :attr:`script` per call; records what it was asked."""

    def __init__(self) -> None:
        self.script: deque[tuple[int, bytes]] = deque()
        self.asked: list[tuple[str, str]] = []

    def reply(self, status: int, body: Any) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.script.append((status, raw))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        self.asked.append((scope["method"], scope["path"]))
        status, body = self.script.popleft() if self.script else (599, b"")
        await send({
            "type": "http.response.start", "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": body})
