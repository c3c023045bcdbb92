"""Text-matching metrics: exact match (with aliases), contains, regex, numeric tolerance.

Re-exported by :mod:`apo_core.metrics`; import them from there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from apo_core.data import Example
from apo_core.data.text import clip, expected_output, extract_number, normalize_text
from apo_core.errors import ConfigError
from apo_core.metrics.base import BaseMetric
from apo_core.metrics.score import Score

__all__ = ["YES_NO_ALIASES", "Contains", "ExactMatch", "NumericTolerance", "RegexMatch"]

YES_NO_ALIASES: dict[str, tuple[str, ...]] = {
    "yes": ("true", "y", "correct", "1"),
    "no": ("false", "n", "incorrect", "0"),
}
"""Common spellings of yes/no answers, for ``ExactMatch(aliases=...)`` and ``LabelAccuracy``."""


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
