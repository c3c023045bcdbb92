"""The data wing: examples, datasets and their splits, loaders, and foreign dataset shapes."""

from apo_core.data.adapt import DEFAULT_SPLIT, REFERENCE, coerce_examples
from apo_core.data.dataset import Dataset, Splits
from apo_core.data.example import Example

__all__ = [
    "DEFAULT_SPLIT",
    "REFERENCE",
    "Dataset",
    "Example",
    "Splits",
    "coerce_examples",
]
