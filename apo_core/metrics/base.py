"""The metric protocol and the base class of the built-in deterministic metrics.

Re-exported by :mod:`apo_core.metrics`; import them from there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from apo_core.data import Example
from apo_core.metrics.score import Score

if TYPE_CHECKING:
    from apo_core.engine import Engine

__all__ = ["BaseMetric", "Metric", "MetricFn"]


@runtime_checkable
class Metric(Protocol):
    """Scores one prediction against one example. ``engine`` serves LLM-based metrics."""

    name: str

    async def ascore(self, prediction: str, example: Example, *, engine: Engine) -> Score: ...


MetricFn = Callable[[Any, Example], Any]
"""A plain metric: ``(prediction, example) -> float | bool | Score | (float, feedback)``,
sync or async."""


class BaseMetric:
    """Base of the built-in deterministic metrics: implement :meth:`score`."""

    name: str = "metric"

    def score(self, prediction: str, example: Example) -> Score:
        """Score synchronously (the built-ins need no model)."""
        raise NotImplementedError

    async def ascore(
        self, prediction: str, example: Example, *, engine: Engine | None = None
    ) -> Score:
        """Score one prediction (``engine`` is unused by deterministic metrics)."""
        return self.score(prediction if isinstance(prediction, str) else str(prediction), example)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
