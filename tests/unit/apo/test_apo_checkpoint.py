"""Checkpoints and resume: a killed run resumes to the same result and re-pays nothing."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from apo_world import PROMPT, RUN_CONFIG, label_metric, make_engine, run_data

from apo_core import Budget, ConfigError, Engine, Event, RunEvent, ScriptedChatModel
from apo_core.apo import APO, APOResult, RunState, save_checkpoint
from apo_core.metrics import CallableMetric, ExactMatch, LabelAccuracy, LLMJudge, metric_identity

CONFIG = RUN_CONFIG
DATA = run_data()


class Killed(BaseException):
    """Simulates the process dying (not an Exception, so listeners cannot swallow it)."""


def kill_after_round(n: int) -> Any:
    def listener(event: Event) -> None:
        finished = isinstance(event, RunEvent) and event.kind == "round_finished"
        if finished and event.data["round"] + 1 == n:  # type: ignore[attr-defined]
            raise Killed

    return listener


def paid(result: APOResult) -> dict[str, tuple[int, int, int]]:
    """Calls and tokens per role (what was paid for)."""
    return {
        role: (line.calls, line.input_tokens, line.output_tokens)
        for role, line in result.usage.by_role.items()
    }


def same_run(a: APOResult, b: APOResult) -> None:
    assert a.best_prompt == b.best_prompt
    assert a.beam == b.beam
    assert a.best_validation == b.best_validation and a.best_test == b.best_test
    assert [h.model_dump(exclude={"elapsed_s"}) for h in a.history] == [
        h.model_dump(exclude={"elapsed_s"}) for h in b.history
    ]


async def uninterrupted(tmp_path: Path) -> tuple[APOResult, Engine]:
    engine, _t, _o = make_engine(cache=tmp_path / "full.sqlite")
    result = await APO(engine, CONFIG).optimize(PROMPT, **DATA)
    return result, engine


async def test_killed_after_round_two_resumes_identically(tmp_path: Path) -> None:
    full, full_engine = await uninterrupted(tmp_path)
    ckpt = tmp_path / "run.json"
    first, _t, _o = make_engine(cache=tmp_path / "c.sqlite", listeners=[kill_after_round(2)])
    with pytest.raises(Killed):
        await APO(first, CONFIG).optimize(PROMPT, checkpoint=ckpt, **DATA)
    state = RunState.model_validate_json(ckpt.read_text())
    assert state.rounds_completed == 2 and state.finished is None
    assert stat.S_IMODE(ckpt.stat().st_mode) == 0o600
    second, _t2, _o2 = make_engine(cache=tmp_path / "c.sqlite")
    resumed = await APO(second, CONFIG).optimize(PROMPT, checkpoint=ckpt, resume=True, **DATA)
    same_run(full, resumed)
    assert resumed.stopped_by == "rounds"
    calls = first.usage().total.calls + second.usage().total.calls
    assert calls == full_engine.usage().total.calls
    # The result counts the whole run, not only the calls made after the resume.
    assert second.usage().total.calls < calls
    assert paid(resumed) == paid(full) and resumed.usage.total.cache_hits == 0
    assert not list(tmp_path.glob("*.tmp"))  # noqa: ASYNC240


async def test_budget_stop_keeps_best_so_far_and_resume_finishes(tmp_path: Path) -> None:
    full, full_engine = await uninterrupted(tmp_path)
    total = full_engine.usage().total.calls
    ckpt = tmp_path / "run.json"
    limited, _t, _o = make_engine(cache=tmp_path / "c.sqlite", budget=Budget(max_calls=total // 2))
    stopped = await APO(limited, CONFIG).optimize(PROMPT, checkpoint=ckpt, **DATA)
    assert stopped.stopped_by == "budget"
    assert 0 < stopped.rounds_completed < CONFIG.rounds
    assert any("budget" in note for note in stopped.notes)
    done = stopped.history[: stopped.rounds_completed]
    assert stopped.best_prompt in {b.prompt for h in done for b in h.beam} | {PROMPT}
    best = max([b.validation for h in done for b in h.beam])
    assert stopped.best_validation is not None
    assert stopped.best_validation.accuracy.value == pytest.approx(best)
    again, _t2, _o2 = make_engine(cache=tmp_path / "c.sqlite")
    resumed = await APO(again, CONFIG).optimize(PROMPT, checkpoint=ckpt, resume=True, **DATA)
    same_run(full, resumed)
    assert limited.usage().total.calls + again.usage().total.calls == total
    # The calls of the cut round were paid once (counted in the first session) and replayed
    # from the cache after the resume: cache hits, not paid again.
    assert paid(resumed) == paid(full) and resumed.usage.total.calls == total
    assert again.usage().total.cache_hits > 0
    assert resumed.usage.total.cache_hits == again.usage().total.cache_hits


async def test_budget_exhausted_before_anything(tmp_path: Path) -> None:
    engine, _t, _o = make_engine(budget=Budget(max_calls=3))
    result = await APO(engine, CONFIG).optimize(PROMPT, **DATA)
    assert result.stopped_by == "budget" and result.best_prompt == PROMPT
    assert result.rounds_completed == 0 and result.best_test is None


async def test_resume_of_a_finished_run_pays_nothing(tmp_path: Path) -> None:
    ckpt = tmp_path / "run.json"
    engine, _t, _o = make_engine()
    first = await APO(engine, CONFIG).optimize(PROMPT, checkpoint=ckpt, **DATA)
    replay, task, opt = make_engine()
    again = await APO(replay, CONFIG).optimize(PROMPT, checkpoint=ckpt, resume=True, **DATA)
    same_run(first, again)
    assert opt.calls == [] and len(task.calls) == 0  # memo in the checkpoint covers it all
    assert paid(again) == paid(first) and first.usage.total.calls > 0


async def test_checkpoint_of_another_run_is_refused(tmp_path: Path) -> None:
    ckpt = tmp_path / "run.json"
    engine, _t, _o = make_engine()
    await APO(engine, CONFIG, rounds=1).optimize(PROMPT, checkpoint=ckpt, **DATA)
    with pytest.raises(ConfigError, match=r"another run \(its config differs\)"):
        await APO(engine, CONFIG, rounds=1, seed=99).optimize(
            PROMPT, checkpoint=ckpt, resume=True, **DATA
        )
    saved = ckpt.read_text()
    old = json.loads(saved) | {"version": 1}
    ckpt.write_text(json.dumps(old))
    with pytest.raises(ConfigError, match="checkpoint version 1, and this apo-bpo reads version 2"):
        await APO(engine, CONFIG, rounds=1).optimize(PROMPT, checkpoint=ckpt, resume=True, **DATA)
    ckpt.write_text(json.dumps({"not": "a checkpoint"}))
    with pytest.raises(ConfigError, match="not a valid"):
        await APO(engine, CONFIG, rounds=1).optimize(PROMPT, checkpoint=ckpt, resume=True, **DATA)


def test_result_json_is_written_atomically_and_the_folder_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    engine, _t, _o = make_engine()
    result = APO(engine, CONFIG, rounds=1).optimize_sync(PROMPT, **DATA)
    target = tmp_path / "result.json"
    target.write_text("old")
    synced: list[bool] = []
    real_fsync = os.fsync
    monkeypatch.setattr(
        os, "fsync", lambda fd: synced.append(stat.S_ISDIR(os.fstat(fd).st_mode)) or real_fsync(fd)
    )

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", crash)
        with pytest.raises(OSError, match="disk full"):
            result.to_json(target)
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
    result.to_json(target)
    assert APOResult.from_json(target) == result
    assert synced == [False, False, True]  # the file twice (crash, success), then the folder
    state = RunState(fingerprint="f", initial_prompt=PROMPT, config=CONFIG, best_prompt=PROMPT)
    save_checkpoint(tmp_path / "run.json", state)
    assert synced[-2:] == [False, True]


@pytest.mark.parametrize(
    "other",
    [
        LabelAccuracy(["positive", "negative"]),  # another metric class
        ExactMatch(case_sensitive=True),  # the same class, other settings
        ExactMatch(aliases={"positive": ["good"]}),
        CallableMetric(label_metric, name="renamed"),
        lambda prediction, example: 0.0,  # another function
    ],
)
async def test_resuming_with_another_metric_is_refused(tmp_path: Path, other: Any) -> None:
    ckpt = tmp_path / "run.json"
    engine, _t, _o = make_engine()
    data = {**DATA, "metric": ExactMatch()}
    await APO(engine, CONFIG, rounds=1).optimize(PROMPT, checkpoint=ckpt, **data)
    with pytest.raises(ConfigError, match=r"another run \(its metric differs\)"):
        await APO(engine, CONFIG, rounds=1).optimize(
            PROMPT, checkpoint=ckpt, resume=True, **{**data, "metric": other}
        )
    again = await APO(engine, CONFIG, rounds=1).optimize(  # an equal metric resumes
        PROMPT, checkpoint=ckpt, resume=True, **{**data, "metric": ExactMatch()}
    )
    assert again.rounds_completed == 1


def test_metric_identity_ignores_run_time_counters() -> None:
    judge = LLMJudge("Is the answer right?")
    before = metric_identity(judge)
    judge.unparsable += 3
    assert metric_identity(judge) == before != metric_identity(LLMJudge("Is it short?"))


async def test_resuming_with_another_task_model_is_refused(tmp_path: Path) -> None:
    # Scores in the checkpoint were made by one task model; another must start afresh.
    ckpt = tmp_path / "run.json"
    engine, _t, opt = make_engine()
    await APO(engine, CONFIG, rounds=1).optimize(PROMPT, checkpoint=ckpt, **DATA)
    other_task = ScriptedChatModel(default=lambda r: "positive", model_id="another-task-model")
    other = Engine(roles={"task": other_task, "optimizer": opt})
    with pytest.raises(ConfigError, match=r"another run \(its models differ\)"):
        await APO(other, CONFIG, rounds=1).optimize(PROMPT, checkpoint=ckpt, resume=True, **DATA)
    same, _t2, _o2 = make_engine()  # equal models (same ids) resume
    again = await APO(same, CONFIG, rounds=1).optimize(PROMPT, checkpoint=ckpt, resume=True, **DATA)
    assert again.rounds_completed == 1


def test_model_identities_name_each_role_without_loading_the_default() -> None:
    engine, _t, _o = make_engine()
    ids = engine.model_identities()
    assert set(ids) == {"task", "optimizer", "default"}
    assert ids["default"] == "embedded default" and "task-model" in ids["task"]
