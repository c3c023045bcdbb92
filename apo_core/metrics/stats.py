"""Corpus metrics and percentile-bootstrap confidence intervals, in pure Python.

Re-exported by :mod:`apo_core.metrics`; import them from there.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable, Hashable, Sequence
from statistics import fmean
from typing import Any

from apo_core.errors import ConfigError

__all__ = ["accuracy", "binary_f1", "bootstrap_ci", "macro_f1"]


def _as_float(value: Any, where: str) -> float:
    """A number, a bool or anything with a numeric ``.value`` (a Score) as a float."""
    raw = getattr(value, "value", value)
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, numbers.Real) and math.isfinite(raw):
        return float(raw)
    raise ConfigError(f"{where}: expected a finite number, bool or Score, got {value!r}")


def _check_pair(preds: Sequence[Any], golds: Sequence[Any]) -> None:
    if len(preds) != len(golds):
        raise ConfigError(f"{len(preds)} predictions but {len(golds)} gold labels")
    if not preds:
        raise ConfigError("no predictions to score")


def accuracy(values: Sequence[Any], golds: Sequence[Any] | None = None) -> float:
    """Mean of per-example scores (floats, bools or Scores), or, given ``golds``, the fraction
    of ``values`` equal to their gold label.

    Raises:
        ConfigError: nothing to average, lengths differ, or a value is not a number.
    """
    if golds is not None:
        _check_pair(values, golds)
        return sum(1 for p, g in zip(values, golds, strict=True) if p == g) / len(values)
    if not values:
        raise ConfigError("accuracy of no values is undefined")
    return fmean(_as_float(v, f"accuracy value {i}") for i, v in enumerate(values))


def binary_f1(
    preds: Sequence[Any],
    golds: Sequence[Any],
    positive: Any = 1,
    *,
    zero_division: float = 0.0,
) -> float:
    """F1 of the ``positive`` class: ``2TP / (2TP + FP + FN)``.

    ``zero_division`` is returned when neither predictions nor golds contain ``positive``.
    """
    _check_pair(preds, golds)
    tp = fp = fn = 0
    for p, g in zip(preds, golds, strict=True):
        if p == positive:
            if g == positive:
                tp += 1
            else:
                fp += 1
        elif g == positive:
            fn += 1
    denominator = 2 * tp + fp + fn
    return zero_division if denominator == 0 else 2 * tp / denominator


def macro_f1(
    preds: Sequence[Any], golds: Sequence[Any], labels: Sequence[Any] | None = None
) -> float:
    """Unweighted mean of per-class F1 over ``labels`` (default: every label seen in golds or
    predictions, as scikit-learn does)."""
    _check_pair(preds, golds)
    if labels is None:
        seen: dict[Hashable, None] = {}
        for label in (*golds, *preds):
            seen.setdefault(label, None)
        labels = list(seen)
    if not labels:
        raise ConfigError("macro_f1 needs at least one label")
    return fmean(binary_f1(preds, golds, label) for label in labels)


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile of already sorted values."""
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _is_columns(data: Sequence[Any]) -> bool:
    return bool(data) and all(
        isinstance(col, Sequence) and not isinstance(col, str | bytes) for col in data
    )


def bootstrap_ci(
    data: Sequence[Any],
    statistic: Callable[..., float] | None = None,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval ``(low, high)`` of a statistic.

    ``data`` is either per-example values (floats, bools or Scores; the default statistic is
    the mean) or paired columns such as ``(preds, golds)``, resampled together by example and
    passed as ``statistic(*columns)`` (default: :func:`accuracy` of preds against golds).

    Example:
        >>> bootstrap_ci([1, 0, 1, 1], seed=1)              # doctest: +SKIP
        >>> bootstrap_ci((preds, golds), macro_f1)          # doctest: +SKIP

    Raises:
        ConfigError: empty data, unequal columns, or a bad ``n_resamples``/``confidence``.
    """
    if n_resamples < 1:
        raise ConfigError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    if not data:
        raise ConfigError("bootstrap_ci needs at least one value")
    rng = random.Random(seed)
    stats: list[float]
    if _is_columns(data):
        columns = [list(col) for col in data]
        n = len(columns[0])
        if n == 0 or any(len(col) != n for col in columns):
            raise ConfigError(
                f"paired columns must be non-empty and equal in length, got "
                f"{[len(col) for col in columns]}"
            )
        stat_fn = statistic or accuracy
        positions = range(n)
        stats = []
        for _ in range(n_resamples):
            idx = rng.choices(positions, k=n)
            stats.append(float(stat_fn(*([col[i] for i in idx] for col in columns))))
    else:
        values = [_as_float(v, f"bootstrap value {i}") for i, v in enumerate(data)]
        n = len(values)
        if statistic is None:
            stats = [math.fsum(rng.choices(values, k=n)) / n for _ in range(n_resamples)]
        else:
            stats = [float(statistic(rng.choices(values, k=n))) for _ in range(n_resamples)]
    stats.sort()
    alpha = (1.0 - confidence) / 2.0
    return _quantile(stats, alpha), _quantile(stats, 1.0 - alpha)
