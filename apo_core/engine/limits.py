"""Concurrency and rate limits: a global slot pool plus per-model slots, RPM and TPM.

A model's slots come from its :class:`ModelLimits` and from the model itself: a backend that
can serve only so many calls at once (the embedded model: one) declares ``max_concurrency``,
and the stricter of the two applies. Calls queue here, before the engine starts an attempt's
timeout, so waiting for a busy model never counts against the timeout. Rate limits use
aiolimiter's leaky bucket. Limits are per event loop (asyncio primitives are
bound to one loop); an engine used from one loop at a time, the normal case, shares them fully.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator

from aiolimiter import AsyncLimiter
from pydantic import BaseModel, ConfigDict, Field


class ModelLimits(BaseModel):
    """Limits for one model (keyed by model id in :class:`~apo_core.engine.Engine`)."""

    model_config = ConfigDict(frozen=True)

    max_concurrency: int | None = Field(default=None, ge=1)
    rpm: float | None = Field(default=None, gt=0)
    """Requests per minute."""
    tpm: float | None = Field(default=None, gt=0)
    """Tokens per minute (input estimate + max output, per request)."""


class _Gate:
    def __init__(self, limits: ModelLimits, declared: int | None) -> None:
        self.limits = limits
        caps = [c for c in (limits.max_concurrency, declared) if c is not None]
        self.slots = asyncio.Semaphore(min(caps)) if caps else None
        self.rpm = AsyncLimiter(limits.rpm, 60) if limits.rpm else None
        self.tpm = AsyncLimiter(limits.tpm, 60) if limits.tpm else None


class Limiter:
    """Grants request slots under a global concurrency cap and per-model limits."""

    def __init__(
        self, max_concurrency: int, per_model: dict[str, ModelLimits] | None = None
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.max_concurrency = max_concurrency
        self.per_model = dict(per_model or {})
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[asyncio.Semaphore, dict[str, _Gate]]
        ] = weakref.WeakKeyDictionary()

    def _state(self) -> tuple[asyncio.Semaphore, dict[str, _Gate]]:
        loop = asyncio.get_running_loop()
        state = self._by_loop.get(loop)
        if state is None:
            state = (asyncio.Semaphore(self.max_concurrency), {})
            self._by_loop[loop] = state
        return state

    @contextlib.asynccontextmanager
    async def slot(
        self, model_id: str, tokens: int, *, model_concurrency: int | None = None
    ) -> AsyncIterator[None]:
        """Hold one request slot for ``model_id``; ``tokens`` is charged to its TPM limit.

        Args:
            model_id: the model the request goes to.
            tokens: the request's token estimate, charged to the model's TPM limit.
            model_concurrency: the calls the model itself declares it can serve at once
                (``ChatModel.max_concurrency``); combined with ``ModelLimits.max_concurrency``
                when the model's gate is first made on this loop.
        """
        global_slots, gates = self._state()
        limits = self.per_model.get(model_id)
        gate = gates.get(model_id)
        if gate is None and (limits is not None or model_concurrency is not None):
            gate = gates[model_id] = _Gate(limits or ModelLimits(), model_concurrency)
        async with contextlib.AsyncExitStack() as stack:
            if gate is not None and gate.slots is not None:
                await stack.enter_async_context(gate.slots)
            # Rate limits first, global slot last: a request waiting for its model's RPM/TPM
            # must not hold a global slot that calls to other models could use.
            if gate is not None and gate.rpm is not None:
                await gate.rpm.acquire()
            if gate is not None and gate.tpm is not None:
                await gate.tpm.acquire(min(float(max(tokens, 1)), gate.tpm.max_rate))
            await stack.enter_async_context(global_slots)
            yield
