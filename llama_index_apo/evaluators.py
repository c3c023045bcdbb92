"""LlamaIndex evaluators (``BaseEvaluator``) as apo_core metrics."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from llama_index.core.evaluation import BaseEvaluator
from llama_index.core.evaluation.correctness import CorrectnessEvaluator

from apo_core import ConfigError, Engine
from apo_core.data import Example
from apo_core.metrics import Metric, Score, coerce_metric
from llama_index_apo.programs import query_of

__all__ = ["Contexts", "LlamaIndexEvaluatorMetric", "as_llama_metric"]

Contexts = Callable[[Example, str], "list[str] | None"]
"""``(example, prediction) -> retrieved texts`` for evaluators that judge against context."""


class LlamaIndexEvaluatorMetric:
    """A LlamaIndex ``BaseEvaluator`` as an apo_core metric (formerly ``EvaluatorMetric``,
    a name that stays as a deprecated alias; :class:`apo_core.metrics.EvaluatorMetric` is the
    LangSmith-style one).

    Calls ``aevaluate(query=..., response=prediction, contexts=..., reference=example.output)``;
    ``contexts(example, prediction)`` supplies the retrieved texts (``APOPromptOptimizer``
    wires in :meth:`QueryEngineProgram.contexts_for`, which is what faithfulness and relevancy
    evaluators need). The score
    is mapped to [0, 1] over ``score_range`` (``CorrectnessEvaluator``: 1..5; otherwise a score
    already in [0, 1] is used as is), else ``passing`` gives 1 or 0. The evaluator's feedback
    becomes the :class:`~apo_core.metrics.Score` feedback the optimizer reads.
    """

    def __init__(
        self,
        evaluator: BaseEvaluator,
        *,
        query_key: str = "query",
        score_range: tuple[float, float] | None = None,
        name: str | None = None,
        contexts: Contexts | None = None,
    ) -> None:
        if score_range is None and isinstance(evaluator, CorrectnessEvaluator):
            score_range = (1.0, 5.0)
        if score_range is not None and score_range[1] <= score_range[0]:
            raise ConfigError(f"score_range must be (low, high) with low < high, not {score_range}")
        self.evaluator = evaluator
        self.query_key = query_key
        self.score_range = score_range
        self.name = name or type(evaluator).__name__
        self.contexts = contexts

    def __repr__(self) -> str:
        return f"LlamaIndexEvaluatorMetric({self.name})"

    async def ascore(
        self, prediction: str, example: Example, *, engine: Engine | None = None
    ) -> Score:
        reference = None if example.output is None else str(example.output)
        contexts = self.contexts(example, prediction) if self.contexts else None
        result = await self.evaluator.aevaluate(
            query=query_of(example, self.query_key),
            response=prediction,
            contexts=contexts,
            reference=reference,
        )
        if result.invalid_result:
            return Score(value=0.0, feedback=f"evaluation invalid: {result.invalid_reason}")
        feedback = result.feedback
        if result.score is not None:
            low, high = self.score_range or (0.0, 1.0)
            value = (float(result.score) - low) / (high - low)
            if self.score_range is not None or 0.0 <= value <= 1.0:
                return Score(value=min(1.0, max(0.0, value)), feedback=feedback)
        if result.passing is not None:
            return Score(value=1.0 if result.passing else 0.0, feedback=feedback)
        raise ConfigError(
            f"{self.name} returned score {result.score!r} and no passing verdict; "
            "pass score_range=(low, high) to map its scores to [0, 1]"
        )


def as_llama_metric(
    metric: Any, *, query_key: str = "query", contexts: Contexts | None = None
) -> Metric:
    """An apo_core metric from a LlamaIndex evaluator, or anything
    :func:`apo_core.metrics.coerce_metric` accepts (apo_core metrics, ``(prediction, example)``
    callables, built-in names, LangSmith-style evaluators)."""
    if isinstance(metric, BaseEvaluator):
        return LlamaIndexEvaluatorMetric(metric, query_key=query_key, contexts=contexts)
    return coerce_metric(metric)


def __getattr__(name: str) -> Any:
    if name == "EvaluatorMetric":
        warnings.warn(
            "llama_index_apo.EvaluatorMetric is now LlamaIndexEvaluatorMetric "
            "(apo_core.metrics.EvaluatorMetric is the LangSmith-style evaluator metric)",
            DeprecationWarning,
            stacklevel=2,
        )
        return LlamaIndexEvaluatorMetric
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
