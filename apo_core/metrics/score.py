"""The result of scoring one prediction: a value in [0, 1] and optional feedback.

Re-exported by :mod:`apo_core.metrics`; import it from there.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from apo_core.errors import ConfigError

__all__ = ["Score", "to_score"]


class Score(BaseModel):
    """How good one prediction is.

    Attributes:
        value: in [0, 1]; 1 is a perfect prediction.
        feedback: why, in words an optimizer can act on (``None`` when there is nothing to say).
        label: the label a label metric read in the prediction (for F1); ``None`` when it
            found none, or the metric reads no labels.
    """

    model_config = ConfigDict(frozen=True)

    value: float
    feedback: str | None = None
    label: Any = None

    @field_validator("value")
    @classmethod
    def _in_unit_interval(cls, value: float) -> float:
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ValueError(f"a score must be a number in [0, 1], got {value!r}")
        return float(value)


def to_score(result: Any, *, source: str = "metric") -> Score:
    """Coerce a metric's return value into a :class:`Score`.

    Accepts a Score, a bool, a number in [0, 1], or a ``(number, feedback)`` pair.

    Raises:
        ConfigError: any other type, or a number outside [0, 1] (NaN included).
    """
    if isinstance(result, Score):
        return result
    feedback: Any = None
    value: Any = result
    if isinstance(result, tuple):
        if len(result) != 2:
            raise ConfigError(
                f"{source} returned a tuple of {len(result)} items; expected (value, feedback)"
            )
        value, feedback = result
        if feedback is not None and not isinstance(feedback, str):
            raise ConfigError(
                f"{source} returned feedback of type {type(feedback).__name__}; expected str"
            )
    if isinstance(value, bool):
        return Score(value=1.0 if value else 0.0, feedback=feedback)
    if isinstance(value, numbers.Real):
        number = float(value)
        if not (math.isfinite(number) and 0.0 <= number <= 1.0):
            raise ConfigError(
                f"{source} returned {value!r}; scores must lie in [0, 1] "
                f"(normalise the value, e.g. divide by the scale's maximum)"
            )
        return Score(value=number, feedback=feedback)
    raise ConfigError(
        f"{source} returned a {type(result).__name__}; expected a float in [0, 1], a bool, "
        f"a Score or a (float, feedback) tuple"
    )
