"""Media uploads: streaming limits, type sniffing, processing by a worker, storage, use."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import running_worker, sql, token_for, wait_for_job
from tests.support.fake_cloudinary import FakeCloudinary

GPS_TAG, ORIENTATION_TAG = 0x8825, 0x0112


def jpeg_with_exif(width=1600, height=900, orientation=6) -> bytes:
    """A JPEG whose pixels are landscape but whose EXIF says: turn it (6 = 90° clockwise)."""
    image = Image.new("RGB", (width, height), (200, 120, 40))
    for x in range(0, width, 50):
        image.paste((20, 80, 160), (x, 0, x + 10, height))
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(GPS_TAG).update({1: "S", 2: (8.0, 30.0, 0.0), 3: "E", 4: (115.0, 15.0, 0.0)})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=90)
    return buffer.getvalue()


def png_with_alpha(size=(500, 300)) -> bytes:
    image = Image.new("RGBA", size, (0, 128, 255, 0))
    image.paste((255, 0, 0, 200), (50, 50, 250, 250))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def animated_gif(frames=3, size=(64, 48)) -> bytes:
    """Consecutive frames differ (Pillow merges identical neighbours when saving)."""
    palette = [230, 40, 40, 40, 200, 60, 30, 60, 220] + [0] * (768 - 9)
    images = []
    for index in range(frames):
        frame = Image.new("P", size, index % 3)
        frame.putpalette(palette)
        images.append(frame)
    buffer = io.BytesIO()
    images[0].save(
        buffer, "GIF", save_all=True, append_images=images[1:], duration=40, optimize=False
    )
    return buffer.getvalue()


def many_frame_gif(frames: int) -> bytes:
    """A 1x1 GIF with `frames` frames written by hand (~20 bytes a frame, one global palette)."""
    header = (
        b"GIF89a"
        + struct.pack("<HHBBB", 1, 1, 0xF1, 0, 0)
        + bytes([0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 255, 0])
    )
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    pixel = {0: b"\x02\x02\x44\x01\x00", 1: b"\x02\x02\x4c\x01\x00"}  # LZW: clear, i, end
    frame = b"\x21\xf9\x04\x04\x0a\x00\x00\x00" + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
    body = b"".join(frame + pixel[index % 2] for index in range(frames))
    return header + loop + body + b"\x3b"


def webp_image() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (3000, 1500), (10, 200, 90)).save(buffer, "WEBP", quality=80)
    return buffer.getvalue()


def png_bomb(side=30000) -> bytes:
    """A real decompression bomb: a 1-bit 30000x30000 PNG of zeros, compressed to ~110 kB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" * (1 + side // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def upload(client, headers, data: bytes, filename="photo.jpg", purpose=None, **kwargs):
    form = {"file": (io.BytesIO(data), filename, kwargs.pop("mimetype", "image/jpeg"))}
    if purpose:
        form["purpose"] = purpose
    if "callback_url" in kwargs:
        form["callback_url"] = kwargs.pop("callback_url")
    return client.post(
        "/api/v1/media", data=form, headers=headers, content_type="multipart/form-data", **kwargs
    )


def process(client, headers, data: bytes, **kwargs):
    response = upload(client, headers, data, **kwargs)
    assert response.status_code == 202, response.get_json()
    job = wait_for_job(client, response.headers["Location"], headers=headers)
    media = (
        client.get(f"/api/v1/media/{job['result']['media_id']}", headers=headers).get_json()
        if job["status"] == "succeeded"
        else None
    )
    return job, media


def local_file(app, url: str) -> Path:
    return Path(app.config["UPLOAD_DIR"]) / url.removeprefix("/media/")


def assert_no_exif(data: bytes) -> None:
    image = Image.open(io.BytesIO(data))
    exif = image.getexif()
    assert ORIENTATION_TAG not in exif
    assert not exif.get_ifd(GPS_TAG)
    assert len(exif) == 0
    assert b"PhoneMaker" not in data


@pytest.fixture
def me(app):
    return token_for(app)


def test_jpeg_is_turned_upright_stripped_and_resized(app, client, me, worker):
    job, media = process(client, me, jpeg_with_exif(1600, 900))

    assert job["status"] == "succeeded"
    assert job["links"]["result"] == f"/api/v1/media/{media['id']}"
    assert media["status"] == "ready"
    assert (media["width"], media["height"]) == (900, 1600)  # as displayed, after rotation
    assert media["content_type"] == "image/jpeg"
    expected = {"thumbnail": 320, "medium": 1024, "large": 1600}  # never upscaled
    for name, long_side in expected.items():
        for urls, format_name in ((media["urls"], "WEBP"), (media["fallback_urls"], "JPEG")):
            data = local_file(app, urls[name]).read_bytes()
            image = Image.open(io.BytesIO(data))
            assert image.format == format_name
            assert max(image.size) == long_side
            assert image.height > image.width
            assert_no_exif(data)
    original = local_file(app, media["urls"]["original"]).read_bytes()
    assert_no_exif(original)
    assert Image.open(io.BytesIO(original)).size == (900, 1600)
    assert "photo" not in media["urls"]["original"]  # kept under a random name


def test_png_alpha_webp_and_gif_first_frame(app, client, me, worker):
    _, png = process(client, me, png_with_alpha(), filename="x.png")
    _, gif = process(client, me, animated_gif(), filename="x.gif")
    _, webp = process(client, me, webp_image(), filename="x.webp")

    thumb = Image.open(local_file(app, png["urls"]["thumbnail"]))
    assert thumb.mode == "RGBA"  # WebP keeps transparency
    jpeg_thumb = Image.open(local_file(app, png["fallback_urls"]["thumbnail"]))
    assert jpeg_thumb.mode == "RGB"
    assert jpeg_thumb.getpixel((5, 5)) == (255, 255, 255)  # transparent became white
    assert (gif["width"], gif["height"]) == (64, 48)
    original_gif = Image.open(local_file(app, gif["urls"]["original"]))
    assert original_gif.n_frames == 3  # the original stays animated
    assert Image.open(local_file(app, gif["urls"]["thumbnail"])).n_frames == 1
    assert webp["content_type"] == "image/webp"
    assert max(Image.open(local_file(app, webp["urls"]["large"])).size) == 2048


def test_local_files_are_served_with_types_and_long_cache(app, client, me, worker):
    _, media = process(client, me, jpeg_with_exif())

    response = client.get(media["urls"]["medium"])

    assert response.status_code == 200
    assert response.mimetype == "image/webp"
    assert "immutable" in response.headers["Cache-Control"]
    assert client.get("/media/../../etc/passwd").status_code == 404


def test_a_text_file_named_jpg_is_415(client, me):
    response = upload(client, me, b"just some notes, not a photo" * 10)

    assert response.status_code == 415
    assert response.get_json()["code"] == "unsupported_media_type"


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        chunk = super().read(size)
        self.consumed += len(chunk)
        return chunk


def test_a_6_mb_jpeg_is_413_before_the_body_is_all_read(client, me):
    boundary = "bali-boundary"
    jpeg = jpeg_with_exif(200, 200)
    big = jpeg + b"\x00" * (6 * 1024 * 1024 - len(jpeg))
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"'
        f"\r\nContent-Type: image/jpeg\r\n\r\n".encode()
        + big
        + f"\r\n--{boundary}--\r\n".encode()
    )
    stream = CountingStream(body)

    response = client.post(
        "/api/v1/media",
        input_stream=stream,
        content_length=len(body),
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=me,
    )

    assert response.status_code == 413
    assert response.get_json()["code"] == "payload_too_large"
    assert stream.consumed < 5 * 1024 * 1024 + 256 * 1024  # stopped near the 5 MB limit


@pytest.mark.parametrize(
    ("make_request", "field"),
    [
        (lambda c, h: upload(c, h, b""), "file"),
        (
            lambda c, h: c.post(
                "/api/v1/media",
                data={"purpose": "post"},
                headers=h,
                content_type="multipart/form-data",
            ),
            "file",
        ),
        (lambda c, h: c.post("/api/v1/media", json={"file": "x"}, headers=h), "file"),
        (lambda c, h: upload(c, h, jpeg_with_exif(50, 50), purpose="wallpaper"), "purpose"),
    ],
)
def test_empty_missing_and_odd_uploads_are_422(client, me, make_request, field):
    response = make_request(client, me)

    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_uploads_need_a_signed_in_user(client):
    assert upload(client, {}, jpeg_with_exif(50, 50)).status_code == 401


def test_bad_images_fail_their_job_and_the_worker_carries_on(client, me, worker):
    truncated = jpeg_with_exif()[:5000]
    frames = many_frame_gif(10_000)
    outcomes = {}
    for name, data in (("truncated", truncated), ("bomb", png_bomb()), ("frames", frames)):
        job, _ = process(client, me, data)
        outcomes[name] = (job["status"], job["error"]["code"] if job["error"] else None)

    assert outcomes == {
        "truncated": ("failed", "image_corrupt"),
        "bomb": ("failed", "image_too_large"),
        "frames": ("failed", "too_many_frames"),
    }
    job, _media = process(client, me, jpeg_with_exif(400, 300))  # the same worker, still fine
    assert job["status"] == "succeeded"
    failed = sql(client.application, "SELECT status, error_code FROM media WHERE status = 'failed'")
    assert sorted(code for _, code in failed) == [
        "image_corrupt",
        "image_too_large",
        "too_many_frames",
    ]
    assert sql(client.application, "SELECT count(*) FROM media_blobs") == [(0,)]


def test_videos_are_checked_by_signature_and_stored(app, client, me, worker):
    mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 4000

    _job, media = process(client, me, mp4, filename="clip.mp4", mimetype="video/mp4")

    assert media["kind"] == "video"
    assert media["content_type"] == "video/mp4"
    assert local_file(app, media["urls"]["original"]).read_bytes() == mp4
    assert (
        upload(
            client,
            me,
            b"\x00\x00\x00\x18ftypmp42" + b"\x00" * (51 * 1024 * 1024),
            filename="long.mp4",
        ).status_code
        == 413
    )


def test_media_are_private_to_their_owner_and_deletable(app, client, me, worker):
    _, media = process(client, me, jpeg_with_exif(300, 200))
    files = [local_file(app, url) for url in media["urls"].values() if url]
    assert all(path.exists() for path in files)

    assert client.get(f"/api/v1/media/{media['id']}", headers=token_for(app)).status_code == 404
    assert client.delete(f"/api/v1/media/{media['id']}", headers=token_for(app)).status_code == 404
    assert client.delete(f"/api/v1/media/{media['id']}", headers=me).status_code == 204
    assert client.get(f"/api/v1/media/{media['id']}", headers=me).status_code == 404
    deletion = sql(app, "SELECT id FROM jobs WHERE payload->>'action' = 'delete'")[0][0]
    wait_for_job(client, f"/api/v1/jobs/{deletion}")
    assert not any(path.exists() for path in files)


def test_avatars_must_be_your_own_processed_images(app, client, me, worker):
    _, mine = process(client, me, jpeg_with_exif(300, 300))
    other = token_for(app)
    _, theirs = process(client, other, jpeg_with_exif(300, 300))
    _, video = process(client, me, b"\x00\x00\x00\x18ftypisom" + b"\x00" * 100, filename="v.mp4")

    for media_id in (theirs["id"], video["id"], "00000000-0000-0000-0000-000000000000"):
        response = client.patch("/api/v1/auth/me", headers=me, json={"avatar_media_id": media_id})
        assert response.status_code == 422, media_id
        assert "avatar_media_id" in response.get_json()["errors"]
    ok = client.patch("/api/v1/auth/me", headers=me, json={"avatar_media_id": mine["id"]})
    assert ok.status_code == 200
    assert ok.get_json()["avatar_url"] == mine["urls"]["thumbnail"]


def test_orphaned_uploads_older_than_a_day_are_removed(app, client, me, worker):
    _, orphan = process(client, me, jpeg_with_exif(100, 100), purpose="post")
    _, avatar = process(client, me, jpeg_with_exif(100, 100), purpose="avatar")
    _, general = process(client, me, jpeg_with_exif(100, 100), purpose="general")
    _, fresh = process(client, me, jpeg_with_exif(100, 100), purpose="review")
    client.patch("/api/v1/auth/me", headers=me, json={"avatar_media_id": avatar["id"]})
    old = (sql(app, "SELECT now()")[0][0] - timedelta(days=2)).isoformat()
    for media in (orphan, avatar, general):
        sql(app, "UPDATE media SET created_at = :old WHERE id = :id", old=old, id=media["id"])

    result = app.test_cli_runner().invoke(args=["media", "purge-orphans"])

    assert "removed 1 orphaned uploads" in result.output
    remaining = {str(row[0]) for row in sql(app, "SELECT id FROM media")}
    assert remaining == {avatar["id"], general["id"], fresh["id"]}


def test_deleting_a_user_removes_their_files(app, client, worker):
    admin = token_for(app, role="admin")
    user_id = sql(app, "SELECT gen_random_uuid()")[0][0]
    headers = token_for(app, user_id)
    _, media = process(client, headers, jpeg_with_exif(200, 200))
    files = [local_file(app, url) for url in media["urls"].values() if url]

    assert client.delete(f"/api/v1/users/{user_id}", headers=admin).status_code == 204
    deletion = sql(app, "SELECT id FROM jobs WHERE payload->>'action' = 'delete'")[0][0]
    wait_for_job(client, f"/api/v1/jobs/{deletion}")
    assert not any(path.exists() for path in files)


def test_cloudinary_storage_through_the_sdk(make_app):
    with FakeCloudinary() as cloudinary:
        app = make_app(
            STORAGE_PROVIDER="cloudinary",
            CLOUDINARY_URL="cloudinary://key123:secret456@bali-cloud",
            CLOUDINARY_UPLOAD_PREFIX=cloudinary.url,
        )
        client = app.test_client()
        headers = token_for(app)
        with running_worker(app):
            _job, media = process(client, headers, jpeg_with_exif(1600, 900))
            client.delete(f"/api/v1/media/{media['id']}", headers=headers)
            deletion = sql(app, "SELECT id FROM jobs WHERE payload->>'action' = 'delete'")[0][0]
            wait_for_job(client, f"/api/v1/jobs/{deletion}")

    [sent] = cloudinary.uploads
    assert sent["resource_type"] == "image"
    assert sent["public_id"].startswith("baliblissed/")
    assert sent["api_key"] == "key123"
    assert sent["signature"]
    assert_no_exif(sent["file"])
    assert Image.open(io.BytesIO(sent["file"])).size == (900, 1600)
    assert media["urls"]["original"].startswith("https://res.cloudinary.test/bali-cloud/")
    assert "w_320" in media["urls"]["thumbnail"]
    assert "webp" in media["urls"]["thumbnail"]
    assert "jpg" in media["fallback_urls"]["thumbnail"]
    assert cloudinary.destroyed == [("image", sent["public_id"])]
    assert client.get("/media/anything").status_code == 404
