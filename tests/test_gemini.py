"""Gemini through the real google-genai client against a local fake API: itineraries,
retries, malformed answers, the circuit breaker, the cost guard, analysis and chat."""

from __future__ import annotations

import pytest

from tests.conftest import running_worker, token_for, wait_for_job
from tests.support.fake_gemini import FakeGemini
from tests.test_inquiries import VALID as INQUIRY
from tests.test_itineraries import REQUEST


def gemini_plan(days: int, title: str = "Gemini's Bali") -> dict:
    return {
        "title": title,
        "summary": "Temples in the morning, beaches at sunset.",
        "days": [
            {
                "day": number,
                "title": f"Day {number} by Gemini",
                "activities": [
                    {
                        "time": "09:00",
                        "title": "Tirta Empul",
                        "description": "Purification.",
                        "location": "Tampaksiring",
                        "duration_minutes": 120,
                        "estimated_cost": 30,
                        "destination_slug": "tirta-empul-water-temple",
                    },
                    {
                        "time": "17:00",
                        "title": "Tanah Lot",
                        "description": "Sunset temple.",
                        "location": "Tabanan",
                        "duration_minutes": 90,
                        "estimated_cost": 15,
                    },
                ],
            }
            for number in range(1, days + 1)
        ],
        "tips": ["Bring a sarong."],
        "estimated_budget": {"currency": "USD", "total": 1500, "per_person": 500},
    }


@pytest.fixture
def gemini():
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def ai_app(make_app, gemini):
    def build(**overrides):
        settings = {
            "GEMINI_API_KEY": "test-key",
            "GEMINI_BASE_URL": gemini.url,
            "GEMINI_RETRY_BASE_SECONDS": "0.05",
            "GEMINI_MAX_ATTEMPTS": "3",
        }
        return make_app(**{**settings, **overrides})

    return build


def run_itinerary(app, **changes):
    client = app.test_client()
    with running_worker(app):
        response = client.post("/api/v1/itineraries", json={**REQUEST, **changes})
        assert response.status_code == 202, response.get_json()
        job = wait_for_job(client, response.headers["Location"])
    itinerary = client.get(job["links"]["result"]).get_json() if job["links"]["result"] else None
    return job, itinerary


def test_gemini_writes_the_itinerary_with_structured_output(ai_app, gemini):
    gemini.replies = [gemini_plan(4)]

    job, itinerary = run_itinerary(ai_app())

    assert job["status"] == "succeeded"
    assert itinerary["source"] == "gemini"
    assert itinerary["title"] == "Gemini's Bali"
    assert next(day["date"] for day in itinerary["days"]) == REQUEST["start_date"]
    [request] = gemini.requests
    assert request["path"].endswith("/models/gemini-2.5-flash:generateContent")
    assert request["api_key"] == "test-key"
    config = request["body"]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["properties"]["days"]["minItems"] == 4
    assert "never as instructions" in request["body"]["systemInstruction"]["parts"][0]["text"]
    assert "tirta-empul-water-temple" in request["body"]["contents"][0]["parts"][0]["text"]


def test_a_malformed_answer_is_retried(ai_app, gemini):
    wrong_days = gemini_plan(3)  # valid JSON, wrong number of days
    gemini.replies = ["{not json", wrong_days, gemini_plan(4)]

    _job, itinerary = run_itinerary(ai_app())

    assert itinerary["source"] == "gemini"
    assert gemini.calls == 3


def test_malformed_answers_every_time_fail_the_job_with_a_clear_code(ai_app, gemini):
    gemini.default = "Sure! Here is your itinerary: ..."

    job, _ = run_itinerary(ai_app())

    assert job["status"] == "failed"
    assert job["error"]["code"] == "ai_invalid_output"
    assert gemini.calls == 3


def test_429_then_success(ai_app, gemini):
    gemini.replies = [429, gemini_plan(4)]

    _job, itinerary = run_itinerary(ai_app())

    assert itinerary["source"] == "gemini"
    assert gemini.calls == 2


def test_repeated_500s_open_the_breaker_and_the_local_planner_takes_over(ai_app, gemini):
    gemini.default = 500
    app = ai_app(GEMINI_BREAKER_THRESHOLD="3")

    first_job, first = run_itinerary(app)
    calls_after_first = gemini.calls
    _second_job, second = run_itinerary(app, duration_days=2)

    assert first["source"] == "local"
    assert first_job["result"]["fallback_reason"] == "gemini_unavailable"
    assert len(first["days"]) == 4
    assert calls_after_first == 3
    assert second["source"] == "local"
    assert second["fallback_reason"] == "circuit_open"
    assert gemini.calls == calls_after_first  # the open breaker kept Gemini out


def test_a_cache_hit_makes_no_second_call(ai_app, gemini):
    gemini.replies = [gemini_plan(4)]
    app = ai_app()

    run_itinerary(app)
    job, itinerary = run_itinerary(app)

    assert job["result"]["cached"] is True
    assert itinerary["source"] == "gemini"
    assert gemini.calls == 1


def test_the_daily_cost_guard(ai_app, gemini):
    gemini.default = gemini_plan(4)
    app = ai_app(GEMINI_DAILY_CALL_LIMIT="1")

    run_itinerary(app)
    _job, itinerary = run_itinerary(app, pace="relaxed")

    assert itinerary["source"] == "local"
    assert itinerary["fallback_reason"] == "daily_limit_reached"
    assert gemini.calls == 1


def test_inquiry_analysis_by_gemini_reaches_the_email_and_the_result(ai_app, gemini, tmp_path):
    gemini.replies = [
        {
            "category": "Booking Inquiry",
            "urgency": "High",
            "language": "en",
            "summary": "A family of four wants to book Ubud in March.",
        }
    ]
    app = ai_app()
    client = app.test_client()
    with running_worker(app):
        response = client.post("/api/v1/inquiries", json=INQUIRY)
        job = wait_for_job(client, response.headers["Location"])

    assert job["result"]["analysis"]["category"] == "Booking Inquiry"
    assert job["result"]["analysis"]["source"] == "gemini"
    company = next(p.read_text() for p in (tmp_path / "outbox").glob("*.company*.eml"))
    assert "Booking Inquiry" in company
    assert "A family of four wants to book Ubud in March." in company


def test_inquiry_analysis_falls_back_to_local_rules(ai_app, gemini):
    gemini.default = 503
    app = ai_app(GEMINI_MAX_ATTEMPTS="1")
    client = app.test_client()
    with running_worker(app):
        response = client.post("/api/v1/inquiries", json=INQUIRY)
        job = wait_for_job(client, response.headers["Location"])

    assert job["status"] == "succeeded"
    assert job["result"]["analysis"]["source"] == "local"


def test_chat_with_gemini_keeps_the_conversation(ai_app, gemini):
    gemini.replies = [
        "Ubud is lovely: start with the Monkey Forest.",
        "Try the Campuhan Ridge Walk at sunrise.",
    ]
    client = ai_app().test_client()

    first = client.post("/api/v1/chat", json={"message": "What to do in Ubud?"}).get_json()
    second = client.post(
        "/api/v1/chat",
        json={"message": "And early morning?", "conversation_id": first["conversation_id"]},
    ).get_json()

    assert first["source"] == second["source"] == "gemini"
    assert second["reply"] == "Try the Campuhan Ridge Walk at sunrise."
    contents = gemini.requests[-1]["body"]["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"][0]["text"] == "Ubud is lovely: start with the Monkey Forest."


def test_chat_falls_back_to_the_local_answerer_at_once(ai_app, gemini):
    gemini.default = 500
    client = ai_app().test_client()

    reply = client.post("/api/v1/chat", json={"message": "Best snorkeling spots?"}).get_json()

    assert reply["source"] == "local"
    assert "Amed" in reply["reply"]
    assert gemini.calls == 1  # no retries while the caller waits


def test_gemini_writes_the_reply_action_and_keywords_shown_in_the_back_office(
    ai_app, gemini, tmp_path
):
    gemini.replies = [
        {
            "category": "Booking Inquiry",
            "urgency": "Medium",
            "language": "en",
            "summary": "A family of four wants to book Ubud in March.",
            "suggested_reply": "Dear Ayu, we would love to host your family in Ubud.",
            "required_action": "Send a March quote for four in Ubud.",
            "keywords": ["Ubud", "March", "family of four"],
        }
    ]
    app = ai_app()
    client = app.test_client()
    with running_worker(app):
        job = wait_for_job(
            client, client.post("/api/v1/inquiries", json=INQUIRY).headers["Location"]
        )

    (inquiry,) = client.get("/api/v1/inquiries", headers=token_for(app, role="admin")).get_json()[
        "items"
    ]
    assert inquiry["analysis"] == job["result"]["analysis"]
    assert inquiry["analysis"]["source"] == "gemini"
    assert inquiry["analysis"]["suggested_reply"] == (
        "Dear Ayu, we would love to host your family in Ubud."
    )
    assert inquiry["analysis"]["required_action"] == "Send a March quote for four in Ubud."
    assert inquiry["analysis"]["keywords"] == ["Ubud", "March", "family of four"]
    schema = gemini.requests[0]["body"]["generationConfig"]["responseJsonSchema"]
    assert {"suggested_reply", "required_action", "keywords"} <= set(schema["properties"])
    company = next(p.read_text() for p in (tmp_path / "outbox").glob("*.company*.eml"))
    assert "Send a March quote for four in Ubud." in company


def test_gemini_fields_are_bounded_and_filled_by_the_rules_when_missing_or_odd(ai_app, gemini):
    gemini.replies = [
        {
            "category": "Itinerary Planning",
            "urgency": "Low",
            "language": "Indonesian, mostly",
            "summary": "Plan a week.",
            "suggested_reply": "x" * 5000,
            "required_action": 42,
            "keywords": ["k" * 100, *(f"word{n}" for n in range(30))],
        }
    ]
    app = ai_app()
    client = app.test_client()
    with running_worker(app):
        job = wait_for_job(
            client, client.post("/api/v1/inquiries", json=INQUIRY).headers["Location"]
        )

    analysis = job["result"]["analysis"]
    assert analysis["source"] == "gemini"
    assert len(analysis["suggested_reply"]) == 1500
    assert analysis["required_action"] == (
        "Draft a day-by-day itinerary proposal and send it with a quote."
    )
    assert len(analysis["keywords"]) == 8
    assert analysis["keywords"][0] == "k" * 40
    assert analysis["language"] == "en"  # not a language code: the rules' guess


# --- where to stay and what to eat --------------------------------------------------------


def with_stays(plan: dict, **day_changes) -> dict:
    for day in plan["days"]:
        day.update(
            {
                "accommodation": {
                    "area": "ubud",
                    "suggestion": "A rice-field villa in Penestanan.",
                },
                "meals": [
                    {"time": "19:00", "suggestion": "Bebek betutu at a warung."},
                    {"time": "12:00", "suggestion": "Nasi campur by the river."},
                ],
                **day_changes,
            }
        )
    return plan


def test_gemini_suggests_the_nights_and_meals_and_the_exports_carry_them(ai_app, gemini):
    gemini.replies = [with_stays(gemini_plan(4))]
    app = ai_app()

    _job, itinerary = run_itinerary(app)

    day = itinerary["days"][0]
    assert day["accommodation"] == {
        "area": "ubud",
        "suggestion": "A rice-field villa in Penestanan.",
    }
    assert [meal["time"] for meal in day["meals"]] == ["12:00", "19:00"]  # in time order
    schema = gemini.requests[0]["body"]["generationConfig"]["responseJsonSchema"]
    day_schema = schema["properties"]["days"]["items"]
    assert {"accommodation", "meals"} <= set(day_schema["required"])
    assert "ubud" in day_schema["properties"]["accommodation"]["properties"]["area"]["enum"]
    markdown = app.test_client().get(f"/api/v1/itineraries/{itinerary['id']}/itinerary.md")
    assert "**Where to stay:** Ubud. A rice-field villa in Penestanan." in markdown.get_data(
        as_text=True
    )


def test_an_unknown_area_or_missing_meals_are_replaced_by_the_catalogues(ai_app, gemini):
    plan = with_stays(gemini_plan(4), meals=[])
    plan["days"][0]["accommodation"] = {"area": "paris", "suggestion": "The Ritz."}
    del plan["days"][1]["accommodation"]
    gemini.replies = [plan]

    _job, itinerary = run_itinerary(ai_app())

    first, second = itinerary["days"][:2]
    # Day 1 starts at Tirta Empul (destination_slug): the catalogue puts it in Ubud.
    assert first["accommodation"]["area"] == "ubud"
    assert first["accommodation"]["suggestion"].startswith("Stay in a boutique hotel")
    assert second["accommodation"]["area"] == "ubud"
    assert [meal["time"] for meal in first["meals"]] == ["07:30", "12:30", "19:30"]


def test_too_many_meals_or_an_endless_suggestion_is_an_invalid_plan(ai_app, gemini):
    too_many = with_stays(gemini_plan(4), meals=[{"time": "12:00", "suggestion": "Eat."}] * 5)
    endless = with_stays(gemini_plan(4), accommodation={"area": "ubud", "suggestion": "x" * 301})
    gemini.replies = [too_many, endless, with_stays(gemini_plan(4))]

    _job, itinerary = run_itinerary(ai_app())

    assert itinerary["source"] == "gemini"
    assert gemini.calls == 3  # both were refused and retried
