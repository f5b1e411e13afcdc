"""A local stand-in for Cloudinary's Upload API (`upload` with eager transformations,
`destroy`), reached by the real `cloudinary` SDK through its `upload_prefix` setting."""

from __future__ import annotations

import email.parser
import email.policy
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.local_server import LocalServer, QuietHandler


def parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        value = part.get_payload(decode=True)
        if part.get_filename() is None:
            value = value.decode()
        if name.endswith("[]"):
            fields.setdefault(name[:-2], []).append(value)
        else:
            fields[name] = value
    return fields


class FakeCloudinary(LocalServer):
    def __init__(self) -> None:
        self.uploads: list[dict[str, Any]] = []
        self.destroyed: list[tuple[str, str]] = []
        self.fail_with: int | None = None
        super().__init__()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fields = parse_multipart(self.headers["Content-Type"], body)
                _, _version, cloud, resource_type, action = self.path.split("/")
                if fake.fail_with:
                    self.answer_json(fake.fail_with, {"error": {"message": "fake failure"}})
                    return
                if action == "destroy":
                    fake.destroyed.append((resource_type, fields["public_id"]))
                    self.answer_json(200, {"result": "ok"})
                    return
                fake.uploads.append({"resource_type": resource_type, **fields})
                public_id = fields["public_id"]
                base = f"https://res.cloudinary.test/{cloud}/{resource_type}/upload"
                eager = fields.get("eager", "")
                eager_results = [
                    {"transformation": spec, "secure_url": f"{base}/{spec}/{public_id}"}
                    for spec in (eager.split("|") if eager else [])
                ]
                self.answer_json(
                    200,
                    {
                        "public_id": public_id,
                        "version": 1,
                        "resource_type": resource_type,
                        "bytes": len(fields["file"]),
                        "secure_url": f"{base}/v1/{public_id}",
                        "eager": eager_results,
                    },
                )

        return Handler
