"""Safe image decoding and the variants we serve (Pillow).

Before Pillow sees a pixel, the container is measured (`layout`): an animation is refused when
its frames x canvas exceed MEDIA_MAX_TOTAL_PIXELS, a JPEG when it has more scans than
MAX_JPEG_SCANS. Decoding then refuses decompression bombs (more pixels than MEDIA_MAX_PIXELS),
animations with more than MEDIA_MAX_FRAMES frames, and truncated or corrupt files. Whatever
hostile bytes make Pillow raise, here or later while encoding, becomes `ImageRejected`: a
permanent failure of the media job with a clear code, never a crash or a retry.

Every encoded output is written without metadata: no EXIF (so no GPS), XMP, comment or ICC
profile. The EXIF orientation is applied to the pixels first, and pixels described by an ICC
profile are converted to sRGB, which is what browsers assume for an untagged image.
"""

from __future__ import annotations

import io
import logging
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from api.media import layout
from api.media.sniff import FileType

log = logging.getLogger(__name__)

VARIANTS = (("thumbnail", 320), ("medium", 1024), ("large", 2048))
FORMATS = {  # served format -> Pillow format, content type, extension
    "webp": ("WEBP", "image/webp", "webp"),
    "jpeg": ("JPEG", "image/jpeg", "jpg"),
    "png": ("PNG", "image/png", "png"),
    "gif": ("GIF", "image/gif", "gif"),
}
ENCODER_OPTIONS: dict[str, dict[str, object]] = {
    "JPEG": {"quality": 85, "optimize": True, "progressive": True},
    "WEBP": {"quality": 82, "method": 4},
    "PNG": {"optimize": True},
    "GIF": {},
}
ORIGINAL_FORMAT = {
    "image/jpeg": "jpeg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
}
PILLOW_FORMATS = ("JPEG", "PNG", "GIF", "WEBP")  # Pillow may try no other decoder
ANIMATED_FORMATS = {"GIF", "PNG", "WEBP"}  # every frame is decoded onto the whole canvas
MAX_JPEG_SCANS = 100  # ordinary progressive JPEGs have about 10; libjpeg decodes all of them
# What Pillow raises on truncated, corrupt or contradictory input (struct and zlib errors leak
# out of its parsers unwrapped; lookup, type and arithmetic errors out of its EXIF code).
CORRUPT_ERRORS = (
    OSError,
    SyntaxError,
    EOFError,
    ValueError,
    struct.error,
    zlib.error,
    LookupError,
    TypeError,
    ArithmeticError,
    AssertionError,
    RecursionError,
)
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_ICC_SPACES = {"RGB": "RGB", "CMYK": "CMYK", "GRAY": "L"}  # profile colour space -> mode


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


@contextmanager
def rejecting_bad_input(max_pixels: int | None = None) -> Iterator[None]:
    """Turn what hostile bytes make Pillow raise into ImageRejected (permanent, clear).

    Celery's SoftTimeLimitExceeded is none of these, so a slow worker is still retried.
    """
    limit = f"more than {max_pixels:,} pixels" if max_pixels else "too many pixels"
    try:
        yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("image_too_large", f"The image has {limit}.") from exc
    except MemoryError as exc:
        raise ImageRejected(
            "image_too_large", "The image needs more memory than a worker may use."
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected("image_unreadable", "The file is not a readable image.") from exc
    except CORRUPT_ERRORS as exc:
        raise ImageRejected("image_corrupt", "The image is truncated or corrupt.") from exc


def check_frames(
    frames: int, pixels: int, limits: tuple[int, int, int], animated: bool = True
) -> None:
    """Refuse a frame over MEDIA_MAX_PIXELS, too many frames, or an animation over the total.

    (A JPEG with several pictures, MPO, is no animation: only its first picture is decoded.)
    """
    max_pixels, max_frames, max_total_pixels = limits
    if pixels > max_pixels:
        raise ImageRejected("image_too_large", f"The image has more than {max_pixels:,} pixels.")
    if frames > max_frames:
        raise ImageRejected(
            "too_many_frames", f"The animation has {frames} frames; at most {max_frames}."
        )
    if animated and frames * pixels > max_total_pixels:
        raise ImageRejected(
            "animation_too_large",
            f"The animation has {frames} frames of {pixels:,} pixels "
            f"({frames * pixels:,} in all); at most {max_total_pixels:,} in all.",
        )


def check_layout(data: bytes, limits: tuple[int, int, int]) -> None:
    """What the container declares, checked before Pillow decodes (or allocates) anything."""
    if data[:6] in (b"GIF87a", b"GIF89a"):
        gif = layout.gif_layout(data)
        check_frames(gif.frames, gif.pixels, limits)
    elif data.startswith(b"\xff\xd8\xff"):
        scans = layout.jpeg_scans(data)
        if scans > MAX_JPEG_SCANS:
            raise ImageRejected(
                "image_too_complex", f"The JPEG has {scans} scans; at most {MAX_JPEG_SCANS}."
            )


def open_checked(
    data: bytes, max_pixels: int, max_frames: int, max_total_pixels: int | None = None
) -> Image.Image:
    """Decode the first frame, or raise ImageRejected with a clear code.

    `max_total_pixels` (frames x canvas of an animation) defaults to twice `max_pixels`.
    """
    limits = (max_pixels, max_frames, max_total_pixels or 2 * max_pixels)
    check_layout(data, limits)
    Image.MAX_IMAGE_PIXELS = max_pixels
    with rejecting_bad_input(max_pixels), warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data), formats=PILLOW_FORMATS)
        # Pillow counts APNG and WebP frames from their headers, GIF frames by skipping their
        # data (the layout check covered GIF's growing canvas): nothing is decoded yet.
        frames = getattr(image, "n_frames", 1)
        check_frames(frames, image.width * image.height, limits, image.format in ANIMATED_FORMATS)
        image.seek(0)
        image.load()
    return image


def upright(image: Image.Image) -> Image.Image:
    """The first frame, turned as its EXIF orientation says, in sRGB, as RGB or RGBA.

    An EXIF block Pillow cannot read only loses its orientation: EXIF is never written out.
    """
    with rejecting_bad_input():
        frame = image.copy()
        try:
            frame = ImageOps.exif_transpose(frame)
        except CORRUPT_ERRORS:
            log.info("unreadable EXIF ignored (it only loses its orientation)", exc_info=True)
        has_alpha = frame.mode in ("RGBA", "LA", "PA") or (
            frame.mode == "P" and "transparency" in frame.info
        )
        return to_srgb(frame, has_alpha).convert("RGBA" if has_alpha else "RGB")


def to_srgb(frame: Image.Image, has_alpha: bool) -> Image.Image:
    """Pixels described by an embedded ICC profile, converted to sRGB (the profile is dropped).

    Served files carry no profile: its text tags (description, copyright, device, any private
    tag) are free text an editor or calibration tool may fill with names, and a profile can
    carry any bytes. Converting keeps the colours of wide-gamut phone photos (Display P3) as
    they looked. A profile that says sRGB, or that littleCMS cannot use, is simply dropped.
    """
    icc = frame.info.get("icc_profile")
    if not icc:
        return frame
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if (source.profile.profile_description or "").startswith("sRGB"):
            return frame
        mode = _ICC_SPACES.get(source.profile.xcolor_space.strip())
        if mode == "RGB":
            mode = "RGBA" if has_alpha else "RGB"
            frame = frame.convert(mode)
        if mode is None or frame.mode != mode:
            return frame
        converted = ImageCms.profileToProfile(
            frame, source, _SRGB, outputMode="RGBA" if mode == "RGBA" else "RGB"
        )
    except (ImageCms.PyCMSError, *CORRUPT_ERRORS):
        log.info("unusable ICC profile dropped", exc_info=True)
        return frame
    assert converted is not None
    return converted


def encode(image: Image.Image, served_format: str, max_side: int | None = None) -> Encoded:
    """`image` (from `upright`) scaled down to fit `max_side` (never up), without metadata."""
    pillow_format, content_type, extension = FORMATS[served_format]
    with rejecting_bad_input():
        frame = image.copy()
        if max_side:
            frame.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        if pillow_format == "JPEG" and frame.mode == "RGBA":
            background = Image.new("RGB", frame.size, (255, 255, 255))
            background.paste(frame, mask=frame.getchannel("A"))
            frame = background
        # Pillow's writers copy some of `info` (a JPEG's or GIF's comment, a PNG's ICC
        # profile): start from nothing, so nothing of the upload's metadata is written.
        frame.info = {}
        buffer = io.BytesIO()
        frame.save(buffer, pillow_format, **ENCODER_OPTIONS[pillow_format])
    return Encoded(buffer.getvalue(), content_type, extension, frame.width, frame.height)


def encode_original(image: Image.Image, file_type: FileType) -> Encoded:
    """The original re-encoded in its own format: upright, sRGB, without any metadata.

    Animated GIFs keep their frames (decoded here, one by one, within the checked total);
    Pillow would copy the first frame's comment, so an empty one is given. GIF has no EXIF.
    """
    with rejecting_bad_input():
        if file_type.content_type == "image/gif" and getattr(image, "n_frames", 1) > 1:
            buffer = io.BytesIO()
            image.seek(0)
            image.save(buffer, "GIF", save_all=True, loop=image.info.get("loop", 0), comment=b"")
            return Encoded(buffer.getvalue(), "image/gif", "gif", image.width, image.height)
    return encode(upright(image), ORIGINAL_FORMAT[file_type.content_type])
