"""Whole APO runs with each selector, and with an LLM judge as the metric."""

from __future__ import annotations

import json
import re

import pytest
from apo_world import PROMPT, RUN_CONFIG, make_engine, make_examples, quoted_prompt

from apo_core import Engine, ScriptedChatModel, ScriptedRequest
from apo_core.apo import APO, estimate_calls
from apo_core.metrics import LLMJudge

SELECTORS = ["ucb", "ucb_e", "successive_rejects", "successive_halving", "brute_force"]
TRAIN, VALIDATION, TEST = (
    make_examples("train", 24),
    make_examples("val", 10),
    make_examples("t", 6),
)


def careful_task(request: ScriptedRequest) -> str:
    """Right on every example when the prompt says CAREFUL, else always ``positive``."""
    match = re.search(r"(\w+) (\d+) was (good|bad)", request.last_user)
    assert match is not None
    if "CAREFUL" not in request.last_user:
        return "positive"
    return "positive" if match.group(3) == "good" else "negative"


def edits_help_paraphrases_hurt(request: ScriptedRequest) -> str:
    """Edits add CAREFUL (accuracy 1.0); paraphrases drop it again (accuracy 0.5)."""
    tag = f"{request.params.seed}-{request.sample}"
    user = request.last_user
    if "Diagnose the prompt" in user:
        return json.dumps({"reasons": [f"the prompt never asks for care ({tag})"]})
    parent = quoted_prompt(request)
    if "improved prompt" in user:
        return json.dumps({"prompts": [f"Be CAREFUL ({tag}). {parent}"]})
    return json.dumps({"prompts": [f"Reworded {tag}: " + parent.replace("CAREFUL", "quick")]})


@pytest.mark.parametrize("selector", SELECTORS)
async def test_every_selector_finds_the_better_prompts(selector: str) -> None:
    engine, _t, _o = make_engine(task=careful_task, optimizer=edits_help_paraphrases_hurt)
    apo = APO(engine, RUN_CONFIG, rounds=1, selector=selector, eval_budget=30)
    result = await apo.optimize(
        PROMPT, train=TRAIN, validation=VALIDATION, test=TEST, metric="exact_match"
    )
    (record,) = result.history
    edits = [c.prompt for c in record.candidates if c.origin == "edit"]
    assert len(edits) == 2 and len(record.candidates) == 5  # initial, 2 edits, 2 paraphrases
    # The two edits are the knowable best arms (1.0 against 0.5): the beam is exactly them.
    assert sorted(e.prompt for e in result.beam) == sorted(edits)
    assert record.selection is not None and record.selection.selector == selector
    assert record.selection.total_pulls <= record.selection.budget == 30
    assert result.initial_validation is not None and result.best_validation is not None
    assert result.initial_validation.accuracy.value == 0.5
    assert result.best_validation.accuracy.value == 1.0 and result.improved
    assert result.best_test is not None and result.best_test.accuracy.value == 1.0


async def test_an_llm_judge_metric_uses_the_judge_role() -> None:
    def grade(request: ScriptedRequest) -> str:  # 5/5 when the answer matches the reference
        reference = re.search(r"Reference answer:\n(\w+)", request.last_user)
        answer = re.search(r"Response to grade:\n(\w+)", request.last_user)
        assert reference is not None and answer is not None
        right = reference.group(1) == answer.group(1)
        return json.dumps({"score": 5 if right else 1, "feedback": "" if right else "wrong"})

    task = ScriptedChatModel(default=careful_task, model_id="task-model")
    opt = ScriptedChatModel(default=edits_help_paraphrases_hurt, model_id="optimizer-model")
    judge = ScriptedChatModel(default=grade, model_id="judge-model")
    engine = Engine(roles={"task": task, "optimizer": opt, "judge": judge})
    metric = LLMJudge("The answer must be the review's sentiment, as in the reference.")
    config = RUN_CONFIG.model_copy(update={"rounds": 1})
    result = await APO(engine, config).optimize(
        PROMPT, train=TRAIN, validation=VALIDATION, test=TEST, metric=metric
    )
    assert result.best_validation is not None and result.best_validation.accuracy.value == 1.0
    assert result.initial_validation is not None
    assert result.initial_validation.accuracy.value == 0.5 and result.improved
    usage = result.usage.by_role
    assert usage["judge"].calls == usage["task"].calls > 0  # one grade per evaluation
    assert usage["judge"].input_tokens > 0 and "judge-model" in result.usage.by_model
    assert len(judge.calls) == usage["judge"].calls and metric.unparsable == 0
    estimate = estimate_calls(config, train_size=24, validation_size=10, test_size=6, judge=True)
    assert usage["judge"].calls <= estimate.by_role["judge"]
