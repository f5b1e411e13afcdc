"""File types judged by their bytes (magic numbers), never by name or client header."""

from __future__ import annotations

from dataclasses import dataclass

SNIFF_BYTES = 64


@dataclass(frozen=True)
class FileType:
    content_type: str
    kind: str  # "image" or "video"
    extension: str


JPEG = FileType("image/jpeg", "image", "jpg")
PNG = FileType("image/png", "image", "png")
GIF = FileType("image/gif", "image", "gif")
WEBP = FileType("image/webp", "image", "webp")
MP4 = FileType("video/mp4", "video", "mp4")
MOV = FileType("video/quicktime", "video", "mov")
WEBM = FileType("video/webm", "video", "webm")
ALLOWED = (JPEG, PNG, GIF, WEBP, MP4, MOV, WEBM)


def sniff(head: bytes) -> FileType | None:
    """The type of a file from its first bytes, or None when it is not one we accept."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp":
        return MOV if head[8:12] == b"qt  " else MP4
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head[:SNIFF_BYTES]:
        return WEBM
    return None
