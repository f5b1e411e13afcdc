"""Removing personal metadata from uploaded videos, without re-muxing them.

Phones write where a video was shot into its container: QuickTime `©xyz` in `moov/udta`,
`com.apple.quicktime.location.ISO6709` (with make, model, software and dates) in `moov/meta`,
3GPP `loci` in `udta`, XMP in a `uuid` box. Every `udta` and `meta` box in the file, the
movie and its tracks (and XMP `uuid` boxes) becomes a `free` box of the same size with its
bytes zeroed: players skip `free`, and since nothing moves, every chunk offset (`stco`,
`co64`) stays valid. This is the video counterpart of dropping an image's EXIF: user data
only, never the samples. WebM (Matroska) keeps location in `Tags` (`RECORDING_LOCATION`):
each Tags element becomes an EBML `Void` of the same size, and the `SeekHead` entry that
points at it is voided too.

Location recorded as samples of a timed metadata track (inside `mdat`) is not touched.
"""

from __future__ import annotations

import struct

from api.media.sniff import MOV, MP4, WEBM, FileType

# ISO BMFF (MP4, MOV): boxes whose children are walked, and boxes that are user data.
BOX_CONTAINERS = {b"moov", b"trak", b"moof", b"traf"}
USER_DATA_BOXES = {b"udta", b"meta", b"\xa9xyz", b"loci", b"XMP_"}
XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")

# Matroska (WebM) element IDs, with their length-marker bits, as written.
EBML_HEADER, SEGMENT, CLUSTER = 0x1A45DFA3, 0x18538067, 0x1F43B675
SEEK_HEAD, SEEK, SEEK_ID, TAGS, VOID = 0x114D9B74, 0x4DBB, 0x53AB, 0x1254C367, 0xEC
TOP_LEVEL = {  # the children of a Segment: an unknown-size Cluster ends where one starts
    SEEK_HEAD,
    0x1549A966,  # Info
    0x1654AE6B,  # Tracks
    CLUSTER,
    0x1C53BB6B,  # Cues
    0x1043A770,  # Chapters
    0x1941A469,  # Attachments
    TAGS,
    EBML_HEADER,
    SEGMENT,
}


class VideoRejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _corrupt() -> VideoRejected:
    return VideoRejected("video_corrupt", "The video's container is malformed.")


def strip_metadata(data: bytes, file_type: FileType) -> bytes:
    """`data` with its location and other user metadata zeroed (same length); else as is."""
    buffer = bytearray(data)
    if file_type in (MP4, MOV):
        changed = _strip_boxes(buffer, 0, len(buffer))
    elif file_type == WEBM:
        changed = _strip_matroska(buffer)
    else:
        return data
    return bytes(buffer) if changed else data


# --- MP4 and MOV (ISO base media file format) ------------------------------------------------


def _strip_boxes(buffer: bytearray, start: int, end: int) -> bool:
    """Neutralise the user-data boxes between `start` and `end`, walking into containers."""
    changed, pos = False, start
    while end - pos >= 8:
        size, kind = struct.unpack_from(">I4s", buffer, pos)
        header = 8
        if size == 1:  # a 64-bit size follows the type
            if end - pos < 16:
                raise _corrupt()
            size, header = struct.unpack_from(">Q", buffer, pos + 8)[0], 16
        elif size == 0:  # to the end of the file (here: of the enclosing box)
            size = end - pos
        if size < header:
            raise _corrupt()
        box_end = min(pos + size, end)  # a box cut short (a truncated upload) ends at the end
        content = pos + header
        if kind in USER_DATA_BOXES or (
            kind == b"uuid" and buffer[content : content + 16] == XMP_UUID
        ):
            buffer[pos + 4 : pos + 8] = b"free"
            buffer[content:box_end] = bytes(box_end - content)
            changed = True
        elif kind in BOX_CONTAINERS:
            changed |= _strip_boxes(buffer, content, box_end)
        pos = box_end
    return changed


# --- WebM (Matroska, EBML) -------------------------------------------------------------------


def _vint(buffer: bytearray, pos: int, end: int, max_length: int) -> tuple[int, int]:
    """(value with its marker bits, length) of the EBML variable-length integer at `pos`."""
    if pos >= end or buffer[pos] == 0:
        raise _corrupt()
    length = 9 - buffer[pos].bit_length()
    if length > max_length or pos + length > end:
        raise _corrupt()
    return int.from_bytes(buffer[pos : pos + length], "big"), length


def _element(buffer: bytearray, pos: int, end: int) -> tuple[int, int, int | None]:
    """(id, where its data starts, its data size or None when unknown) of the element at pos."""
    element_id, id_length = _vint(buffer, pos, end, 4)
    raw_size, size_length = _vint(buffer, pos + id_length, end, 8)
    size = raw_size & ((1 << (7 * size_length)) - 1)  # without the length marker
    unknown = size == (1 << (7 * size_length)) - 1  # all ones: "until the parent ends"
    return element_id, pos + id_length + size_length, None if unknown else size


def _void(buffer: bytearray, start: int, end: int) -> None:
    """Overwrite [start, end) with one EBML Void element of exactly that length, zeroed."""
    total = end - start
    size_length = min(8, total - 1)
    payload = total - 1 - size_length
    buffer[start] = VOID
    buffer[start + 1 : start + 1 + size_length] = ((1 << (7 * size_length)) | payload).to_bytes(
        size_length, "big"
    )
    buffer[start + 1 + size_length : end] = bytes(payload)


def _strip_matroska(buffer: bytearray) -> bool:
    changed, pos, end = False, 0, len(buffer)
    while end - pos >= 2:
        if buffer[pos] == 0 and not any(memoryview(buffer)[pos:]):
            break  # zeros after the last element are padding
        element_id, data, size = _element(buffer, pos, end)
        element_end = end if size is None else min(data + size, end)
        if element_id == SEGMENT:
            changed |= _strip_segment(buffer, data, element_end)
        elif size is None:
            raise _corrupt()
        pos = element_end
    return changed


def _strip_segment(buffer: bytearray, pos: int, end: int) -> bool:
    changed = False
    while end - pos >= 2:
        element_id, data, size = _element(buffer, pos, end)
        if size is None:
            if element_id == SEGMENT:
                return _strip_segment(buffer, data, end) or changed
            if element_id != CLUSTER:
                raise _corrupt()
            pos = _end_of_unknown_cluster(buffer, data, end)
            continue
        element_end = min(data + size, end)
        if element_id == TAGS:
            _void(buffer, pos, element_end)
            changed = True
        elif element_id == SEGMENT:  # a chained segment
            changed |= _strip_segment(buffer, data, element_end)
        elif element_id == SEEK_HEAD:
            changed |= _void_seeks_to_tags(buffer, data, element_end)
        pos = element_end
    return changed


def _end_of_unknown_cluster(buffer: bytearray, pos: int, end: int) -> int:
    """A live-recorded Cluster (size unknown) ends where the next top-level element starts."""
    while end - pos >= 2:
        element_id, data, size = _element(buffer, pos, end)
        if element_id in TOP_LEVEL:
            return pos
        if size is None:
            raise _corrupt()
        pos = min(data + size, end)
    return end


def _void_seeks_to_tags(buffer: bytearray, pos: int, end: int) -> bool:
    """Void the SeekHead entries that point at Tags (they would point at a Void)."""
    changed = False
    while end - pos >= 2:
        element_id, data, size = _element(buffer, pos, end)
        if size is None:
            raise _corrupt()
        element_end = min(data + size, end)
        if element_id == SEEK and _seek_target(buffer, data, element_end) == TAGS:
            _void(buffer, pos, element_end)
            changed = True
        pos = element_end
    return changed


def _seek_target(buffer: bytearray, pos: int, end: int) -> int | None:
    while end - pos >= 2:
        element_id, data, size = _element(buffer, pos, end)
        if size is None:
            raise _corrupt()
        if element_id == SEEK_ID:
            return int.from_bytes(buffer[data : min(data + size, end)], "big")
        pos = min(data + size, end)
    return None
