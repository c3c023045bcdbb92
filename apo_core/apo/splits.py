"""Checks that the splits of a run are kept apart: no test example may be used for selection.

A test example that is also a train or validation example leaks into the search (minibatches,
selection, picking the best prompt), so its test score is no honest estimate: that is an
error. Validation examples that are also train examples make the validation score optimistic
(the edits were made from them): that is allowed, with a note and a warning. Examples are
compared by :attr:`~apo_core.data.Example.id` (same inputs and output).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from apo_core.data.text import clip
from apo_core.errors import ConfigError

if TYPE_CHECKING:
    from apo_core.data import Example

logger = logging.getLogger("apo_core.apo")


def _shared(split: Sequence[Example], ids: set[str]) -> list[Example]:
    """The examples of ``split`` whose id is in ``ids``, first occurrence of each."""
    seen: dict[str, Example] = {}
    for ex in split:
        if ex.id in ids:
            seen.setdefault(ex.id, ex)
    return list(seen.values())


def _describe(shared: list[Example]) -> str:
    first = shared[0]
    return f"e.g. id {first.id}, inputs {clip(repr(first.inputs), 120)}"


def check_splits(
    train: Sequence[Example], validation: Sequence[Example], test: Sequence[Example]
) -> list[str]:
    """Notes about overlapping splits (train and validation), for the result.

    Raises:
        ConfigError: a test example is also a train or validation example.
    """
    test_ids = {ex.id for ex in test}
    for name, split in (("train", train), ("validation", validation)):
        shared = _shared(split, test_ids) if test_ids else []
        if shared:
            raise ConfigError(
                f"{len(shared)} test example(s) are also {name} examples ({_describe(shared)}); "
                "the test split must be held out from the search, or its scores leak: "
                "remove them from one of the two (duplicate rows can cause this: Dataset.dedupe() "
                "before Dataset.split() gives disjoint splits)"
            )
    validation_ids = {ex.id for ex in validation}
    shared = _shared(train, validation_ids)
    if not shared:
        return []
    note = (
        f"{len(shared)} of {len(validation_ids)} validation example(s) are also train examples "
        f"({_describe(shared)}): validation scores are optimistic"
    )
    logger.warning("%s", note)
    return [note]
