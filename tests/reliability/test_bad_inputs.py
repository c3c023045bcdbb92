"""Bad input catalogue: bad data, prompts, configs and model outputs through the library API.

Each case either raises an :class:`~apo_core.APOError` subclass whose message says what is
wrong, or completes the run with the problem counted and skipped: never a crash, never lost
work. (CLI cases live in ``tests/unit/cli/test_cli_errors.py``.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reliability_world import (
    CONFIG,
    PROMPT,
    label_metric,
    make_examples,
    optimizer_answer,
    scripted_engine,
    task_answer,
)

from apo_core import APOError, Engine, LabelAccuracy, ModelCallError, ScriptedChatModel
from apo_core.apo import APO, APOResult, save_checkpoint
from apo_core.apo.checkpoint import RunState
from apo_core.cli.taskfile import load_task
from apo_core.data import Dataset, Example
from apo_core.program import TemplateProgram

TRAIN, VALIDATION = make_examples("train", 16), make_examples("val", 6)
SMALL = {"rounds": 1, "eval_budget": 8}


def run(
    prompt: str = PROMPT,
    *,
    train: list[Example] = TRAIN,
    validation: list[Example] = VALIDATION,
    metric: Any = label_metric,
    engine: Engine | None = None,
    **config: Any,
) -> APOResult:
    apo = APO(engine or scripted_engine(), CONFIG, **{**SMALL, **config})
    return apo.optimize_sync(prompt, train=train, validation=validation, metric=metric)


def engine_with(
    task: Callable[[Any], Any] | Any = None, optimizer: Callable[[Any], Any] | Any = None
) -> tuple[Engine, ScriptedChatModel, ScriptedChatModel]:
    """An engine whose task or optimizer model replies ``task``/``optimizer`` instead."""
    t = ScriptedChatModel(default=task or (lambda r: task_answer(r.last_user)), model_id="t")
    o = ScriptedChatModel(
        default=optimizer or (lambda r: optimizer_answer(r.last_user, r.params.seed)),
        model_id="o",
    )
    return Engine(roles={"task": t, "optimizer": o}), t, o


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _unlabelled(tmp: Path) -> None:
    rows = [Example(inputs={"text": f"item {i} was good"}) for i in range(6)]
    run(train=rows, metric=LabelAccuracy(["positive", "negative"]))


def _corrupt_checkpoint(tmp: Path) -> None:
    path = write(tmp / "ck.json", b'{"version": 1, "fingerprint": "ab')  # a torn write
    APO(scripted_engine(), CONFIG).optimize_sync(
        PROMPT,
        train=TRAIN,
        validation=VALIDATION,
        metric=label_metric,
        checkpoint=path,
        resume=True,
    )


def _foreign_checkpoint(tmp: Path) -> None:
    path = tmp / "ck.json"
    save_checkpoint(
        path, RunState(fingerprint="0" * 64, initial_prompt="x", config=CONFIG, best_prompt="x")
    )
    APO(scripted_engine(), CONFIG).optimize_sync(
        PROMPT,
        train=TRAIN,
        validation=VALIDATION,
        metric=label_metric,
        checkpoint=path,
        resume=True,
    )


def _unauthorized_task_model(tmp: Path) -> None:
    engine, _, _ = engine_with(task=ModelCallError("answered 401: invalid key", status_code=401))
    run(engine=engine)


ERROR_CASES: dict[str, tuple[Callable[[Path], Any], tuple[str, ...]]] = {
    "empty train": (lambda tmp: run(train=[]), ("train",)),
    "empty validation": (lambda tmp: run(validation=[]), ("validation",)),
    "unlabelled data": (_unlabelled, ("labelled", "no output")),
    "latin-1 file": (
        lambda tmp: Dataset.from_jsonl(
            write(tmp / "a.jsonl", '{"text": "café"}'.encode("latin-1"))
        ),
        ("a.jsonl:1", "utf-8", "encoding="),
    ),
    "utf-16 file": (
        lambda tmp: Dataset.from_jsonl(write(tmp / "b.jsonl", '{"text": "x"}\n'.encode("utf-16"))),
        ("b.jsonl:1", "encoding"),
    ),
    "broken JSONL line": (
        lambda tmp: Dataset.from_jsonl(
            write(tmp / "c.jsonl", b'{"text": "x", "label": 1}\n{"text": \n')
        ),
        ("c.jsonl:2",),
    ),
    "JSONL row not an object": (
        lambda tmp: Dataset.from_jsonl(write(tmp / "d.jsonl", b'["text", "x"]\n')),
        ("d.jsonl:1", "object"),
    ),
    "CSV repeated column": (
        lambda tmp: Dataset.from_csv(write(tmp / "e.csv", b"text,text,label\na,b,1\n")),
        ("repeated column",),
    ),
    "missing template variable": (lambda tmp: run("Answer: {question}"), ("'question'",)),
    "prompt full of braces": (
        lambda tmp: run('Reply as JSON {"label": "..."} for: {text}'),
        ("does not parse", '{"label"'),
    ),
    "format spec in prompt": (lambda tmp: run("Classify {text:>10}"), ("{text:>10}",)),
    "metric returns NaN": (lambda tmp: run(metric=lambda p, e: float("nan")), ("nan", "[0, 1]")),
    "metric returns text": (lambda tmp: run(metric=lambda p, e: "good"), ("returned a str",)),
    "unknown role in engine": (
        lambda tmp: Engine(roles={"critic": ScriptedChatModel(default="x")}),
        ("critic", "task, optimizer"),
    ),
    "unknown role in call": (
        lambda tmp: scripted_engine().complete_sync("hi", role="critic"),  # type: ignore[arg-type]
        ("unknown role 'critic'",),
    ),
    "call without messages": (lambda tmp: scripted_engine().complete_sync([]), ("message",)),
    "blank protected span": (lambda tmp: run(protected=["  "]), ("protected spans",)),
    "invalid YAML task": (
        lambda tmp: load_task(write(tmp / "task.yaml", b"name: [unclosed\n")),
        ("task.yaml", "not valid YAML"),
    ),
    "torn checkpoint": (_corrupt_checkpoint, ("not a valid APO checkpoint",)),
    "checkpoint of another run": (_foreign_checkpoint, ("belongs to another run",)),
    "cache file not SQLite": (
        lambda tmp: run(engine=scripted_engine(cache=write(tmp / "c.sqlite", b"junk" * 512))),
        ("not a usable apo-bpo cache",),
    ),
    "task model rejects the key": (_unauthorized_task_model, ("401", "every validation example")),
}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_bad_input_gives_a_clear_error(case: str, tmp_path: Path) -> None:
    action, needles = ERROR_CASES[case]
    with pytest.raises(APOError) as info:
        action(tmp_path)
    message = str(info.value)
    for needle in needles:
        assert needle in message, message
    assert "Traceback" not in message and len(message) < 1000


def counts(result: APOResult, name: str) -> int:
    return sum(getattr(r.counts, name) for r in result.history)


def candidates(result: APOResult) -> list[str]:
    return [c.prompt for r in result.history for c in r.candidates]


def test_task_model_answers_in_another_language() -> None:
    engine, _, _ = engine_with(task=lambda r: "C'est positif, évidemment.")
    result = run(engine=engine)
    assert result.stopped_by == "rounds" and result.best_validation is not None
    assert result.best_validation.accuracy.value == 0.0


def test_task_model_answers_in_the_wrong_format() -> None:
    engine, _, _ = engine_with(task=lambda r: json.dumps({"label": "positive", "why": "{x}"}))
    result = run(engine=engine)
    assert result.stopped_by == "rounds" and result.history[0].counts.minibatch_errors > 0


def test_optimizer_reply_without_any_candidate_is_counted_and_skipped() -> None:
    engine, _, _ = engine_with(optimizer=lambda r: "Sorry, I cannot help with that.")
    result = run(engine=engine)
    assert result.stopped_by == "rounds" and not result.improved
    assert counts(result, "parse_failures") == counts(result, "gradient_calls") > 0


def test_optimizer_dropping_the_variable_is_repaired_or_rejected() -> None:
    reply = json.dumps({"prompts": ["Be CAREFUL and classify the review as positive or negative."]})
    for repair, counter in ((True, "repaired"), (False, "rejected")):
        engine, _, _ = engine_with(
            optimizer=lambda r: (
                reply if "improved" in r.last_user else optimizer_answer(r.last_user, r.params.seed)
            )
        )
        result = run(engine=engine, repair=repair, mc_samples_per_step=0)
        assert counts(result, counter) > 0
        assert all("{text}" in p for p in candidates(result))


def test_optimizer_candidates_with_stray_braces_stay_valid_templates() -> None:
    bad = json.dumps({"prompts": ["Be CAREFUL {label} {{ { with: Review: {text}\nLabel:"]})
    engine, _, _ = engine_with(
        optimizer=lambda r: (
            bad if "improved" in r.last_user else optimizer_answer(r.last_user, r.params.seed)
        )
    )
    result = run(engine=engine, mc_samples_per_step=0)
    assert counts(result, "repaired") + counts(result, "rejected") > 0
    program = TemplateProgram()
    assert all(program.variables(p) == {"text"} for p in candidates(result))


def test_giant_optimizer_candidate_is_rejected() -> None:
    giant = json.dumps({"prompts": ["Be CAREFUL. " * 5000 + "Review: {text}"]})
    engine, _, _ = engine_with(
        optimizer=lambda r: (
            giant if "improved" in r.last_user else optimizer_answer(r.last_user, r.params.seed)
        )
    )
    result = run(engine=engine, mc_samples_per_step=0)
    assert counts(result, "rejected") > 0
    assert all(len(p) <= CONFIG.max_prompt_chars for p in candidates(result))


def test_optimizer_refusing_every_request_stops_the_run_with_a_note() -> None:
    refused = ModelCallError("answered 400: bad request", status_code=400)
    engine, _, _ = engine_with(optimizer=refused)
    result = run(engine=engine)
    assert result.stopped_by == "optimizer_failed" and result.rounds_completed == 0
    assert "every optimizer call of round 1 failed" in result.notes[0]


def test_optimizer_failing_for_good_is_raised() -> None:
    engine, _, _ = engine_with(optimizer=ModelCallError("answered 401: bad key", status_code=401))
    with pytest.raises(ModelCallError, match="401"):
        run(engine=engine)


def test_giant_input_keeps_optimizer_requests_bounded() -> None:
    giant = Example(inputs={"text": "train 1 was bad " + "blah " * 50_000}, output="negative")
    engine, _, opt = engine_with()
    result = run(train=[giant, *TRAIN], engine=engine, minibatch_size=16)
    assert result.stopped_by == "rounds" and opt.calls
    assert max(len(c.last_user) for c in opt.calls) < 20_000


def test_duplicate_examples_are_scored_once_per_prompt() -> None:
    engine, task, _ = engine_with()
    result = run(train=TRAIN * 3, engine=engine)
    assert result.stopped_by == "rounds"
    asked = [c.last_user for c in task.calls]
    assert len(asked) == len(set(asked))  # no (prompt, example) pair paid twice


def test_braces_inside_data_are_not_template_fields() -> None:
    rows = [
        Example(
            inputs={"text": f"item {i} was {'good' if i % 2 == 0 else 'bad'} {{text}} {{"},
            output="positive" if i % 2 == 0 else "negative",
        )
        for i in range(12)
    ]
    engine, task, _ = engine_with()
    result = run(train=rows, validation=rows[:6], engine=engine)
    assert result.stopped_by == "rounds" and result.improved
    assert any("{text} {" in c.last_user for c in task.calls)
