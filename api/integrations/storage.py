"""Where media files live: the local disk (default, served by the API under /media) or
Cloudinary (through the `cloudinary` SDK, which also makes the variants as eager
transformations). CLOUDINARY_UPLOAD_PREFIX points the SDK at another API root (tests)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import cloudinary
import cloudinary.exceptions
import cloudinary.uploader

from api.integrations.errors import IntegrationError
from api.media.images import VARIANTS, Encoded

# render(size, served_format) -> the variant, made by our own code (Pillow)
Render = Callable[[int, str], Encoded]


@dataclass
class StoredMedia:
    urls: dict[str, str]
    fallback_urls: dict[str, str] = field(default_factory=dict)  # JPEG beside the WebP
    keys: list[str] = field(default_factory=list)  # what `delete` needs
    bytes_stored: int = 0


class MediaStorage(Protocol):
    name: str

    def store_image(self, base: str, original: Encoded, render: Render) -> StoredMedia: ...

    def store_video(self, base: str, data: bytes, extension: str) -> StoredMedia: ...

    def delete(self, keys: list[str]) -> None: ...


class LocalStorage:
    """Files under UPLOAD_DIR; URLs under the API's /media route."""

    name = "local"

    def __init__(self, directory: str, url_prefix: str) -> None:
        self.directory = Path(directory)
        self.url_prefix = url_prefix.rstrip("/")

    def _put(self, key: str, data: bytes, stored: StoredMedia) -> str:
        path = self.directory / key
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
                handle.write(data)
            os.replace(handle.name, path)
        except OSError as exc:
            raise IntegrationError("storage_unavailable", str(exc), retryable=True) from exc
        stored.keys.append(key)
        stored.bytes_stored += len(data)
        return f"{self.url_prefix}/{key}"

    def store_image(self, base: str, original: Encoded, render: Render) -> StoredMedia:
        stored = StoredMedia(urls={})
        stored.urls["original"] = self._put(
            f"{base}/original.{original.extension}", original.data, stored
        )
        for name, size in VARIANTS:
            for served_format, target in (("webp", stored.urls), ("jpeg", stored.fallback_urls)):
                variant = render(size, served_format)
                target[name] = self._put(f"{base}/{name}.{variant.extension}", variant.data, stored)
        return stored

    def store_video(self, base: str, data: bytes, extension: str) -> StoredMedia:
        stored = StoredMedia(urls={})
        stored.urls["original"] = self._put(f"{base}/original.{extension}", data, stored)
        return stored

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            path = (self.directory / key).resolve()
            if self.directory.resolve() not in path.parents:
                continue  # never outside the upload folder
            path.unlink(missing_ok=True)
            for parent in path.parents:
                if parent == self.directory.resolve():
                    break
                try:
                    parent.rmdir()  # only when empty
                except OSError:
                    break


def cloudinary_credentials(config: dict[str, Any]) -> dict[str, str]:
    """From CLOUDINARY_URL (cloudinary://key:secret@cloud) or the three separate settings."""
    if config["CLOUDINARY_URL"]:
        parts = urlsplit(config["CLOUDINARY_URL"])
        return {
            "cloud_name": parts.hostname or "",
            "api_key": parts.username or "",
            "api_secret": parts.password or "",
        }
    return {
        "cloud_name": config["CLOUDINARY_CLOUD_NAME"],
        "api_key": config["CLOUDINARY_API_KEY"],
        "api_secret": config["CLOUDINARY_API_SECRET"],
    }


class CloudinaryStorage:
    name = "cloudinary"
    TIMEOUT_SECONDS = 60

    def __init__(self, config: dict[str, Any]) -> None:
        self.options = {**cloudinary_credentials(config), "secure": True}
        if config["CLOUDINARY_UPLOAD_PREFIX"]:
            self.options["upload_prefix"] = config["CLOUDINARY_UPLOAD_PREFIX"]
        self.folder = config["CLOUDINARY_FOLDER"]

    def _upload(self, data: bytes, public_id: str, **options: Any) -> dict[str, Any]:
        try:
            return cloudinary.uploader.upload(
                data,
                public_id=public_id,
                overwrite=True,
                timeout=self.TIMEOUT_SECONDS,
                **self.options,
                **options,
            )
        except cloudinary.exceptions.Error as exc:
            retryable = (
                isinstance(
                    exc, (cloudinary.exceptions.RateLimited, cloudinary.exceptions.GeneralError)
                )
                or "Socket error" in str(exc)
                or "Unexpected error" in str(exc)
            )
            raise IntegrationError(
                "storage_unavailable" if retryable else "storage_rejected",
                f"Cloudinary: {exc}"[:300],
                retryable=retryable,
            ) from exc

    def store_image(self, base: str, original: Encoded, render: Render) -> StoredMedia:
        public_id = f"{self.folder}/{base}/original"
        eager = [
            {"width": size, "height": size, "crop": "limit", "format": served_format}
            for _, size in VARIANTS
            for served_format in ("webp", "jpg")
        ]
        result = self._upload(original.data, public_id, resource_type="image", eager=eager)
        derived = [item["secure_url"] for item in result.get("eager", [])]
        if len(derived) != len(eager):
            raise IntegrationError(
                "storage_rejected", "Cloudinary made no variants", retryable=True
            )
        stored = StoredMedia(
            urls={"original": result["secure_url"]},
            keys=[f"image:{result['public_id']}"],
            bytes_stored=int(result.get("bytes", len(original.data))),
        )
        for index, (name, _) in enumerate(VARIANTS):
            stored.urls[name] = derived[2 * index]
            stored.fallback_urls[name] = derived[2 * index + 1]
        return stored

    def store_video(self, base: str, data: bytes, extension: str) -> StoredMedia:
        public_id = f"{self.folder}/{base}/original"
        result = self._upload(
            data, public_id, resource_type="video", eager=[{"format": "mp4"}], eager_async=True
        )
        return StoredMedia(
            urls={"original": result["secure_url"]},
            keys=[f"video:{result['public_id']}"],
            bytes_stored=int(result.get("bytes", len(data))),
        )

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            resource_type, _, public_id = key.partition(":")
            try:
                cloudinary.uploader.destroy(
                    public_id,
                    resource_type=resource_type,
                    invalidate=True,
                    timeout=self.TIMEOUT_SECONDS,
                    **self.options,
                )
            except cloudinary.exceptions.NotFound:
                continue
            except cloudinary.exceptions.Error as exc:
                raise IntegrationError(
                    "storage_unavailable", f"Cloudinary: {exc}"[:300], retryable=True
                ) from exc


def create_storage(config: dict[str, Any]) -> MediaStorage:
    if config["STORAGE_PROVIDER"] == "cloudinary":
        return CloudinaryStorage(config)
    return LocalStorage(config["UPLOAD_DIR"], config["MEDIA_URL_PREFIX"])
