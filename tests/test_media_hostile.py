"""Hostile uploads: bombs refused before decoding, input failures never retried, no metadata
served. Each file is crafted by hand (a few hundred bytes to a few hundred kB), uploaded
through the API and processed by a real worker, as in test_media.py."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageFile

from tests.conftest import running_worker, sql, token_for
from tests.test_media import process


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
