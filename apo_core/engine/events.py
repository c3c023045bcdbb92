"""Events: what the engine (and the optimizers built on it) tell listeners.

Listeners are plain callables taking one event. They must be quick and must not raise; an
exception in a listener is logged and swallowed so that observing a run can never break it.
Events never carry secrets: no API keys, no headers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from apo_core.types import Usage

logger = logging.getLogger("apo_core")

CallEventKind = Literal[
    "call_started", "call_finished", "call_retried", "call_failed", "call_cancelled", "cache_hit"
]


class Event(BaseModel):
    """Base class of every event. ``kind`` names it."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    kind: str


class CallEvent(Event):
    """One step of one engine call."""

    kind: CallEventKind
    role: str
    model_id: str
    call_id: int
    attempt: int = 1
    usage: Usage | None = None
    cost_usd: float = 0.0
    elapsed_s: float = 0.0
    delay_s: float | None = None
    """For call_retried: how long the engine waits before the next attempt."""
    error: str | None = None


class CacheEvent(Event):
    """Something went wrong with the response cache that did not fail the call.

    ``cache_write_failed``: a paid-for response could not be stored (e.g. the file was locked
    by another process past the busy timeout), so a re-run will not replay it. ``error`` holds
    the error type and SQLite's message, never request contents or secrets.
    """

    kind: Literal["cache_write_failed"]
    role: str
    model_id: str
    call_id: int
    path: str
    error: str | None = None


class RunEvent(Event):
    """A milestone of an optimizer run (round started, candidate scored, ...)."""

    data: dict[str, Any] = Field(default_factory=dict)


Listener = Callable[[Event], None]


class EventBus:
    """Delivers events to listeners, isolating the run from listener errors."""

    def __init__(self, listeners: list[Listener] | None = None) -> None:
        self.listeners: list[Listener] = list(listeners or [])

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add a listener; returns a function that removes it (calling it twice is harmless)."""
        self.listeners.append(listener)

        removed = False

        def remove() -> None:
            nonlocal removed
            if not removed and listener in self.listeners:
                self.listeners.remove(listener)
            removed = True

        return remove

    def emit(self, event: Event) -> None:
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("event listener %r failed on %s", listener, event.kind)


class LoggingListener:
    """Logs engine events through the standard ``logging`` module (logger ``apo_core``).

    Finished calls and cache hits go to DEBUG, retries to INFO, failures to WARNING (the
    cache warns about its first failed write itself; each one is logged here at INFO).
    """

    def __init__(self, logger_: logging.Logger | None = None) -> None:
        self.logger = logger_ or logger

    def __call__(self, event: Event) -> None:
        if isinstance(event, CacheEvent):
            self.logger.info(
                "%s call %d to %s: %s on %s (%s)",
                event.role,
                event.call_id,
                event.model_id,
                event.kind,
                event.path,
                event.error,
            )
            return
        if not isinstance(event, CallEvent):
            self.logger.debug("%s %s", event.kind, getattr(event, "data", ""))
            return
        if event.kind == "call_retried":
            self.logger.info(
                "%s call %d to %s failed (attempt %d: %s); retrying in %.2fs",
                event.role,
                event.call_id,
                event.model_id,
                event.attempt,
                event.error,
                event.delay_s or 0.0,
            )
        elif event.kind == "call_failed":
            self.logger.warning(
                "%s call %d to %s failed after %d attempt(s): %s",
                event.role,
                event.call_id,
                event.model_id,
                event.attempt,
                event.error,
            )
        elif event.kind in ("call_finished", "cache_hit", "call_cancelled"):
            self.logger.debug(
                "%s call %d to %s: %s (%s)",
                event.role,
                event.call_id,
                event.model_id,
                event.kind,
                event.usage,
            )
