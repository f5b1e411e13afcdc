"""A local stand-in for Google's OAuth token endpoint and Gmail's `users.messages.send`."""

from __future__ import annotations

import base64
import email
import email.policy
import json
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.support.local_server import LocalServer, QuietHandler


class FakeGmail(LocalServer):
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.token_requests = 0
        self.send_statuses: list[int] = []  # statuses to answer sends with, before 200s
        self.authorizations: list[str] = []
        super().__init__()

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

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/token":
                    fake.token_requests += 1
                    self.answer_json(
                        200,
                        {"access_token": "ya29.test", "expires_in": 3600, "token_type": "Bearer"},
                    )
                    return
                if self.path.startswith("/gmail/v1/users/me/messages/send"):
                    fake.authorizations.append(self.headers.get("Authorization", ""))
                    if fake.send_statuses:
                        status = fake.send_statuses.pop(0)
                        self.answer_json(status, {"error": {"code": status, "message": "fake"}})
                        return
                    raw = json.loads(body)["raw"]
                    message = email.message_from_bytes(
                        base64.urlsafe_b64decode(raw), policy=email.policy.default
                    )
                    fake.messages.append(message)  # type: ignore[arg-type]
                    self.answer_json(200, {"id": f"gmail-{len(fake.messages)}", "threadId": "t1"})
                    return
                self.answer_json(404, {"error": {"code": 404, "message": "not found"}})

        return Handler
