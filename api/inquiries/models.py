"""A visitor's inquiry, stored before the email job that delivers it is enqueued."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.extensions import Model
from api.models import TimestampMixin


class InquiryStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"
    CLOSED = "closed"


class Inquiry(TimestampMixin, Model):
    __tablename__ = "inquiries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(150))
    message: Mapped[str] = mapped_column(Text)
    travel_date: Mapped[date | None]
    group_size: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default=InquiryStatus.NEW, index=True)
    category: Mapped[str | None] = mapped_column(String(32), index=True)  # set by the analysis
    analysis: Mapped[dict[str, Any] | None]
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
