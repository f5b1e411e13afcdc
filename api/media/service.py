"""Media: accepted quickly by the API, processed and stored by a media job, deleted by one."""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, NoReturn

from flask import Request, current_app
from sqlalchemy import Column, and_, exists, not_, or_, select
from sqlalchemy import delete as delete_rows

from api.errors import NotFound, ValidationFailed
from api.extensions import db, media_storage
from api.jobs.errors import JobFailed
from api.jobs.kinds import MEDIA
from api.jobs.lifecycle import JobRun
from api.jobs.models import Job, JobStatus
from api.jobs.submit import Submission, new_job, submit
from api.media import images, video
from api.media.models import Media, MediaBlob, MediaStatus, Purpose
from api.media.sniff import sniff
from api.media.upload import read_upload
from api.models import utc_param, utcnow
from api.security import Caller

log = logging.getLogger(__name__)

PURPOSES = [purpose.value for purpose in Purpose]
ORPHAN_AFTER = timedelta(days=1)
NOT_A_USE = {"media_blobs"}  # the upload's own staging copy points at it too


def media_references() -> list[Column[Any]]:
    """Every column that points at `media.id` (avatars, covers, attachments...): read from the
    foreign keys, so a new user of media is never forgotten by the orphan purge."""
    return [
        foreign_key.parent
        for table in db.metadata.tables.values()
        if table.name not in NOT_A_USE
        for foreign_key in table.foreign_keys
        if foreign_key.column.table.name == Media.__tablename__
    ]


# --- uploading -------------------------------------------------------------------------------


def upload(request: Request, submission_for: Callable[[str, str | None], Submission]) -> Job:
    """Read the multipart upload (limits enforced while streaming), stage it, enqueue a job.

    `submission_for(digest, callback_url)` makes the Submission once the body's digest (of the
    fields and the file, for Idempotency-Key) is known.
    """
    config = current_app.config
    received = read_upload(
        request,
        {"image": config["MEDIA_MAX_IMAGE_BYTES"], "video": config["MEDIA_MAX_VIDEO_BYTES"]},
    )
    purpose = received.fields.get("purpose", Purpose.GENERAL)
    if purpose not in PURPOSES:
        raise ValidationFailed(
            "Unknown purpose.", errors={"purpose": [f"Must be one of: {', '.join(PURPOSES)}."]}
        )
    assert received.file is not None
    assert received.file_type is not None
    data = received.file.read()
    received.file.close()
    callback_url = received.fields.get("callback_url") or None
    digest = hashlib.sha256(f"{purpose}\n{callback_url or ''}\n".encode() + data).hexdigest()
    submission = submission_for(digest, callback_url)
    media = Media(
        id=uuid.uuid4(),
        owner_id=submission.caller.user_id,
        purpose=purpose,
        kind=received.file_type.kind,
        content_type=received.file_type.content_type,
        size=received.size,
        status=MediaStatus.PENDING,
    )
    job = new_job(MEDIA, submission, {"action": "process", "media_id": str(media.id)})
    media.job_id = job.id
    return submit(job, submission, media, MediaBlob(media=media, data=data))


# --- the media job ---------------------------------------------------------------------------


def _fail(media: Media, code: str, message: str) -> NoReturn:
    """Fail for the input: the media row says why (committed with the job's failure)."""
    media.status, media.error_code, media.error_message = MediaStatus.FAILED, code, message
    db.session.execute(delete_rows(MediaBlob).where(MediaBlob.media_id == media.id))
    raise JobFailed(code, message)


def _storage_base(media: Media) -> str:
    """Where the files go: the same for every attempt (a re-run overwrites, never leaves
    copies), unguessable, and not the user's file name."""
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, b"media:" + media.id.bytes, hashlib.sha256).hexdigest()[:24]
    return f"{media.id.hex[:2]}/{digest}"


def _result(media: Media) -> dict[str, Any]:
    return {"media_id": str(media.id), "status": media.status, "urls": media.urls}


def process(run: JobRun) -> dict[str, Any]:
    """The media job: process an upload, or delete stored files. Idempotent by job: an upload
    already processed counts as done, and files always go to the same place."""
    storage = media_storage.current
    if run.payload["action"] == "delete":
        storage.delete(run.payload["keys"])
        return {"deleted": len(run.payload["keys"])}
    media = db.session.get(Media, uuid.UUID(run.payload["media_id"]))
    if media is not None and media.status == MediaStatus.READY:
        return _result(media)
    blob = db.session.get(MediaBlob, media.id) if media else None
    if media is None or blob is None:
        raise JobFailed("media_not_found", "The upload is gone (deleted before processing).")
    file_type = sniff(blob.data[:64])
    if file_type is None or file_type.content_type != media.content_type:
        _fail(media, "unsupported_media_type", "The file's content is not an accepted type.")
    assert file_type is not None
    base = _storage_base(media)
    if file_type.kind == "video":
        try:  # location and other user data zeroed in place, never re-muxed
            data = video.strip_metadata(blob.data, file_type)
        except video.VideoRejected as exc:
            _fail(media, exc.code, exc.message)
        stored = storage.store_video(base, data, file_type.extension)
    else:
        config = current_app.config
        try:  # every way the input can fail, decoding or encoding, is permanent (no retry)
            image = images.open_checked(
                blob.data,
                config["MEDIA_MAX_PIXELS"],
                config["MEDIA_MAX_FRAMES"],
                config["MEDIA_MAX_TOTAL_PIXELS"],
            )
            upright = images.upright(image)
            stored = storage.store_image(
                base,
                images.encode_original(image, file_type),
                lambda size, served_format: images.encode(upright, served_format, size),
            )
        except images.ImageRejected as exc:
            _fail(media, exc.code, exc.message)
        media.width, media.height = upright.size
    media.urls, media.fallback_urls = stored.urls, stored.fallback_urls
    media.storage_keys, media.stored_bytes = stored.keys, stored.bytes_stored
    media.status = MediaStatus.READY
    db.session.delete(blob)
    db.session.flush()
    return _result(media)


# --- reading, using, deleting ----------------------------------------------------------------


def get_visible(media_id: uuid.UUID, caller: Caller) -> Media:
    media = db.session.get(Media, media_id)
    if media is None or not (caller.is_admin or media.owner_id == caller.user_id):
        raise NotFound("No media with this id.")
    return media


def require_usable(media_id: uuid.UUID, owner_id: uuid.UUID, field: str, kind: str) -> Media:
    """Media the owner may attach: theirs, processed, of the right kind (else 422)."""
    media = db.session.get(Media, media_id)
    problem = None
    if media is None or media.owner_id != owner_id:
        problem = "No media of yours with this id."
    elif media.status != MediaStatus.READY:
        problem = "This media has not finished processing (or failed)."
    elif media.kind != kind:
        problem = f"This must be an {kind}."
    if problem:
        raise ValidationFailed("The media cannot be used here.", errors={field: [problem]})
    assert media is not None
    return media


def delete_files_later(keys: list[str]) -> None:
    """A media job that removes stored files (the rows are gone already)."""
    if keys:
        submission = Submission(caller=Caller.system(None))
        job = new_job(MEDIA, submission, {"action": "delete", "keys": keys})
        submit(job, submission)


def delete(media_id: uuid.UUID, caller: Caller) -> None:
    media = get_visible(media_id, caller)
    keys = list(media.storage_keys)
    db.session.delete(media)
    db.session.flush()
    delete_files_later(keys)


def stored_keys_of(owner_id: uuid.UUID) -> list[str]:
    rows = db.session.scalars(select(Media.storage_keys).where(Media.owner_id == owner_id))
    return [key for keys in rows for key in keys]


def purge_orphans() -> int:
    """Remove uploads older than a day that failed, never finished, or that nothing uses."""
    cutoff = utc_param(utcnow() - ORPHAN_AFTER)
    unreferenced = and_(
        Media.purpose != Purpose.GENERAL,
        *[not_(exists().where(column == Media.id)) for column in media_references()],
    )
    stuck = and_(
        Media.status == MediaStatus.PENDING,
        exists().where(
            Job.id == Media.job_id, Job.status.in_([JobStatus.FAILED, JobStatus.CANCELED])
        ),
    )
    orphans = db.session.scalars(
        select(Media)
        .where(
            Media.created_at < cutoff,
            or_(Media.status == MediaStatus.FAILED, stuck, unreferenced),
        )
        .limit(500)
    ).all()
    keys = [key for media in orphans for key in media.storage_keys]
    for media in orphans:
        db.session.delete(media)
    db.session.flush()
    delete_files_later(keys)
    if orphans:
        log.info("removed %d orphaned uploads", len(orphans))
    return len(orphans)
