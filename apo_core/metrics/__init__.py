"""Metrics: per-example scoring (-> :class:`Score`) and corpus metrics with bootstrap CIs.

A metric turns one prediction and its :class:`~apo_core.data.Example` into a
:class:`Score` (value in [0, 1] plus feedback the optimizer can read). Anything matching the
:class:`Metric` protocol works; :func:`as_metric` also adapts plain functions.

Example:
    >>> metric = as_metric(lambda prediction, example: prediction == example.output)
    >>> label = LabelAccuracy(["yes", "no"])
"""

from apo_core.metrics.base import BaseMetric, Metric, MetricFn
from apo_core.metrics.coerce import CallableMetric, as_metric, metric_identity
from apo_core.metrics.evaluators import (
    EVALUATOR_ARGS,
    EvaluatorMetric,
    ExampleView,
    RunView,
    coerce_metric,
    evaluator_score,
    is_evaluator,
)
from apo_core.metrics.judge import JudgeVerdict, LLMJudge, parse_judge_reply
from apo_core.metrics.label import LabelAccuracy
from apo_core.metrics.match import (
    YES_NO_ALIASES,
    Contains,
    ExactMatch,
    NumericTolerance,
    RegexMatch,
)
from apo_core.metrics.score import Score, to_score
from apo_core.metrics.stats import accuracy, binary_f1, bootstrap_ci, macro_f1

__all__ = [
    "EVALUATOR_ARGS",
    "YES_NO_ALIASES",
    "BaseMetric",
    "CallableMetric",
    "Contains",
    "EvaluatorMetric",
    "ExactMatch",
    "ExampleView",
    "JudgeVerdict",
    "LLMJudge",
    "LabelAccuracy",
    "Metric",
    "MetricFn",
    "NumericTolerance",
    "RegexMatch",
    "RunView",
    "Score",
    "accuracy",
    "as_metric",
    "binary_f1",
    "bootstrap_ci",
    "coerce_metric",
    "evaluator_score",
    "is_evaluator",
    "macro_f1",
    "metric_identity",
    "parse_judge_reply",
    "to_score",
]
