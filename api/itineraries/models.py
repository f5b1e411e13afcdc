"""Generated itineraries, owned by a user or reachable by id when made anonymously."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.extensions import Model
from api.models import TimestampMixin


class Itinerary(TimestampMixin, Model):
    __tablename__ = "itineraries"
    __table_args__ = (
        Index("ix_itineraries_owner_id_created_at", "owner_id", "created_at"),
        Index("ix_itineraries_cache_key_created_at", "cache_key", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # One itinerary per job: a job run twice (its worker died) never makes a second one.
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), unique=True
    )
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    days: Mapped[list[dict[str, Any]]] = mapped_column()
    tips: Mapped[list[str]] = mapped_column(default=list)
    estimated_budget: Mapped[dict[str, Any]] = mapped_column()
    source: Mapped[str] = mapped_column(String(16))
    request: Mapped[dict[str, Any]] = mapped_column()
    cache_key: Mapped[str] = mapped_column(String(64))
    fallback_reason: Mapped[str | None] = mapped_column(String(40))
