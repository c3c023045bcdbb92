"""The usage ledger: calls, cache hits, tokens, dollars and time per role and per model."""

from __future__ import annotations

import threading

from pydantic import BaseModel, Field

from apo_core.types import Usage


class UsageLine(BaseModel):
    """Usage of one (role, model) pair, or a total."""

    calls: int = 0
    """Calls answered by the model (cache hits excluded)."""
    cache_hits: int = 0
    attempts: int = 0
    """Requests sent, retries included."""
    retries: int = 0
    failures: int = 0
    """Calls that failed after all attempts (or fatally)."""
    cancelled: int = 0
    """Calls cancelled by the caller before they finished (not failures)."""
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    """Tokens that cache hits saved (not billed)."""
    cached_output_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True
    """False when any call's model had no known price (its cost was counted as 0)."""
    wall_time_s: float = 0.0
    """Summed duration of the calls (overlapping calls add up)."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def merged(self, other: UsageLine) -> UsageLine:
        """The sum of two lines."""
        data = {
            name: getattr(self, name) + getattr(other, name)
            for name in type(self).model_fields
            if name != "cost_known"
        }
        return UsageLine(**data, cost_known=self.cost_known and other.cost_known)


class UsageReport(BaseModel):
    """A snapshot of the ledger: per role, per model, and the total."""

    by_role: dict[str, UsageLine] = Field(default_factory=dict)
    by_model: dict[str, UsageLine] = Field(default_factory=dict)
    total: UsageLine = Field(default_factory=UsageLine)
    unpriced_models: list[str] = Field(default_factory=list)


class UsageLedger:
    """Thread-safe accumulation of :class:`UsageLine` per (role, model)."""

    def __init__(self) -> None:
        self._lines: dict[tuple[str, str], UsageLine] = {}
        self._lock = threading.Lock()

    def _line(self, role: str, model_id: str) -> UsageLine:
        return self._lines.setdefault((role, model_id), UsageLine())

    def record_call(
        self,
        role: str,
        model_id: str,
        usage: Usage,
        *,
        cost: float,
        cost_known: bool,
        seconds: float,
        attempts: int,
    ) -> None:
        """Record a call the model answered."""
        with self._lock:
            line = self._line(role, model_id)
            line.calls += 1
            line.attempts += attempts
            line.retries += attempts - 1
            line.input_tokens += usage.input_tokens
            line.output_tokens += usage.output_tokens
            line.cost_usd += cost
            line.cost_known = line.cost_known and cost_known
            line.wall_time_s += seconds

    def record_hit(self, role: str, model_id: str, usage: Usage) -> None:
        """Record a call answered from the cache (free)."""
        with self._lock:
            line = self._line(role, model_id)
            line.cache_hits += 1
            line.cached_input_tokens += usage.input_tokens
            line.cached_output_tokens += usage.output_tokens

    def record_failure(
        self, role: str, model_id: str, *, attempts: int, seconds: float, cancelled: bool = False
    ) -> None:
        """Record a call that failed for good (or, with ``cancelled``, was cancelled)."""
        with self._lock:
            line = self._line(role, model_id)
            if cancelled:
                line.cancelled += 1
            else:
                line.failures += 1
            line.attempts += attempts
            line.retries += max(attempts - 1, 0)
            line.wall_time_s += seconds

    def report(self) -> UsageReport:
        """A consistent snapshot of everything recorded so far."""
        with self._lock:
            items = [(k, v.model_copy()) for k, v in self._lines.items()]
        report = UsageReport()
        for (role, model_id), line in items:
            report.by_role[role] = report.by_role.get(role, UsageLine()).merged(line)
            report.by_model[model_id] = report.by_model.get(model_id, UsageLine()).merged(line)
            report.total = report.total.merged(line)
        report.unpriced_models = sorted(
            m for m, line in report.by_model.items() if not line.cost_known
        )
        return report
