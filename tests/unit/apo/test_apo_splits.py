"""Splits are kept apart: a test example in train or validation is refused before any call."""

from __future__ import annotations

import logging

import pytest
from apo_world import PROMPT, RUN_CONFIG, label_metric, make_engine, make_examples

from apo_core import ConfigError
from apo_core.apo import APO
from apo_core.apo.splits import check_splits
from apo_core.data import Example

TRAIN, VALIDATION = make_examples("train", 24), make_examples("val", 10)
TEST = make_examples("t", 6)


@pytest.mark.parametrize(
    ("train", "validation", "test", "shared"),
    [
        (TRAIN, VALIDATION, TRAIN[:6], "6 test example(s) are also train examples"),
        (TRAIN, VALIDATION, [*TEST, VALIDATION[3]], "1 test example(s) are also validation"),
        # the same content is the same example, whatever its metadata
        (TRAIN, VALIDATION, [TRAIN[0].model_copy(update={"metadata": {"row": 9}})], "1 test"),
    ],
)
async def test_test_leakage_is_refused_before_any_call(
    train: list[Example], validation: list[Example], test: list[Example], shared: str
) -> None:
    engine, task, opt = make_engine()
    with pytest.raises(ConfigError, match="must be held out") as info:
        await APO(engine, RUN_CONFIG).optimize(
            PROMPT, train=train, validation=validation, test=test, metric=label_metric
        )
    assert shared in str(info.value) and "e.g. id " in str(info.value)
    assert task.calls == [] and opt.calls == []


async def test_train_and_validation_overlap_is_noted(caplog: pytest.LogCaptureFixture) -> None:
    engine, _t, _o = make_engine()
    with caplog.at_level(logging.WARNING, logger="apo_core.apo"):
        result = await APO(engine, RUN_CONFIG, rounds=1).optimize(
            PROMPT, train=TRAIN, validation=TRAIN[:8], test=TEST, metric=label_metric
        )
    assert result.stopped_by == "rounds"
    assert len(result.notes) == 1
    assert result.notes[0].startswith("8 of 8 validation example(s) are also train examples")
    assert "optimistic" in caplog.text


def test_disjoint_splits_and_repeats_within_a_split_pass() -> None:
    assert check_splits(TRAIN * 2, VALIDATION * 2, TEST * 2) == []
    assert check_splits(TRAIN, VALIDATION, []) == []
