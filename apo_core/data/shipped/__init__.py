"""Small labelled datasets shipped with apo-bpo, for examples, tests and quick trials.

``sentiment``: 100 short, clear movie / product / restaurant reviews written for this project
(50 ``positive``, 50 ``negative``), input ``text``, label ``label``. Small enough for the
embedded SmolLM2-135M model to run an optimization in minutes.
"""

from __future__ import annotations

from importlib import resources

from apo_core.data.dataset import Dataset
from apo_core.errors import ConfigError

SENTIMENT_PROMPT = (
    "Is the sentiment of this review positive or negative?\n\nReview: {text}\n\nSentiment:"
)
"""A plain starting prompt for the ``sentiment`` dataset."""

_NAMES = ("sentiment",)


def available() -> list[str]:
    """Names of the shipped datasets."""
    return list(_NAMES)


def load_dataset(name: str) -> Dataset:
    """Load a shipped dataset by name (see :func:`available`)."""
    if name not in _NAMES:
        raise ConfigError(f"no shipped dataset named {name!r}; available: {', '.join(_NAMES)}")
    resource = resources.files(__name__).joinpath(f"{name}.jsonl")
    with resources.as_file(resource) as path:
        return Dataset.from_jsonl(path, output_key="label", name=name)


__all__ = ["SENTIMENT_PROMPT", "available", "load_dataset"]
