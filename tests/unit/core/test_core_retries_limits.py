"""Retries, backoff, Retry-After, timeouts, concurrency caps and RPM/TPM limits.

No real sleeps: retry waits go through an injected recording sleep, and timeouts and rate
limits run on looptime's fast-forwarded event-loop clock.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apo_core import (
    Backoff,
    Engine,
    ModelCallError,
    ModelLimits,
    RetriesExhausted,
    RetryableModelError,
    ScriptedChatModel,
)
from apo_core.models import count_message_tokens
from apo_core.testing import GatedChatModel, RecordingSleep
from apo_core.types import Message


def busy(retry_after: float | None = None) -> RetryableModelError:
    return RetryableModelError("server busy", status_code=503, retry_after=retry_after)


async def test_retryable_errors_are_retried_with_growing_backoff() -> None:
    sleep = RecordingSleep()
    model = ScriptedChatModel(queue=[busy(), busy(), busy(), busy(), "finally"])
    engine = Engine(model, sleep=sleep, backoff=Backoff(initial_s=0.5, jitter=False))
    result = await engine.complete("q")
    assert result.text == "finally"
    assert sleep.delays == [0.5, 1.0, 2.0, 4.0]
    line = engine.usage().total
    assert (line.calls, line.attempts, line.retries, line.failures) == (1, 5, 4, 0)


@settings(deadline=None)
@given(seed=st.integers(0, 10_000), initial=st.floats(0.01, 5.0), cap=st.floats(1.0, 60.0))
def test_jittered_backoff_stays_in_range_and_never_shrinks(
    seed: int, initial: float, cap: float
) -> None:
    backoff = Backoff(initial_s=initial, max_s=cap)
    rng = random.Random(seed)
    delays = [backoff.delay(a, None, rng) for a in range(1, 10)]
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(cap, initial * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
    for attempt, (a, b) in enumerate(itertools.pairwise(delays), start=1):
        if initial * 2**attempt <= cap:  # the next range is not capped: it starts above this one
            assert b >= a
    assert max(delays) <= cap


async def test_retry_after_is_honoured_and_capped() -> None:
    sleep = RecordingSleep()
    model = ScriptedChatModel(queue=[busy(retry_after=7.5), busy(retry_after=10_000), "ok"])
    backoff = Backoff(initial_s=0.1, max_retry_after_s=30.0)
    engine = Engine(model, sleep=sleep, backoff=backoff, seed=0)
    assert (await engine.complete("q")).text == "ok"
    assert sleep.delays[0] >= 7.5
    assert sleep.delays[1] == 30.0


async def test_attempts_are_capped_then_retries_exhausted() -> None:
    sleep = RecordingSleep()
    model = ScriptedChatModel(default=busy())
    events: list[str] = []
    engine = Engine(model, sleep=sleep, max_attempts=4, listeners=[lambda e: events.append(e.kind)])
    with pytest.raises(RetriesExhausted) as info:
        await engine.complete("q")
    assert info.value.attempts == 4
    assert isinstance(info.value.last_error, RetryableModelError)
    assert info.value.status_code == 503
    assert "after 4 attempt(s)" in str(info.value)
    assert len(model.calls) == 4 and len(sleep.delays) == 3
    assert events == ["call_started"] + ["call_retried"] * 3 + ["call_failed"]
    line = engine.usage().total
    assert (line.calls, line.failures, line.attempts, line.retries) == (0, 1, 4, 3)


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_fatal_model_errors_fail_at_once(status: int) -> None:
    sleep = RecordingSleep()
    model = ScriptedChatModel(default=ModelCallError(f"HTTP {status}", status_code=status))
    engine = Engine(model, sleep=sleep)
    with pytest.raises(ModelCallError) as info:
        await engine.complete("q")
    assert not isinstance(info.value, RetriesExhausted)
    assert info.value.status_code == status
    assert len(model.calls) == 1 and sleep.delays == []
    assert engine.usage().total.failures == 1


async def test_unexpected_backend_exceptions_are_not_retried() -> None:
    model = ScriptedChatModel(default=KeyError("bug in a backend"))
    engine = Engine(model, sleep=RecordingSleep())
    with pytest.raises(KeyError):
        await engine.complete("q")
    assert len(model.calls) == 1


@pytest.mark.looptime
async def test_a_slow_attempt_times_out_and_is_retried() -> None:
    class SlowOnce(GatedChatModel):
        async def complete(self, messages, params, *, response_format=None):  # type: ignore[no-untyped-def]
            self.hold_s = 100.0 if self.calls == 0 else 0.0
            return await super().complete(messages, params, response_format=response_format)

    sleep = RecordingSleep()
    model = SlowOnce()
    engine = Engine(model, timeout=2.0, sleep=sleep)
    loop = asyncio.get_running_loop()
    start, wall = loop.time(), time.monotonic()
    result = await engine.complete("hello")
    assert result.text == "hello" and model.calls == 2
    assert loop.time() - start == pytest.approx(2.0, abs=0.01)
    assert len(sleep.delays) == 1
    assert time.monotonic() - wall < 5  # no real 2 s wait... nor 100 s


@pytest.mark.looptime
async def test_timeouts_on_every_attempt_exhaust_the_retries() -> None:
    model = GatedChatModel(hold_s=60.0)
    events: list[str] = []
    engine = Engine(
        model,
        timeout=1.5,
        max_attempts=3,
        sleep=RecordingSleep(),
        listeners=[lambda e: events.append(getattr(e, "error", "") or "")],
    )
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(RetriesExhausted, match=r"did not answer within 1\.5s"):
        await engine.complete("q")
    assert model.calls == 3
    assert loop.time() - start == pytest.approx(4.5, abs=0.01)
    assert model.in_flight == 0  # every timed-out attempt was cancelled


async def test_the_global_concurrency_cap_holds() -> None:
    model = GatedChatModel()
    engine = Engine(model, max_concurrency=3)
    tasks = [asyncio.create_task(engine.complete(f"p{i}")) for i in range(10)]
    await model.wait_in_flight(3)
    for _ in range(20):
        await asyncio.sleep(0)
    assert model.in_flight == 3
    model.open()
    await asyncio.gather(*tasks)
    assert model.max_in_flight == 3 and model.calls == 10


async def test_per_model_caps_hold_under_a_larger_global_cap() -> None:
    a, b = GatedChatModel("model-a"), GatedChatModel("model-b")
    engine = Engine(
        a,
        roles={"judge": b},
        max_concurrency=5,
        limits={"model-a": ModelLimits(max_concurrency=2)},
    )
    tasks = [asyncio.create_task(engine.complete(f"a{i}")) for i in range(6)]
    tasks += [asyncio.create_task(engine.complete(f"b{i}", role="judge")) for i in range(6)]
    await a.wait_in_flight(2)
    await b.wait_in_flight(3)
    for _ in range(20):
        await asyncio.sleep(0)
    assert (a.in_flight, b.in_flight) == (2, 3)  # a capped at 2; b takes the rest of 5
    a.open()
    b.open()
    await asyncio.gather(*tasks)
    assert a.max_in_flight == 2 and b.max_in_flight <= 5 and a.calls == b.calls == 6


@pytest.mark.looptime
async def test_rpm_limit_spaces_requests_in_loop_time() -> None:
    model = GatedChatModel("limited", hold_s=0.0)
    engine = Engine(model, limits={"limited": ModelLimits(rpm=60)}, max_concurrency=100)
    wall = time.monotonic()
    await asyncio.gather(*(engine.complete(f"p{i}") for i in range(70)))
    starts = sorted(model.started_at)
    assert starts[59] - starts[0] < 0.01  # a full bucket passes at once
    assert starts[69] - starts[0] == pytest.approx(10.0, abs=0.2)  # then one per second
    gaps = [b - a for a, b in itertools.pairwise(starts[59:])]
    assert all(g == pytest.approx(1.0, abs=0.1) for g in gaps)
    assert time.monotonic() - wall < 10


@pytest.mark.looptime
async def test_tpm_limit_charges_the_estimated_tokens() -> None:
    model = GatedChatModel("tpm", hold_s=0.0)
    engine = Engine(model, limits={"tpm": ModelLimits(tpm=1000)}, max_concurrency=100)
    prompts = [f"prompt number {i}" for i in range(12)]
    per_call = [count_message_tokens([Message(role="user", content=p)]) + 100 for p in prompts]
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.gather(*(engine.complete(p, max_tokens=100) for p in prompts))
    elapsed = loop.time() - start
    # The bucket holds 1000 tokens and refills at 1000/60 per second.
    expected = (sum(per_call) - 1000) * 60 / 1000
    assert elapsed == pytest.approx(expected, rel=0.15)


@pytest.mark.looptime
async def test_a_rate_limited_model_does_not_starve_other_models() -> None:
    slow, fast = GatedChatModel("slow", hold_s=0.0), GatedChatModel("fast", hold_s=0.0)
    engine = Engine(
        slow, roles={"judge": fast}, max_concurrency=2, limits={"slow": ModelLimits(rpm=1)}
    )
    loop = asyncio.get_running_loop()
    start = loop.time()
    waiting = [asyncio.create_task(engine.complete(f"s{i}")) for i in range(3)]
    await asyncio.sleep(1)  # s0 has run; s1 and s2 wait for the slow model's RPM
    await engine.complete("judge me", role="judge")
    assert fast.started_at[0] - start == pytest.approx(1.0, abs=0.01)  # not after 60 s
    await asyncio.gather(*waiting)
    assert sorted(round(t - start) for t in slow.started_at) == [0, 60, 120]
