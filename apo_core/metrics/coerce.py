"""Metrics from plain functions and names (:func:`as_metric`), and a metric's identity."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from apo_core.data import Example
from apo_core.errors import ConfigError
from apo_core.metrics.base import BaseMetric, Metric, MetricFn
from apo_core.metrics.judge import LLMJudge
from apo_core.metrics.match import (
    Contains,
    ExactMatch,
    NumericTolerance,
    RegexMatch,
)
from apo_core.metrics.score import Score, to_score

if TYPE_CHECKING:
    from apo_core.engine import Engine

__all__ = ["CallableMetric", "as_metric", "metric_identity"]


class CallableMetric:
    """A metric from a plain function ``(prediction, example) -> float | bool | Score |
    (float, feedback)``, sync or async. Results are validated (value in [0, 1])."""

    def __init__(self, fn: MetricFn, *, name: str | None = None) -> None:
        if not callable(fn):
            raise ConfigError(f"CallableMetric needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", None) or type(fn).__name__

    async def ascore(
        self, prediction: str, example: Example, *, engine: Engine | None = None
    ) -> Score:
        result = self.fn(prediction, example)
        if inspect.isawaitable(result):
            result = await result
        return to_score(result, source=f"metric {self.name!r}")

    def __repr__(self) -> str:
        return f"CallableMetric(name={self.name!r})"


class _CheckedMetric:
    """Wraps a foreign Metric-like object so its results are validated as Scores."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = str(getattr(inner, "name", type(inner).__name__))

    async def ascore(
        self, prediction: str, example: Example, *, engine: Engine | None = None
    ) -> Score:
        result: Awaitable[Any] = self.inner.ascore(prediction, example, engine=engine)
        return to_score(await result, source=f"metric {self.name!r}")


_BY_NAME: dict[str, Callable[[], BaseMetric]] = {
    "exact_match": ExactMatch,
    "contains": Contains,
    "numeric_tolerance": NumericTolerance,
    "regex_match": RegexMatch,
}


def as_metric(obj: Any) -> Metric:
    """Adapt ``obj`` to the :class:`Metric` protocol.

    Accepts a built-in metric or :class:`LLMJudge` (returned as is), any object with an async
    ``ascore`` (results validated), a sync or async function ``(prediction, example)``, or the
    name of a built-in (``"exact_match"``, ``"contains"``, ``"numeric_tolerance"``,
    ``"regex_match"``).

    Raises:
        ConfigError: ``obj`` is none of these.
    """
    if isinstance(obj, BaseMetric | CallableMetric | LLMJudge | _CheckedMetric):
        return obj
    if isinstance(obj, type):
        raise ConfigError(f"pass an instance, not the class {obj.__name__} (e.g. {obj.__name__}())")
    if isinstance(obj, str):
        factory = _BY_NAME.get(obj.strip().lower().replace("-", "_"))
        if factory is None:
            raise ConfigError(f"unknown metric {obj!r}; built-in names are {sorted(_BY_NAME)}")
        return factory()
    ascore = getattr(obj, "ascore", None)
    if ascore is not None:
        if not inspect.iscoroutinefunction(ascore):
            raise ConfigError(
                f"{type(obj).__name__}.ascore must be an async method "
                f"(async def ascore(self, prediction, example, *, engine) -> Score)"
            )
        return _CheckedMetric(obj)
    if callable(obj):
        return CallableMetric(obj)
    raise ConfigError(
        f"cannot use a {type(obj).__name__} as a metric; pass a Metric, a function "
        f"(prediction, example) -> float | bool | Score | (float, feedback), or a built-in name"
    )


def _describe(value: Any) -> Any:
    """``value`` as JSON data that names what it is, for :func:`metric_identity`."""
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, re.Pattern):
        return {"pattern": value.pattern, "flags": value.flags}
    if isinstance(value, Mapping):
        keys = {
            (k if isinstance(k, str) else f"{type(k).__name__}:{k!r}"): v for k, v in value.items()
        }
        return {k: _describe(keys[k]) for k in sorted(keys)}
    if isinstance(value, list | tuple):
        return [_describe(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_describe(v) for v in value), key=repr)
    kind = type(value)
    name = getattr(value, "__qualname__", None) if callable(value) else None
    owner = getattr(value, "__module__", None) or kind.__module__
    return f"{owner}.{name}" if name else f"{kind.__module__}.{kind.__qualname__}"


def metric_identity(metric: Any) -> str:
    """What a metric is, as text: its class and settings (e.g. for checkpoint fingerprints).

    Built-in metrics are described by all their settings, an :class:`LLMJudge` by its rubric,
    role, scale and options, a :class:`CallableMetric` by its function's module and name, any
    other metric by its class and ``name``. Run-time counters are left out, so the identity
    of a metric does not change while it is used.
    """
    inner = metric.inner if isinstance(metric, _CheckedMetric) else metric
    kind = type(inner)
    data: dict[str, Any] = {"class": kind.__qualname__}
    if isinstance(inner, BaseMetric):
        data.update(vars(inner))
    elif isinstance(inner, LLMJudge):
        fields = ("rubric", "role", "scale", "include_reference", "max_tokens", "name")
        data.update({name: getattr(inner, name) for name in fields})
    elif isinstance(inner, CallableMetric):
        data.update(name=inner.name, fn=inner.fn)
    else:
        data["name"] = getattr(inner, "name", None)
    return json.dumps(_describe(data), sort_keys=True)
