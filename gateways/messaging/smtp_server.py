"""A real local SMTP server (aiosmtpd) for the demo and the tests: it keeps what it receives.

Binds 127.0.0.1 on a port the OS picks (aiosmtpd's default ``::1`` surprises IPv4-only clients).
Recipients listed in ``reject`` get ``550``, as a real relay does for a mailbox that does not exist.
With ``users`` it requires AUTH (PLAIN/LOGIN, allowed without TLS on loopback) and refuses a wrong
user name or password with ``535``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import warnings
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = ["LocalSmtpServer", "ReceivedMail"]


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str
    body: str


@dataclass
class _Handler:
    reject: set[str] = field(default_factory=set)
    received: list[ReceivedMail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.reject:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        part = parsed.get_body(preferencelist=("plain",))
        body = part.get_content() if part is not None else ""
        mail = ReceivedMail(
            str(envelope.mail_from), tuple(envelope.rcpt_tos), str(parsed["Subject"] or ""), body
        )
        with self.arrived:
            self.received.append(mail)
            self.arrived.notify_all()
        return "250 Message accepted for delivery"


@dataclass(frozen=True)
class _Users:
    """aiosmtpd's authenticator: the login passes when the user name and password match."""

    users: dict[str, str]

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if self.users.get(user) == password:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


class _BoundController(Controller):
    """aiosmtpd's Controller on a socket we already bound (so port 0 works and is known)."""

    def __init__(self, handler: Any, sock: socket.socket, **smtp: Any) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **smtp)
        self._sock = sock

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


class LocalSmtpServer:
    """``with LocalSmtpServer() as smtp:`` → ``smtp.host``, ``smtp.port``, ``smtp.received``."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, users: dict[str, str] | None = None
    ) -> None:
        self._handler = _Handler()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(16)
        self.host, self.port = sock.getsockname()[:2]
        auth: dict[str, Any] = {}
        if users is not None:
            # Plain AUTH without TLS is what we want on loopback; aiosmtpd warns on each session.
            warnings.filterwarnings(
                "ignore", "Requiring AUTH while not requiring TLS", UserWarning, "aiosmtpd"
            )
            auth = {
                "authenticator": _Users(dict(users)),
                "auth_required": True,
                "auth_require_tls": False,
            }
        self._controller = _BoundController(self._handler, sock, **auth)

    def start(self) -> LocalSmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> LocalSmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reject(self, address: str) -> None:
        """Answer 550 for this recipient from now on."""
        self._handler.reject.add(address.lower())

    @property
    def received(self) -> list[ReceivedMail]:
        with self._handler.lock:
            return list(self._handler.received)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        """Block (a thread, not the loop) until ``count`` messages arrived or ``timeout`` passes."""
        with self._handler.arrived:
            self._handler.arrived.wait_for(lambda: len(self._handler.received) >= count, timeout)
            return list(self._handler.received)

    async def await_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        return await asyncio.to_thread(self.wait_for, count, timeout)
