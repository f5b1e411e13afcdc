"""Itinerary requests, results, and the plan an AI model must return."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api.fields import Text, WholeNumber, not_in_past
from api.itineraries.planner import minimum_budget
from api.jobs.schemas import CallbackSchema

BUDGETS = ["budget", "moderate", "luxury"]
PACES = ["relaxed", "balanced", "packed"]
TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_SUGGESTION, MAX_MEALS = 300, 4


class TravelersSchema(Schema):
    adults = WholeNumber(required=True, validate=validate.Range(min=1, max=20))
    children = WholeNumber(load_default=0, validate=validate.Range(min=0, max=20))


class ItineraryRequestSchema(CallbackSchema):
    duration_days = WholeNumber(required=True, validate=validate.Range(min=1, max=30))
    travelers = fields.Nested(TravelersSchema, required=True)
    budget = fields.String(required=True, validate=validate.OneOf(BUDGETS))
    budget_usd = fields.Integer(allow_none=True, validate=validate.Range(min=300, max=1_000_000))
    interests = fields.List(
        Text(validate=validate.Length(min=1, max=40)),
        required=True,
        validate=validate.Length(min=1, max=4),
    )
    pace = fields.String(required=True, validate=validate.OneOf(PACES))
    start_date = fields.Date(allow_none=True, validate=not_in_past)
    notes = Text(allow_none=True, multiline=True, validate=validate.Length(max=1000))

    @validates_schema(skip_on_field_errors=True)
    def feasible_budget(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("budget_usd") is None:
            return
        party = data["travelers"]
        minimum = minimum_budget(data["duration_days"], party["adults"], party["children"])
        if data["budget_usd"] < minimum:
            people = party["adults"] + party["children"]
            raise ValidationError(
                f"US${data['budget_usd']} is too low for {people} traveller"
                f"{'s' * (people > 1)} over {data['duration_days']} days; "
                f"the minimum is US${minimum}.",
                field_name="budget_usd",
            )


class ActivitySchema(Schema):
    time = fields.String(required=True, validate=validate.Regexp(TIME))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(required=True, validate=validate.Length(max=2000))
    location = fields.String(required=True, validate=validate.Length(min=1, max=200))
    duration_minutes = fields.Integer(required=True, validate=validate.Range(min=10, max=900))
    estimated_cost = fields.Float(required=True, validate=validate.Range(min=0))
    destination_slug = fields.String(load_default=None, allow_none=True)


class AccommodationSchema(Schema):
    """Where to spend the night: a catalogue area and a suggestion."""

    area = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "A catalogue area, e.g. ubud, south, east."},
    )
    suggestion = fields.String(required=True, validate=validate.Length(min=1, max=MAX_SUGGESTION))


class MealSchema(Schema):
    time = fields.String(required=True, validate=validate.Regexp(TIME))
    suggestion = fields.String(required=True, validate=validate.Length(min=1, max=MAX_SUGGESTION))


class DaySchema(Schema):
    day = fields.Integer(required=True)
    date = fields.String()
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    activities = fields.List(
        fields.Nested(ActivitySchema), required=True, validate=validate.Length(min=1, max=8)
    )
    # Older itineraries have neither; a plan without them gets the local planner's.
    accommodation = fields.Nested(AccommodationSchema, load_default=None, allow_none=True)
    meals = fields.List(
        fields.Nested(MealSchema), load_default=list, validate=validate.Length(max=MAX_MEALS)
    )


class PlanSchema(Schema):
    """What a generator must produce; an AI answer is validated against it before storing."""

    class Meta:
        unknown = "exclude"

    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    summary = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    days = fields.List(fields.Nested(DaySchema), required=True)
    tips = fields.List(fields.String(validate=validate.Length(max=500)), load_default=list)
    estimated_budget = fields.Dict(required=True)


class ItinerarySchema(Schema):
    id = fields.UUID()
    title = fields.String()
    summary = fields.String()
    days = fields.List(fields.Nested(DaySchema))
    tips = fields.List(fields.String())
    estimated_budget = fields.Dict()
    source = fields.String(metadata={"enum": ["gemini", "local"]})
    fallback_reason = fields.String(allow_none=True)
    request = fields.Dict()
    created_at = fields.AwareDateTime()


class ItinerarySummarySchema(Schema):
    id = fields.UUID()
    title = fields.String()
    source = fields.String()
    created_at = fields.AwareDateTime()


def plan_json_schema(duration_days: int, areas: list[str]) -> dict[str, Any]:
    """The response schema given to Gemini (JSON Schema), matching PlanSchema; `areas` are
    the catalogue's areas, the only places a night may be suggested."""
    text = {"type": "string"}
    suggestion = {"type": "string", "maxLength": MAX_SUGGESTION}
    activity = {
        "type": "object",
        "properties": {
            "time": {"type": "string", "description": "24-hour HH:MM, in order within a day"},
            "title": text,
            "description": text,
            "location": text,
            "duration_minutes": {"type": "integer"},
            "estimated_cost": {"type": "number", "description": "USD for the whole party"},
            "destination_slug": {"type": "string", "description": "catalogue slug, if any"},
        },
        "required": [
            "time",
            "title",
            "description",
            "location",
            "duration_minutes",
            "estimated_cost",
        ],
    }
    day = {
        "type": "object",
        "properties": {
            "day": {"type": "integer"},
            "title": text,
            "activities": {"type": "array", "items": activity, "minItems": 1, "maxItems": 8},
            "accommodation": {
                "type": "object",
                "description": "where to stay that night",
                "properties": {
                    "area": {"type": "string", "enum": areas},
                    "suggestion": suggestion,
                },
                "required": ["area", "suggestion"],
            },
            "meals": {
                "type": "array",
                "description": "breakfast, lunch and dinner: where or what to eat",
                "items": {
                    "type": "object",
                    "properties": {
                        "time": {"type": "string", "description": "24-hour HH:MM"},
                        "suggestion": suggestion,
                    },
                    "required": ["time", "suggestion"],
                },
                "maxItems": MAX_MEALS,
            },
        },
        "required": ["day", "title", "activities", "accommodation", "meals"],
    }
    return {
        "type": "object",
        "properties": {
            "title": text,
            "summary": text,
            "days": {
                "type": "array",
                "items": day,
                "minItems": duration_days,
                "maxItems": duration_days,
            },
            "tips": {"type": "array", "items": text},
            "estimated_budget": {
                "type": "object",
                "properties": {
                    "currency": text,
                    "total": {"type": "number"},
                    "per_person": {"type": "number"},
                },
                "required": ["currency", "total", "per_person"],
            },
        },
        "required": ["title", "summary", "days", "tips", "estimated_budget"],
    }
