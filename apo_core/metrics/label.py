"""LabelAccuracy: did the prediction state the example's label? Keeps the label it read.

Re-exported by :mod:`apo_core.metrics`; import it from there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from apo_core.data import Example
from apo_core.data.text import clip, expected_output, normalize_text
from apo_core.errors import ConfigError
from apo_core.metrics.base import BaseMetric
from apo_core.metrics.score import Score

__all__ = ["LabelAccuracy"]

_ANSWER_MARKER = re.compile(
    r"(?:final answer|answer|label|prediction|classification|verdict|output)\s*(?:is)?\s*[:：=]",
    re.IGNORECASE,
)


class LabelAccuracy(BaseMetric):
    """1 if the label the prediction states is the example's label.

    ``labels`` is a list of labels, or a mapping ``label -> other spellings``
    (``{1: ["yes", "lie"], 0: ["no"]}``). The stated label is looked up as a whole word after
    the last "Answer:" style marker if there is one, else in the whole prediction; among
    several, ``position`` picks the ``"first"`` or ``"last"`` mentioned. The label read is kept
    on the :class:`Score` (``label``; ``None`` when the prediction states none), so corpus
    metrics such as F1 use the real predictions.
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
            return Score(value=1.0, label=got)
        return Score(value=0.0, feedback=f"expected {expected!r}, got {got!r}", label=got)
