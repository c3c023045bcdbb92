"""A live progress display of engine activity, built on rich.

On a terminal it shows one live line (the run's status, round and best validation score so
far, calls, cache hits, retries, failures, tokens, dollars, elapsed). Elsewhere (CI logs,
pipes) it prints the same line, never wrapped, every ``every`` calls.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.text import Text

from apo_core.engine.events import CallEvent, Event, RunEvent


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
        self.round: int | None = None
        """The current round, counted from 1 (from the run's ``round`` events)."""
        self.best_validation: float | None = None
        """The best validation score so far (from the run's events)."""
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
        if self.best_validation is not None:
            parts.insert(0, f"best validation {self.best_validation:.3f}")
        if self.round is not None:
            parts.insert(0, f"round {self.round}")
        return " | ".join(parts)

    def _text(self) -> Text:
        # One terminal line: the round and best score lead, a long status is cut at the end.
        return Text(self.line(), no_wrap=True, overflow="ellipsis")

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
        elif isinstance(event, RunEvent):
            self._run_event(event)
        if self._live is not None:
            self._live.update(self._text())
        elif event.kind == "call_finished" and self.calls % self.every == 0:
            self._print()

    def _run_event(self, event: RunEvent) -> None:
        data = event.data
        if "status" in data:
            self.status = str(data["status"])
        if isinstance(data.get("round"), int):
            self.round = int(data["round"]) + 1
        best = data.get("best_validation")
        if isinstance(best, (int, float)) and not isinstance(best, bool):
            self.best_validation = float(best)

    def _print(self) -> None:
        # soft_wrap: a log line stays one line however narrow the console thinks it is
        self.console.print(self.line(), highlight=False, soft_wrap=True)

    def __enter__(self) -> ProgressDisplay:
        self._started = time.monotonic()
        if self.console.is_terminal:
            self._live = Live(self._text(), console=self.console, refresh_per_second=8)
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
        self._print()
