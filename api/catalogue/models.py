"""The Bali destinations and activities the agency sells."""

from __future__ import annotations

import uuid

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.extensions import Model
from api.models import TimestampMixin


class Destination(TimestampMixin, Model):
    __tablename__ = "destinations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    area: Mapped[str] = mapped_column(String(40), index=True)
    category: Mapped[str] = mapped_column(String(40), index=True)
    latitude: Mapped[float]
    longitude: Mapped[float]
    duration_minutes: Mapped[int]
    price_min_usd: Mapped[int]
    price_max_usd: Mapped[int]
    best_time: Mapped[str] = mapped_column(String(16))
    tags: Mapped[list[str]] = mapped_column(default=list)
    description: Mapped[str] = mapped_column(Text)
