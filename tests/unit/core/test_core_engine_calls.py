"""Engine calls: role routing, cache hits, in-flight dedupe, events, listeners, sync use."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import pytest
from pydantic import BaseModel
from rich.console import Console

from apo_core import (
    CallEvent,
    ConfigError,
    Engine,
    Event,
    LoggingListener,
    ModelCallError,
    ProgressDisplay,
    RetryableModelError,
    RunEvent,
    ScriptedChatModel,
    run_sync,
)
from apo_core.testing import GatedChatModel, RecordingSleep

SECRET = "sk-SENTINEL-never-log-me-0123456789"


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


async def test_each_role_uses_its_model_and_others_fall_back_to_the_default() -> None:
    default = ScriptedChatModel(default="from default", model_id="default")
    judge = ScriptedChatModel(default="from judge", model_id="judge-model")
    engine = Engine(default, roles={"judge": judge})
    assert (await engine.complete("q", role="judge")).text == "from judge"
    for role in ("task", "optimizer", "rewriter"):
        assert (await engine.complete("q", role=role)).text == "from default"
    assert engine.model_for("judge") is judge
    report = engine.usage()
    assert set(report.by_role) == {"task", "optimizer", "judge", "rewriter"}
    assert report.by_model["judge-model"].calls == 1
    assert report.by_model["default"].calls == 3


async def test_explicit_model_overrides_the_role_model() -> None:
    engine = Engine(ScriptedChatModel(default="role"))
    other = ScriptedChatModel(default="explicit", model_id="other")
    assert (await engine.complete("q", model=other)).text == "explicit"


async def test_unknown_roles_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown role"):
        Engine(ScriptedChatModel(default="x"), roles={"critic": ScriptedChatModel(default="x")})
    engine = Engine(ScriptedChatModel(default="x"))
    with pytest.raises(ConfigError, match="unknown role"):
        engine.model_for("critic")
    with pytest.raises(ConfigError, match="unknown role"):
        await engine.complete("q", role="critic")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown role"):  # also with an explicit model
        await engine.complete("q", role="critic", model=ScriptedChatModel(default="x"))  # type: ignore[arg-type]
    assert engine.usage().total.calls == 0


async def test_bad_engine_settings_and_empty_messages_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        Engine(ScriptedChatModel(default="x"), max_attempts=0)
    with pytest.raises(ConfigError):
        Engine(ScriptedChatModel(default="x"), timeout=0)
    with pytest.raises(ConfigError, match="at least one message"):
        await Engine(ScriptedChatModel(default="x")).complete([])


async def test_cache_hits_are_free_and_counted(tmp_path: Path) -> None:
    model = ScriptedChatModel(default="answer")
    events: list[Event] = []
    engine = Engine(model, cache=tmp_path / "c.sqlite", listeners=[events.append])
    first = await engine.complete("hello world", temperature=0.7, seed=3)
    again = await engine.complete("hello world", temperature=0.7, seed=3)
    assert (first.cached, again.cached) == (False, True)
    assert again.texts == first.texts and again.usage == first.usage
    assert len(model.calls) == 1
    line = engine.usage().total
    assert (line.calls, line.cache_hits) == (1, 1)
    assert line.input_tokens == first.usage.input_tokens  # the hit added no billed tokens
    assert line.cached_input_tokens == first.usage.input_tokens
    assert kinds(events) == ["call_started", "call_finished", "cache_hit"]
    # a new engine on the same file replays without calling the model (resume)
    model2 = ScriptedChatModel(default="different")
    engine2 = Engine(model2, cache=tmp_path / "c.sqlite")
    replay = await engine2.complete("hello world", temperature=0.7, seed=3)
    assert replay.text == "answer" and replay.cached and model2.calls == []
    engine.close()
    engine2.close()


async def test_sample_index_separates_repeated_samples(tmp_path: Path) -> None:
    model = ScriptedChatModel(queue=["first", "second"])
    engine = Engine(model, cache=tmp_path / "c.sqlite")
    a = await engine.complete("paraphrase", temperature=1.0, sample_index=0)
    b = await engine.complete("paraphrase", temperature=1.0, sample_index=1)
    assert (a.text, b.text) == ("first", "second")
    assert (await engine.complete("paraphrase", temperature=1.0, sample_index=1)).text == "second"
    engine.close()


class Verdict(BaseModel):
    label: str


async def test_structured_output_is_parsed_on_calls_and_on_hits(tmp_path: Path) -> None:
    engine = Engine(ScriptedChatModel(default='noise {"label": "yes"}'), cache=tmp_path / "c")
    first = await engine.complete("q", response_format=Verdict)
    hit = await engine.complete("q", response_format=Verdict)
    assert first.parsed == [Verdict(label="yes")] and hit.parsed == [Verdict(label="yes")]
    assert hit.cached
    engine.close()


async def test_identical_concurrent_requests_share_one_call() -> None:
    model = GatedChatModel()
    engine = Engine(model)
    tasks = [asyncio.create_task(engine.complete("same")) for _ in range(5)]
    other = asyncio.create_task(engine.complete("different"))
    await model.wait_in_flight(2)
    model.open()
    results = await asyncio.gather(*tasks, other)
    assert model.calls == 2
    assert sorted(r.cached for r in results[:5]) == [False, True, True, True, True]
    assert engine.usage().total.calls == 2 and engine.usage().total.cache_hits == 4


async def test_identical_requests_share_one_call_with_a_cache(tmp_path: Path) -> None:
    """The in-flight entry exists before the (threaded) cache lookup: no duplicate call."""
    model = ScriptedChatModel(default="x")
    engine = Engine(model, cache=tmp_path / "c.sqlite")
    results = await asyncio.gather(*(engine.complete("same") for _ in range(8)))
    assert len(model.calls) == 1
    assert [r.text for r in results] == ["x"] * 8
    engine.close()


async def test_waiters_of_a_cancelled_call_make_it_themselves() -> None:
    model = GatedChatModel()
    engine = Engine(model)
    owner = asyncio.create_task(engine.complete("same"))
    await model.wait_in_flight(1)
    waiter = asyncio.create_task(engine.complete("same"))
    await asyncio.sleep(0)
    owner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await owner
    model.open()
    result = await waiter
    assert result.text == "same" and model.calls == 2


async def test_waiters_of_a_failed_call_see_its_error() -> None:
    model = GatedChatModel(hold_s=0.0, error=ModelCallError("bad request", status_code=400))
    engine = Engine(model)
    outcomes = await asyncio.gather(
        *(engine.complete("same") for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(o, ModelCallError) and "bad request" in str(o) for o in outcomes)
    assert model.calls == 1
    assert engine.usage().total.failures == 1


async def test_a_cancelled_call_is_not_a_failure_and_frees_its_budget() -> None:
    from apo_core import Budget

    model = GatedChatModel()
    events: list[Event] = []
    engine = Engine(model, budget=Budget(max_calls=1), listeners=[events.append])
    task = asyncio.create_task(engine.complete("slow"))
    await model.wait_in_flight(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert kinds(events) == ["call_started", "call_cancelled"]
    line = engine.usage().total
    assert (line.failures, line.cancelled, line.attempts, line.calls) == (0, 1, 1, 0)
    model.open()
    assert (await engine.complete("next")).text == "next"  # the reservation was released


async def test_events_in_order_for_retry_then_success_and_for_failure() -> None:
    model = ScriptedChatModel(
        queue=[RetryableModelError("busy", status_code=503), "ok", ModelCallError("nope")]
    )
    events: list[Event] = []
    engine = Engine(model, listeners=[events.append], sleep=RecordingSleep(), seed=1)
    await engine.complete("a")
    with pytest.raises(ModelCallError):
        await engine.complete("b")
    assert kinds(events) == [
        "call_started",
        "call_retried",
        "call_finished",
        "call_started",
        "call_failed",
    ]
    calls = [e for e in events if isinstance(e, CallEvent)]
    assert [e.call_id for e in calls] == [1, 1, 1, 2, 2]
    retried, finished = calls[1], calls[2]
    assert retried.attempt == 1 and "busy" in (retried.error or "")
    assert retried.delay_s is not None and retried.delay_s > 0
    assert finished.attempt == 2 and finished.usage is not None
    assert all(e.role == "task" and e.model_id == "scripted" for e in calls)


async def test_a_raising_listener_does_not_break_calls(caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    seen: list[Event] = []
    engine = Engine(ScriptedChatModel(default="fine"), listeners=[broken, seen.append])
    with caplog.at_level(logging.ERROR, logger="apo_core"):
        assert (await engine.complete("q")).text == "fine"
    assert kinds(seen) == ["call_started", "call_finished"]
    assert "listener bug" in caplog.text
    remove = engine.subscribe(seen.append)
    engine.events.emit(RunEvent(kind="round_started", data={"round": 1}))
    remove()
    remove()  # idempotent
    engine.events.emit(RunEvent(kind="round_started", data={"round": 2}))
    # round 1 reached both subscriptions of seen.append; round 2 only the remaining one
    assert [e.data["round"] for e in seen if isinstance(e, RunEvent)] == [1, 1, 2]


async def test_logging_listener_never_logs_an_api_key(caplog: pytest.LogCaptureFixture) -> None:
    """Errors pass through logs; the model layer must have removed the key before that."""
    from apo_core import OpenAIChatModel

    model = OpenAIChatModel("gpt-4o-mini", api_key=SECRET, base_url="http://127.0.0.1:9/v1")
    scripted = ScriptedChatModel(
        queue=[RetryableModelError("rate limited"), "done", ModelCallError("401 unauthorized")]
    )
    engine = Engine(scripted, listeners=[LoggingListener()], sleep=RecordingSleep(), max_attempts=2)
    with caplog.at_level(logging.DEBUG, logger="apo_core"):
        await engine.complete("a")
        with pytest.raises(ModelCallError):
            await engine.complete("b")
        engine.events.emit(RunEvent(kind="status", data={"model": repr(model)}))
    messages = [r.getMessage() for r in caplog.records]
    assert any("retrying in" in m for m in messages)
    assert any("failed after 1 attempt" in m for m in messages)
    assert any("call_finished" in m for m in messages)
    assert all(SECRET not in m for m in messages)
    assert SECRET not in repr(model) and SECRET not in model.cache_identity


def test_run_sync_and_complete_sync_outside_a_loop() -> None:
    engine = Engine(ScriptedChatModel(default="sync"))
    assert engine.complete_sync("q").text == "sync"

    async def twice() -> int:
        return 2

    assert run_sync(twice()) == 2


async def test_complete_sync_inside_a_running_loop() -> None:
    engine = Engine(ScriptedChatModel(default="nested"))
    assert engine.complete_sync("q").text == "nested"  # runs on a worker thread's loop
    second = await engine.complete("q")  # and the engine still works on this loop
    assert second.text == "nested" and not second.cached
    assert engine.usage().total.calls == 2


async def test_complete_sync_while_the_same_request_is_in_flight_on_the_loop() -> None:
    """In-flight dedupe is per loop: the worker loop must not await this loop's future."""
    model = GatedChatModel(hold_s=0.0)
    engine = Engine(model)
    pending = asyncio.create_task(engine.complete("same"))
    await model.wait_in_flight(1)
    assert engine.complete_sync("same").text == "same"
    assert (await pending).text == "same"
    assert model.calls == 2


async def test_progress_display_prints_a_line_on_a_non_tty_console() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=200)
    engine = Engine(ScriptedChatModel(default="one two three"))
    with ProgressDisplay(console, every=2) as progress:
        engine.subscribe(progress)
        engine.events.emit(RunEvent(kind="status", data={"status": "round 1"}))
        for i in range(4):
            await engine.complete(f"prompt {i}")
        await engine.complete("prompt 0")  # no cache: a second real call
    lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
    assert len(lines) >= 3  # every 2 calls, then the final summary
    assert lines[-1].startswith("round 1 | calls 5 | cached 0 | retries 0 | failed 0")
    assert "tokens" in lines[-1] and "$0.0000" in lines[-1]


async def test_progress_display_live_line_on_a_terminal() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200)
    engine = Engine(ScriptedChatModel(default="x"))
    with ProgressDisplay(console) as progress:
        engine.subscribe(progress)
        await engine.complete("a")
        await engine.complete("a")
        assert progress.line().startswith("calls 2 | cached 0")
    assert "calls 2" in buffer.getvalue()
