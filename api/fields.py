"""Marshmallow fields and validators shared by the features' schemas."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from marshmallow import Schema, ValidationError, fields, validates_schema

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
LINE_BREAKS = re.compile(r"[\r\n\t]")
DISPOSABLE_EMAIL_DOMAINS = frozenset(
    {
        "mailinator.com",
        "temp-mail.org",
        "10minutemail.com",
        "yopmail.com",
        "guerrillamail.com",
        "mailpoof.com",
        "trashmail.com",
    }
)


class Text(fields.String):
    """A string trimmed of surrounding space, refusing control characters.

    Single-line text (the default) also refuses line breaks, which keeps names and subjects
    safe to put in email headers.
    """

    def __init__(self, *, multiline: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.multiline = multiline

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if CONTROL_CHARACTERS.search(text) or (not self.multiline and LINE_BREAKS.search(text)):
            raise ValidationError("Contains characters that are not allowed.")
        if not text and self.required:
            raise ValidationError("Must not be blank.")
        return text


class ChangesSchema(Schema):
    """A PATCH body: at least one field. An empty one (or none) changes nothing, which is a
        client's mistake worth a 422; the spec says so with `minProperties` (`JSON_SCHEMA`, which
    api.openapi adds to the schema's OpenAPI definition)."""

    JSON_SCHEMA: dict[str, Any] = {"minProperties": 1}  # added to its OpenAPI schema

    @validates_schema(pass_original=True)
    def something_to_change(self, data: Any, original: Any, **_kwargs: Any) -> None:
        if not data and not original:
            raise ValidationError("Send at least one field to change.", field_name="_schema")


class WholeNumber(fields.Integer):
    """An integer that must be a JSON number (never "2" or true), where 2.0 counts as 2: JSON
    and JSON Schema do not tell them apart, so a generated client may send either."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())  # scans the disk: once per process


def is_timezone(name: str | None) -> bool:
    return bool(name) and name in _timezones()


def known_timezone(name: str | None) -> None:
    if name is not None and not is_timezone(name):
        raise ValidationError("Not a known IANA time zone (e.g. Asia/Makassar).")


def not_disposable_email(address: str) -> None:
    if address.rpartition("@")[2].lower() in DISPOSABLE_EMAIL_DOMAINS:
        raise ValidationError("Disposable email addresses are not accepted.")


def not_in_past(day: date) -> None:
    if day < datetime.now(UTC).date():
        raise ValidationError("Must be today or later.")
