"""Serve the sandbox over real HTTP (uvicorn): in a background thread for tests and the demo, or
in the foreground for ``posplus links sandbox serve``.

The same pattern as the ServiceTitan sandbox's server, written again here because ``gateways``
never imports ``posplus_tui``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn

from gateways.stripe.sandbox.app import ReplyDropped, StripeSandboxApp

__all__ = ["base_url_for", "bind", "serve_forever", "serve_in_thread"]


class _QuietDrops(logging.Filter):
    """A commit-then-drop is on purpose: not a server crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ReplyDropped)


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket (port 0: a free port the OS picks)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Replies go out as headers then body: without NODELAY, Nagle and the client's delayed ACK
    # add ~40 ms to every call (accepted sockets inherit the option on Linux).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def base_url_for(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _config(app: Any, log_level: str) -> uvicorn.Config:
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    # No access log: the hosted page's form posts card numbers (in the body, never the URL,
    # but nothing about requests is logged at all).
    return uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=1,
        ws="none",
    )


@contextlib.contextmanager
def serve_in_thread(
    app: Any, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning"
) -> Iterator[str]:
    """Run ``app`` (any ASGI app) with uvicorn in a daemon thread; yield its base URL; stop it
    on exit. A sandbox's link and checkout URLs point at the served address from then on."""
    sock = bind(host, port)
    url = base_url_for(sock)
    if isinstance(app, StripeSandboxApp):
        app.store.public_url = url
    server = uvicorn.Server(_config(app, log_level))
    started = threading.Event()
    failed: list[BaseException] = []

    async def _serve() -> None:
        config = server.config
        if not config.loaded:
            config.load()
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        started.set()
        if not server.should_exit:
            await server.main_loop()
        if server.started:
            await server.shutdown(sockets=[sock])

    def _run() -> None:
        try:
            asyncio.run(_serve())
        except BaseException as exc:  # reported to the caller below
            failed.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=_run, name="stripe-sandbox", daemon=True)
    thread.start()
    started.wait(30)
    if failed:
        sock.close()
        raise RuntimeError(f"The Stripe sandbox server did not start: {failed[0]}")
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def serve_forever(app: StripeSandboxApp, sock: socket.socket, *, log_level: str = "info") -> None:
    """Foreground serving (Ctrl+C stops it)."""
    app.store.public_url = base_url_for(sock)
    server = uvicorn.Server(_config(app, log_level))
    server.run(sockets=[sock])
