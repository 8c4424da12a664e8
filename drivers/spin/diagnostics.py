"""A technician's layered check of an HTTP (SPIn) terminal: address → TCP → HTTP → auth key →
terminal online. Each layer names what failed and what to try; nothing moves money (a status
query for a reference nobody uses is the deepest request)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import urlsplit

import httpx

from drivers.base import NotFound, TerminalError
from drivers.spin import codec as c
from drivers.spin.terminal import SpinOptions, SpinTerminal
from drivers.trace import FrameTrace

PROBE_REF = "DIAG0000000001"


def _host_port(options: SpinOptions) -> tuple[str, int]:
    parts = urlsplit(options.base_url)
    assert parts.hostname is not None
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


async def diagnose_spin(
    url: str,
    options: SpinOptions,
    authkey: str | None,
    add: Callable[[str, bool, str, str], bool],
    trace: Callable[[FrameTrace], None] | None = None,
    timeout: float = 10.0,
) -> None:
    """Run the layers in order, calling ``add(layer, ok, detail, hint)``; stop at the first failure."""
    host, port = _host_port(options)
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
        )
    except (OSError, TimeoutError) as exc:
        add(
            "address",
            False,
            f"{host} cannot be found ({exc})",
            "check the terminal's IP address (on the terminal: Settings → Network) or the proxy's "
            "host name",
        )
        return
    add("address", True, f"{host} is {infos[0][4][0]}", "")
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), options.connect_timeout
        )
    except (OSError, TimeoutError) as exc:
        add(
            "tcp",
            False,
            f"nothing accepts connections on {host}:{port} ({type(exc).__name__})",
            "check the terminal is on, in SPIn Local mode, and the port set on it matches the URL"
            if not options.cloud
            else "check the internet connection and any firewall in between (port 443)",
        )
        return
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    add("tcp", True, f"{host}:{port} accepts connections", "")
    probe_key = authkey or "-"
    terminal = SpinTerminal(
        url, replace(options, timeout=min(options.timeout, timeout)), probe_key, trace
    )
    try:
        client = terminal._http()
        try:
            resp = await client.get(
                c.TERMINAL_STATUS,
                params={"request.tpn": options.tpn, "request.authkey": probe_key},
                timeout=timeout,
            )
        except httpx.HTTPError as exc:
            add(
                "http",
                False,
                f"no HTTP answer from {options.base_url} ({type(exc).__name__})",
                "the port answers but not with HTTP: check http:// vs https:// and the port "
                "(SPIn, not the terminal's other services)",
            )
            return
        try:
            state, why = c.parse_terminal_status(resp.content)
        except c.CodecError:
            add(
                "http",
                False,
                f"HTTP {resp.status_code} from {options.base_url}, but not a SPIn terminal status",
                "check the URL's path (cloud: https://spinpos.net/spin or test.spinpos.net/spin) "
                "and that the terminal runs SPIn",
            )
            return
        add("http", True, f"HTTP {resp.status_code}: SPIn answers (terminal status {state})", "")
        if not authkey:
            add(
                "authkey",
                False,
                "no auth key is stored for the terminal",
                "type it in Setup (it goes to the keyring) or set POSPLUS_TERMINAL_AUTHKEY",
            )
            return
        status = await terminal.status(PROBE_REF)
        refused = isinstance(status, TerminalError) and status.code in (c.AUTH_FAILED | {"2003"})
        if refused or (state == c.TPN_NOT_FOUND and "key" in why.lower()):
            detail = status.message if isinstance(status, TerminalError) else why
            add(
                "authkey",
                False,
                f"the auth key or TPN {options.tpn} is refused: {detail}",
                "check the TPN and the auth key in the iPOSpays portal (and test vs production host)",
            )
            return
        add("authkey", True, f"TPN {options.tpn} and its auth key are accepted", "")
        if state != c.ONLINE:
            add(
                "online",
                False,
                f"terminal {options.tpn} is {state}{': ' + why if why else ''}",
                "turn the terminal on, open its SPIn app, check its network; in the portal the TPN's "
                "SPIn mode (Local/Cloud) must match the URL, then download parameters",
            )
            return
        words = (
            "answered" if isinstance(status, NotFound) else f"answered ({type(status).__name__})"
        )
        add("online", True, f"terminal {options.tpn} is online; status query {words}", "")
    finally:
        await terminal.close()
