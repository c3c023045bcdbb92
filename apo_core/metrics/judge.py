"""LLM-as-judge metric: a model grades each prediction against a rubric.

Re-exported by :mod:`apo_core.metrics`; import it from there.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from apo_core.data import Example
from apo_core.data.text import clip
from apo_core.errors import ConfigError
from apo_core.metrics.score import Score
from apo_core.types import Message, Role

if TYPE_CHECKING:
    from apo_core.engine import Engine

__all__ = ["JudgeVerdict", "LLMJudge", "parse_judge_reply"]


class JudgeVerdict(BaseModel):
    """The structured reply asked of the judge model."""

    score: float = Field(description="the grade, on the rubric's scale")
    feedback: str = Field(default="", description="one or two sentences explaining the grade")


_NUM = r"([-+]?\d+(?:\.\d+)?)"
_KEYWORD = r"(?:score|rating|grade|overall)\b[^\d\n+-]{0,20}?"
_FRACTION = rf"{_NUM}\s*(?:/|out of)\s*{_NUM}"
_PATTERNS = (
    re.compile(_KEYWORD + _FRACTION, re.IGNORECASE),
    re.compile(_KEYWORD + _NUM, re.IGNORECASE),
    re.compile(_FRACTION, re.IGNORECASE),
    re.compile(rf"^\W*{_NUM}\W*$"),
)
_FEEDBACK = re.compile(r"(?:feedback|reason(?:ing)?|explanation)\s*[:：]\s*(.+)", re.I | re.S)


def _on_scale(value: float, denominator: float | None, scale: tuple[float, float]) -> float | None:
    low, high = scale
    if denominator is not None and denominator != high:
        if denominator <= 0 or not 0 <= value <= denominator:
            return None
        return value / denominator
    if not low <= value <= high:
        return None
    return (value - low) / (high - low)


def parse_judge_reply(text: str, scale: tuple[float, float] = (1, 5)) -> tuple[float, str] | None:
    """Read a free-text judge reply such as ``"Score: 4/5. Feedback: ..."``.

    Returns ``(value in [0, 1], feedback)`` or None if no grade on ``scale`` is found. A grade
    "x/d" with ``d`` other than the scale's maximum is read as the fraction ``x/d``. The last
    "Score: ..." in the text wins (judges reason first, then conclude).
    """
    for pattern in _PATTERNS:
        matches = list(pattern.finditer(text.strip()))
        if not matches:
            continue
        groups = matches[-1].groups()
        value = float(groups[0])
        denominator = float(groups[1]) if len(groups) > 1 else None
        normalised = _on_scale(value, denominator, scale)
        if normalised is None:
            return None
        found = _FEEDBACK.search(text)
        feedback = clip((found.group(1) if found else text).strip(), 500)
        return normalised, feedback
    return None


def _format_inputs(inputs: dict[str, Any]) -> str:
    if len(inputs) == 1:
        return str(next(iter(inputs.values())))
    return "\n".join(f"{key}: {value}" for key, value in inputs.items())


class LLMJudge:
    """Grades predictions with a model of role ``role`` against ``rubric``.

    The judge is asked for :class:`JudgeVerdict` JSON (structured output where the backend
    supports it) and falls back to tolerant text parsing ("Score: 4/5"). The grade is mapped
    from ``scale`` to [0, 1]. A reply with no usable grade scores 0 with feedback saying so and
    is counted in :attr:`unparsable`. Engine errors (budget, failed calls) propagate.

    Args:
        rubric: what a good answer is, in words.
        role: the engine role whose model judges.
        scale: ``(worst, best)`` grades, e.g. ``(1, 5)``.
        include_reference: show the example's expected output (if any) to the judge.
        max_tokens: cap on the judge's reply.
        name: the metric name.
    """

    def __init__(
        self,
        rubric: str,
        *,
        role: Role = "judge",
        scale: tuple[float, float] = (1, 5),
        include_reference: bool = True,
        max_tokens: int | None = None,
        name: str = "llm_judge",
    ) -> None:
        if not rubric.strip():
            raise ConfigError("LLMJudge needs a non-empty rubric")
        low, high = (float(scale[0]), float(scale[1]))
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ConfigError(f"scale must be (worst, best) with worst < best, got {scale!r}")
        self.rubric = rubric.strip()
        self.role: Role = role
        self.scale = (low, high)
        self.include_reference = include_reference
        self.max_tokens = max_tokens
        self.name = name
        self.unparsable = 0
        """How many judge replies had no usable grade (each scored 0)."""

    def messages(self, prediction: str, example: Example) -> list[Message]:
        """The judge's prompt for one prediction."""
        low, high = (f"{v:g}" for v in self.scale)
        system = (
            "You are a strict and fair evaluator. Grade the response below according to the "
            f"rubric.\n\nRubric:\n{self.rubric}\n\n"
            f"Give a score from {low} (worst) to {high} (best) and one or two sentences of "
            "feedback that explain the score and say what would improve the response. Reply "
            'with JSON only: {"score": <number>, "feedback": "<text>"}'
        )
        parts = [f"Input:\n{_format_inputs(example.inputs)}"]
        if self.include_reference and example.output is not None:
            parts.append(f"Reference answer:\n{example.output}")
        parts.append(f"Response to grade:\n{prediction}")
        return [
            Message(role="system", content=system),
            Message(role="user", content="\n\n".join(parts)),
        ]

    async def ascore(
        self, prediction: str, example: Example, *, engine: Engine | None = None
    ) -> Score:
        """Ask the judge model for a grade of ``prediction``."""
        if engine is None:
            raise ConfigError(f"{self.name} is an LLM judge: pass engine=... to ascore")
        completion = await engine.complete(
            self.messages(str(prediction), example),
            role=self.role,
            temperature=0.0,
            max_tokens=self.max_tokens,
            response_format=JudgeVerdict,
        )
        verdict = completion.parsed[0] if completion.parsed else None
        if isinstance(verdict, JudgeVerdict):
            value = _on_scale(verdict.score, None, self.scale)
            if value is not None:
                return Score(value=value, feedback=verdict.feedback.strip() or None)
            problem = f"its score {verdict.score:g} is outside the scale {self.scale_text}"
        else:
            parsed = parse_judge_reply(completion.text, self.scale)
            if parsed is not None:
                return Score(value=parsed[0], feedback=parsed[1] or None)
            problem = f"no score on the scale {self.scale_text} was found"
        self.unparsable += 1
        reply = clip(completion.text.strip())
        return Score(
            value=0.0, feedback=f"the judge's reply could not be used ({problem}): {reply!r}"
        )

    @property
    def scale_text(self) -> str:
        return f"{self.scale[0]:g}-{self.scale[1]:g}"

    def __repr__(self) -> str:
        return f"LLMJudge(name={self.name!r}, role={self.role!r}, scale={self.scale})"
