"""LangSmith-style evaluators as apo_core :class:`~apo_core.metrics.Metric` objects.

Framework-free (nothing is imported from LangChain or LangSmith): evaluators are duck-typed.
They may be apo_core metrics, ``(prediction, example)`` functions, or LangSmith-style
evaluators whose parameters are named from ``run, example, inputs, outputs, reference_outputs,
attachments`` (or the old positional ``(run, example)``), returning a bool, a number,
``{"score", "comment"}``, an object with ``.score`` / ``.comment``, or ``{"results": [...]}``.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from apo_core.data import REFERENCE, Example
from apo_core.errors import ConfigError
from apo_core.metrics.base import Metric
from apo_core.metrics.coerce import as_metric
from apo_core.metrics.score import Score, to_score

__all__ = [
    "EVALUATOR_ARGS",
    "EvaluatorMetric",
    "ExampleView",
    "RunView",
    "coerce_metric",
    "evaluator_score",
    "is_evaluator",
]

EVALUATOR_ARGS = frozenset(
    {"run", "example", "inputs", "outputs", "reference_outputs", "attachments"}
)
"""Parameter names of LangSmith-style evaluators."""


def _view_id(value: Any) -> uuid.UUID | str:
    """A LangSmith-like id: ``value`` as a UUID when it is one, as text otherwise, else new."""
    if value is None:
        return uuid.uuid4()
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return str(value)


@dataclass(frozen=True)
class RunView:
    """What a LangSmith-style evaluator reads of a run (shaped like ``langsmith.schemas.Run``).

    ``id`` is new for every scored prediction and doubles as ``trace_id`` (a root run);
    ``session_id`` is ``None`` (no LangSmith experiment).
    """

    inputs: dict[str, Any]
    outputs: dict[str, Any]
    error: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    name: str = "apo_program"
    run_type: str = "chain"
    session_id: uuid.UUID | None = None
    reference_example_id: uuid.UUID | str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)

    @property
    def trace_id(self) -> uuid.UUID:
        """The run's trace: the run itself."""
        return self.id


@dataclass(frozen=True)
class ExampleView:
    """What a LangSmith-style evaluator reads of an example (like ``langsmith.schemas.Example``).

    ``id`` is the source example's id (``metadata["source_id"]``) when it had one, else new.
    """

    inputs: dict[str, Any]
    outputs: dict[str, Any] | None
    metadata: dict[str, Any] = field(default_factory=dict)
    attachments: dict[str, Any] = field(default_factory=dict)
    id: uuid.UUID | str = field(default_factory=uuid.uuid4)
    dataset_id: uuid.UUID | None = None


def _is_run_evaluator(fn: Any) -> bool:
    return callable(getattr(fn, "aevaluate_run", None))


def is_evaluator(fn: Any) -> bool:
    """Whether ``fn`` looks like a LangSmith-style evaluator: a ``RunEvaluator`` (it has
    ``aevaluate_run``) or a function whose parameter names are evaluator arguments."""
    if hasattr(fn, "ascore"):
        return False
    if _is_run_evaluator(fn):
        return True
    if not callable(fn):
        return False
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    names = {n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return bool(names & (EVALUATOR_ARGS - {"example"})) and names <= EVALUATOR_ARGS


def evaluator_score(result: Any, *, source: str = "evaluator") -> Score:
    """Coerce what a LangSmith-style evaluator returned into a :class:`Score`."""
    if isinstance(result, Score):
        return result
    if isinstance(result, Mapping) and isinstance(result.get("results"), list):
        scores = [evaluator_score(r, source=source) for r in result["results"]]
        if not scores:
            raise ConfigError(f"{source} returned no results")
        notes = [s.feedback for s in scores if s.feedback]
        value = sum(s.value for s in scores) / len(scores)
        return Score(value=value, feedback="; ".join(notes) or None)
    if isinstance(result, Mapping):
        score, comment = result.get("score"), result.get("comment")
        if score is None:
            score = result.get("value")
    elif hasattr(result, "score") or hasattr(result, "value"):
        score, comment = getattr(result, "score", None), getattr(result, "comment", None)
        if score is None:
            score = getattr(result, "value", None)
    else:
        return to_score(result, source=source)
    if score is None:
        raise ConfigError(f"{source} returned no score")
    base = to_score(score, source=source)
    return Score(value=base.value, feedback=str(comment) if comment else None)


class EvaluatorMetric:
    """A LangSmith-style evaluator as an apo_core :class:`Metric`.

    A ``langsmith`` ``RunEvaluator`` (such as a ``@run_evaluator`` function) is called through
    ``aevaluate_run(run, example)``; a plain function gets the arguments it names. The
    prediction is shown as ``outputs = {output_key: prediction}``; the reference outputs are
    the example's original ``outputs`` dict when :func:`coerce_examples` kept it, else
    ``{output_key: example.output}``.
    """

    def __init__(self, fn: Any, *, name: str | None = None, output_key: str = "output") -> None:
        self._run_evaluator = _is_run_evaluator(fn)
        if not callable(fn) and not self._run_evaluator:
            raise ConfigError(f"an evaluator must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", None) or type(fn).__name__
        self.output_key = output_key
        self._names: list[str] = []
        self._positional = False
        if not self._run_evaluator:
            params = inspect.signature(fn).parameters
            self._names = [n for n in params if n in EVALUATOR_ARGS]
            self._positional = len(params) == 2 and not set(params) <= EVALUATOR_ARGS

    def _reference(self, example: Example) -> dict[str, Any] | None:
        kept = example.metadata.get(REFERENCE)
        if isinstance(kept, Mapping):
            return dict(kept)
        if example.output is None:
            return None
        if isinstance(example.output, Mapping):
            return dict(example.output)
        return {self.output_key: example.output}

    async def ascore(self, prediction: str, example: Example, *, engine: Any = None) -> Score:
        outputs = {self.output_key: prediction}
        reference = self._reference(example)
        example_id = _view_id(example.metadata.get("source_id"))
        run = RunView(inputs=dict(example.inputs), outputs=outputs, reference_example_id=example_id)
        view = ExampleView(
            inputs=dict(example.inputs),
            outputs=reference,
            metadata=dict(example.metadata),
            id=example_id,
        )
        values: dict[str, Any] = {
            "run": run,
            "example": view,
            "inputs": run.inputs,
            "outputs": outputs,
            "reference_outputs": reference,
            "attachments": {},
        }
        if self._run_evaluator:  # langsmith RunEvaluator: its own argument mapping, async path
            result = self.fn.aevaluate_run(run, view)
        elif self._positional:
            result = self.fn(run, view)
        else:
            result = self.fn(**{n: values[n] for n in self._names})
        if inspect.isawaitable(result):
            result = await result
        return evaluator_score(result, source=f"evaluator {self.name!r}")

    def __repr__(self) -> str:
        return f"EvaluatorMetric(name={self.name!r})"


def coerce_metric(obj: Any, *, output_key: str = "output") -> Metric:
    """A :class:`Metric` from an apo_core metric, a ``(prediction, example)`` function, a
    built-in metric name, or a LangSmith-style evaluator (named parameters, or a two-argument
    function whose first parameter is ``run``)."""
    if is_evaluator(obj):
        return EvaluatorMetric(obj, output_key=output_key)
    if callable(obj) and not hasattr(obj, "ascore"):
        try:
            first = next(iter(inspect.signature(obj).parameters), None)
        except (TypeError, ValueError):
            first = None
        if first == "run":
            return EvaluatorMetric(obj, output_key=output_key)
    return as_metric(obj)
