"""classify_provider_error: the one rule book for provider exceptions (retryable, fatal, wait)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apo_core import ModelCallError, RetryableModelError
from apo_core.models.provider_errors import (
    classify_provider_error,
    error_codes,
    parse_retry_after,
    retry_after_of,
    status_of,
)

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


class ProviderError(Exception):
    """Quacks like SDK errors: a status and headers on ``response`` (or on itself), a body."""

    def __init__(
        self,
        message: str = "boom",
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        on_response: bool = True,
    ) -> None:
        super().__init__(message)
        if on_response:
            self.response = SimpleNamespace(status_code=status, headers=headers or {})
        else:
            self.status_code = status
            self.headers = headers
        self.body = body


def named(name: str, message: str = "boom", **attrs: Any) -> Exception:
    """An exception of class ``name`` (SDKs are recognised by names, not imports)."""
    exc: Exception = type(name, (Exception,), {})(message)
    for key, value in attrs.items():
        setattr(exc, key, value)
    return exc


RETRYABLE = RetryableModelError
FATAL = ModelCallError


@pytest.mark.parametrize(
    ("exc", "kind", "status", "retry_after"),
    [
        (ProviderError(status=429, headers={"retry-after": "2"}), RETRYABLE, 429, 2.0),
        (ProviderError(status=429, headers={"retry-after-ms": "1500"}), RETRYABLE, 429, 1.5),
        (
            ProviderError(status=429, headers={"retry-after-ms": "250", "retry-after": "9"}),
            RETRYABLE,
            429,
            0.25,
        ),
        (
            ProviderError(
                status=503, headers={"retry-after": format_datetime(NOW + timedelta(seconds=30))}
            ),
            RETRYABLE,
            503,
            30.0,
        ),
        (
            ProviderError(status=503, headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}),
            RETRYABLE,
            503,
            0.0,
        ),
        (ProviderError(status=503, headers={"retry-after": "soon"}), RETRYABLE, 503, None),
        (ProviderError(status=429, headers={"Retry-After": "3"}), RETRYABLE, 429, 3.0),
        (
            ProviderError(status=429, headers={"retry-after": "4"}, on_response=False),
            RETRYABLE,
            429,
            4.0,
        ),
        (ProviderError(status=408), RETRYABLE, 408, None),
        (ProviderError(status=409), RETRYABLE, 409, None),
        (ProviderError(status=500), RETRYABLE, 500, None),
        (ProviderError(status=501), RETRYABLE, 501, None),
        (ProviderError(status=529), RETRYABLE, 529, None),
        (ProviderError(status=400), FATAL, 400, None),
        (ProviderError(status=401), FATAL, 401, None),
        (ProviderError(status=404), FATAL, 404, None),
        (ProviderError(status=422), FATAL, 422, None),
        (named("RateLimitError"), RETRYABLE, None, None),
        (named("RateLimitError", retry_after=7), RETRYABLE, None, 7.0),
        (named("OverloadedError"), RETRYABLE, None, None),
        (named("ServiceUnavailableError"), RETRYABLE, None, None),
        (named("APITimeoutError"), RETRYABLE, None, None),
        (named("APIConnectionError"), RETRYABLE, None, None),
        (TimeoutError("slow"), RETRYABLE, None, None),
        (ConnectionResetError("reset"), RETRYABLE, None, None),
        (json.JSONDecodeError("Expecting value", "{", 1), RETRYABLE, None, None),
        (named("APIResponseValidationError", status_code=200), RETRYABLE, None, None),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_classification(
    exc: Exception, kind: type[ModelCallError], status: int | None, retry_after: float | None
) -> None:
    mapped = classify_provider_error(exc, "m", now=NOW)
    assert type(mapped) is kind
    assert mapped is not None and mapped.status_code == status
    if isinstance(mapped, RetryableModelError):
        assert mapped.retry_after == retry_after
    assert str(mapped).startswith("m")


@pytest.mark.parametrize(
    "body",
    [
        {"code": "insufficient_quota", "message": "You exceeded your current quota"},
        {"error": {"type": "insufficient_quota", "code": None}},
    ],
)
def test_a_429_for_an_exhausted_quota_is_fatal_with_a_clear_message(body: Any) -> None:
    exc = ProviderError("You exceeded your current quota", status=429, body=body)
    mapped = classify_provider_error(exc, "gpt-4o-mini")
    assert type(mapped) is ModelCallError and mapped.status_code == 429
    assert "out of quota" in str(mapped) and "retrying will not help" in str(mapped)
    # The same code on an object attribute (the OpenAI SDK sets ``exc.code``).
    sdk_like = ProviderError("quota", status=429)
    sdk_like.code = "insufficient_quota"  # type: ignore[attr-defined]
    assert type(classify_provider_error(sdk_like, "m")) is ModelCallError
    # An ordinary rate limit is still retried.
    plain = ProviderError("slow down", status=429, body={"code": "rate_limit_exceeded"})
    assert type(classify_provider_error(plain, "m")) is RetryableModelError


def test_unknown_errors_are_not_classified_and_engine_errors_pass_through() -> None:
    assert classify_provider_error(KeyError("x"), "m") is None
    assert classify_provider_error(ValueError("bad argument"), "m") is None
    assert classify_provider_error(ProviderError(status=302), "m") is None
    own = ModelCallError("already translated", status_code=400)
    assert classify_provider_error(own, "m") is own


def test_messages_are_redacted_and_fatal_statuses_hint() -> None:
    exc = ProviderError("Incorrect API key provided: sk-secret", status=401)
    mapped = classify_provider_error(
        exc, "m at http://x", redact=lambda t: t.replace("sk-secret", "***")
    )
    assert mapped is not None
    assert "sk-secret" not in str(mapped) and "***" in str(mapped)
    assert "check the API key" in str(mapped) and "m at http://x answered 401" in str(mapped)


def test_helpers() -> None:
    assert status_of(ProviderError(status=418)) == 418
    assert status_of(named("X", status_code=True)) is None  # a bool is not a status
    assert parse_retry_after(None) is None
    assert parse_retry_after({"retry-after": "-3"}) == 0.0
    assert parse_retry_after({"retry-after": "nan"}) is None
    assert parse_retry_after({"retry-after-ms": "inf", "retry-after": "5"}) == 5.0
    assert retry_after_of(named("X")) is None
    assert error_codes(ProviderError(body={"error": {"code": "c", "type": "t"}})) == {"c", "t"}


@given(st.integers(400, 599))
def test_every_4xx_5xx_status_is_classified(status: int) -> None:
    mapped = classify_provider_error(ProviderError(status=status), "m")
    retryable = status in (408, 409, 429) or status >= 500
    assert type(mapped) is (RetryableModelError if retryable else ModelCallError)


@given(st.text(max_size=40), st.text(max_size=40))
def test_any_retry_after_header_text_is_a_wait_or_none(ms: str, seconds: str) -> None:
    for headers in ({"retry-after": seconds}, {"retry-after-ms": ms, "retry-after": seconds}):
        wait = parse_retry_after(headers, now=NOW)
        assert wait is None or wait >= 0.0
