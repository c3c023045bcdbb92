"""Text helpers shared by the metrics: normalisation, number extraction, clipping."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

from apo_core.data.dataset import Example
from apo_core.errors import ConfigError

__all__ = ["clip", "expected_output", "extract_number", "normalize_text"]


def normalize_text(text: str, *, case_sensitive: bool = False, punctuation: bool = True) -> str:
    """NFKC-normalise, casefold (unless ``case_sensitive``), drop punctuation (if
    ``punctuation``) and collapse whitespace."""
    text = unicodedata.normalize("NFKC", text)
    if not case_sensitive:
        text = text.casefold()
    if punctuation:
        text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return " ".join(text.split())


def clip(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters (with "..." when cut), for feedback messages."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def expected_output(example: Example, metric: str) -> Any:
    """The example's output; a labelled example is required (ConfigError otherwise)."""
    if example.output is None:
        raise ConfigError(
            f"{metric} needs labelled examples, but example {example.id} has no output"
        )
    return example.output


_NUMBER = re.compile(
    r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+(?:[eE][-+]?\d+)?"
)


def extract_number(text: str) -> float | None:
    """The first number in ``text`` ("1,234.5", "-3", "2e-3", ".5"), or None."""
    match = _NUMBER.search(text)
    if match is None:
        return None
    value = float(match.group().replace(",", ""))
    return value if math.isfinite(value) else None
