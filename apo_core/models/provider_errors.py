"""One classifier of provider exceptions: retryable or fatal, and how long to wait.

Every backend (the OpenAI one, the LangChain and LlamaIndex adapters) turns the exceptions of
its SDK into engine errors with :func:`classify_provider_error`, so one provider failure gets one
treatment whichever way it arrived. The rules, in order:

* an HTTP status (``exc.status_code`` or ``exc.response.status_code``) decides first: 408, 409,
  429 and every 5xx (501, 529 included) are retryable, other 4xx are fatal. A 429 whose error
  code is ``insufficient_quota`` is fatal: the account is out of credit and waiting will not help;
* without a status, timeouts, connection errors and exceptions named like rate-limit, overload
  or unavailability errors are retryable, as are garbled replies (a JSON decode error, an SDK's
  response-validation error);
* anything else is not a provider error the engine knows (``None``): callers re-raise it as is.

The wait a provider asks for is read from ``retry-after-ms`` (milliseconds), then
``retry-after`` (seconds, or an HTTP date), then a numeric ``exc.retry_after``.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from apo_core.errors import ModelCallError, RetryableModelError

__all__ = ["classify_provider_error", "error_codes", "retry_after_of", "status_of"]

RETRYABLE_STATUS = frozenset({408, 409, 429})
"""Client statuses worth retrying (every 5xx is, too)."""
FATAL_CODES: Mapping[str, str] = {
    "insufficient_quota": (
        "the account is out of quota (credit or spending limit): retrying will not help; "
        "check the provider's billing and plan"
    ),
}
"""Error codes that make a retryable status fatal, with what to tell the user."""
_HINTS = {
    401: " (check the API key, e.g. OPENAI_API_KEY or api_key=)",
    403: " (the key may not have access to this model)",
    404: " (unknown model or wrong base_url?)",
}
_RETRYABLE_NAMES = re.compile(
    r"RateLimit|Timeout|Timed?Out|Connection|InternalServer|ServiceUnavailable|Overloaded"
    r"|TooManyRequests|Unavailable",
    re.I,
)
_MALFORMED_NAMES = re.compile(r"ResponseValidation|JSONDecode", re.I)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an exception carries (``status_code`` or ``response.status_code``)."""
    for holder in (exc, getattr(exc, "response", None)):
        status = getattr(holder, "status_code", None)
        if isinstance(status, int) and not isinstance(status, bool):
            return status
    return None


def _seconds(text: str, scale: float = 1.0) -> float | None:
    """A finite, non-negative number of seconds from ``text`` (None if it is not a number)."""
    try:
        value = float(text) / scale
    except ValueError:
        return None
    return max(value, 0.0) if math.isfinite(value) else None


def _header(headers: Any, name: str) -> str | None:
    value = headers.get(name) if hasattr(headers, "get") else None
    if value is None and isinstance(headers, Mapping):  # a plain dict: case-sensitive keys
        value = next((v for k, v in headers.items() if str(k).lower() == name), None)
    return None if value is None else str(value)


def parse_retry_after(headers: Any, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date).

    Args:
        headers: the response headers (any mapping with ``get``; names case-insensitive).
        now: the current time for HTTP dates (default: now, UTC).
    """
    if headers is None:
        return None
    millis = _header(headers, "retry-after-ms")
    if millis is not None and (found := _seconds(millis, 1000.0)) is not None:
        return found
    value = _header(headers, "retry-after")
    if value is None:
        return None
    if (found := _seconds(value)) is not None:
        return found
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def retry_after_of(exc: BaseException, *, now: datetime | None = None) -> float | None:
    """The wait in seconds an exception's provider asked for, if it said one.

    Args:
        exc: the provider exception (headers on ``exc.response`` or ``exc``, or a numeric
            ``exc.retry_after``).
        now: the current time for HTTP dates (default: now, UTC).
    """
    for holder in (getattr(exc, "response", None), exc):
        found = parse_retry_after(getattr(holder, "headers", None), now=now)
        if found is not None:
            return found
    value = getattr(exc, "retry_after", None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _seconds(str(value))
    return None


def error_codes(exc: BaseException) -> set[str]:
    """The error ``code``/``type`` strings an exception or its error body carries."""
    found: set[str] = set()
    bodies: list[Any] = [exc]
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        bodies += [body, body.get("error")]
    for holder in bodies:
        for name in ("code", "type"):
            value = holder.get(name) if isinstance(holder, Mapping) else getattr(holder, name, None)
            if isinstance(value, str):
                found.add(value)
    return found


def _text(exc: BaseException, redact: Callable[[str], str] | None) -> str:
    message = getattr(exc, "message", None)
    text = message if isinstance(message, str) and message else str(exc)
    return redact(text) if redact is not None else text


def classify_provider_error(
    exc: BaseException,
    model_id: str,
    *,
    redact: Callable[[str], str] | None = None,
    now: datetime | None = None,
) -> ModelCallError | None:
    """``exc`` as an engine error, or None when it is not a recognisable provider error.

    Args:
        exc: the exception a provider SDK (or framework) raised.
        model_id: names the model (and where it is served) at the start of the message.
        redact: applied to the provider's message (e.g. to mask an echoed API key).
        now: the current time for Retry-After HTTP dates (default: now, UTC).

    Returns:
        A :class:`~apo_core.errors.RetryableModelError` (with ``retry_after``) for transient
        failures, a :class:`~apo_core.errors.ModelCallError` for fatal ones, ``exc`` itself if
        it already is one, or None (callers then re-raise ``exc`` unchanged).
    """
    if isinstance(exc, ModelCallError):
        return exc
    text = _text(exc, redact)
    kind = type(exc).__name__
    status = status_of(exc)
    if status is not None and 400 <= status < 600:
        where = f"{model_id} answered {status} ({kind}): {text}"
        fatal = next((FATAL_CODES[c] for c in sorted(error_codes(exc)) if c in FATAL_CODES), None)
        if fatal is not None:
            return ModelCallError(f"{where} - {fatal}", status_code=status)
        if status in RETRYABLE_STATUS or status >= 500:
            return RetryableModelError(
                where, status_code=status, retry_after=retry_after_of(exc, now=now)
            )
        return ModelCallError(where + _HINTS.get(status, ""), status_code=status)
    where = f"{model_id}: {kind}: {text}"
    if isinstance(exc, TimeoutError | ConnectionError) or _RETRYABLE_NAMES.search(kind):
        return RetryableModelError(where, retry_after=retry_after_of(exc, now=now))
    if isinstance(exc, json.JSONDecodeError) or _MALFORMED_NAMES.search(kind):
        return RetryableModelError(f"{model_id} sent a malformed reply ({kind}): {text}")
    return None
