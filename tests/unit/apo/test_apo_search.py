"""The APO search: results, events, test-split isolation, patience, seeds, sync wrapper."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from apo_world import (
    PROMPT,
    RUN_CONFIG,
    label_metric,
    make_engine,
    make_examples,
    optimizer_reply,
    quoted_prompt,
)

from apo_core import ConfigError, Event, RunEvent, ScriptedRequest
from apo_core.apo import APO, APOConfig, APOResult, estimate_calls

CONFIG = RUN_CONFIG.model_copy(update={"rounds": 3, "seed": 7})
TRAIN, VALIDATION, TEST = (
    make_examples("train", 24),
    make_examples("val", 10),
    make_examples("test", 6),
)


def history_of(result: APOResult) -> list[dict[str, Any]]:
    return [h.model_dump(exclude={"elapsed_s"}) for h in result.history]


async def run(config: APOConfig = CONFIG, **kwargs: Any) -> tuple[APOResult, Any, Any, Any]:
    engine, task, opt = make_engine()
    apo = APO(engine, config)
    result = await apo.optimize(
        PROMPT, train=TRAIN, validation=VALIDATION, metric=label_metric, **kwargs
    )
    return result, engine, task, opt


async def test_run_improves_and_reports_everything() -> None:
    result, engine, _task, _opt = await run(test=TEST)
    assert result.stopped_by == "rounds" and result.rounds_completed == 3
    assert result.initial_validation is not None and result.best_validation is not None
    assert result.best_validation.accuracy.value > result.initial_validation.accuracy.value
    assert result.best_prompt.count("CAREFUL") >= 1
    assert result.initial_test is not None and result.best_test is not None
    assert result.best_test.f1 is not None and result.best_test.positive_label == "positive"
    ci = result.best_validation.accuracy
    assert ci.low <= ci.value <= ci.high and ci.n == len(VALIDATION)
    first = result.history[0]
    assert first.gradients and first.edits and len(first.candidates) > 1
    assert first.selection is not None and first.selection.total_pulls <= 24
    assert first.counts.gradient_calls == 2
    assert len(result.beam) == 2
    assert result.usage.by_role["optimizer"].calls == engine.usage().by_role["optimizer"].calls
    assert APOResult.from_json(result.to_json()) == result


async def test_config_overrides_and_bad_selector() -> None:
    engine, _t, _o = make_engine()
    assert APO(engine, CONFIG, rounds=1).config.rounds == 1
    with pytest.raises(ConfigError):
        APO(engine, selector="nope")
    with pytest.raises(ConfigError):
        APO(engine, beam_size=0)
    with pytest.raises(ConfigError, match="extra"):
        APO(engine, beams=3)


async def test_events_describe_each_round() -> None:
    engine, _t, _o = make_engine()
    seen: list[RunEvent] = []
    engine.subscribe(lambda e: seen.append(e) if isinstance(e, RunEvent) else None)
    await APO(engine, CONFIG).optimize(
        PROMPT, train=TRAIN, validation=VALIDATION, metric=label_metric
    )
    kinds = [e.kind for e in seen]
    per_round = ["round_started", "candidates_expanded", "selection_done", "round_finished"]
    assert kinds == per_round * 3 + ["run_finished"]
    assert all(isinstance(e.data["status"], str) and e.data["status"] for e in seen)
    finished = [e for e in seen if e.kind == "round_finished"]
    assert [e.data["round"] for e in finished] == [0, 1, 2]
    assert all(isinstance(e.data["best_validation"], float) for e in finished)


async def test_test_split_is_scored_once_at_the_end() -> None:
    engine, task, _o = make_engine()
    marks: list[tuple[str, int]] = []

    def mark(event: Event) -> None:
        if isinstance(event, RunEvent):
            marks.append((event.kind, len(task.calls)))

    engine.subscribe(mark)
    result = await APO(engine, CONFIG).optimize(
        PROMPT, train=TRAIN, validation=VALIDATION, test=TEST, metric=label_metric
    )
    last_round = max(n for kind, n in marks if kind == "round_finished")
    test_calls = [i for i, c in enumerate(task.calls) if "test " in c.last_user]
    assert test_calls and min(test_calls) >= last_round
    assert result.best_prompt != result.initial_prompt
    assert len(test_calls) == 2 * len(TEST)  # initial and best, each example once


async def test_patience_stops_a_run_that_does_not_improve() -> None:
    engine, _t, _o = make_engine(task=lambda r: "positive")
    result = await APO(engine, CONFIG, patience=1, rounds=5).optimize(
        PROMPT, train=TRAIN, validation=VALIDATION, metric=label_metric
    )
    assert result.stopped_by == "patience" and result.rounds_completed == 1
    assert result.best_prompt == PROMPT


async def test_same_seed_replays_exactly_and_other_seeds_differ() -> None:
    a, *_ = await run()
    b, *_ = await run()
    c, *_ = await run(CONFIG.model_copy(update={"seed": 8}))
    assert history_of(a) == history_of(b) and a.best_prompt == b.best_prompt
    assert history_of(a) != history_of(c)


async def test_no_pair_is_scored_twice() -> None:
    result, engine, task, _o = await run()
    seen = [(c.last_user) for c in task.calls]
    assert len(seen) == len(set(seen))
    assert engine.usage().by_role["task"].cache_hits == 0
    estimate = estimate_calls(CONFIG, train_size=24, validation_size=10)
    usage = engine.usage().by_role
    assert usage["task"].calls <= estimate.by_role["task"]
    assert usage["optimizer"].calls <= estimate.by_role["optimizer"]
    assert len(_o.calls) <= estimate.replies_by_role["optimizer"]  # samples of n>1 calls
    assert result.history[0].counts.gradient_calls == CONFIG.n_gradients


def test_optimize_sync_outside_and_inside_a_loop() -> None:
    engine, _t, _o = make_engine()
    apo = APO(engine, CONFIG, rounds=1)
    kwargs: dict[str, Any] = {"train": TRAIN, "validation": VALIDATION, "metric": label_metric}
    outside = apo.optimize_sync(PROMPT, **kwargs)

    async def inside() -> APOResult:
        return apo.optimize_sync(PROMPT, **kwargs)

    assert asyncio.run(inside()).best_prompt == outside.best_prompt


async def test_empty_splits_are_config_errors() -> None:
    engine, _t, _o = make_engine()
    with pytest.raises(ConfigError):
        await APO(engine).optimize(PROMPT, train=[], validation=VALIDATION, metric=label_metric)
    with pytest.raises(ConfigError):
        await APO(engine).optimize(PROMPT, train=TRAIN, validation=[], metric=label_metric)
    with pytest.raises(ConfigError, match="checkpoint"):
        await APO(engine).optimize(
            PROMPT, train=TRAIN, validation=VALIDATION, metric=label_metric, resume=True
        )


def dropping_optimizer(request: Any) -> str:
    """Edits and paraphrases that lose the variable and the protected output format."""
    if "Diagnose the prompt" in request.last_user:
        return '{"reasons": ["unclear"]}'
    return json.dumps({"prompts": [f"Be CAREFUL with {request.params.seed} {{label}} {{"]})


@pytest.mark.parametrize("repair", [True, False])
async def test_protected_parts_survive_every_candidate(repair: bool) -> None:
    fmt = "Reply with one word."
    prompt = f"Classify the review.\nReview: {{text}}\n{fmt}"
    engine, _t, _o = make_engine(optimizer=dropping_optimizer)
    result = await APO(engine, CONFIG, rounds=2, output_format=fmt, repair=repair).optimize(
        prompt, train=TRAIN, validation=VALIDATION, metric=label_metric
    )
    counts = [h.counts for h in result.history]
    prompts = [c.prompt for h in result.history for c in h.candidates]
    for p in prompts:
        assert fmt in p and "{text}" in p and "{label}" not in p.replace("{{label}}", "")
    if repair:
        assert sum(c.repaired for c in counts) > 0 and len(prompts) > 2
        assert any("{{label}}" in p for p in prompts)
    else:
        assert sum(c.rejected for c in counts) > 0
        assert prompts == [prompt, prompt] and result.best_prompt == prompt


async def test_a_program_that_always_fails_is_a_config_error() -> None:
    engine, _t, _o = make_engine()
    with pytest.raises(ConfigError, match="failed on every validation example"):
        await APO(engine, CONFIG).optimize(
            "Review: {review}", train=TRAIN, validation=VALIDATION, metric=label_metric
        )


async def test_a_metric_that_does_not_fit_the_data_is_a_config_error() -> None:
    def strict(prediction: str, example: Any) -> float:
        raise ConfigError("label 'positive' is not one of the labels [0, 1]")

    engine, _t, _o = make_engine()
    with pytest.raises(ConfigError, match="not one of the labels"):
        await APO(engine, CONFIG).optimize(
            PROMPT, train=TRAIN, validation=VALIDATION, metric=strict
        )


async def test_usage_is_the_runs_own() -> None:
    engine, _t, _o = make_engine()
    apo = APO(engine, CONFIG, rounds=1)
    first = await apo.optimize(PROMPT, train=TRAIN, validation=VALIDATION, metric=label_metric)
    second = await apo.optimize(PROMPT, train=TRAIN, validation=VALIDATION, metric=label_metric)
    total = engine.usage().total
    assert first.usage.total.calls + second.usage.total.calls == total.calls
    assert second.usage.total.calls == first.usage.total.calls > 0  # no cache: paid twice
    assert set(first.usage.by_role) == {"task", "optimizer"}


def tagged_optimizer(request: Any) -> str:
    """Replies in tagged text, and fails the test if a schema was requested."""
    assert request.response_format is None
    assert "<START>" in request.last_user
    parent = quoted_prompt(request)
    if "Diagnose the prompt" in request.last_user:
        return f"<START>reason {request.params.seed}<END>"
    return f"Here it is: <START>Be CAREFUL {request.params.seed}. {parent}<END>"


async def test_tagged_text_mode_and_selection_on_validation() -> None:
    engine, _t, _o = make_engine(optimizer=tagged_optimizer)
    config = CONFIG.model_copy(update={"structured": False, "selection_split": "validation"})
    result = await APO(engine, config).optimize(
        PROMPT, train=TRAIN, validation=VALIDATION, metric=label_metric
    )
    first = result.history[0]
    assert first.gradients and first.counts.parse_failures == 0
    assert first.selection is not None and first.selection.total_pulls <= 24
    assert result.best_prompt.count("CAREFUL") >= 1


async def test_estimate_is_exact_for_the_first_round() -> None:
    result, _engine, _t, _o = await run()
    estimate = estimate_calls(CONFIG, train_size=24, validation_size=10)
    c = result.history[0].counts
    assert c.gradient_calls + c.edit_calls + c.paraphrase_calls == estimate.rounds[0].optimizer
    assert estimate.rounds[0].candidates == len(result.history[0].candidates)


async def test_candidates_record_their_gradient_edit_and_parent() -> None:
    def naming_edits(request: ScriptedRequest) -> str:  # each edit names the reason it fixes
        reason = re.search(r"explained the failure like this:\n(.*?)\n\n", request.last_user)
        if reason is None:
            return optimizer_reply(request)
        edited = f"Be CAREFUL [{reason.group(1)}]. {quoted_prompt(request)}"
        return json.dumps({"prompts": [edited]})

    engine, _t, _o = make_engine(optimizer=naming_edits)
    result = await APO(engine, CONFIG).optimize(
        PROMPT, train=TRAIN, validation=VALIDATION, test=TEST, metric=label_metric
    )
    made = [(h, c) for h in result.history for c in h.candidates if c.parent is not None]
    assert made and {c.origin for _, c in made} == {"edit", "paraphrase"}
    for record, cand in made:
        parents = [c.prompt for c in record.candidates if c.parent is None]
        assert cand.gradient in record.gradients and cand.parent is not None
        assert cand.prompt.endswith(parents[cand.parent])  # edits prepend to their parent
        edit = cand.edit if cand.origin == "paraphrase" else cand.prompt
        assert edit is not None and edit in record.edits
        assert edit.startswith(f"Be CAREFUL [{cand.gradient}]. ")  # the gradient behind it
        assert cand.origin == "edit" or (cand.edit is not None and cand.edit in cand.prompt)
    again = APOResult.from_json(result.to_json())
    assert again.history == result.history
