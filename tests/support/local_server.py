"""The shared shape of the tests' local HTTP servers: start, stop, answer JSON."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def answer_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class LocalServer:
    """Serves `handler_class()` on 127.0.0.1 (a free port) while used as a context manager."""

    scheme = "http"

    def __init__(self) -> None:
        self._server = self.server_class()(("127.0.0.1", 0), self.handler_class())
        self.url = f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}"
        self.port = self._server.server_address[1]

    def server_class(self) -> type[ThreadingHTTPServer]:
        return ThreadingHTTPServer

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
