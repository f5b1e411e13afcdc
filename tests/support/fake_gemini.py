"""A local stand-in for the Gemini API's `models/{model}:generateContent`."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.local_server import LocalServer, QuietHandler


class FakeGemini(LocalServer):
    """Answers with scripted replies: a dict (JSON to return as the model's text), a string
    (raw model text, e.g. malformed JSON), or an int (an HTTP error status)."""

    def __init__(self) -> None:
        self.replies: list[dict[str, Any] | str | int] = []
        self.default: dict[str, Any] | str | int = 500
        self.requests: list[dict[str, Any]] = []
        self.delay = 0.0
        super().__init__()

    @property
    def calls(self) -> int:
        return len(self.requests)

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                fake.requests.append(
                    {"path": self.path, "body": body, "api_key": self.headers.get("x-goog-api-key")}
                )
                time.sleep(fake.delay)
                reply = fake.replies.pop(0) if fake.replies else fake.default
                if isinstance(reply, int):
                    self.answer_json(
                        reply,
                        {
                            "error": {
                                "code": reply,
                                "message": "fake error",
                                "status": "UNAVAILABLE",
                            }
                        },
                    )
                    return
                text = reply if isinstance(reply, str) else json.dumps(reply)
                self.answer_json(
                    200,
                    {
                        "candidates": [
                            {
                                "content": {"role": "model", "parts": [{"text": text}]},
                                "finishReason": "STOP",
                                "index": 0,
                            }
                        ],
                        "usageMetadata": {
                            "promptTokenCount": 100,
                            "candidatesTokenCount": 200,
                            "totalTokenCount": 300,
                        },
                        "modelVersion": "gemini-test",
                    },
                )

        return Handler
