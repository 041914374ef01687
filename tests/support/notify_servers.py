"""Real receivers for notification tests: an HTTP server and an SMTP server (aiosmtpd) on 127.0.0.1.

:class:`HttpReceiver` records every POST (path and JSON body) and answers with ``status``;
:class:`SmtpReceiver` records every message (with ``login`` it requires AUTH with that user and
password, over plain SMTP as tests have no certificate). Both bind port 0 and stop on exit.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import warnings
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.env import LOOPBACK, free_port


class HttpReceiver:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.received.append({"path": self.path, "content_type": self.headers.get("Content-Type"),
                                          "body": json.loads(body)})
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://{LOOPBACK}:{self.server.server_address[1]}{path}"

    def bodies(self, path: str | None = None) -> list[dict[str, Any]]:
        return [r["body"] for r in self.received if path is None or r["path"] == path]

    def __enter__(self) -> HttpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


class _PlainAuthController(Controller):
    """aiosmtpd warns about AUTH without TLS for every session; a test without a certificate must do that."""

    def factory(self) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
            return super().factory()


class SmtpReceiver:
    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.handler = _Handler()
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if login is not None:
            def authenticate(_server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any) -> AuthResult:
                ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == login
                return AuthResult(success=ok, handled=False)

            kwargs = {"authenticator": authenticate, "auth_required": True, "auth_require_tls": False}
        self.controller = _PlainAuthController(self.handler, hostname=LOOPBACK, port=self.port, **kwargs)

    def _start(self) -> None:
        self.controller.start()

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def __enter__(self) -> SmtpReceiver:
        self._start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.controller.stop()
