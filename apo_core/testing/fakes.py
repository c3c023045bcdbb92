"""In-process fakes for engine tests: a recording sleep and a chat model that holds its calls."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from pydantic import BaseModel

from apo_core.models.base import ModelIdentity, Sample, complete_samples
from apo_core.types import Completion, CompletionParams, Message, Usage


class RecordingSleep:
    """An ``Engine(sleep=...)`` that records each requested delay and returns at once.

    It yields to the event loop once, like a real zero sleep, so other tasks still run.
    """

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)

    @property
    def total(self) -> float:
        """The sum of all recorded delays."""
        return sum(self.delays)


def _words(text: str) -> int:
    return len(re.findall(r"\w+|[^\w\s]", text))


class GatedChatModel(ModelIdentity):
    """A chat model whose calls wait until :meth:`open` (or for ``hold_s`` of loop time).

    It counts calls in flight and their maximum, which makes concurrency limits measurable.
    Each call answers ``reply(last user message)`` (default: the message itself).

    Args:
        model_id: the id reported to the engine (used for per-model limits).
        hold_s: when set, each call sleeps this long instead of waiting for the gate.
        reply: makes the reply text from the last user message.
        provider: provider name for prices.
        error: raised by every call once released (instead of answering).
    """

    def __init__(
        self,
        model_id: str = "gated",
        *,
        hold_s: float | None = None,
        reply: Callable[[str], str] | None = None,
        provider: str = "scripted",
        error: BaseException | None = None,
    ) -> None:
        self._model_id = model_id
        self._provider = provider
        self._cache_identity = f"gated:{model_id}"
        self.hold_s = hold_s
        self.reply = reply or (lambda text: text)
        self.error = error
        self.gate = asyncio.Event()
        self._started = asyncio.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls = 0
        self.started_at: list[float] = []

    async def wait_in_flight(self, count: int) -> None:
        """Return once at least ``count`` calls are waiting inside the model."""
        while self.in_flight < count:
            self._started.clear()
            await self._started.wait()

    def open(self) -> None:
        """Let every waiting and future call finish."""
        self.gate.set()

    async def complete(
        self,
        messages: list[Message],
        params: CompletionParams,
        *,
        response_format: type[BaseModel] | None = None,
    ) -> Completion:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.started_at.append(asyncio.get_running_loop().time())
        self._started.set()
        try:
            if self.hold_s is not None:
                await asyncio.sleep(self.hold_s)
            else:
                await self.gate.wait()
        finally:
            self.in_flight -= 1
        if self.error is not None:
            raise self.error
        users = [m.content for m in messages if m.role == "user"]

        async def one(_: int) -> Sample:
            text = self.reply(users[-1] if users else "")
            return Sample(text, Usage(output_tokens=_words(text)))

        return await complete_samples(
            params.n,
            one,
            model_id=self._model_id,
            response_format=response_format,
            usage=Usage(input_tokens=sum(_words(m.content) for m in messages)),
        )
