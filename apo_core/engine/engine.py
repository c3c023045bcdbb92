"""The Engine: the one path every LLM call of every role takes.

A call goes: role -> model; identical in-flight requests (on the same event loop) share one
call; cache lookup (hits are free and counted); budget reservation of the worst case; then up
to ``max_attempts`` attempts, each passing the model's RPM/TPM limits and holding a concurrency
slot, under a timeout; retryable failures back off exponentially with jitter (at least as long
as Retry-After asks); usage, cost and time go to the ledger; the response goes to the cache;
listeners see every step. A cancelled call is recorded as cancelled, not as a failure.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from apo_core.engine.budget import Budget, BudgetGuard
from apo_core.engine.cache import ResponseCache, cache_key
from apo_core.engine.events import CacheEvent, CallEvent, EventBus, Listener
from apo_core.engine.inflight import InFlight
from apo_core.engine.ledger import UsageLedger, UsageReport
from apo_core.engine.limits import Limiter, ModelLimits
from apo_core.engine.pricing import cost_of, price_per_token
from apo_core.engine.retries import Backoff, Sleep, final_error, with_retries
from apo_core.errors import ConfigError, RetryableModelError
from apo_core.models import count_message_tokens
from apo_core.models.base import (
    ChatModel,
    declared_concurrency,
    parse_all,
    schema_instruction,
)
from apo_core.sync import run_sync
from apo_core.types import ROLES, Completion, CompletionParams, Message, Role, as_messages

__all__ = ["Backoff", "Engine", "Sleep"]
logger = logging.getLogger("apo_core")


class Engine:
    """Runs every model call: cache, budget, limits, retries, accounting and events.

    Args:
        model: the default model of every role. ``None`` means the embedded
            :class:`~apo_core.models.LocalChatModel`, created on first use.
        roles: a model per role (``task``, ``optimizer``, ``judge``, ``rewriter``), overriding
            ``model`` for that role.
        cache: a :class:`~apo_core.engine.ResponseCache`, a path to its SQLite file, or ``None``
            for no cache.
        budget: hard limits on calls, tokens and dollars.
        max_concurrency: calls in flight at once, over all models.
        limits: per-model limits (concurrency, RPM, TPM), keyed by model id.
        timeout: seconds one attempt may take before it counts as a (retryable) timeout.
        max_attempts: attempts per call, the first included.
        backoff: the retry delay policy.
        default_max_tokens: ``max_tokens`` given to calls that set none while a token or dollar
            budget is active, so that every call's cost is bounded.
        listeners: callables receiving every :class:`~apo_core.engine.Event`.
        sleep: the sleep used between attempts (tests inject a fake).
        seed: seeds the jitter, for reproducible retry timing.
    """

    def __init__(
        self,
        model: ChatModel | None = None,
        *,
        roles: Mapping[str, ChatModel] | None = None,
        cache: ResponseCache | str | os.PathLike[str] | None = None,
        budget: Budget | None = None,
        max_concurrency: int = 16,
        limits: Mapping[str, ModelLimits] | None = None,
        timeout: float | None = 120.0,
        max_attempts: int = 6,
        backoff: Backoff | None = None,
        default_max_tokens: int = 1024,
        listeners: Sequence[Listener] = (),
        sleep: Sleep | None = None,
        seed: int | None = None,
    ) -> None:
        unknown = set(roles or {}) - set(ROLES)
        if unknown:
            raise ConfigError(
                f"unknown role(s) {sorted(unknown)}; the roles are {', '.join(ROLES)}"
            )
        if max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")
        if timeout is not None and timeout <= 0:
            raise ConfigError("timeout must be positive (or None for no timeout)")
        self._default_model = model
        self._roles: dict[str, ChatModel] = dict(roles or {})
        self.cache = ResponseCache(cache) if isinstance(cache, (str, os.PathLike)) else cache
        self.budget = BudgetGuard(budget)
        self.limiter = Limiter(max_concurrency, dict(limits or {}))
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff or Backoff()
        self.default_max_tokens = default_max_tokens
        self.events = EventBus(list(listeners))
        self.ledger = UsageLedger()
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rng = random.Random(seed)
        self._ids = itertools.count(1)
        self._unpriced_warned: set[str] = set()
        self._inflight: InFlight[Completion] = InFlight()

    # -- models ---------------------------------------------------------------------------

    def model_identities(self) -> dict[str, str]:
        """The cache identity of the model of each role that has its own, and of the default
        (``"default"``; the embedded model's id when none was given, without loading it)."""
        ids = {role: model.cache_identity for role, model in sorted(self._roles.items())}
        default = self._default_model
        ids["default"] = default.cache_identity if default is not None else "embedded default"
        return ids

    def model_for(self, role: str) -> ChatModel:
        """The model that serves ``role``."""
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")
        if role in self._roles:
            return self._roles[role]
        if self._default_model is None:
            from apo_core.models import LocalChatModel

            self._default_model = LocalChatModel()
        return self._default_model

    # -- calls ----------------------------------------------------------------------------

    async def complete(
        self,
        messages: str | Message | list[Message] | list[dict[str, str]],
        *,
        role: Role = "task",
        temperature: float = 0.0,
        max_tokens: int | None = None,
        n: int = 1,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        top_p: float | None = None,
        response_format: type[BaseModel] | None = None,
        sample_index: int = 0,
        model: ChatModel | None = None,
    ) -> Completion:
        """Complete ``messages`` with the model of ``role`` (or ``model``).

        ``sample_index`` tells apart repeated identical requests at temperature > 0 (the
        second paraphrase of the same prompt is sample 1), so each is cached on its own.

        Raises:
            BudgetExceeded: the call would pass the budget (nothing was sent).
            ModelCallError: a fatal error, or ``RetriesExhausted`` after every attempt.
        """
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")
        chat = model or self.model_for(role)
        msgs = as_messages(messages)
        if not msgs:
            raise ConfigError("a model call needs at least one message")
        if max_tokens is None and self.budget.budget.limits_tokens:
            max_tokens = self.default_max_tokens
        params = CompletionParams(
            temperature=temperature,
            max_tokens=max_tokens,
            n=n,
            stop=tuple(stop or ()),
            seed=seed,
            top_p=top_p,
        )
        key = cache_key(
            chat.cache_identity,
            msgs,
            params,
            response_format=response_format,
            sample_index=sample_index,
        )
        call_id = next(self._ids)
        shared = await self._inflight.join(key)
        if shared is not None:
            return self._hit(role, chat, call_id, shared, response_format)
        # Registered before the cache lookup, and removed only after the cache write, so that an
        # identical request never slips between the two and pays for the same call twice.
        with self._inflight.lead(key) as future:
            hit = await self.cache.get(key) if self.cache is not None else None
            if hit is not None:
                future.set_result(hit)
                return self._hit(role, chat, call_id, hit, response_format)
            result = await self._call(role, chat, call_id, msgs, params, response_format)
            future.set_result(result)
            if self.cache is not None and not await self.cache.put(key, result):
                self.events.emit(
                    CacheEvent(
                        kind="cache_write_failed",
                        role=role,
                        model_id=chat.model_id,
                        call_id=call_id,
                        path=str(self.cache.path),
                        error=self.cache.last_write_error,
                    )
                )
            return result

    def complete_sync(self, messages: Any, **kwargs: Any) -> Completion:
        """Blocking :meth:`complete`, usable inside or outside a running event loop."""
        return run_sync(self.complete(messages, **kwargs))

    def _hit(
        self,
        role: str,
        chat: ChatModel,
        call_id: int,
        done: Completion,
        response_format: type[BaseModel] | None,
    ) -> Completion:
        self.ledger.record_hit(role, chat.model_id, done.usage)
        self.events.emit(
            CallEvent(
                kind="cache_hit",
                role=role,
                model_id=chat.model_id,
                call_id=call_id,
                usage=done.usage,
            )
        )
        return done.model_copy(
            update={"cached": True, "parsed": parse_all(done.texts, response_format)}
        )

    def _warn_unpriced(self, chat: ChatModel) -> None:
        if chat.model_id not in self._unpriced_warned:
            self._unpriced_warned.add(chat.model_id)
            logger.warning(
                "no price is known for model %r (provider %r): the dollar budget cannot limit "
                "its calls; add a call or token budget",
                chat.model_id,
                chat.provider,
            )

    def _estimate_input(
        self, chat: ChatModel, msgs: list[Message], schema: type[BaseModel] | None = None
    ) -> int:
        if schema is not None:  # backends send the schema too (as a system message or field)
            msgs = [Message(role="system", content=schema_instruction(schema)), *msgs]
        counter = getattr(chat, "count_input_tokens", None)
        return int(counter(msgs)) if callable(counter) else count_message_tokens(msgs)

    async def _call(
        self,
        role: str,
        chat: ChatModel,
        call_id: int,
        msgs: list[Message],
        params: CompletionParams,
        response_format: type[BaseModel] | None,
    ) -> Completion:
        # Worst case: some backends bill the prompt once per sample (a server ignoring n, the
        # embedded model), so the input is reserved n times; the output is max_tokens per sample.
        est_in = self._estimate_input(chat, msgs, response_format) * params.n
        est_out = (params.max_tokens or self.default_max_tokens) * params.n
        known_prices = price_per_token(chat.model_id, chat.provider)
        if known_prices is None and self.budget.budget.max_dollars is not None:
            self._warn_unpriced(chat)
        prices = known_prices or (0.0, 0.0)
        reservation = self.budget.reserve(
            est_in + est_out, est_in * prices[0] + est_out * prices[1]
        )
        started = time.monotonic()
        attempts = 0
        self.events.emit(
            CallEvent(kind="call_started", role=role, model_id=chat.model_id, call_id=call_id)
        )

        model_concurrency = declared_concurrency(chat)

        async def attempt() -> Completion:
            nonlocal attempts
            attempts += 1
            # The slot (a busy model's queue included) is taken before the timeout starts.
            async with self.limiter.slot(
                chat.model_id, est_in + est_out, model_concurrency=model_concurrency
            ):
                try:
                    async with asyncio.timeout(self.timeout):
                        return await chat.complete(msgs, params, response_format=response_format)
                except TimeoutError as exc:
                    raise RetryableModelError(
                        f"{chat.model_id} did not answer within {self.timeout:g}s"
                    ) from exc

        def on_retry(number: int, exc: BaseException | None, delay: float | None) -> None:
            self.events.emit(
                CallEvent(
                    kind="call_retried",
                    role=role,
                    model_id=chat.model_id,
                    call_id=call_id,
                    attempt=number,
                    error=str(exc),
                    delay_s=delay,
                )
            )

        try:
            result = await with_retries(
                attempt,
                max_attempts=self.max_attempts,
                backoff=self.backoff,
                rng=self._rng,
                sleep=self._sleep,
                on_retry=on_retry,
            )
        except BaseException as exc:
            self.budget.release(reservation)
            elapsed = time.monotonic() - started
            cancelled = isinstance(exc, asyncio.CancelledError)
            self.ledger.record_failure(
                role, chat.model_id, attempts=attempts, seconds=elapsed, cancelled=cancelled
            )
            self.events.emit(
                CallEvent(
                    kind="call_cancelled" if cancelled else "call_failed",
                    role=role,
                    model_id=chat.model_id,
                    call_id=call_id,
                    attempt=attempts,
                    error=f"{type(exc).__name__}: {exc}",
                    elapsed_s=elapsed,
                )
            )
            error = final_error(exc, role=role, model_id=chat.model_id, attempts=attempts)
            if error is exc:
                raise
            raise error from exc
        elapsed = time.monotonic() - started
        cost, known = cost_of(result.usage, chat.model_id, chat.provider)
        self.budget.settle(reservation, tokens=result.usage.total_tokens, dollars=cost)
        self.ledger.record_call(
            role,
            chat.model_id,
            result.usage,
            cost=cost,
            cost_known=known,
            seconds=elapsed,
            attempts=attempts,
        )
        self.events.emit(
            CallEvent(
                kind="call_finished",
                role=role,
                model_id=chat.model_id,
                call_id=call_id,
                attempt=attempts,
                usage=result.usage,
                cost_usd=cost,
                elapsed_s=elapsed,
            )
        )
        if result.parsed is None and response_format is not None:
            result = result.model_copy(update={"parsed": parse_all(result.texts, response_format)})
        return result

    # -- accounting and lifecycle -----------------------------------------------------------

    def usage(self) -> UsageReport:
        """Calls, cache hits, tokens, dollars and time so far, per role and per model."""
        return self.ledger.report()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add an event listener; returns a function that removes it."""
        return self.events.subscribe(listener)

    def close(self) -> None:
        """Close the cache file (the engine may still be used: it reopens on demand)."""
        if self.cache is not None:
            self.cache.close()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
