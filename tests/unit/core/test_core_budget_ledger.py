"""Budgets never pass their caps; the ledger accounts calls, tokens and dollars per role/model."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from apo_core import (
    Budget,
    BudgetExceeded,
    Completion,
    CompletionParams,
    Engine,
    Message,
    ModelCallError,
    RetryableModelError,
    ScriptedChatModel,
    Usage,
)
from apo_core.models import count_message_tokens
from apo_core.models.base import schema_instruction
from apo_core.testing import RecordingSleep


class HonestModel:
    """Bills at most what the engine may assume: input <= the estimate (once, or once per
    sample like the embedded model), output <= max_tokens per sample.

    Some prompts fail: ``retry:`` ones once (retryable), ``fatal:`` ones always.
    """

    def __init__(
        self,
        seed: int,
        model_id: str = "gpt-4o-mini",
        provider: str = "openai",
        *,
        always_worst: bool = False,
    ):
        self.rng = random.Random(seed)
        self.always_worst = always_worst
        self._model_id, self._provider = model_id, provider
        self.prompts: list[str] = []

    model_id = property(lambda self: self._model_id)
    provider = property(lambda self: self._provider)
    cache_identity = property(lambda self: f"honest:{self._model_id}")

    async def complete(
        self,
        messages: list[Message],
        params: CompletionParams,
        *,
        response_format: type[BaseModel] | None = None,
    ) -> Completion:
        prompt = messages[-1].content
        if response_format is not None:  # like every backend: the schema is sent too
            instruction = schema_instruction(response_format)
            messages = [Message(role="system", content=instruction), *messages]
        first_time = prompt not in self.prompts
        self.prompts.append(prompt)
        await asyncio.sleep(0)
        if prompt.startswith("fatal:"):
            raise ModelCallError("refused", status_code=400)
        if prompt.startswith("retry:") and first_time:
            raise RetryableModelError("overloaded", status_code=503)
        cap_out = (params.max_tokens or 50) * params.n
        per_sample_input = self.always_worst or self.rng.random() < 0.5  # like the local model
        estimate = count_message_tokens(messages) * (params.n if per_sample_input else 1)
        worst = self.always_worst or self.rng.random() < 0.5  # often bill the worst case
        usage = Usage(
            input_tokens=estimate if worst else self.rng.randint(estimate // 2, estimate),
            output_tokens=cap_out if worst else self.rng.randint(0, cap_out),
        )
        return Completion(texts=["ok"] * params.n, usage=usage, model_id=self._model_id)


@dataclass(frozen=True)
class Call:
    kind: str  # "ok" | "retry" | "fatal" | "repeat"
    words: int
    max_tokens: int | None
    n: int


calls_st = st.lists(
    st.builds(
        Call,
        kind=st.sampled_from(["ok", "ok", "ok", "retry", "fatal", "repeat"]),
        words=st.integers(0, 60),
        max_tokens=st.none() | st.integers(1, 300),
        n=st.integers(1, 3),
    ),
    min_size=1,
    max_size=30,
)
budgets_st = st.builds(
    Budget,
    max_calls=st.none() | st.integers(0, 20),
    max_tokens=st.none() | st.integers(0, 5000),
    max_dollars=st.none() | st.floats(0, 0.002, allow_nan=False),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    budget=budgets_st,
    calls=calls_st,
    seed=st.integers(0, 1000),
    batch=st.integers(1, 8),
)
def test_spending_never_passes_the_budget(
    budget: Budget, calls: list[Call], seed: int, batch: int
) -> None:
    model = HonestModel(seed)
    engine = Engine(model, budget=budget, sleep=RecordingSleep(), default_max_tokens=200)
    refused: list[str] = []

    async def one(i: int, call: Call) -> None:
        prefix = {"retry": "retry:", "fatal": "fatal:"}.get(call.kind, "")
        prompt = "repeat" if call.kind == "repeat" else f"{prefix}{i} " + "word " * call.words
        try:
            await engine.complete(prompt, max_tokens=call.max_tokens, n=call.n)
        except BudgetExceeded:
            refused.append(prompt)
        except ModelCallError:
            pass

    async def run() -> None:
        for start in range(0, len(calls), batch):  # concurrent batches, like an optimizer step
            group = calls[start : start + batch]
            await asyncio.gather(*(one(start + j, c) for j, c in enumerate(group)))

    asyncio.run(run())
    spent = engine.budget.spent
    if budget.max_calls is not None:
        assert spent.calls <= budget.max_calls
    if budget.max_tokens is not None:
        assert spent.tokens <= budget.max_tokens
    if budget.max_dollars is not None:
        assert spent.dollars <= budget.max_dollars + 1e-12
    for prompt in refused:  # refused before sending
        if prompt != "repeat":
            assert prompt not in model.prompts
    report = engine.usage()
    assert report.total.calls == spent.calls
    assert report.total.total_tokens == spent.tokens
    assert report.total.cost_usd == pytest.approx(spent.dollars)
    assert engine.budget._reserved.calls == 0 and engine.budget._reserved.tokens == 0


@pytest.mark.parametrize("n", [1, 3])
async def test_token_budget_holds_when_each_sample_bills_the_prompt(n: int) -> None:
    """The embedded model (and servers ignoring n) bill the prompt once per sample."""
    prompt = "a prompt of a handful of words, to be sampled several times"
    worst = (count_message_tokens([Message(role="user", content=prompt)]) + 10) * n
    for cap, allowed in ((worst - 1, False), (worst, True)):
        model = HonestModel(0, always_worst=True)
        engine = Engine(model, budget=Budget(max_tokens=cap))
        if allowed:
            await engine.complete(prompt, n=n, max_tokens=10)
            assert engine.budget.spent.tokens == worst
        else:
            with pytest.raises(BudgetExceeded):
                await engine.complete(prompt, n=n, max_tokens=10)
            assert model.prompts == []


class Answer(BaseModel):
    reasoning: str
    verdict: bool
    confidence: float


async def test_token_budget_counts_the_structured_output_schema() -> None:
    prompt = "Is this statement a lie?"
    model = HonestModel(0, always_worst=True)
    engine = Engine(model, budget=Budget(max_tokens=150))
    # the bare prompt and 10 output tokens fit in 150; with the schema sent along they do not
    assert count_message_tokens([Message(role="user", content=prompt)]) + 10 < 150
    with pytest.raises(BudgetExceeded):
        await engine.complete(prompt, max_tokens=10, response_format=Answer)
    assert model.prompts == []
    await engine.complete(prompt, max_tokens=10)


async def test_call_budget_refuses_before_sending_and_cache_hits_stay_free(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(default="x")
    engine = Engine(model, budget=Budget(max_calls=2), cache=tmp_path / "c.sqlite")
    await engine.complete("a")
    await engine.complete("b")
    with pytest.raises(BudgetExceeded) as info:
        await engine.complete("c")
    assert info.value.limit == "calls"
    assert len(model.calls) == 2
    assert (await engine.complete("a")).cached  # replay costs nothing, even when spent
    assert engine.budget.remaining()["calls"] == 0
    engine.close()


async def test_failed_calls_release_their_reservation() -> None:
    model = ScriptedChatModel(queue=[ModelCallError("bad", status_code=400), "fine"])
    engine = Engine(model, budget=Budget(max_calls=1))
    with pytest.raises(ModelCallError):
        await engine.complete("a")
    assert (await engine.complete("b")).text == "fine"  # the failure did not use the budget


async def test_token_budget_bounds_calls_without_max_tokens() -> None:
    model = ScriptedChatModel(default="x")
    engine = Engine(model, budget=Budget(max_tokens=100), default_max_tokens=64)
    await engine.complete("short")
    assert model.calls[0].params.max_tokens == 64  # every call's cost is bounded
    with pytest.raises(BudgetExceeded) as info:
        await engine.complete("q", max_tokens=500)
    assert info.value.limit == "tokens"


def openai_cost(model: str, usage: Usage) -> float:
    price = calc_price(
        PriceUsage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens),
        model,
        provider_id="openai",
    )
    return float(price.total_price)


async def test_ledger_per_role_and_model_with_known_and_unknown_prices() -> None:
    priced = ScriptedChatModel(default="two words", model_id="gpt-4o-mini", provider="openai")
    unknown = ScriptedChatModel(default="x", model_id="in-house-model-7", provider="openai")
    selfhosted = ScriptedChatModel(default="y", model_id="gpt-4o", provider="openai-compatible")
    local = ScriptedChatModel(default="z", model_id="SmolLM2", provider="local")
    engine = Engine(
        priced,
        roles={"judge": unknown, "rewriter": selfhosted, "optimizer": local},
        sleep=RecordingSleep(),
    )
    first = await engine.complete("one two three")
    second = await engine.complete("four five")
    await engine.complete("judge this", role="judge")
    await engine.complete("rewrite this", role="rewriter")
    await engine.complete("optimize", role="optimizer")
    report = engine.usage()
    task = report.by_role["task"]
    expected = openai_cost("gpt-4o-mini", first.usage) + openai_cost("gpt-4o-mini", second.usage)
    assert expected > 0
    assert task.cost_usd == pytest.approx(expected)
    assert task.cost_known and task.calls == 2
    assert task.input_tokens == first.usage.input_tokens + second.usage.input_tokens
    assert report.by_model["gpt-4o-mini"] == task
    judge = report.by_role["judge"]
    assert (judge.cost_usd, judge.cost_known) == (0.0, False)
    assert report.by_role["rewriter"].cost_known is False  # self-hosted: no guessed price
    assert (report.by_role["optimizer"].cost_usd, report.by_role["optimizer"].cost_known) == (
        0.0,
        True,
    )
    assert report.unpriced_models == ["gpt-4o", "in-house-model-7"]
    assert report.total.calls == 5 and report.total.cost_known is False
    assert report.total.cost_usd == pytest.approx(expected)


async def test_dollar_budget_uses_known_prices() -> None:
    model = ScriptedChatModel(default="ok", model_id="gpt-4o-mini", provider="openai")
    # one call reserves about (est input + 100 output) tokens at gpt-4o-mini prices
    engine = Engine(model, budget=Budget(max_dollars=0.0001))
    await engine.complete("hello", max_tokens=100)
    with pytest.raises(BudgetExceeded) as info:
        await engine.complete("hello again", max_tokens=1000)
    assert info.value.limit == "dollars"
    assert engine.budget.spent.dollars > 0


async def test_a_dollar_budget_warns_once_about_unpriced_models(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = ScriptedChatModel(default="ok", model_id="my-private-llm", provider="openai")
    engine = Engine(model, budget=Budget(max_dollars=1.0))
    with caplog.at_level(logging.WARNING, logger="apo_core"):
        await engine.complete("a")
        await engine.complete("b")
    warnings = [r.getMessage() for r in caplog.records if "no price is known" in r.getMessage()]
    assert len(warnings) == 1 and "my-private-llm" in warnings[0]
