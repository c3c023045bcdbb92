"""Corpus scores of a prompt on a split: accuracy and (binary labels) F1, with bootstrap CIs.

Accuracy is the mean per-example metric value. F1 is reported when the split's labels take
exactly two values: an example scored correct (value >= 0.5) counts as predicting its gold
label, an incorrect one as predicting the other label, so unparseable answers count as wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from apo_core.apo.evaluation import Scored
from apo_core.apo.result import ScoreCI, SplitScores
from apo_core.ledger import UsageLine, UsageReport
from apo_core.metrics import binary_f1, bootstrap_ci

if TYPE_CHECKING:
    from apo_core.data import Example

_POSITIVE_WORDS = ("positive", "yes", "true", "1", "lie", "spam", "toxic", "hate")


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


def split_scores(
    scored: Sequence[Scored],
    examples: Sequence[Example],
    positive_label: Any = None,
    *,
    seed: int = 0,
) -> SplitScores:
    """Accuracy (and F1 for binary labels) with 95% bootstrap confidence intervals."""
    values = [s.value for s in scored]
    n = len(values)
    acc = sum(values) / n
    low, high = bootstrap_ci(values, seed=seed)
    result = SplitScores(accuracy=ScoreCI(value=acc, low=low, high=high, n=n))
    golds = [ex.output for ex in examples]
    distinct = list(dict.fromkeys(golds))
    if len(distinct) != 2:
        return result
    positive = guess_positive(distinct) if positive_label is None else positive_label
    if positive not in distinct:
        return result
    other = distinct[1] if distinct[0] == positive else distinct[0]
    preds = [
        g if v >= 0.5 else (other if g == positive else positive)
        for g, v in zip(golds, values, strict=True)
    ]

    def f1(p: Sequence[Any], g: Sequence[Any]) -> float:
        return float(binary_f1(p, g, positive))

    f_low, f_high = bootstrap_ci((preds, golds), f1, seed=seed)
    result.f1 = ScoreCI(value=f1(preds, golds), low=f_low, high=f_high, n=n)
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
