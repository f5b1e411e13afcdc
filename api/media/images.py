"""Safe image decoding and the variants we serve (Pillow).

Decoding refuses decompression bombs (more pixels than MEDIA_MAX_PIXELS; Pillow's warning is
treated as an error), animations with more than MEDIA_MAX_FRAMES frames, and truncated or
corrupt files. Every encoded output is written without EXIF (so without GPS), after the EXIF
orientation has been applied to the pixels.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from api.media.sniff import FileType

VARIANTS = (("thumbnail", 320), ("medium", 1024), ("large", 2048))
FORMATS = {  # served format -> Pillow format, content type, extension
    "webp": ("WEBP", "image/webp", "webp"),
    "jpeg": ("JPEG", "image/jpeg", "jpg"),
    "png": ("PNG", "image/png", "png"),
    "gif": ("GIF", "image/gif", "gif"),
}
ORIGINAL_FORMAT = {
    "image/jpeg": "jpeg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
}


class ImageRejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Encoded:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def open_checked(data: bytes, max_pixels: int, max_frames: int) -> Image.Image:
    """Decode the first frame, or raise ImageRejected with a clear code."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            frames = getattr(image, "n_frames", 1)
            if frames > max_frames:
                raise ImageRejected(
                    "too_many_frames", f"The animation has {frames} frames; at most {max_frames}."
                )
            image.seek(0)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(
            "image_too_large", f"The image has more than {max_pixels:,} pixels."
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected("image_unreadable", "The file is not a readable image.") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected("image_corrupt", "The image is truncated or corrupt.") from exc
    return image


def upright(image: Image.Image) -> Image.Image:
    """The first frame, turned as its EXIF orientation says, in RGB or RGBA."""
    frame = ImageOps.exif_transpose(image.copy())
    has_alpha = frame.mode in ("RGBA", "LA", "PA") or (
        frame.mode == "P" and "transparency" in frame.info
    )
    return frame.convert("RGBA" if has_alpha else "RGB")


def encode(image: Image.Image, served_format: str, max_side: int | None = None) -> Encoded:
    """`image` (from `upright`) scaled down to fit `max_side` (never up), without metadata."""
    pillow_format, content_type, extension = FORMATS[served_format]
    frame = image.copy()
    if max_side:
        frame.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if pillow_format == "JPEG" and frame.mode == "RGBA":
        background = Image.new("RGB", frame.size, (255, 255, 255))
        background.paste(frame, mask=frame.getchannel("A"))
        frame = background
    options: dict[str, object] = {
        "JPEG": {"quality": 85, "optimize": True, "progressive": True},
        "WEBP": {"quality": 82, "method": 4},
        "PNG": {"optimize": True},
        "GIF": {},
    }[pillow_format]
    buffer = io.BytesIO()
    frame.save(buffer, pillow_format, **options)
    return Encoded(buffer.getvalue(), content_type, extension, frame.width, frame.height)


def encode_original(image: Image.Image, file_type: FileType) -> Encoded:
    """The original re-encoded in its own format: upright and without EXIF or GPS.

    Animated GIFs keep their frames (GIF has no EXIF, and comments are not copied).
    """
    if file_type.content_type == "image/gif" and getattr(image, "n_frames", 1) > 1:
        buffer = io.BytesIO()
        image.seek(0)
        image.save(buffer, "GIF", save_all=True, loop=image.info.get("loop", 0))
        return Encoded(buffer.getvalue(), "image/gif", "gif", image.width, image.height)
    return encode(upright(image), ORIGINAL_FORMAT[file_type.content_type])
