"""Degenerate optimizer output from weak models is rejected and counted, not evaluated."""

from __future__ import annotations

import json
from collections.abc import Callable

from apo_world import PROMPT, make_engine, make_examples

from apo_core import ScriptedRequest
from apo_core.apo.config import APOConfig
from apo_core.apo.protection import PromptGuard, instruction_words
from apo_core.apo.result import APOResult
from apo_core.apo.search import APO
from apo_core.program import TemplateProgram

ORIGINAL = "Read the review and say whether it is positive or negative.\nReview: {text}\nLabel:"


def test_instruction_words_ignore_fields_digits_and_punctuation() -> None:
    assert instruction_words("{text} , 3.5 !") == 0
    assert instruction_words("Label the {text} now") == 3
    assert instruction_words("Étiquette la critique") == 3


def test_guard_rejects_a_single_word_candidate_instead_of_repairing_it() -> None:
    guard = PromptGuard(TemplateProgram(), ORIGINAL, min_ratio=0.3)
    for junk in ("Positive", "is", "{text}", "POSITIVE {text}"):
        checked = guard.check(junk)
        assert checked.prompt is None and checked.problem is not None
        assert checked.problem.startswith("degenerate")
    kept = guard.check("Decide if this review is positive or negative.\nReview: {text}")
    assert kept.prompt is not None


def test_min_ratio_zero_keeps_the_old_behaviour() -> None:
    guard = PromptGuard(TemplateProgram(), ORIGINAL, min_ratio=0.0)
    checked = guard.check("Positive")
    assert checked.prompt is not None and checked.repaired  # {text} re-appended


async def run_one_round(optimizer: Callable[[ScriptedRequest], str]) -> APOResult:
    """One APO round of the scripted world with the given optimizer replies."""
    engine, _task, _opt = make_engine(optimizer=optimizer)
    config = APOConfig(
        rounds=1,
        beam_size=2,
        minibatch_size=8,
        n_gradients=2,
        mc_samples_per_step=0,
        pulls_per_candidate=2,
    )
    return await APO(engine, config).optimize(
        PROMPT,
        train=make_examples("train", 12),
        validation=make_examples("val", 6),
        metric=lambda prediction, example: prediction.strip() == example.output,
    )


async def test_wordless_gradients_are_parse_failures_and_get_no_edit() -> None:
    def optimizer(request: ScriptedRequest) -> str:
        if "Diagnose the prompt" in request.last_user:
            return json.dumps({"reasons": [",", "3.1.4"]})  # nothing a model can act on
        return json.dumps({"prompts": ["Positive"]})

    result = await run_one_round(optimizer)
    counts = result.history[0].counts
    assert counts.gradient_calls == 2
    assert counts.parse_failures == 2
    assert counts.edit_calls == 0
    assert result.best_prompt == PROMPT


async def test_one_word_edits_are_rejected_not_scored() -> None:
    def optimizer(request: ScriptedRequest) -> str:
        if "Diagnose the prompt" in request.last_user:
            return json.dumps({"reasons": ["the prompt never defines the labels"]})
        return json.dumps({"prompts": ["Positive"]})

    result = await run_one_round(optimizer)
    counts = result.history[0].counts
    assert counts.edit_calls == 2 and counts.rejected == 2 and counts.repaired == 0
    assert [c.origin for c in result.history[0].candidates] == ["initial"]
