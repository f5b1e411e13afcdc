"""Google Gemini through `google-genai`, with the resilience every caller shares.

`create_model()` returns None when GEMINI_API_KEY is unset: the offline default, under which
itineraries, chat and inquiry analysis use their local implementations. `guarded()` wraps a
call with a daily call budget, a circuit breaker (state in the cache, so every process sees
it) and retries with exponential backoff and jitter on 429, 5xx and timeouts. When Gemini
cannot be used it raises `AIUnavailable` with the reason, and the caller falls back.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from google import genai
from google.genai import errors, types

from api.integrations.errors import IntegrationError
from api.telemetry import GEMINI_CALLS, GEMINI_FALLBACKS

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRYABLE_STATUSES = {408, 429, 500, 502, 503, 504}


class AIUnavailable(Exception):
    """Gemini is not to be used now; `reason` says why (recorded in results)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedOutput(Exception):
    """The model answered, but not with what the schema asked for."""


@dataclass(frozen=True)
class ChatTurn:
    role: str  # "user" or "model"
    text: str


class GeminiModel:
    def __init__(self, config: dict[str, Any]) -> None:
        self.model = config["GEMINI_MODEL"]
        http_options = types.HttpOptions(
            base_url=config["GEMINI_BASE_URL"] or None,
            timeout=config["GEMINI_TIMEOUT_SECONDS"] * 1000,
            retry_options=types.HttpRetryOptions(attempts=1),  # we retry, and count failures
        )
        self.client = genai.Client(api_key=config["GEMINI_API_KEY"], http_options=http_options)

    def _generate(self, contents: Any, config: types.GenerateContentConfig) -> str:
        """One call; errors become IntegrationError (retryable for 429, 5xx, transport)."""
        try:
            response = self.client.models.generate_content(
                model=self.model, contents=contents, config=config
            )
        except errors.APIError as exc:
            retryable = exc.code in RETRYABLE_STATUSES
            raise IntegrationError(
                "ai_unavailable" if retryable else "ai_rejected",
                f"Gemini answered {exc.code}",
                retryable=retryable,
            ) from exc
        except Exception as exc:  # the SDK's transport errors (timeouts, refused connections)
            raise IntegrationError(
                "ai_unavailable", f"Gemini unreachable: {type(exc).__name__}", retryable=True
            ) from exc
        return response.text or ""

    def generate_json(
        self, *, system: str, prompt: str, schema: dict[str, Any], temperature: float
    ) -> dict[str, Any]:
        text = self._generate(
            prompt,
            types.GenerateContentConfig(
                system_instruction=system,
                temperature=temperature,
                response_mime_type="application/json",
                response_json_schema=schema,
            ),
        )
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise MalformedOutput("the answer is not JSON") from exc
        if not isinstance(value, dict):
            raise MalformedOutput("the answer is not a JSON object")
        return value

    def chat(
        self, *, system: str, history: list[ChatTurn], message: str, timeout_seconds: int
    ) -> str:
        contents = [
            types.Content(role=turn.role, parts=[types.Part.from_text(text=turn.text)])
            for turn in history
        ]
        contents.append(types.Content(role="user", parts=[types.Part.from_text(text=message)]))
        text = self._generate(
            contents,
            types.GenerateContentConfig(
                system_instruction=system,
                temperature=0.7,
                http_options=types.HttpOptions(timeout=timeout_seconds * 1000),
            ),
        )
        if not text.strip():
            raise MalformedOutput("empty answer")
        return text.strip()


def create_model(config: dict[str, Any]) -> GeminiModel | None:
    return GeminiModel(config) if config["GEMINI_API_KEY"] else None


class Guard:
    """Daily budget, circuit breaker and retries around Gemini calls, state in the cache."""

    def __init__(self, cache: Any, config: dict[str, Any]) -> None:
        self.cache = cache
        self.threshold = config["GEMINI_BREAKER_THRESHOLD"]
        self.cooldown = config["GEMINI_BREAKER_COOLDOWN_SECONDS"]
        self.daily_limit = config["GEMINI_DAILY_CALL_LIMIT"]
        self.attempts = config["GEMINI_MAX_ATTEMPTS"]
        self.backoff = config["GEMINI_RETRY_BASE_SECONDS"]

    def is_open(self) -> bool:
        return bool(self.cache.get("gemini:breaker-open"))

    def _record_failure(self) -> None:
        self.cache.add("gemini:failures", 0, timeout=self.cooldown)
        if int(self.cache.cache.inc("gemini:failures") or 0) >= self.threshold:
            self.cache.set("gemini:breaker-open", 1, timeout=self.cooldown)
            self.cache.delete("gemini:failures")
            log.warning("Gemini circuit opened for %ss", self.cooldown)

    def _take_from_budget(self) -> bool:
        key = f"gemini:calls:{datetime.now(UTC).date().isoformat()}"
        self.cache.add(key, 0, timeout=2 * 86400)
        return int(self.cache.cache.inc(key) or 0) <= self.daily_limit

    def call(self, operation: Callable[[], T], attempts: int | None = None) -> T:
        """Run `operation` (one Gemini call), retrying transient failures and malformed output.

        Raises AIUnavailable (callers fall back), MalformedOutput after the last attempt, or
        IntegrationError for a permanent refusal.
        """
        try:
            return self._call(operation, attempts or self.attempts)
        except AIUnavailable as exc:  # the caller answers locally
            GEMINI_FALLBACKS.labels(exc.reason).inc()
            raise
        except IntegrationError:  # a permanent refusal: the caller answers locally too
            GEMINI_FALLBACKS.labels("gemini_rejected").inc()
            raise

    def _call(self, operation: Callable[[], T], attempts: int) -> T:
        for attempt in range(1, attempts + 1):
            if self.is_open():
                raise AIUnavailable("circuit_open")
            if not self._take_from_budget():
                raise AIUnavailable("daily_limit_reached")
            try:
                result = operation()
            except IntegrationError as exc:
                GEMINI_CALLS.labels("error").inc()
                if not exc.retryable:
                    raise
                self._record_failure()
                if attempt == attempts:
                    raise AIUnavailable("gemini_unavailable") from exc
            except MalformedOutput:
                GEMINI_CALLS.labels("malformed").inc()
                if attempt == attempts:
                    raise
            else:
                GEMINI_CALLS.labels("ok").inc()
                self.cache.delete("gemini:failures")
                return result
            delay = self.backoff * 2 ** (attempt - 1)
            time.sleep(delay / 2 + random.uniform(0, delay / 2))
        raise AssertionError("unreachable")  # pragma: no cover
