"""Corpus scores of a prompt on a split: accuracy, binary and macro F1, with bootstrap CIs.

Accuracy is the mean per-example metric value. F1 needs the label each prediction states:

- a label metric (one with ``labels`` and ``label_of``, such as
  :class:`~apo_core.metrics.LabelAccuracy`) keeps the label it read on each score; a
  prediction that states no label is its own "no label" class, never right;
- any other metric on labelled data (2 to 20 distinct str/int/bool outputs): a prediction the
  metric scores right (value >= 0.5) states the gold label; a wrong one states the label its
  text equals (normalised), else no label.

Binary F1 (of the positive label) is reported for two classes, macro F1 (the mean F1 over
the task's classes that occur; "no label" counts as a wrong prediction) for two or more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from apo_core.apo.evaluation import Scored
from apo_core.apo.result import ScoreCI, SplitScores
from apo_core.data.text import normalize_text
from apo_core.engine import UsageLine, UsageReport
from apo_core.errors import ConfigError
from apo_core.metrics import binary_f1, bootstrap_ci, macro_f1

if TYPE_CHECKING:
    from apo_core.data import Example

_POSITIVE_WORDS = ("positive", "yes", "true", "1", "lie", "spam", "toxic", "hate")
MAX_CLASSES = 20
"""Most distinct outputs a split may have to count as labels for a metric that reads none."""


class _NoLabel:
    def __repr__(self) -> str:
        return "<no label>"


NO_LABEL: Any = _NoLabel()
"""The class of a prediction that states none of the labels."""


def guess_positive(labels: Sequence[Any]) -> Any:
    """The label F1 treats as positive: 1/True, else a conventional word, else the last sorted."""
    distinct = list(dict.fromkeys(labels))
    for value in distinct:
        if value is True or (isinstance(value, int) and value == 1):
            return value
    by_text = {str(v).strip().casefold(): v for v in distinct}
    for word in _POSITIVE_WORDS:
        if word in by_text:
            return by_text[word]
    return sorted(distinct, key=str)[-1]


def _canonical(metric: Any, value: Any, classes: list[Any]) -> Any:
    """``value`` as one of a label metric's ``classes`` (e.g. ``"1"`` -> ``1``), or NO_LABEL."""
    if value in classes:
        return value
    try:
        value = metric.label_of(value)
    except ConfigError:
        return NO_LABEL
    return value if value in classes else NO_LABEL


def _stated(prediction: str, classes: list[Any], gold: Any) -> Any:
    """The class other than ``gold`` whose text ``prediction`` equals, or NO_LABEL."""
    text = normalize_text(prediction)
    return next((c for c in classes if c != gold and normalize_text(str(c)) == text), NO_LABEL)


def _is_label_metric(metric: Any) -> bool:
    return callable(getattr(metric, "label_of", None)) and bool(getattr(metric, "labels", None))


def predicted_labels(
    scored: Sequence[Scored], examples: Sequence[Example], metric: Any = None
) -> tuple[list[Any], list[Any], list[Any]] | None:
    """``(predictions, golds, classes)`` for F1, or ``None`` when the split has no labels."""
    if _is_label_metric(metric):
        classes = list(metric.labels)
        golds = [_canonical(metric, ex.output, classes) for ex in examples]
        preds = [
            NO_LABEL
            if s.prediction is None or s.label is None
            else _canonical(metric, s.label, classes)
            for s in scored
        ]
        return preds, golds, classes
    golds = [ex.output for ex in examples]
    if not all(isinstance(g, str | int) for g in golds):  # bool is an int
        return None
    classes = list(dict.fromkeys(golds))
    if not 2 <= len(classes) <= MAX_CLASSES:
        return None
    preds = [
        NO_LABEL
        if s.prediction is None
        else (g if s.value >= 0.5 else _stated(s.prediction, classes, g))
        for s, g in zip(scored, golds, strict=True)
    ]
    return preds, golds, classes


def _macro_f1(preds: Sequence[Any], golds: Sequence[Any], classes: list[Any]) -> float:
    """Macro F1 over the classes that occur (as gold or prediction), "no label" left out.

    A class absent from a (bootstrap) sample has no F1 to average, as in scikit-learn.
    """
    seen = set(preds) | set(golds)
    present = [c for c in classes if c in seen]
    return macro_f1(preds, golds, present) if present else 0.0


def _with_ci(
    statistic: Callable[[Sequence[Any], Sequence[Any]], float],
    preds: list[Any],
    golds: list[Any],
    seed: int,
) -> ScoreCI:
    low, high = bootstrap_ci((preds, golds), statistic, seed=seed)
    return ScoreCI(value=statistic(preds, golds), low=low, high=high, n=len(preds))


def split_scores(
    scored: Sequence[Scored],
    examples: Sequence[Example],
    positive_label: Any = None,
    *,
    metric: Any = None,
    seed: int = 0,
) -> SplitScores:
    """Accuracy, and binary and macro F1 for labelled splits, with 95% bootstrap intervals.

    Args:
        scored: the evaluations of one prompt, one per example.
        examples: the split's examples, in the same order.
        positive_label: the positive class of binary F1 (default: guessed).
        metric: the metric that scored them (a label metric gives the stated labels).
        seed: seeds the bootstrap.
    """
    values = [s.value for s in scored]
    n = len(values)
    low, high = bootstrap_ci(values, seed=seed)
    result = SplitScores(accuracy=ScoreCI(value=sum(values) / n, low=low, high=high, n=n))
    labelled = predicted_labels(scored, examples, metric)
    if labelled is None:
        return result
    preds, golds, classes = labelled
    result.no_label = sum(1 for p in preds if p is NO_LABEL)
    result.macro_f1 = _with_ci(lambda p, g: _macro_f1(p, g, classes), preds, golds, seed)
    if len(classes) == 2:
        positive = guess_positive(classes) if positive_label is None else positive_label
        if _is_label_metric(metric):
            positive = _canonical(metric, positive, classes)
        if positive in classes:
            result.f1 = _with_ci(lambda p, g: binary_f1(p, g, positive), preds, golds, seed)
            result.positive_label = str(positive)
    return result


def _line_delta(after: UsageLine, before: UsageLine | None) -> UsageLine:
    if before is None:
        return after
    data = {
        name: getattr(after, name) - getattr(before, name)
        for name in UsageLine.model_fields
        if name != "cost_known"
    }
    return UsageLine(**data, cost_known=after.cost_known)


def usage_since(before: UsageReport, after: UsageReport) -> UsageReport:
    """What the engine spent between two snapshots (so a run reports its own usage only)."""

    def delta(now: dict[str, UsageLine], then: dict[str, UsageLine]) -> dict[str, UsageLine]:
        lines = {key: _line_delta(line, then.get(key)) for key, line in now.items()}
        return {key: line for key, line in lines.items() if line != UsageLine()}

    by_model = delta(after.by_model, before.by_model)
    return UsageReport(
        by_role=delta(after.by_role, before.by_role),
        by_model=by_model,
        total=_line_delta(after.total, before.total),
        unpriced_models=[m for m in after.unpriced_models if m in by_model],
    )


def merge_usage(a: UsageReport, b: UsageReport) -> UsageReport:
    """The sum of two usage reports (e.g. the sessions of a resumed run)."""

    def merged(x: dict[str, UsageLine], y: dict[str, UsageLine]) -> dict[str, UsageLine]:
        out = dict(x)
        for key, line in y.items():
            out[key] = out[key].merged(line) if key in out else line
        return out

    by_model = merged(a.by_model, b.by_model)
    return UsageReport(
        by_role=merged(a.by_role, b.by_role),
        by_model=by_model,
        total=a.total.merged(b.total),
        unpriced_models=sorted(m for m, line in by_model.items() if not line.cost_known),
    )
