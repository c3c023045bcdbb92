"""Concurrency and rate limits: a global slot pool plus per-model slots, RPM and TPM.

Rate limits use aiolimiter's leaky bucket. Limits are per event loop (asyncio primitives are
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
    def __init__(self, limits: ModelLimits) -> None:
        self.limits = limits
        self.slots = asyncio.Semaphore(limits.max_concurrency) if limits.max_concurrency else None
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
    async def slot(self, model_id: str, tokens: int) -> AsyncIterator[None]:
        """Hold one request slot for ``model_id``; ``tokens`` is charged to its TPM limit."""
        global_slots, gates = self._state()
        limits = self.per_model.get(model_id)
        gate = None
        if limits is not None:
            gate = gates.get(model_id)
            if gate is None:
                gate = gates[model_id] = _Gate(limits)
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
