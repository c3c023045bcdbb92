"""ChainProgram's concurrency: one gate over every candidate scored at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate

from apo_core import ConfigError, Engine
from apo_core.data import Example
from apo_core.program import ExampleGate
from apo_core.testing import GatedChatModel
from apo_core.types import CompletionParams
from langchain_apo import ChainProgram, select_prompt
from langchain_apo.models import from_langchain


class HeldChat(BaseChatModel):
    """A LangChain chat model calling a GatedChatModel directly (not through any engine)."""

    model: Any

    @property
    def _llm_type(self) -> str:
        return "held"

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        raise NotImplementedError

    async def _agenerate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        done = await self.model.complete(from_langchain(messages), CompletionParams())
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=done.text))])


def chain_on(model: GatedChatModel) -> Any:
    """A chain whose model is NOT on the scoring engine."""
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{q}")])
    return prompt | HeldChat(model=model) | StrOutputParser()


@pytest.mark.looptime
@pytest.mark.parametrize(("limit", "expected"), [(None, 2), (1, 1)])
async def test_concurrent_candidates_share_one_limit(limit: int | None, expected: int) -> None:
    model = GatedChatModel(hold_s=1.0)
    chain = chain_on(model)
    program = ChainProgram(chain, select_prompt(chain), max_concurrency=limit)
    engine = Engine(GatedChatModel(), max_concurrency=2)
    examples = [Example(inputs={"q": f"question {i}"}) for i in range(4)]
    loop = asyncio.get_running_loop()
    start = loop.time()
    runs = await asyncio.gather(
        *(program.arun(f"Candidate {k}.", examples, engine) for k in range(3))
    )
    assert model.calls == 12 and model.max_in_flight == expected
    assert loop.time() - start == pytest.approx(12 / expected, abs=0.01)
    assert [r[0] for r in runs] == ["question 0"] * 3
    assert program.max_concurrency == limit


async def test_example_gate_is_per_loop_and_checks_its_limit() -> None:
    engine = Engine(GatedChatModel(), max_concurrency=3)
    gate = ExampleGate()
    here = gate.semaphore(engine)
    assert gate.semaphore(engine) is here and here._value == 3

    async def elsewhere() -> asyncio.Semaphore:
        return gate.semaphore(engine)

    assert await asyncio.to_thread(asyncio.run, elsewhere()) is not here
    out = await gate.map(engine, lambda x: asyncio.sleep(0, 10 // x), [5, 0])
    assert out[0] == 2 and isinstance(out[1], ZeroDivisionError)
    with pytest.raises(ConfigError, match="at least 1"):
        ExampleGate(0)
