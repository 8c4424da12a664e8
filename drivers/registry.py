"""``open_terminal(url)``: the one way the app gets a :class:`~drivers.base.Terminal`.

URLs::

    poslink+serial:///dev/ttyUSB0?baud=9600      a serial device (POSIX path)
    poslink+serial://COM3?baud=115200            a Windows COM port
    poslink+serial:socket://10.0.0.5:4000        any pyserial URL (socket://, rfc2217://, loop://)
    poslink+tcp://192.168.1.50:10009             a network terminal (port defaults to 10009)
    sim://?delay_ms=0&card_wait_ms=0             the in-process simulator (sim://NAME shares one)
    spin+http://192.168.1.60:9000?tpn=T          a Dejavoo terminal over SPIn, local mode
    spin+https://spinpos.net/spin?tpn=T          a Dejavoo terminal through the SPIn cloud proxy

A SPIn terminal needs its auth key, a secret that never appears in a URL:
``open_terminal(url, authkey=...)``.

Options for every POSLink URL: ``timeout`` (seconds to wait for a reply, default 120),
``ack_timeout`` (3), ``retries`` (3 resends after NAK), ``version`` (1.35), ``report_status`` (0/1),
``cancel_ref`` (1: A14 names the request it cancels), ``manual_entry`` (the extra-data item that
asks for keyed entry, default ``MANUALENTRY=1``). Choices marked [I] in :mod:`drivers.poslink.messages`
are inferred from public implementations: these options let a site match its terminal's spec. ``sim://`` adds ``delay_ms``, ``card_wait_ms``,
``slow_ms`` and ``fault=NAME[:COUNT]`` (repeatable).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from drivers.base import Terminal
from drivers.errors import TerminalUrlError
from drivers.poslink.session import Timing
from drivers.poslink.terminal import PosLinkOptions, PosLinkTerminal
from drivers.trace import FrameTrace
from drivers.transports.tcp import DEFAULT_PORT

EXAMPLES = (
    "poslink+serial:///dev/ttyUSB0?baud=9600, poslink+serial://COM3?baud=115200, "
    "poslink+tcp://192.168.1.50:10009 or sim://?card_wait_ms=1500"
)
SPIN_SCHEMES = ("spin+http", "spin+https")
BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
_PYSERIAL_SCHEMES = ("socket://", "rfc2217://", "loop://", "spy://", "alt://", "hwgrep://")
_COMMON = {
    "timeout",
    "ack_timeout",
    "retries",
    "version",
    "report_status",
    "cancel_ref",
    "manual_entry",
    "eot_timeout",
    "byte_timeout",
}
_SIM_SHARED: dict[str, object] = {}


def _fail(url: str, problem: str) -> TerminalUrlError:
    return TerminalUrlError(f"terminal URL {url!r}: {problem}. Examples: {EXAMPLES}")


def _number(
    url: str, opts: dict[str, str], key: str, default: float, lo: float, hi: float
) -> float:
    if key not in opts:
        return default
    try:
        value = float(opts[key])
    except ValueError:
        raise _fail(url, f"{key}={opts[key]!r} is not a number") from None
    if not lo <= value <= hi:
        raise _fail(url, f"{key} must be between {lo:g} and {hi:g}")
    return value


def _flag(url: str, opts: dict[str, str], key: str, default: bool) -> bool:
    if key not in opts:
        return default
    if opts[key] not in ("0", "1", "true", "false", "yes", "no"):
        raise _fail(url, f"{key} must be 0 or 1")
    return opts[key] in ("1", "true", "yes")


def _options(
    url: str,
    opts: dict[str, str],
    *,
    response_default: float,
    ack_default: float,
    report_default: bool,
) -> PosLinkOptions:
    version = opts.get("version", "1.35")
    if not version or not all(c.isdigit() or c == "." for c in version):
        raise _fail(url, f"version={version!r} should look like 1.35")
    timing = Timing(
        ack_timeout=_number(url, opts, "ack_timeout", ack_default, 0.05, 60),
        response_timeout=_number(url, opts, "timeout", response_default, 0.05, 600),
        retries=int(_number(url, opts, "retries", 3, 0, 10)),
        eot_timeout=_number(url, opts, "eot_timeout", 1.0, 0.01, 30),
        inter_byte_timeout=_number(url, opts, "byte_timeout", 0.5, 0.01, 10),
    )
    return PosLinkOptions(
        version=version,
        timing=timing,
        report_status=_flag(url, opts, "report_status", report_default),
        cancel_with_ref=_flag(url, opts, "cancel_ref", True),
        manual_entry=_manual(url, opts.get("manual_entry", "MANUALENTRY=1")),
    )


def _manual(url: str, value: str) -> str:
    key, sep, val = value.partition("=")
    if not sep or not key.isalnum() or not val.isalnum():
        raise _fail(url, f"manual_entry={value!r} should be KEY=VALUE, e.g. MANUALENTRY=1")
    return value


def _query(url: str, query: str, allowed: set[str]) -> tuple[dict[str, str], list[str]]:
    opts: dict[str, str] = {}
    faults: list[str] = []
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise _fail(url, f"cannot read the options {query!r} (use key=value&key=value)") from None
    for key, value in pairs:
        if key == "fault" and "fault" in allowed:
            faults.append(value)
            continue
        if key not in allowed:
            raise _fail(url, f"unknown option {key!r} (known: {', '.join(sorted(allowed))})")
        opts[key] = value
    return opts, faults


def parse_url(url: str) -> tuple[str, dict[str, Any]]:
    """Validate ``url`` and return (kind, settings); raises :class:`TerminalUrlError`."""
    if not isinstance(url, str) or not url.strip():
        raise _fail(str(url), "empty")
    url = url.strip()
    scheme, sep, rest = url.partition(":")
    scheme = scheme.lower()
    if not sep:
        raise _fail(url, "no scheme")
    if scheme == "poslink+serial":
        target, _, query = rest.partition("?")
        if any(target.startswith(p) for p in _PYSERIAL_SCHEMES):
            port = target
        elif target.startswith("//"):
            port = target[2:]
            if not port:
                raise _fail(url, "no device named")
        else:
            raise _fail(url, "a serial URL starts with poslink+serial:// followed by the device")
        if port.upper().startswith("COM") and port[3:].isdigit():
            pass
        elif not port.startswith("/") and not any(port.startswith(p) for p in _PYSERIAL_SCHEMES):
            raise _fail(
                url, f"{port!r} is not a device path (/dev/…), a COM port or a pyserial URL"
            )
        opts, _ = _query(url, query, _COMMON | {"baud"})
        baud = int(_number(url, opts, "baud", 9600, 50, 4_000_000))
        if "baud" in opts and baud not in BAUDS:
            raise _fail(
                url, f"baud={opts['baud']} is not a standard speed ({', '.join(map(str, BAUDS))})"
            )
        return "serial", {
            "port": port,
            "baud": baud,
            "options": _options(
                url, opts, response_default=120, ack_default=3, report_default=False
            ),
        }
    if scheme == "poslink+tcp":
        parts = urlsplit(url)
        if not parts.hostname:
            raise _fail(url, "no host")
        try:
            tcp_port = parts.port or DEFAULT_PORT
        except ValueError:
            raise _fail(url, "the port must be a number 1–65535") from None
        if parts.path not in ("", "/"):
            raise _fail(url, f"unexpected path {parts.path!r}")
        opts, _ = _query(url, parts.query, _COMMON | {"connect_timeout"})
        return "tcp", {
            "host": parts.hostname,
            "port": tcp_port,
            "connect_timeout": _number(url, opts, "connect_timeout", 5, 0.05, 60),
            "options": _options(
                url, opts, response_default=120, ack_default=3, report_default=False
            ),
        }
    if scheme == "sim":
        parts = urlsplit(url)
        opts, faults = _query(
            url, parts.query, _COMMON | {"delay_ms", "card_wait_ms", "slow_ms", "fault"}
        )
        delay = int(_number(url, opts, "delay_ms", 0, 0, 600_000))
        card = int(_number(url, opts, "card_wait_ms", 0, 0, 600_000))
        slow = int(_number(url, opts, "slow_ms", 1500, 0, 600_000))
        from drivers.simulator.faults import FAULTS

        parsed_faults: list[tuple[str, int]] = []
        for item in faults:
            name, _, count = item.partition(":")
            if name not in FAULTS:
                raise _fail(url, f"unknown fault {name!r} (known: {', '.join(FAULTS)})")
            if count and not count.isdigit():
                raise _fail(url, f"fault count {count!r} must be a number")
            parsed_faults.append((name, int(count or 1)))
        response = (card + delay) / 1000 + 1.0
        return "sim", {
            "name": parts.hostname or "",
            "delay_ms": delay,
            "card_wait_ms": card,
            "slow_ms": slow,
            "faults": parsed_faults,
            "options": _options(
                url, opts, response_default=response, ack_default=1.0, report_default=True
            ),
        }
    if scheme in SPIN_SCHEMES:
        from drivers.spin.url import parse_spin_url

        return "spin", {"options": parse_spin_url(url)}
    raise _fail(
        url,
        f"unknown scheme {scheme!r} (a Dejavoo terminal: spin+http://HOST:PORT?tpn=TPN or "
        "spin+https://HOST/PATH?tpn=TPN)",
    )


def display_url(url: str) -> str:
    """``url`` safe to print: a password before ``@`` and secret-looking options masked (a URL
    carrying the auth key is refused, but the refusal must not echo it)."""
    if not isinstance(url, str):
        return ""
    head, sep, query = url.partition("?")
    if "@" in head:
        scheme, _, rest = head.partition("://")
        head = f"{scheme}://••••@{rest.rsplit('@', 1)[-1]}"
    if not sep:
        return head
    parts = []
    for item in query.split("&"):
        key, eq, _value = item.partition("=")
        secret = any(w in key.lower() for w in ("key", "pass", "secret", "token"))
        parts.append(f"{key}{eq}••••" if secret and eq else item)
    return f"{head}?{'&'.join(parts)}"


def needs_authkey(url: str) -> bool:
    """True for protocols that need an auth key beside the URL (SPIn)."""
    return isinstance(url, str) and url.strip().partition(":")[0].lower() in SPIN_SCHEMES


Opener = Callable[[str, Callable[[FrameTrace], None] | None], Terminal]
_OPENERS: dict[str, Opener] = {}


def register_scheme(scheme: str, opener: Opener) -> None:
    """Add a terminal protocol: ``opener(url, trace)`` returns a :class:`Terminal` for URLs whose
    scheme is ``scheme`` (e.g. a future ``ingenico+tcp``). Built-in schemes cannot be replaced."""
    scheme = scheme.lower()
    if scheme in ("poslink+serial", "poslink+tcp", "sim", *SPIN_SCHEMES):
        raise ValueError(f"{scheme!r} is built in")
    _OPENERS[scheme] = opener


def open_terminal(
    url: str,
    *,
    trace: Callable[[FrameTrace], None] | None = None,
    authkey: str | None = None,
) -> Terminal:
    """A :class:`Terminal` for ``url``. Nothing is opened until the first request.

    ``authkey``: the SPIn auth key (a secret the caller keeps; ignored by other protocols)."""
    scheme = url.partition(":")[0].lower() if isinstance(url, str) else ""
    if scheme in _OPENERS:
        return _OPENERS[scheme](url, trace)
    kind, cfg = parse_url(url)
    if kind == "spin":
        from drivers.spin.terminal import SpinTerminal

        if not authkey:
            raise TerminalUrlError(
                "a SPIn terminal needs its auth key, which is kept apart from the URL: store it "
                "in Setup (the keyring) or set POSPLUS_TERMINAL_AUTHKEY"
            )
        try:
            return SpinTerminal(url, cfg["options"], authkey, trace)
        except ValueError as exc:
            raise TerminalUrlError(f"SPIn terminal: {exc}") from None
    options = cfg["options"]
    assert isinstance(options, PosLinkOptions)
    if kind == "serial":
        try:
            from drivers.transports.serial import SerialConnector
        except ImportError:
            raise _fail(
                url, "serial terminals need pyserial, which is not installed (pip install pyserial)"
            ) from None

        connector = SerialConnector(str(cfg["port"]), int(cfg["baud"]))
        return PosLinkTerminal(url, connector, options, trace)
    if kind == "tcp":
        from drivers.transports.tcp import TcpConnector

        connector_t = TcpConnector(
            str(cfg["host"]), int(cfg["port"]), float(cfg["connect_timeout"])
        )
        return PosLinkTerminal(url, connector_t, options, trace)
    from drivers.simulator.model import Simulator
    from drivers.simulator.servers import InProcessConnector

    name = str(cfg["name"])
    sim = _SIM_SHARED.get(name) if name else None
    if not isinstance(sim, Simulator):
        sim = Simulator(
            delay_ms=int(cfg["delay_ms"]),
            card_wait_ms=int(cfg["card_wait_ms"]),
            slow_ms=int(cfg["slow_ms"]),
        )
        if name:
            _SIM_SHARED[name] = sim
    for fault, count in cfg["faults"]:
        sim.inject(fault, count)
    terminal = PosLinkTerminal(url, InProcessConnector(sim), options, trace)
    terminal.simulator = sim  # type: ignore[attr-defined]
    return terminal
