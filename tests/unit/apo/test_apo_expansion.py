"""Expansion: call counts per role follow the config formula; failures are counted, not fatal."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from apo_world import PROMPT, label_metric, make_engine, make_examples
from hypothesis import given
from hypothesis import strategies as st

from apo_core import ModelCallError, ScriptedRequest
from apo_core.apo.config import APOConfig
from apo_core.apo.estimate import optimizer_calls_per_parent, optimizer_replies_per_parent
from apo_core.apo.evaluation import Evaluator
from apo_core.apo.expansion import Expander, error_groups
from apo_core.apo.protection import PromptGuard
from apo_core.metrics import as_metric
from apo_core.program import TemplateProgram


def _expander(config: APOConfig, **engine_kwargs: object) -> tuple[Expander, object, object]:
    engine, task, opt = make_engine(**engine_kwargs)  # type: ignore[arg-type]
    program = TemplateProgram()
    evaluator = Evaluator(program, as_metric(label_metric), engine)
    guard = PromptGuard(program, PROMPT, config.protected_spans)
    return Expander(engine, config, guard, evaluator), task, opt


@pytest.mark.parametrize(
    ("n_gradients", "per_error", "steps", "mc"),
    [(4, 1, 1, 2), (2, 2, 1, 2), (3, 1, 2, 1), (2, 2, 2, 0), (1, 1, 1, 3)],
)
async def test_call_counts_match_the_formula(
    n_gradients: int, per_error: int, steps: int, mc: int
) -> None:
    config = APOConfig(
        minibatch_size=10,
        n_gradients=n_gradients,
        errors_per_gradient=3,
        gradients_per_error=per_error,
        steps_per_gradient=steps,
        mc_samples_per_step=mc,
        max_expansion_factor=100,
    )
    expander, _task, _opt = _expander(config)
    out = await expander.expand(PROMPT, make_examples("train", 30), round_index=0)
    engine = expander.engine
    by_role = engine.usage().by_role
    assert by_role["task"].calls == 10
    expected = optimizer_calls_per_parent(config)
    new_prompts = n_gradients * per_error * steps
    # one paraphrase request per new prompt, asking for all its mc samples at once (n = mc)
    assert expected == n_gradients + n_gradients * per_error + (new_prompts if mc else 0)
    assert by_role["optimizer"].calls == expected
    c = out.counts
    assert (c.gradient_calls, c.edit_calls) == (n_gradients, n_gradients * per_error)
    assert c.paraphrase_calls == (new_prompts if mc else 0)
    paraphrases = [r for r in _opt.calls if "Rewrite this prompt" in r.last_user]  # type: ignore[attr-defined]
    assert len(paraphrases) == new_prompts * mc  # samples, each its own reply
    assert all(r.params.n == mc for r in paraphrases)
    assert optimizer_replies_per_parent(config) == len(_opt.calls)  # type: ignore[attr-defined]
    assert c.minibatch_errors == 5  # the task model says "positive" to everything
    assert len(out.gradients) == n_gradients * per_error
    assert len(out.edits) == n_gradients * per_error * steps
    edits = n_gradients * per_error * steps
    assert len(out.successors) == edits * (1 + mc)
    assert c.parse_failures == c.rejected == c.failed_calls == 0


async def test_sampled_requests_are_distinct_and_seeded(tmp_path: Path) -> None:
    config = APOConfig(minibatch_size=8, n_gradients=2, mc_samples_per_step=3)
    expander, _task, opt = _expander(config, cache=tmp_path / "cache.sqlite")
    await expander.expand(PROMPT, make_examples("train", 20), round_index=0)
    calls = opt.calls  # type: ignore[attr-defined]
    assert len({(c.prompt, c.params.seed, c.sample) for c in calls}) == len(calls)
    paraphrases = [c for c in calls if "Rewrite this prompt" in c.last_user]
    assert [c.sample for c in paraphrases] == [0, 1, 2] * 2  # 2 requests, n=3 samples each
    assert len({c.params.seed for c in paraphrases}) == 2
    assert all(c.params.temperature == 1.0 and c.params.seed is not None for c in calls)
    usage = expander.engine.usage()
    assert usage.total.cache_hits == 0 and usage.by_role["optimizer"].calls == 2 + 2 + 2
    assert len(expander.engine.cache) == usage.total.calls  # type: ignore[arg-type]


async def test_cap_parents_and_duplicates() -> None:
    def same_reply(request: ScriptedRequest) -> str:
        if "Diagnose the prompt" in request.last_user:
            return json.dumps({"reasons": ["too vague"]})
        return json.dumps({"prompts": ["Be CAREFUL. Review: {text}"]})

    config = APOConfig(minibatch_size=8, n_gradients=4, max_expansion_factor=8)
    expander, _task, _opt = _expander(config, optimizer=same_reply)
    out = await expander.expand(PROMPT, make_examples("train", 20), round_index=0)
    assert [s.prompt for s in out.successors] == ["Be CAREFUL. Review: {text}"]
    assert out.counts.duplicates == 4 * 3 - 1


async def test_cap_at_max_expansion_factor() -> None:
    config = APOConfig(minibatch_size=8, n_gradients=4, mc_samples_per_step=2,
                       max_expansion_factor=5)  # fmt: skip
    expander, _task, _opt = _expander(config)
    out = await expander.expand(PROMPT, make_examples("train", 20), round_index=0)
    assert len(out.successors) == 5 and out.counts.capped == 12 - 5


async def test_garbage_and_failures_are_counted_and_skipped() -> None:
    def flaky(request: ScriptedRequest) -> str:
        if "Diagnose the prompt" in request.last_user:
            seed = request.params.seed or 0
            return "no idea" if seed % 2 else json.dumps({"reasons": [f"r{seed}"]})
        if "improved prompt" in request.last_user:
            return json.dumps({"prompts": ["Be CAREFUL and drop the variable."]})
        raise ModelCallError("optimizer down", status_code=400)

    config = APOConfig(minibatch_size=8, n_gradients=6)
    expander, _task, _opt = _expander(config, optimizer=flaky, max_attempts=1)
    out = await expander.expand(PROMPT, make_examples("train", 20), round_index=0)
    c = out.counts
    assert c.gradient_calls == 6 and c.parse_failures >= 1
    assert c.edit_calls == 6 - c.parse_failures
    assert c.repaired == c.edit_calls  # the edits lost {text} and got it back
    assert c.failed_calls == c.paraphrase_calls == c.edit_calls  # default mc: 2 per request
    assert all("{text}" in s.prompt for s in out.successors)


async def test_no_errors_means_no_optimizer_calls() -> None:
    config = APOConfig(minibatch_size=8)
    expander, _task, opt = _expander(config)
    perfect = "CAREFUL " * 5 + "{text}"
    out = await expander.expand(perfect, make_examples("train", 20), 0)
    assert out.successors == [] and opt.calls == []  # type: ignore[attr-defined]


@given(
    n_errors=st.integers(1, 40),
    n=st.integers(1, 8),
    size=st.integers(1, 8),
    seed=st.integers(0, 2**16),
)
def test_error_groups_are_fresh_while_errors_last(
    n_errors: int, n: int, size: int, seed: int
) -> None:
    errors = list(range(n_errors))
    groups = error_groups(errors, n, size, random.Random(seed))
    k = min(size, n_errors)
    assert len(groups) == n and all(len(g) == k == len(set(g)) for g in groups)
    fresh = min(n, n_errors // k)
    used = [e for g in groups[:fresh] for e in g]
    assert len(used) == len(set(used))  # the first groups share no error
    if n * k <= n_errors:
        assert fresh == n
    assert all(set(g) <= set(errors) for g in groups)


async def test_each_gradient_sees_other_errors() -> None:
    config = APOConfig(minibatch_size=16, n_gradients=2, errors_per_gradient=4)
    expander, _task, opt = _expander(config)
    out = await expander.expand(PROMPT, make_examples("train", 16), round_index=0)
    assert out.counts.minibatch_errors == 8  # the negatives: the model says positive
    calls = opt.calls  # type: ignore[attr-defined]
    asked = [c.last_user for c in calls if "Diagnose the prompt" in c.last_user]
    cases = [re.findall(r"Input: text: (train \d+)", user) for user in asked]
    assert [len(c) for c in cases] == [4, 4]
    assert len(set(cases[0] + cases[1])) == 8  # disjoint: together every error once
