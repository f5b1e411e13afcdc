"""The chatbot's local answerer, conversations, validation, logging and limits."""

from __future__ import annotations

import logging
import uuid

import pytest

from tests.conftest import REDIS_DB_CACHE, REDIS_HOST_URL


def ask(client, message, conversation_id=None):
    body = {"message": message}
    if conversation_id:
        body["conversation_id"] = conversation_id
    response = client.post("/api/v1/chat", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Where is the best snorkeling?", "Amed"),
        ("Do I need a visa for Bali?", "Visa on Arrival"),
        ("When is the rainy season?", "November to March"),
        ("How much does a trip cost?", "US$90 per adult per day"),
        ("What should I wear at a temple?", "sarong"),
        ("Can I talk to a human?", "+6285847006743"),
        ("Sunrise volcano hike?", "Mount Batur"),
    ],
)
def test_local_answers_are_specific(client, question, expected):
    reply = ask(client, question)

    assert reply["source"] == "local"
    assert expected in reply["reply"]


def test_an_area_question_lists_varied_places_in_that_area(client):
    reply = ask(client, "What can we do in Ubud?")["reply"]

    places = [line for line in reply.splitlines() if line.startswith("• ")]
    assert len(places) == 4
    assert all("(Ubud)" in line for line in places)


def test_off_topic_questions_get_useful_guidance_not_an_apology(client):
    reply = ask(client, "Who won the football yesterday?")["reply"]

    assert "sorry" not in reply.lower()
    assert "Ubud" in reply
    assert "WhatsApp" in reply


def test_conversations_continue_and_stay_bounded(make_app):
    client = make_app(CHAT_HISTORY_MESSAGES="4").test_client()
    first = ask(client, "Hello!")
    conversation = first["conversation_id"]

    for question in ("Beaches?", "Temples?", "Food?"):
        assert ask(client, question, conversation)["conversation_id"] == conversation

    import redis

    from api.extensions import cache

    with client.application.app_context():
        history = cache.get(f"chat:{conversation}")
    assert len(history) == 4
    assert history[-2] == {"role": "user", "text": "Food?"}
    assert (
        redis.Redis.from_url(f"{REDIS_HOST_URL}/{REDIS_DB_CACHE}").ttl(f"cache:chat:{conversation}")
        > 0
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"message": ""},
        {"message": "   "},
        {"message": "x" * 1001},
        {"message": "hi", "conversation_id": "not-a-uuid"},
        {"message": 42},
    ],
)
def test_invalid_chat_requests_are_422(client, body):
    assert client.post("/api/v1/chat", json=body).status_code == 422


def test_user_text_never_reaches_the_logs(client, caplog):
    secret = "my passport number is X1234567 please remember it"
    with caplog.at_level(logging.DEBUG):
        ask(client, secret)

    assert secret not in caplog.text
    assert "X1234567" not in caplog.text
    assert any("chat message" in record.getMessage() for record in caplog.records)


def test_chat_is_tightly_rate_limited(make_app):
    client = make_app(RATELIMIT_ENABLED="true", RATELIMIT_CHAT="2 per minute").test_client()

    answers = [client.post("/api/v1/chat", json={"message": "hi"}).status_code for _ in range(3)]

    assert answers == [200, 200, 429]


def test_a_new_conversation_id_is_made_when_none_is_given(client):
    reply = ask(client, "Hi")

    assert uuid.UUID(reply["conversation_id"])
