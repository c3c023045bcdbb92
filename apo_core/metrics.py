"""Metrics: per-example scoring (-> :class:`Score`) and corpus metrics with bootstrap CIs.

A metric turns one prediction and its :class:`~apo_core.data.Example` into a
:class:`Score` (value in [0, 1] plus feedback the optimizer can read). Anything matching the
:class:`Metric` protocol works; :func:`as_metric` also adapts plain functions.

Example:
    >>> metric = as_metric(lambda prediction, example: prediction == example.output)
    >>> label = LabelAccuracy(["yes", "no"])
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from apo_core._text import clip, expected_output, extract_number, normalize_text
from apo_core.data import Example
from apo_core.errors import ConfigError
from apo_core.judge import JudgeVerdict, LLMJudge, parse_judge_reply
from apo_core.score import Score, to_score
from apo_core.stats import accuracy, binary_f1, bootstrap_ci, macro_f1

if TYPE_CHECKING:
    from apo_core.engine import Engine

__all__ = [
    "YES_NO_ALIASES",
    "BaseMetric",
    "CallableMetric",
    "Contains",
    "ExactMatch",
    "JudgeVerdict",
    "LLMJudge",
    "LabelAccuracy",
    "Metric",
    "MetricFn",
    "NumericTolerance",
    "RegexMatch",
    "Score",
    "accuracy",
    "as_metric",
    "binary_f1",
    "bootstrap_ci",
    "extract_number",
    "macro_f1",
    "normalize_text",
    "parse_judge_reply",
    "to_score",
]

YES_NO_ALIASES: dict[str, tuple[str, ...]] = {
    "yes": ("true", "y", "correct", "1"),
    "no": ("false", "n", "incorrect", "0"),
}
"""Common spellings of yes/no answers, for ``ExactMatch(aliases=...)`` and ``LabelAccuracy``."""


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


class ExactMatch(BaseMetric):
    """1 if the normalised prediction equals the normalised expected output (or any of a list
    of them). ``aliases`` maps a canonical answer to other spellings, e.g.
    :data:`YES_NO_ALIASES` makes "True" match "yes"."""

    def __init__(
        self,
        *,
        case_sensitive: bool = False,
        ignore_punctuation: bool = True,
        aliases: Mapping[str, Iterable[str]] | None = None,
        name: str = "exact_match",
    ) -> None:
        self.name = name
        self.case_sensitive = case_sensitive
        self.ignore_punctuation = ignore_punctuation
        self._alias: dict[str, str] = {}
        for canonical, spellings in (aliases or {}).items():
            key = self._plain(canonical)
            for spelling in (canonical, *spellings):
                owner = self._alias.setdefault(self._plain(spelling), key)
                if owner != key:
                    raise ConfigError(f"alias {spelling!r} is given for {owner!r} and {key!r}")

    def _plain(self, text: Any) -> str:
        return normalize_text(
            str(text), case_sensitive=self.case_sensitive, punctuation=self.ignore_punctuation
        )

    def _norm(self, text: Any) -> str:
        normal = self._plain(text)
        return self._alias.get(normal, normal)

    def score(self, prediction: str, example: Example) -> Score:
        expected = expected_output(example, self.name)
        options = expected if isinstance(expected, list | tuple | set | frozenset) else [expected]
        got = self._norm(prediction)
        if any(got == self._norm(option) for option in options):
            return Score(value=1.0)
        return Score(value=0.0, feedback=f"expected {expected!r}, got {clip(prediction)!r}")


class Contains(BaseMetric):
    """1 if the normalised expected output (or any of a list of them) occurs in the normalised
    prediction; with ``whole_word`` only as whole words."""

    def __init__(
        self,
        *,
        case_sensitive: bool = False,
        ignore_punctuation: bool = True,
        whole_word: bool = False,
        name: str = "contains",
    ) -> None:
        self.name = name
        self.case_sensitive = case_sensitive
        self.ignore_punctuation = ignore_punctuation
        self.whole_word = whole_word

    def score(self, prediction: str, example: Example) -> Score:
        expected = expected_output(example, self.name)
        options = expected if isinstance(expected, list | tuple | set | frozenset) else [expected]
        norm = {"case_sensitive": self.case_sensitive, "punctuation": self.ignore_punctuation}
        haystack = normalize_text(prediction, **norm)
        for option in options:
            needle = normalize_text(str(option), **norm)
            if self.whole_word:
                if re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", haystack):
                    return Score(value=1.0)
            elif needle in haystack:
                return Score(value=1.0)
        return Score(
            value=0.0,
            feedback=f"expected the answer to contain {expected!r}, got {clip(prediction)!r}",
        )


class RegexMatch(BaseMetric):
    """1 if ``pattern`` (default: the example's output, as a regex) is found in the prediction
    (``fullmatch=True``: matches all of the stripped prediction)."""

    def __init__(
        self,
        pattern: str | None = None,
        *,
        flags: int = re.IGNORECASE,
        fullmatch: bool = False,
        name: str = "regex_match",
    ) -> None:
        self.name = name
        self.flags = flags
        self.fullmatch = fullmatch
        self.pattern = None if pattern is None else self._compile(pattern)

    def _compile(self, pattern: str) -> re.Pattern[str]:
        try:
            return re.compile(pattern, self.flags)
        except re.error as exc:
            raise ConfigError(
                f"{self.name}: invalid regular expression {pattern!r}: {exc}"
            ) from exc

    def score(self, prediction: str, example: Example) -> Score:
        pattern = self.pattern or self._compile(str(expected_output(example, self.name)))
        text = prediction.strip()
        found = pattern.fullmatch(text) if self.fullmatch else pattern.search(text)
        if found:
            return Score(value=1.0)
        how = "match" if self.fullmatch else "contain a match of"
        return Score(
            value=0.0,
            feedback=f"expected the answer to {how} /{pattern.pattern}/, got {clip(prediction)!r}",
        )


class NumericTolerance(BaseMetric):
    """1 if the first number in the prediction is within ``abs_tol`` or ``rel_tol`` of the
    expected number (a number, or the first number in the output text)."""

    def __init__(
        self, *, abs_tol: float = 1e-6, rel_tol: float = 0.0, name: str = "numeric_tolerance"
    ) -> None:
        if abs_tol < 0 or rel_tol < 0:
            raise ConfigError("abs_tol and rel_tol must be >= 0")
        self.name = name
        self.abs_tol = abs_tol
        self.rel_tol = rel_tol

    def score(self, prediction: str, example: Example) -> Score:
        raw = expected_output(example, self.name)
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            expected: float | None = float(raw)
        else:
            expected = extract_number(str(raw))
        if expected is None:
            raise ConfigError(f"{self.name}: example {example.id} output {raw!r} is not a number")
        got = extract_number(prediction)
        if got is None:
            return Score(
                value=0.0,
                feedback=f"expected {expected:g}, but found no number in "
                f"the answer {clip(prediction)!r}",
            )
        if math.isclose(got, expected, rel_tol=self.rel_tol, abs_tol=self.abs_tol):
            return Score(value=1.0)
        return Score(value=0.0, feedback=f"expected {expected:g}, got {got:g}")


_ANSWER_MARKER = re.compile(
    r"(?:final answer|answer|label|prediction|classification|verdict|output)\s*(?:is)?\s*[:：=]",
    re.IGNORECASE,
)


class LabelAccuracy(BaseMetric):
    """1 if the label the prediction states is the example's label.

    ``labels`` is a list of labels, or a mapping ``label -> other spellings``
    (``{1: ["yes", "lie"], 0: ["no"]}``). The stated label is looked up as a whole word after
    the last "Answer:" style marker if there is one, else in the whole prediction; among
    several, ``position`` picks the ``"first"`` or ``"last"`` mentioned.
    """

    def __init__(
        self,
        labels: Sequence[Any] | Mapping[Any, Iterable[str]],
        *,
        position: Literal["first", "last"] = "first",
        case_sensitive: bool = False,
        name: str = "label_accuracy",
    ) -> None:
        spellings: Mapping[Any, Iterable[str]] = (
            labels if isinstance(labels, Mapping) else {label: () for label in labels}
        )
        if not spellings:
            raise ConfigError("LabelAccuracy needs at least one label")
        if position not in ("first", "last"):
            raise ConfigError(f"position must be 'first' or 'last', got {position!r}")
        self.name = name
        self.labels = list(spellings)
        self.position = position
        self.case_sensitive = case_sensitive
        self._surface: dict[str, Any] = {}
        for label, others in spellings.items():
            for form in (str(label), *others):
                key = self._norm(form)
                if not key:
                    raise ConfigError(f"label spelling {form!r} is empty after normalisation")
                owner = self._surface.setdefault(key, label)
                if owner != label:
                    raise ConfigError(f"spelling {form!r} is given for {owner!r} and {label!r}")
        forms = sorted(self._surface, key=len, reverse=True)
        self._pattern = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, forms)) + r")(?!\w)")

    def _norm(self, text: str) -> str:
        return normalize_text(text, case_sensitive=self.case_sensitive)

    def parse(self, prediction: str) -> Any:
        """The label ``prediction`` states, or None if it states none."""
        markers = list(_ANSWER_MARKER.finditer(prediction))
        segments = [prediction[markers[-1].end() :]] if markers else []
        segments.append(prediction)
        for segment in segments:
            found = self._pattern.findall(self._norm(segment))
            if found:
                return self._surface[found[0] if self.position == "first" else found[-1]]
        return None

    def label_of(self, output: Any) -> Any:
        """The canonical label of an example's output (``1`` or ``"yes"`` or ``"Yes"``)."""
        for label in self.labels:
            if output == label and type(output) is type(label):
                return label
        key = self._norm(str(output))
        if key in self._surface:
            return self._surface[key]
        raise ConfigError(f"{self.name}: output {output!r} is not one of the labels {self.labels}")

    def score(self, prediction: str, example: Example) -> Score:
        expected = self.label_of(expected_output(example, self.name))
        got = self.parse(prediction)
        if got is None:
            return Score(
                value=0.0,
                feedback=f"expected {expected!r}, but the answer states none "
                f"of the labels {self.labels}: {clip(prediction)!r}",
            )
        if got == expected:
            return Score(value=1.0)
        return Score(value=0.0, feedback=f"expected {expected!r}, got {got!r}")


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
