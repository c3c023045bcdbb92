"""The embedded SmolLM2 model through the Engine, directly and behind FakeOpenAIServer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from apo_core import Engine, LocalChatModel, OpenAIChatModel
from apo_core.testing import FakeOpenAIServer, local_model_responder

pytestmark = [pytest.mark.integration, pytest.mark.local_model]


@pytest.fixture(scope="module")
def local() -> LocalChatModel:
    return LocalChatModel()


async def test_a_real_completion_is_accounted_and_cached(
    local: LocalChatModel, tmp_path: Path
) -> None:
    engine = Engine(local, cache=tmp_path / "cache.sqlite")
    first = await engine.complete("What is the capital of France?", max_tokens=16)
    assert first.text.strip() and not first.cached
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
    assert first.model_id == "SmolLM2-135M-Instruct"
    again = await engine.complete("What is the capital of France?", max_tokens=16)
    assert again.cached and again.texts == first.texts
    line = engine.usage().total
    assert (line.calls, line.cache_hits) == (1, 1)
    assert line.cost_usd == 0.0 and line.cost_known  # the local provider is free
    assert line.input_tokens == first.usage.input_tokens
    engine.close()


async def test_two_seeded_samples_are_reproducible(local: LocalChatModel) -> None:
    async def sample() -> list[str]:
        engine = Engine(local)  # no cache: really generate twice
        result = await engine.complete(
            "Write one short sentence about the sea.", n=2, temperature=0.9, seed=42, max_tokens=12
        )
        return result.texts

    first = await sample()
    assert len(first) == 2 and all(t.strip() for t in first)
    assert await sample() == first


class City(BaseModel):
    city: str
    country: str


async def test_structured_output_with_a_pydantic_schema(local: LocalChatModel) -> None:
    engine = Engine(local)
    result = await engine.complete(
        "Name the capital city of France and its country.", response_format=City, max_tokens=48
    )
    assert result.parsed is not None and len(result.parsed) == 1
    parsed = result.parsed[0]
    assert isinstance(parsed, City), result.text
    assert parsed.city.strip() and parsed.country.strip()


async def test_the_event_loop_stays_responsive_while_the_model_runs(
    local: LocalChatModel,
) -> None:
    engine = Engine(local)
    ticks = 0
    running = True

    async def ticker() -> None:
        nonlocal ticks
        while running:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    loop = asyncio.get_running_loop()
    start = loop.time()
    await engine.complete("Tell me a fact about the Moon.", max_tokens=32, temperature=0.0)
    elapsed = loop.time() - start
    running = False
    await task
    # a blocked loop would leave the ticker at 1; allow for a busy, shared machine
    assert ticks >= max(3, int(elapsed / 0.005 * 0.1)), (ticks, elapsed)


async def test_fake_server_serves_real_smollm2_text(local: LocalChatModel) -> None:
    responder = local_model_responder(local, max_tokens=24)
    with FakeOpenAIServer(responder, model="smollm2") as server:
        model = OpenAIChatModel("smollm2", base_url=server.base_url)
        engine = Engine(model)
        result = await engine.complete("Say hello in French.", max_tokens=16)
        assert result.text.strip() and result.text != "Say hello in French."
        assert result.usage.output_tokens > 0
        assert server.request_count == 1
        assert server.requests[0]["max_tokens"] == 16


async def test_gathered_calls_all_succeed_and_match_sequential_seeded_output(
    local: LocalChatModel,
) -> None:
    prompts = [f"Name one {thing}." for thing in ("fruit", "colour", "animal", "country")]

    def calls(engine: Engine) -> list[Any]:
        return [
            engine.complete(p, temperature=0.8, seed=3, max_tokens=8, n=1 + (i % 2))
            for i, p in enumerate(prompts)
        ]

    sequential = [(await call).texts for call in calls(Engine(local))]
    # One attempt each: a call that failed (or timed out) would not be hidden by a retry. That
    # waiting in the queue is not part of the timeout is tested without a model (unit tests).
    engine = Engine(local, timeout=60.0, max_attempts=1)
    gathered = [r.texts for r in await asyncio.gather(*calls(engine))]
    assert gathered == sequential
    assert all(t.strip() for texts in gathered for t in texts)
    line = engine.usage().total
    assert (line.calls, line.attempts, line.failures) == (4, 4, 0)
