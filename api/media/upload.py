"""Reading a multipart upload as it streams in, so limits apply before the body is read.

The file part goes to a temporary file on disk chunk by chunk; its type is judged from its
first bytes; the per-type size limit is enforced while reading, and the request is answered
413 as soon as it is crossed, without reading the rest.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from typing import IO, Any

from flask import Request
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from api.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from api.media.sniff import SNIFF_BYTES, FileType, sniff

CHUNK_BYTES = 64 * 1024
MAX_FIELD_BYTES = 1024


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    file: IO[bytes] | None = None
    file_type: FileType | None = None
    size: int = 0


def read_upload(request: Request, limits: dict[str, int]) -> Upload:
    """The form fields and the `file` part (spooled to disk); limits are bytes per kind."""
    if request.mimetype != "multipart/form-data" or "boundary" not in request.mimetype_params:
        raise ValidationFailed(
            "Send the file as multipart/form-data.", errors={"file": ["Missing file."]}
        )
    decoder = MultipartDecoder(request.mimetype_params["boundary"].encode(), max_parts=16)
    upload = Upload()
    reader = _PartReader(upload, limits)
    stream = request.stream
    while True:
        chunk = stream.read(CHUNK_BYTES)
        decoder.receive_data(chunk or None)
        if _drain(decoder, reader) or not chunk:
            break
    if upload.file is None:
        raise ValidationFailed("No file was sent.", errors={"file": ["Missing file."]})
    if upload.size == 0:
        raise ValidationFailed("The file is empty.", errors={"file": ["The file is empty."]})
    if upload.file_type is None:  # shorter than the bytes a type needs
        reader.judge_type()
    upload.file.seek(0)
    return upload


def _drain(decoder: MultipartDecoder, reader: _PartReader) -> bool:
    """Handle every event available; True at the end of the message."""
    while True:
        event = decoder.next_event()
        if isinstance(event, NeedData):
            return False
        if isinstance(event, Epilogue):
            return True
        reader.handle(event)


class _PartReader:
    def __init__(self, upload: Upload, limits: dict[str, int]) -> None:
        self.upload = upload
        self.limits = limits
        self.current: str | None = None  # "file", a field name, or None (ignored part)
        self.head = b""
        self.field_value = b""

    def handle(self, event: Any) -> None:
        if isinstance(event, File):
            self.current = "file" if event.name == "file" and self.upload.file is None else None
            if self.current:
                self.upload.file = tempfile.TemporaryFile()  # noqa: SIM115 - the caller reads and closes it
        elif isinstance(event, Field):
            self.current, self.field_value = f"field:{event.name}", b""
        elif isinstance(event, Data):
            if self.current == "file":
                self._file_data(event.data)
            elif self.current and self.current.startswith("field:"):
                self.field_value += event.data
                if len(self.field_value) > MAX_FIELD_BYTES:
                    raise ValidationFailed(
                        "A form field is too long.", errors={self.current[6:]: ["Too long."]}
                    )
                if not event.more_data:
                    self.upload.fields[self.current[6:]] = self.field_value.decode(
                        "utf-8", errors="replace"
                    )

    def judge_type(self) -> None:
        self.upload.file_type = sniff(self.head)
        if self.upload.file_type is None:
            raise UnsupportedMediaType(
                "Only JPEG, PNG, WebP and GIF images and MP4, WebM and MOV videos are "
                "accepted (judged by the file's content, not its name)."
            )

    def _file_data(self, data: bytes) -> None:
        upload = self.upload
        assert upload.file is not None
        if upload.file_type is None:
            self.head += data[: SNIFF_BYTES - len(self.head)]
            if len(self.head) >= SNIFF_BYTES:
                self.judge_type()
        upload.size += len(data)
        if upload.file_type is not None and upload.size > self.limits[upload.file_type.kind]:
            limit_mb = self.limits[upload.file_type.kind] / 1024 / 1024
            raise PayloadTooLarge(
                f"{upload.file_type.kind.capitalize()}s may be at most {limit_mb:g} MB."
            )
        upload.file.write(data)
