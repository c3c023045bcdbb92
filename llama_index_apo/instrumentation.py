"""Engine events as LlamaIndex instrumentation events.

:func:`instrument_engine` subscribes to an :class:`~apo_core.Engine` and re-dispatches every
apo_core event (call started/finished/retried/failed, cache hits, run milestones) through a
LlamaIndex dispatcher as an :class:`EngineEvent`. Events are emitted in the caller's context, so
an engine call made inside an ``EngineLLM`` span carries that span's id and shows up nested
under it in any LlamaIndex span or event handler (Arize Phoenix, Langfuse, custom handlers).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from llama_index.core.instrumentation.events import BaseEvent
from llama_index_instrumentation import get_dispatcher
from llama_index_instrumentation.dispatcher import Dispatcher
from pydantic import Field

from apo_core import CallEvent, Engine
from apo_core import Event as CoreEvent

__all__ = ["EngineEvent", "instrument_engine"]

_DISPATCHER = get_dispatcher(__name__)
_BRIDGES: weakref.WeakKeyDictionary[Engine, dict[int, Callable[[], None]]] = (
    weakref.WeakKeyDictionary()
)


class EngineEvent(BaseEvent):
    """An apo_core engine event seen through LlamaIndex instrumentation.

    ``kind`` is the apo_core event kind (``call_finished``, ``cache_hit``, ...); ``role``,
    ``model_id``, ``call_id`` and the token counts are set for call events; ``data`` holds the
    payload of run events (optimizer milestones).
    """

    kind: str
    role: str | None = None
    model_id: str | None = None
    call_id: int | None = None
    attempt: int = 1
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    elapsed_s: float = 0.0
    error: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def class_name(cls) -> str:
        return "EngineEvent"

    @classmethod
    def from_core(cls, event: CoreEvent) -> EngineEvent:
        """Convert one apo_core event."""
        if isinstance(event, CallEvent):
            usage = event.usage
            return cls(
                kind=event.kind,
                role=event.role,
                model_id=event.model_id,
                call_id=event.call_id,
                attempt=event.attempt,
                input_tokens=usage.input_tokens if usage else 0,
                output_tokens=usage.output_tokens if usage else 0,
                cost_usd=event.cost_usd,
                elapsed_s=event.elapsed_s,
                error=event.error,
            )
        data = getattr(event, "data", None)
        return cls(kind=event.kind, data=dict(data) if isinstance(data, dict) else {})


def instrument_engine(engine: Engine, dispatcher: Dispatcher | None = None) -> Callable[[], None]:
    """Forward ``engine``'s events to ``dispatcher`` (default: this module's, which propagates
    to LlamaIndex's root dispatcher). Idempotent per (engine, dispatcher); returns a function
    that removes the bridge."""
    target = dispatcher or _DISPATCHER
    bridges = _BRIDGES.setdefault(engine, {})
    key = id(target)
    if key in bridges:
        return bridges[key]

    def forward(event: CoreEvent) -> None:
        target.event(EngineEvent.from_core(event))

    unsubscribe = engine.subscribe(forward)

    def remove() -> None:
        if bridges.pop(key, None) is not None:
            unsubscribe()

    bridges[key] = remove
    return remove
