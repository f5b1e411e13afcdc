"""A local webhook receiver that records requests and answers as the test scripts it.

Besides plain answers it can play a tarpit (`mode`): drip the status line, the headers or the
body a byte at a time, or read the request and never answer. A drip lasts `drip_seconds` at
most (then the rest is sent at once), so even a client without a deadline finishes. Given a
server TLS context it speaks HTTPS; mode `hang-handshake` then never completes the handshake.
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from tests.support.local_server import LocalServer, QuietHandler

Mode = Literal["answer", "drip-status", "drip-headers", "drip-body", "hang", "hang-handshake"]
DRIP_PADDING = b"." * 400  # more bytes than a drip can send in `drip_seconds`


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver(LocalServer):
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.scheme = "https" if tls else "http"
        self.received: list[Received] = []
        self.statuses: list[int] = []  # answers to give, in order, before 204s
        self.delay = 0.0
        self.response_body = b""
        self.redirect_to: str | None = None
        self.mode: Mode = "answer"
        self.drip_interval = 0.25  # seconds between two dripped bytes
        self.drip_seconds = 6.0  # how long a drip or a hang lasts at most
        self.stopping = threading.Event()  # set on exit: tarpits let go of their connections
        super().__init__()

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        super().__exit__(*exc)

    def server_class(self) -> type[ThreadingHTTPServer]:
        receiver = self

        class Server(ThreadingHTTPServer):
            def finish_request(self, request: Any, client_address: Any) -> None:
                """The TLS handshake, in the connection's thread (not the accept loop)."""
                if receiver.tls is not None:
                    if receiver.mode == "hang-handshake":
                        receiver.stopping.wait(receiver.drip_seconds)
                        return
                    try:
                        request = receiver.tls.wrap_socket(request, server_side=True)
                    except (OSError, ValueError):  # the client refused our certificate
                        return
                super().finish_request(request, client_address)

        return Server

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                try:
                    if receiver.mode == "answer":
                        self.answer()
                    else:
                        self.tarpit(receiver.mode)
                except OSError:  # the client gave up (its deadline): nothing left to do
                    self.close_connection = True

            def answer(self) -> None:
                time.sleep(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                if receiver.redirect_to and 300 <= status < 400:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", str(len(receiver.response_body)))
                self.end_headers()
                self.wfile.write(receiver.response_body)

            def tarpit(self, mode: Mode) -> None:
                self.close_connection = True
                if mode == "hang":
                    receiver.stopping.wait(receiver.drip_seconds)
                elif mode == "drip-status":
                    self.drip(b"HTTP/1.1 204 " + DRIP_PADDING + b"\r\n")
                    self.wfile.write(b"Content-Length: 0\r\n\r\n")
                elif mode == "drip-headers":
                    self.wfile.write(b"HTTP/1.1 204 No Content\r\n")
                    self.drip(b"X-Slow: " + DRIP_PADDING + b"\r\n")
                    self.wfile.write(b"Content-Length: 0\r\n\r\n")
                elif mode == "drip-body":
                    length = len(DRIP_PADDING)
                    self.wfile.write(
                        f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n".encode()
                    )
                    self.drip(DRIP_PADDING)

            def drip(self, data: bytes) -> None:
                """One byte every `drip_interval`: each read succeeds, the answer never ends."""
                until = time.monotonic() + receiver.drip_seconds
                for index in range(len(data)):
                    if receiver.stopping.is_set():
                        return
                    if time.monotonic() >= until:
                        self.wfile.write(data[index:])
                        return
                    self.wfile.write(data[index : index + 1])
                    receiver.stopping.wait(receiver.drip_interval)

        return Handler

    def wait_for(self, count: int, timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received
