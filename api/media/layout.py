"""What an image container declares, read from its bytes without decoding a pixel.

Pillow decodes every frame of an animated GIF onto the full canvas, so the cost of a GIF is
canvas x frames, and both can be read from its blocks: this is how the media job refuses an
animation bomb before Pillow allocates anything. The walk follows Pillow's GIF reader
(`GifImagePlugin._seek`) block for block, so it counts the frames Pillow would decode.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

GIF_TRAILER, GIF_EXTENSION, GIF_IMAGE = 0x3B, 0x21, 0x2C
JPEG_SOS = b"\xff\xda"


@dataclass(frozen=True)
class GifLayout:
    frames: int
    width: int  # the canvas Pillow composites every frame onto: the logical screen, grown to
    height: int  # fit any frame that reaches past it (Pillow grows it while decoding)

    @property
    def pixels(self) -> int:
        return self.width * self.height


def gif_layout(data: bytes) -> GifLayout:
    """Frames and canvas of a GIF, skipping the LZW data sub-block by sub-block."""
    if len(data) < 13:
        return GifLayout(0, 0, 0)
    width, height, flags = struct.unpack_from("<HHB", data, 6)
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # after the global palette
    frames, end = 0, len(data)
    while pos < end:
        introducer = data[pos]
        pos += 1
        if introducer == GIF_TRAILER:
            break
        if introducer == GIF_EXTENSION:
            pos = _skip_sub_blocks(data, pos + 1)  # after the label
        elif introducer == GIF_IMAGE:
            frames += 1
            if pos + 9 > end:
                break
            left, top, frame_width, frame_height, frame_flags = struct.unpack_from(
                "<HHHHB", data, pos
            )
            width, height = max(width, left + frame_width), max(height, top + frame_height)
            pos += 9
            if frame_flags & 0x80:
                pos += 3 << ((frame_flags & 7) + 1)  # the local palette
            pos = _skip_sub_blocks(data, pos + 1)  # after the LZW minimum code size
        # Pillow skips any other byte one at a time, and so does this walk.
    return GifLayout(frames, width, height)


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    end = len(data)
    while pos < end:
        size = data[pos]
        pos += 1 + size
        if size == 0:
            break
    return pos


def jpeg_scans(data: bytes) -> int:
    """At least the number of scans in a JPEG (start-of-scan markers; a byte search).

    libjpeg passes over every block of the image once per scan, so a progressive JPEG of
    thousands of tiny scans costs minutes to decode. In entropy-coded data every 0xFF byte is
    stuffed (followed by 0x00), so FF DA occurs only as a marker, or inside metadata such as an
    EXIF thumbnail: the count is an upper bound, and exact for ordinary files.
    """
    return data.count(JPEG_SOS)
