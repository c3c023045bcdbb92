"""The engine's retry wiring: the backoff policy, the attempt loop, and the final error.

An attempt that raises :class:`~apo_core.errors.RetryableModelError` is tried again, up to
``max_attempts`` in all, after a delay from :class:`Backoff` (never shorter than the provider's
Retry-After, within a cap). Any other exception ends the call at once. :func:`final_error` turns
the last exception into what the caller sees: retries exhausted, a fatal model error naming the
role, or the exception itself (budget, cancellation, a bug).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from apo_core.errors import ModelCallError, RetriesExhausted, RetryableModelError

Sleep = Callable[[float], Awaitable[None]]
RetryListener = Callable[[int, BaseException | None, float | None], None]
"""Called before each retry's wait with (failed attempt number, its error, the delay)."""
T = TypeVar("T")


class Backoff(BaseModel):
    """Exponential backoff with jitter: about ``min(max_s, initial_s * 2**(attempt-1))``.

    With jitter the wait is drawn from the upper half of that range. It is never shorter than
    a Retry-After the provider sent, which is honoured up to ``max_retry_after_s``.
    """

    initial_s: float = 0.5
    max_s: float = 20.0
    jitter: bool = True
    max_retry_after_s: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        ceiling = min(self.max_s, self.initial_s * 2 ** (attempt - 1))
        wait = rng.uniform(ceiling / 2, ceiling) if self.jitter else ceiling
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after_s))
        return wait


async def with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    max_attempts: int,
    backoff: Backoff,
    rng: random.Random,
    sleep: Sleep,
    on_retry: RetryListener,
) -> T:
    """Run ``attempt`` until it succeeds, fails fatally, or ``max_attempts`` are used up.

    Args:
        attempt: makes one attempt; raises RetryableModelError for a transient failure.
        max_attempts: attempts in all, the first included.
        backoff: the delay policy between attempts.
        rng: draws the jitter.
        sleep: waits between attempts (tests inject a fake).
        on_retry: told about each retry before its wait.

    Raises:
        BaseException: the last attempt's exception, unchanged (see :func:`final_error`).
    """

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after if isinstance(exc, RetryableModelError) else None
        return backoff.delay(state.attempt_number, retry_after, rng)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else None
        on_retry(state.attempt_number, exc, delay)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(max_attempts),
        wait=wait,
        retry=retry_if_exception_type(RetryableModelError),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return await retrying(attempt)


def final_error(exc: BaseException, *, role: str, model_id: str, attempts: int) -> BaseException:
    """What a failed call raises, given its last exception.

    Args:
        exc: the last attempt's exception.
        role: the calling role, named in the message.
        model_id: the model, named in the message.
        attempts: how many attempts were made.

    Returns:
        :class:`~apo_core.errors.RetriesExhausted` for a retryable failure that persisted, a
        :class:`~apo_core.errors.ModelCallError` naming the role for a fatal one, or ``exc``
        itself for anything else (budget, cancellation, a bug).
    """
    if isinstance(exc, RetryableModelError):
        return RetriesExhausted(
            f"{role} call to {model_id} failed after {attempts} attempt(s): {exc}",
            attempts=attempts,
            last_error=exc,
        )
    if isinstance(exc, ModelCallError) and not isinstance(exc, RetriesExhausted):
        return ModelCallError(
            f"{role} call to {model_id} failed: {exc}", status_code=exc.status_code
        )
    return exc
