"""A small real APO run on the embedded SmolLM2-135M model over the shipped sentiment data."""

from __future__ import annotations

from pathlib import Path

import pytest

from apo_core import Engine
from apo_core.apo import APO, APOResult
from apo_core.datasets import load_dataset
from apo_core.metrics import LabelAccuracy
from apo_core.program import TemplateProgram

pytestmark = [pytest.mark.integration, pytest.mark.local_model]

# A deliberately weak start: the model tends to echo the question instead of answering.
START = "Is the sentiment of this review positive or negative?\n\nReview: {text}\n\nSentiment:"


async def test_apo_on_the_embedded_model(tmp_path: Path) -> None:
    splits = load_dataset("sentiment").split(train=0.5, validation=0.3, test=0.2, seed=0)
    engine = Engine(cache=tmp_path / "cache.sqlite", max_concurrency=2)
    apo = APO(
        engine,
        rounds=1,
        beam_size=2,
        minibatch_size=8,
        n_gradients=3,
        errors_per_gradient=2,
        mc_samples_per_step=1,
        max_expansion_factor=4,
        eval_budget=12,
        optimizer_max_tokens=160,
        seed=0,
    )
    result = await apo.optimize(
        START,
        train=list(splits.train),
        validation=list(splits.validation)[:10],
        test=list(splits.test)[:6],
        metric=LabelAccuracy(["positive", "negative"]),
        program=TemplateProgram(max_tokens=12),
        checkpoint=tmp_path / "run.json",
    )
    h = result.history[0]
    print(
        f"\nvalidation {result.initial_validation and result.initial_validation.accuracy.value}"
        f" -> {result.best_validation and result.best_validation.accuracy.value}; test "
        f"{result.initial_test and result.initial_test.accuracy.value} -> "
        f"{result.best_test and result.best_test.accuracy.value}; {len(h.candidates)} candidates,"
        f" {len(h.gradients)} gradients, {len(h.edits)} edits, counts {h.counts}; calls "
        f"{ {role: line.calls for role, line in result.usage.by_role.items()} }; "
        f"{result.elapsed_s:.0f}s\nbest prompt: {result.best_prompt!r}"
    )
    assert result.initial_validation is not None and result.best_validation is not None
    initial = result.initial_validation.accuracy.value
    assert result.best_validation.accuracy.value >= initial
    round_0 = result.history[0]
    assert round_0.counts.gradient_calls == 3
    assert round_0.gradients, "the optimizer produced no usable gradient"
    assert len(round_0.candidates) >= 2, "the search produced no candidate"
    assert result.initial_test is not None and result.best_test is not None
    assert result.usage.by_role["task"].calls > 0 and result.usage.by_role["optimizer"].calls > 0
    assert APOResult.from_json(result.to_json()) == result
