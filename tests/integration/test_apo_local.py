"""A small real APO run on the embedded SmolLM2-135M model over the shipped sentiment data."""

from __future__ import annotations

from pathlib import Path

import pytest

from apo_core import Engine
from apo_core.apo import APO, APOResult
from apo_core.data.shipped import load_dataset
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
        n_gradients=4,
        errors_per_gradient=2,
        steps_per_gradient=2,  # two prompts per edit call: the 135M model spoils many
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
    new = [c for c in h.candidates if c.origin in ("edit", "paraphrase")]
    scored_new = [b for b in h.beam if b.prompt != START]
    validation = result.best_validation
    print(
        f"\nvalidation {result.initial_validation and result.initial_validation.accuracy.value}"
        f" -> {validation and validation.accuracy.value}; test "
        f"{result.initial_test and result.initial_test.accuracy.value} -> "
        f"{result.best_test and result.best_test.accuracy.value} (F1 "
        f"{result.best_test and result.best_test.f1 and result.best_test.f1.value}, macro F1 "
        f"{result.best_test and result.best_test.macro_f1 and result.best_test.macro_f1.value}, "
        f"no label {result.best_test and result.best_test.no_label}); {len(h.candidates)} "
        f"candidates ({len(new)} new), {len(h.gradients)} gradients, {len(h.edits)} edits, "
        f"beam {[(b.prompt[:40], b.validation) for b in h.beam]}, counts {h.counts}; calls "
        f"{ {role: line.calls for role, line in result.usage.by_role.items()} }; "
        f"{result.elapsed_s:.0f}s\nbest prompt: {result.best_prompt!r}"
    )
    assert result.initial_validation is not None and validation is not None
    assert validation.accuracy.value >= result.initial_validation.accuracy.value
    # The search really ran: the optimizer's replies parsed into gradients and new prompts,
    # the selector pulled them, and a new prompt made the beam and was scored on validation.
    assert h.counts.gradient_calls == 4 and h.counts.failed_calls == 0
    assert 0 < len(h.gradients) <= 4, "the optimizer produced no usable gradient"
    assert h.counts.parse_failures < h.counts.gradient_calls + h.counts.edit_calls
    assert new, "the search produced no new candidate"
    assert all(c.gradient in h.gradients for c in new)
    assert h.selection is not None and h.selection.total_pulls > 0
    assert sum(c.pulls for c in new) > 0
    assert scored_new and all(0.0 <= b.validation <= 1.0 for b in scored_new)
    assert h.best_validation == max(b.validation for b in h.beam)
    # F1 from the labels the model stated, with the unparsed answers counted.
    assert result.initial_test is not None and result.best_test is not None
    for scores in (result.initial_validation, validation, result.initial_test, result.best_test):
        assert scores.f1 is not None and scores.macro_f1 is not None
        assert scores.no_label is not None and 0 <= scores.no_label <= scores.accuracy.n
    assert result.usage.by_role["task"].calls > 0 and result.usage.by_role["optimizer"].calls > 0
    assert APOResult.from_json(result.to_json()) == result
