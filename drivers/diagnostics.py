"""A technician's layered check of a terminal connection. Serial/TCP (POSLink): URL → port →
bytes → framing → identification → status query. HTTP (SPIn): URL → address → TCP → HTTP →
auth key → terminal online. Each layer names what failed and what to try."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from drivers.base import NotFound, TerminalError, Unknown
from drivers.errors import TerminalConnectionError, TerminalUrlError
from drivers.poslink.session import PortUnavailable
from drivers.poslink.terminal import PosLinkTerminal
from drivers.registry import open_terminal, parse_url
from drivers.trace import FrameTrace

#: layer name → process exit code when that layer fails
LAYERS = {
    "url": 2,
    "port": 3,
    "bytes": 4,
    "framing": 5,
    "identify": 6,
    "status": 7,
    "address": 8,
    "tcp": 9,
    "http": 10,
    "authkey": 11,
    "online": 12,
}
PROBE_REF = "DIAG0000000001"


@dataclass(frozen=True)
class Check:
    layer: str
    ok: bool
    detail: str
    hint: str = ""


@dataclass
class Diagnosis:
    url: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failed(self) -> Check | None:
        return next((c for c in self.checks if not c.ok), None)

    @property
    def exit_code(self) -> int:
        failed = self.failed
        return 0 if failed is None else LAYERS.get(failed.layer, 1)


def _serial_hint(url: str) -> str:
    if url.startswith("poslink+serial"):
        return (
            "check the cable, that the terminal's ECR/POSLink communication is set to serial at the "
            "same speed (try baud=9600 and baud=115200), and that it is on its idle screen"
        )
    return "check the terminal's IP address and port (PAX: 10009) and that its ECR/POSLink mode is on TCP"


async def diagnose(
    url: str,
    *,
    trace: Callable[[FrameTrace], None] | None = None,
    on_check: Callable[[Check], None] | None = None,
    authkey: str | None = None,
) -> Diagnosis:
    """Run initialize and a status query against ``url`` and explain the first layer that fails.
    ``authkey``: the SPIn auth key (HTTP terminals), kept apart from the URL."""
    result = Diagnosis(url)

    def add(check: Check) -> bool:
        result.checks.append(check)
        if on_check is not None:
            on_check(check)
        return check.ok

    try:
        kind, cfg = parse_url(url)
    except TerminalUrlError as exc:
        add(Check("url", False, str(exc), "fix the URL"))
        return result
    add(Check("url", True, f"{kind} terminal URL understood"))
    if kind == "spin":
        from drivers.spin.diagnostics import diagnose_spin

        def add_layer(layer: str, ok: bool, detail: str, hint: str) -> bool:
            return add(Check(layer, ok, detail, hint))

        await diagnose_spin(url, cfg["options"], authkey, add_layer, trace)
        return result
    seen: list[FrameTrace] = []

    def record(item: FrameTrace) -> None:
        seen.append(item)
        if trace is not None:
            trace(item)

    terminal = open_terminal(url, trace=record)
    assert isinstance(terminal, PosLinkTerminal)
    timing = terminal.options.timing
    if "timeout=" not in url.replace("ack_timeout=", "").replace("connect_timeout=", ""):
        # identification and status answer at once; don't wait a card-presentation time-out
        terminal.options = replace(
            terminal.options,
            timing=replace(timing, response_timeout=min(timing.response_timeout, 10.0)),
        )
    try:
        # the port layer is checked by the identification itself: opening a TCP connection and
        # closing it without a request makes a real terminal log a bad request
        try:
            info = await terminal.initialize()
        except TerminalConnectionError as exc:
            cause = exc.__cause__
            if isinstance(cause, PortUnavailable):
                add(Check("port", False, str(cause.reason).split(" — ")[0], cause.hint))
                return result
            add(Check("port", True, f"opened {terminal.connector.description}"))
            rx = [t for t in seen if t.direction == "rx" and t.kind != "note"]
            if not rx:
                add(
                    Check(
                        "bytes",
                        False,
                        f"nothing came back from the terminal ({exc})",
                        _serial_hint(url),
                    )
                )
            elif not any(t.kind in ("ack", "frame") for t in rx):
                add(Check("bytes", True, f"{sum(t.size for t in rx)} byte(s) received"))
                add(
                    Check(
                        "framing",
                        False,
                        f"bytes arrive but no valid frame or ACK ({', '.join(sorted({t.kind for t in rx}))})",
                        "a wrong line speed or protocol garbles frames: check baud= matches the terminal "
                        "and that it speaks POSLink",
                    )
                )
            else:
                add(Check("bytes", True, f"{sum(t.size for t in rx)} byte(s) received"))
                add(Check("framing", True, "valid frames and ACKs"))
                add(
                    Check(
                        "identify",
                        False,
                        f"the terminal did not identify itself: {exc}",
                        "leave any menu on the terminal and retry; check the POSLink version (version=)",
                    )
                )
            return result
        add(Check("port", True, f"opened {terminal.connector.description}"))
        rx_bytes = sum(t.size for t in seen if t.direction == "rx")
        add(Check("bytes", True, f"{rx_bytes} byte(s) received"))
        add(Check("framing", True, "valid frames, checksums and ACKs"))
        add(
            Check(
                "identify",
                True,
                f"{info.model}, serial {info.serial_number}, firmware {info.firmware}",
            )
        )
        status = await terminal.status(PROBE_REF)
        if isinstance(status, NotFound):
            add(
                Check("status", True, "status query answered (no such test reference, as expected)")
            )
        elif isinstance(status, Unknown | TerminalError):
            detail = status.reason if isinstance(status, Unknown) else status.message
            add(
                Check(
                    "status",
                    False,
                    f"status query failed: {detail}",
                    "the terminal may not support R02 detail reports",
                )
            )
        else:
            add(Check("status", True, f"status query answered ({type(status).__name__})"))
        return result
    finally:
        await terminal.close()
