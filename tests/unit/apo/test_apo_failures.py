"""A failing optimizer never looks like success: fatal errors raise, a dead round stops the run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from apo_world import PROMPT, RUN_CONFIG, make_engine, optimizer_reply, run_data

from apo_core import ConfigError, ModelCallError, RetryableModelError, ScriptedRequest
from apo_core.apo import APO, RunState
from apo_core.apo.expansion import is_fatal
from apo_core.errors import RetriesExhausted

CONFIG = RUN_CONFIG
DATA = run_data()


def failing_after_round_one(error: BaseException) -> Callable[[ScriptedRequest], str]:
    """Answers round 1 (one parent: ``n_gradients`` gradient calls), then raises ``error``."""
    gradients = 0

    def reply(request: ScriptedRequest) -> str:
        nonlocal gradients
        gradients += "Diagnose the prompt" in request.last_user
        if gradients > CONFIG.n_gradients:  # round 2 began: every call from now on fails
            raise error
        return optimizer_reply(request)

    return reply


@pytest.mark.parametrize(
    ("error", "fatal"),
    [
        (ModelCallError("answered 401: bad key", status_code=401), True),
        (ModelCallError("answered 404: no such model", status_code=404), True),
        (ModelCallError("the client broke"), True),
        (ConfigError("bad parameter"), True),
        (ModelCallError("answered 400: context too long", status_code=400), False),
        (RetriesExhausted("gave up", attempts=3, last_error=RetryableModelError("503")), False),
        (LookupError("a backend bug"), False),
    ],
)
def test_which_errors_are_fatal(error: BaseException, fatal: bool) -> None:
    assert is_fatal(error) is fatal


async def test_an_auth_error_is_raised_at_once(tmp_path: Path) -> None:
    def unauthorized(request: ScriptedRequest) -> str:
        raise ModelCallError("answered 401: invalid API key", status_code=401)

    engine, _task, opt = make_engine(optimizer=unauthorized, max_attempts=1)
    with pytest.raises(ModelCallError, match="401"):
        await APO(engine, CONFIG).optimize(PROMPT, checkpoint=tmp_path / "run.json", **DATA)
    assert len(opt.calls) == CONFIG.n_gradients  # the concurrent gradient calls, nothing after
    assert not (tmp_path / "run.json").exists()  # no round completed


async def test_an_auth_error_in_round_two_keeps_the_round_one_checkpoint(tmp_path: Path) -> None:
    ckpt = tmp_path / "run.json"
    error = ModelCallError("answered 403: key revoked", status_code=403)
    engine, _t, _o = make_engine(optimizer=failing_after_round_one(error), max_attempts=1)
    with pytest.raises(ModelCallError, match="403"):
        await APO(engine, CONFIG).optimize(PROMPT, checkpoint=ckpt, **DATA)
    state = RunState.model_validate_json(ckpt.read_text())
    assert state.rounds_completed == 1 and state.finished is None


async def test_a_round_where_every_optimizer_call_fails_stops_the_run() -> None:
    def down(request: ScriptedRequest) -> str:
        raise RetryableModelError("503 service unavailable", status_code=503)

    engine, _task, opt = make_engine(optimizer=down, max_attempts=1)
    result = await APO(engine, CONFIG).optimize(PROMPT, **DATA)
    assert result.stopped_by == "optimizer_failed"
    assert result.rounds_completed == 0 and result.history == []
    assert result.best_prompt == PROMPT and not result.improved
    assert len(result.notes) == 1
    assert "every optimizer call of round 1 failed (2 calls)" in result.notes[0]
    assert "503" in result.notes[0]
    assert len(opt.calls) == CONFIG.n_gradients  # round 2 was not attempted
    assert result.best_test is not None  # the best so far is still scored on test


async def test_a_dead_round_keeps_earlier_work_and_resume_finishes_the_run(
    tmp_path: Path,
) -> None:
    ckpt = tmp_path / "run.json"
    error = RetriesExhausted("gave up", attempts=1, last_error=RetryableModelError("502"))
    broken, _t, _o = make_engine(
        optimizer=failing_after_round_one(error), cache=tmp_path / "c.sqlite", max_attempts=1
    )
    stopped = await APO(broken, CONFIG).optimize(PROMPT, checkpoint=ckpt, **DATA)
    assert stopped.stopped_by == "optimizer_failed" and stopped.rounds_completed == 1
    assert stopped.improved  # round 1's better prompt is kept
    assert "round 2" in stopped.notes[0]
    state = RunState.model_validate_json(ckpt.read_text())
    assert state.rounds_completed == 1 and state.finished is None

    fixed, _t2, _o2 = make_engine(cache=tmp_path / "c.sqlite")
    resumed = await APO(fixed, CONFIG).optimize(PROMPT, checkpoint=ckpt, resume=True, **DATA)
    clean, _t3, _o3 = make_engine()
    full = await APO(clean, CONFIG).optimize(PROMPT, **DATA)
    assert resumed.stopped_by == "rounds" and resumed.rounds_completed == CONFIG.rounds
    assert resumed.best_prompt == full.best_prompt and resumed.beam == full.beam


async def test_some_failed_calls_do_not_stop_the_run() -> None:
    def flaky(request: ScriptedRequest) -> str:
        if "Rewrite this prompt" in request.last_user:
            raise ModelCallError("answered 400: content filtered", status_code=400)
        return optimizer_reply(request)

    engine, _t, _o = make_engine(optimizer=flaky, max_attempts=1)
    result = await APO(engine, CONFIG).optimize(PROMPT, **DATA)
    assert result.stopped_by == "rounds" and result.notes == []
    assert all(h.counts.failed_calls == h.counts.paraphrase_calls > 0 for h in result.history)
