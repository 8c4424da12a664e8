"""OAuth client-credentials tokens: cached until shortly before expiry, one refresh at a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from posplus_tui.redaction import register_secret
from posplus_tui.servicetitan import jsonwire
from posplus_tui.servicetitan.errors import (
    AuthError,
    ServerUnavailable,
    ServiceTitanError,
    parse_error_body,
)

__all__ = ["TokenManager"]

#: Renew this many seconds before ``expires_in`` runs out (montrellcruse does the same).
REFRESH_MARGIN = 60.0


class TokenManager:
    """Hands out a valid bearer token; however many callers wait, one grant request is in flight."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 30.0,
    ) -> None:
        self._http = http
        self._url = token_url
        self._client_id = client_id
        self._secret = client_secret
        self._clock = clock
        self._timeout = timeout
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.requests_made = 0
        register_secret(client_secret)

    def _valid(self) -> bool:
        return self._token is not None and self._clock() < self._expires_at

    async def get(self) -> str:
        """A token that is not about to expire."""
        if self._valid():
            assert self._token is not None
            return self._token
        async with self._lock:
            if not self._valid():
                await self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the server said 401). A newer token fetched meanwhile is kept."""
        if self._token == token:
            self._token = None
            self._expires_at = 0.0

    async def _fetch(self) -> None:
        self.requests_made += 1
        data = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._secret,
        }
        last: Exception | None = None
        for attempt in range(3):
            try:
                resp = await self._http.post(self._url, data=data, timeout=self._timeout)
            except httpx.TransportError as exc:
                last = exc
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            if resp.status_code >= 500:
                last = None
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            break
        else:
            raise ServerUnavailable(
                "Could not reach the ServiceTitan sign-in service.",
                detail=str(last) if last else None,
            )
        if resp.status_code in (400, 401, 403):
            body = parse_error_body(resp.content)
            raise AuthError(
                "ServiceTitan did not accept the Client ID / Client Secret "
                f"({body['code'] or body['message'] or resp.status_code}).",
                status=resp.status_code,
                detail=body["message"],
            )
        if resp.status_code != 200:
            raise ServiceTitanError(
                f"The ServiceTitan sign-in service answered HTTP {resp.status_code}.",
                status=resp.status_code,
            )
        try:
            payload = jsonwire.loads(resp.content)
            token = str(payload["access_token"])
            expires_in = float(payload.get("expires_in") or 900)
        except (ValueError, KeyError, TypeError) as exc:
            raise ServiceTitanError(
                "The ServiceTitan sign-in service sent a reply the app cannot read."
            ) from exc
        register_secret(token)
        margin = min(REFRESH_MARGIN, expires_in / 2)
        self._token = token
        self._expires_at = self._clock() + expires_in - margin
