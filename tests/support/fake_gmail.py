"""A local stand-in for Google's OAuth token endpoint and Gmail's `users.messages.send`."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import threading
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class FakeGmail:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.token_requests = 0
        self.send_statuses: list[int] = []  # statuses to answer sends with, before 200s
        self.authorizations: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def write_token_file(self, path: Path) -> Path:
        path.write_text(
            json.dumps(
                {
                    "type": "authorized_user",
                    "client_id": "test-client.apps.googleusercontent.com",
                    "client_secret": "test-secret",
                    "refresh_token": "test-refresh-token",
                }
            )
        )
        return path

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/token":
                    fake.token_requests += 1
                    self._answer(
                        200,
                        {"access_token": "ya29.test", "expires_in": 3600, "token_type": "Bearer"},
                    )
                    return
                if self.path.startswith("/gmail/v1/users/me/messages/send"):
                    fake.authorizations.append(self.headers.get("Authorization", ""))
                    if fake.send_statuses:
                        status = fake.send_statuses.pop(0)
                        self._answer(status, {"error": {"code": status, "message": "fake"}})
                        return
                    raw = json.loads(body)["raw"]
                    message = email.message_from_bytes(
                        base64.urlsafe_b64decode(raw), policy=email.policy.default
                    )
                    fake.messages.append(message)  # type: ignore[arg-type]
                    self._answer(200, {"id": f"gmail-{len(fake.messages)}", "threadId": "t1"})
                    return
                self._answer(404, {"error": {"code": 404, "message": "not found"}})

        return Handler

    def __enter__(self) -> FakeGmail:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
