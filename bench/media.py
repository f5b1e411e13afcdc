"""Images processed per second by one media worker process.

    uv run python bench/media.py [--seconds 20]

It runs the media job's image pipeline (safe decode, EXIF orientation and stripping, the
re-encoded original and six variants: 320/1024/2048 px in WebP and JPEG) with local storage
in a temporary folder, on photos of typical upload sizes, one at a time as a worker with
concurrency 1 does. The job's database and broker round trips are not included.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.integrations.storage import LocalStorage
from api.media import images
from api.media.sniff import sniff


def photo(size: tuple[int, int], image_format: str) -> bytes:
    image = Image.effect_mandelbrot(size, (-2.0, -1.2, 0.8, 1.2), 60).convert("RGB")
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    image.save(buffer, image_format, quality=88, exif=exif)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    samples = {
        "12 MP JPEG (4000x3000)": photo((4000, 3000), "JPEG"),
        "3 MP JPEG (2048x1536)": photo((2048, 1536), "JPEG"),
        "1 MP WebP (1280x800)": photo((1280, 800), "WEBP"),
    }
    print(f"{'input':26} {'bytes':>10} {'images/s':>9} {'ms/image':>9}")
    with tempfile.TemporaryDirectory() as folder:
        storage = LocalStorage(folder, "/media")
        for name, data in samples.items():
            file_type = sniff(data[:64])
            assert file_type is not None
            count, started = 0, time.perf_counter()
            while time.perf_counter() - started < args.seconds / len(samples):
                image = images.open_checked(data, 40_000_000, 500)
                upright = images.upright(image)
                storage.store_image(
                    f"bench/{count}",
                    images.encode_original(image, file_type),
                    lambda size, fmt, upright=upright: images.encode(  # type: ignore[misc]
                        upright, fmt, size
                    ),
                )
                count += 1
            elapsed = time.perf_counter() - started
            print(f"{name:26} {len(data):10,} {count / elapsed:9.2f} {1000 * elapsed / count:9.0f}")


if __name__ == "__main__":
    main()
