"""QueryEngineProgram's concurrency: one gate over every candidate scored at once."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core import VectorStoreIndex

from apo_core import Engine
from apo_core.data import Example
from apo_core.testing import GatedChatModel
from llama_index_apo import EngineLLM, QueryEngineProgram

QA = "response_synthesizer:text_qa_template"


@pytest.mark.looptime
@pytest.mark.parametrize(("limit", "expected"), [(None, 2), (1, 1)])
async def test_concurrent_candidates_share_one_limit(
    index: VectorStoreIndex, limit: int | None, expected: int
) -> None:
    model = GatedChatModel(hold_s=1.0)
    own = Engine(model, max_concurrency=100)  # the module's LLM is not on the scoring engine
    query_engine = index.as_query_engine(llm=EngineLLM(own), similarity_top_k=1)
    program = QueryEngineProgram(query_engine, QA, max_concurrency=limit)
    engine = Engine(GatedChatModel(), max_concurrency=2)
    examples = [Example(inputs={"query": f"capital {i}?"}) for i in range(4)]
    template = "{context_str}\nCandidate {k}: {query_str}"
    loop = asyncio.get_running_loop()
    start = loop.time()
    runs = await asyncio.gather(
        *(program.arun(template.replace("{k}", str(k)), examples, engine) for k in range(3))
    )
    assert model.calls == 12 and model.max_in_flight == expected
    assert loop.time() - start == pytest.approx(12 / expected, abs=0.01)
    assert all(isinstance(r, str) for run in runs for r in run)
    assert program.max_concurrency == limit
