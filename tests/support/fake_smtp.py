"""A local SMTP server (aiosmtpd) that records messages and can refuse or stall on demand."""

from __future__ import annotations

import email
import email.policy
import threading
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


class RecordingHandler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.replies: list[str] = []  # answers to use, in order, before accepting normally
        self.stall = threading.Event()  # set: DATA blocks until `release` is set
        self.release = threading.Event()
        self.entered_data = threading.Event()
        self.accept_after_stall = False  # a slow server, not a dropped connection

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.entered_data.set()
        if self.stall.is_set():
            # Blocking aiosmtpd's loop is the point: the sender hangs mid-DATA. Once released,
            # the message is dropped, as if the connection had died before it was accepted
            # (unless `accept_after_stall`: then it was only slow).
            self.release.wait(30)
            if not self.accept_after_stall:
                return "421 4.4.2 Connection dropped"
            self.stall.clear()
        if self.replies:
            return self.replies.pop(0)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


class FakeSmtpServer:
    def __init__(self, port: int) -> None:
        self.handler = RecordingHandler()
        self.port = port
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=port)

    def __enter__(self) -> FakeSmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.handler.release.set()
        self._controller.stop()
