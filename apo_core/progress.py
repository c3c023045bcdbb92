"""A live progress display of engine activity, built on rich.

On a terminal it shows one live line (calls, cache hits, retries, failures, tokens, dollars,
elapsed). Elsewhere (CI logs, pipes) it prints a plain summary line every ``every`` calls.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.text import Text

from apo_core.events import CallEvent, Event, RunEvent


class ProgressDisplay:
    """An event listener that shows progress; use it as a context manager around a run.

    Example:
        >>> with ProgressDisplay() as progress:  # doctest: +SKIP
        ...     engine.subscribe(progress)
    """

    def __init__(self, console: Console | None = None, *, every: int = 25) -> None:
        self.console = console or Console(stderr=True)
        self.every = every
        self.calls = self.hits = self.retries = self.failures = 0
        self.tokens = 0
        self.dollars = 0.0
        self.status = ""
        self._started = time.monotonic()
        self._live: Live | None = None

    def line(self) -> str:
        """The current one-line summary."""
        elapsed = time.monotonic() - self._started
        parts = [
            f"calls {self.calls}",
            f"cached {self.hits}",
            f"retries {self.retries}",
            f"failed {self.failures}",
            f"tokens {self.tokens:,}",
            f"${self.dollars:.4f}",
            f"{elapsed:.0f}s",
        ]
        if self.status:
            parts.insert(0, self.status)
        return " | ".join(parts)

    def __call__(self, event: Event) -> None:
        if isinstance(event, CallEvent):
            if event.kind == "call_finished":
                self.calls += 1
                self.tokens += event.usage.total_tokens if event.usage else 0
                self.dollars += event.cost_usd
            elif event.kind == "cache_hit":
                self.hits += 1
            elif event.kind == "call_retried":
                self.retries += 1
            elif event.kind == "call_failed":
                self.failures += 1
        elif isinstance(event, RunEvent) and "status" in event.data:
            self.status = str(event.data["status"])
        if self._live is not None:
            self._live.update(Text(self.line()))
        elif event.kind == "call_finished" and self.calls % self.every == 0:
            self.console.print(self.line(), highlight=False)

    def __enter__(self) -> ProgressDisplay:
        self._started = time.monotonic()
        if self.console.is_terminal:
            self._live = Live(Text(self.line()), console=self.console, refresh_per_second=8)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None
        self.console.print(self.line(), highlight=False)
