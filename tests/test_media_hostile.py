"""Hostile uploads: bombs refused before decoding, input failures never retried, no metadata
served. Each file is crafted by hand (a few hundred bytes to a few hundred kB), uploaded
through the API and processed by a real worker, as in test_media.py."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest
from PIL import Image, ImageFile

from tests.conftest import running_worker, sql, token_for
from tests.test_media import assert_no_exif, jpeg_with_exif, local_file, process


@pytest.fixture
def me(app):
    return token_for(app)


@pytest.fixture
def decoded(monkeypatch):
    """The frames Pillow decodes while the test runs (the worker runs in this process)."""
    calls: list[tuple[str, tuple[int, int]]] = []
    load = ImageFile.ImageFile.load

    def spying_load(self):
        calls.append((self.format, self.size))
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spying_load)
    return calls


def assert_failed_for_its_input(client, job, code: str) -> None:
    """Failed at once with the code, never retried; the media row says so, the bytes are gone."""
    assert job["status"] == "failed", job
    assert job["error"]["code"] == code, job["error"]
    assert job["attempts"] == 1
    app = client.application
    assert sql(app, "SELECT status, error_code FROM media") == [("failed", code)]
    assert sql(app, "SELECT count(*) FROM media_blobs") == [(0,)]


def served_files(app, media) -> list[bytes]:
    """The bytes of every file stored for an upload: the original and each variant."""
    urls = [*media["urls"].values(), *media["fallback_urls"].values()]
    return [local_file(app, url).read_bytes() for url in urls if url]


def chunk(kind: bytes, data: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return struct.pack(">I", len(data)) + kind + data + crc


def gif_bomb(frames: int, screen: int, frame_at: int) -> bytes:
    """`frames` 1x1 frames at (frame_at, frame_at) on a `screen` x `screen` logical screen.

    Each frame is 20 bytes, yet Pillow composites each onto the whole canvas: the screen, or
    as far as a frame reaches past it.
    """
    header = b"GIF89a" + struct.pack("<HHBBB", screen, screen, 0x80, 0, 0) + bytes(3) + b"\xff" * 3
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    pixel = {0: b"\x02\x02\x44\x01\x00", 1: b"\x02\x02\x4c\x01\x00"}  # LZW: clear, i, end
    body = b"".join(
        b"\x21\xf9\x04\x04\x0a\x00\x00\x00"
        + b"\x2c"
        + struct.pack("<HHHHB", frame_at, frame_at, 1, 1, 0)
        + pixel[index % 2]
        for index in range(frames)
    )
    return header + loop + body + b"\x3b"


def apng(frames: int, side: int) -> bytes:
    """A grey APNG: every frame the whole `side` x `side` canvas of zeros (compressed)."""
    compressor = zlib.compressobj(9)
    row = bytes(side + 1)
    pixels = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    parts = [
        b"\x89PNG\r\n\x1a\n",
        chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)),
        chunk(b"acTL", struct.pack(">II", frames, 0)),
    ]
    sequence = 0
    for index in range(frames):
        control = struct.pack(">IIIIIHHBB", sequence, side, side, 0, 0, 1, 10, 0, 0)
        parts.append(chunk(b"fcTL", control))
        sequence += 1
        if index == 0:
            parts.append(chunk(b"IDAT", pixels))
        else:
            parts.append(chunk(b"fdAT", struct.pack(">I", sequence) + pixels))
            sequence += 1
    return b"".join([*parts, chunk(b"IEND", b"")])


def riff(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")


def animated_webp(frames: int, side: int) -> bytes:
    """An animated WebP: a `side` x `side` canvas, each frame a 1x1 lossless picture."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1), (200, 30, 30)).save(buffer, "WEBP", lossless=True)
    picture = buffer.getvalue()[12:]  # its VP8L chunk

    def u24(value: int) -> bytes:
        return struct.pack("<I", value)[:3]

    body = riff(b"VP8X", b"\x02\x00\x00\x00" + u24(side - 1) + u24(side - 1))
    body += riff(b"ANIM", struct.pack("<IH", 0, 0))
    frame = u24(0) + u24(0) + u24(0) + u24(0) + u24(100) + b"\x00" + picture
    body += riff(b"ANMF", frame) * frames
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


# --- 1. animation bombs ----------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("screen", "frame_at"),
    [(6000, 0), (1, 5999)],
    ids=["logical-screen", "frames-reaching-past-a-1x1-screen"],
)
def test_gif_bomb_is_refused_before_decoding(client, me, worker, decoded, screen, frame_at):
    bomb = gif_bomb(3, screen, frame_at)  # 3 frames x 36 MP = 108 MP > 80 MP (2 x 40 MP)
    assert len(bomb) < 200

    job, _ = process(client, me, bomb, filename="fun.gif", mimetype="image/gif")

    assert_failed_for_its_input(client, job, "animation_too_large")
    assert "3 frames of 36,000,000 pixels" in job["error"]["message"]
    assert decoded == []  # refused from the blocks, before Pillow decoded a frame


@pytest.mark.timeout(60)
@pytest.mark.parametrize("make", [apng, animated_webp], ids=["apng", "animated-webp"])
def test_animated_png_and_webp_count_against_the_same_total(client, me, worker, decoded, make):
    data = make(10, 3000)  # 10 frames x 9 MP = 90 MP > 80 MP; each frame alone is fine

    job, _ = process(client, me, data, filename="fun.png", mimetype="image/png")

    assert_failed_for_its_input(client, job, "animation_too_large")
    assert decoded == []


def test_the_total_is_a_setting(make_app):

    app = make_app(MEDIA_MAX_TOTAL_PIXELS="100000000")
    client, headers = app.test_client(), token_for(app)
    with running_worker(app):
        job, media = process(client, headers, apng(10, 3000), filename="x.png")

    assert job["status"] == "succeeded"
    assert (media["width"], media["height"]) == (3000, 3000)


# --- 2. input that fails late is still the input's fault: permanent, never retried -----------


def gif_truncated_in_a_later_frame() -> bytes:
    frames = []
    for index in range(3):
        frame = Image.new("P", (200, 200), index)
        frame.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
        frames.append(frame)
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=50)
    return buffer.getvalue()[:-40]  # the first frame decodes; the last one is cut short


def gif_growing_in_a_later_frame() -> bytes:
    """Frame 1 sits at (39999, 39999): Pillow grows the canvas to 1.6 GP when it gets there."""
    header = b"GIF89a" + struct.pack("<HHBBB", 100, 100, 0x80, 0, 0) + bytes(3) + b"\xff" * 3
    first = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    second = b"\x2c" + struct.pack("<HHHHB", 39999, 39999, 1, 1, 0) + b"\x02\x02\x4c\x01\x00"
    return header + first + second + b"\x3b"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("make", "code"),
    [
        (gif_truncated_in_a_later_frame, "image_corrupt"),
        (gif_growing_in_a_later_frame, "image_too_large"),
        (lambda: jpeg_with_exif(400, 300), "image_too_large"),  # with MemoryError, below
    ],
    ids=["truncated-later-frame", "canvas-growing-later", "out-of-memory-encoding"],
)
def test_input_failing_while_encoding_is_never_retried(
    client, me, worker, monkeypatch, make, code, request
):
    if "out-of-memory" in request.node.callspec.id:

        def out_of_memory(self, *args, **kwargs):
            raise MemoryError

        monkeypatch.setattr(Image.Image, "thumbnail", out_of_memory)

    job, _ = process(client, me, make())

    assert_failed_for_its_input(client, job, code)


def test_broken_exif_only_loses_its_orientation(app, client, me, worker):
    photo = jpeg_with_exif(400, 300)
    tiff = photo.index(b"Exif\x00\x00") + 6
    broken = photo[:tiff] + b"MM\x00\xe7" + photo[tiff + 4 :]  # not a TIFF header

    job, media = process(client, me, broken)

    assert job["status"] == "succeeded", job["error"]
    assert (media["width"], media["height"]) == (400, 300)  # not turned: orientation unknown
    for data in served_files(app, media):
        assert_no_exif(data)


def progressive_scan_bomb(extra_scans: int) -> bytes:
    """A progressive JPEG with one of its scans repeated: libjpeg passes over every block of
    the image once per scan (2,000 extra scans: 5 s at 6000x6000; 5 MB of them: minutes)."""
    buffer = io.BytesIO()
    Image.new("L", (1000, 1000)).save(buffer, "JPEG", progressive=True)
    data = buffer.getvalue()
    scans, pos = [], 2
    while data[pos + 1] != 0xD9:  # up to the end-of-image marker
        end = pos + 2 + struct.unpack_from(">H", data, pos + 2)[0]
        if data[pos + 1] == 0xDA:  # the scan header, then entropy-coded data to the next marker
            while not (data[end] == 0xFF and data[end + 1] not in (0, *range(0xD0, 0xD8))):
                end += 1
            scans.append(data[pos:end])
        pos = end
    return data[:pos] + min(scans[1:], key=len) * extra_scans + data[pos:]


@pytest.mark.timeout(60)
def test_progressive_jpeg_scan_bomb_is_refused(client, me, worker, decoded):
    job, _ = process(client, me, progressive_scan_bomb(2000))

    assert_failed_for_its_input(client, job, "image_too_complex")
    assert decoded == []


# --- 4. hostile files in general --------------------------------------------------------------


def zip_file() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.html", "<script>alert(document.cookie)</script>")
    return buffer.getvalue()


def png(width: int, height: int, pixels: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels))
        + chunk(b"IEND", b"")
    )


def webp(size=(300, 300)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(buffer, "WEBP")
    return buffer.getvalue()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\xff\xd8\xff" + zip_file(), "image_unreadable"),
        (png(6000, 6000, bytes(10)), "image_corrupt"),
        (png(100_000, 100_000, bytes(10)), "image_too_large"),
        (png(100, 100, bytes(101 * 100))[:60], "image_corrupt"),
        (webp()[:60], "image_corrupt"),
        (gif_truncated_in_a_later_frame()[:20], "image_unreadable"),
        (jpeg_with_exif(800, 600)[:700], "image_corrupt"),
    ],
    ids=[
        "jpeg-magic-then-zip",
        "png-36mp-declared-10-bytes-of-data",
        "png-10gp-declared",
        "png-truncated",
        "webp-truncated",
        "gif-header-only",
        "jpeg-truncated",
    ],
)
def test_hostile_files_fail_their_job_with_a_clear_code(client, me, worker, data, code):
    job, _ = process(client, me, data)

    assert_failed_for_its_input(client, job, code)
