"""SPIn terminal URLs (pure): ``spin+http://HOST:PORT?tpn=T`` (local: the terminal's own address)
and ``spin+https://HOST/PATH?tpn=T`` (cloud: the SPIn proxy). The auth key is a secret and never
part of a URL: one that carries it is refused, with the reason."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from drivers.errors import TerminalUrlError
from drivers.spin.codec import PAYMENT_TYPES
from drivers.spin.terminal import SpinOptions

EXAMPLES = (
    "spin+http://192.168.1.60:9000?tpn=Z11AB0123456 (local) or "
    "spin+https://spinpos.net/spin?tpn=Z11AB0123456 (cloud)"
)
_OPTIONS = {
    "tpn",
    "payment_type",
    "timeout",
    "proxy_timeout",
    "settle_timeout",
    "connect_timeout",
    "busy_wait",
}
_SECRET_WORDS = ("authkey", "auth_key", "auth-key", "key", "password", "secret", "token")


def _fail(url: str, problem: str) -> TerminalUrlError:
    return TerminalUrlError(f"terminal URL {_shown(url)!r}: {problem}. Examples: {EXAMPLES}")


def _shown(url: str) -> str:
    """The URL without its query, for messages: a refused URL may hold a secret."""
    return url.split("?", 1)[0].split("@")[-1] if "@" in url else url.split("?", 1)[0]


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


def parse_spin_url(url: str) -> SpinOptions:
    """Validate a ``spin+http``/``spin+https`` URL; raises :class:`TerminalUrlError`."""
    scheme = url.partition(":")[0].lower()
    if scheme not in ("spin+http", "spin+https"):
        raise _fail(url, f"unknown scheme {scheme!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _fail(url, "the port must be a number 1–65535") from None
    if parts.username is not None or parts.password is not None:
        raise _fail(
            url,
            "a name or key before '@' does not belong in the URL: the auth key is a secret, kept "
            "in the keyring (Setup) or POSPLUS_TERMINAL_AUTHKEY",
        )
    if not parts.hostname:
        raise _fail(url, "no host")
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise _fail(url, "cannot read the options (use key=value&key=value)") from None
    opts: dict[str, str] = {}
    for key, value in pairs:
        low = key.lower()
        if any(word in low for word in _SECRET_WORDS):
            raise _fail(
                url,
                f"{key!r} looks like the auth key: it is a secret and never goes in the URL or the "
                "settings file — store it in Setup (the keyring) or set POSPLUS_TERMINAL_AUTHKEY",
            )
        if low not in _OPTIONS:
            raise _fail(url, f"unknown option {key!r} (known: {', '.join(sorted(_OPTIONS))})")
        opts[low] = value
    tpn = opts.get("tpn", "")
    if not tpn:
        raise _fail(url, "the terminal's TPN is missing (…?tpn=Z11AB0123456)")
    if not tpn.isascii() or not tpn.isalnum() or len(tpn) > 20:
        raise _fail(url, f"tpn={tpn!r} should be the terminal's 10–12 letters and digits")
    payment_type = opts.get("payment_type", "Credit")
    if payment_type not in PAYMENT_TYPES:
        raise _fail(url, f"payment_type must be one of {', '.join(PAYMENT_TYPES)}")
    cloud = scheme == "spin+https"
    if not cloud:
        if port is None:
            raise _fail(
                url, "a local SPIn terminal needs its port (set on the terminal, e.g. :9000)"
            )
        if parts.path not in ("", "/"):
            raise _fail(url, f"unexpected path {parts.path!r} for a local terminal")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = f"{host}:{port}" if port else host
    base = f"{'https' if cloud else 'http'}://{netloc}{parts.path.rstrip('/')}"
    proxy = opts.get("proxy_timeout")
    proxy_timeout = int(_number(url, opts, "proxy_timeout", 0, 1, 720)) if proxy else None
    default_timeout = (proxy_timeout or 120) + 10.0
    timeout = _number(url, opts, "timeout", default_timeout, 0.05, 900)
    return SpinOptions(
        base_url=base,
        tpn=tpn,
        payment_type=payment_type,
        timeout=timeout,
        proxy_timeout=proxy_timeout,
        settle_timeout=_number(url, opts, "settle_timeout", 430.0, 0.05, 900),
        connect_timeout=_number(url, opts, "connect_timeout", 5.0, 0.05, 60),
        busy_wait=_number(url, opts, "busy_wait", 60.0, 0, 600),
        cloud=cloud,
    )
