"""QueryEngineProgram's concurrency: one gate over every candidate scored at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.base.llms.types import CompletionResponse, LLMMetadata
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback

from apo_core import Engine, Message
from apo_core.data import Example
from apo_core.testing import GatedChatModel
from apo_core.types import CompletionParams
from llama_index_apo import QueryEngineProgram

QA = "response_synthesizer:text_qa_template"


class HeldLLM(CustomLLM):
    """A LlamaIndex LLM calling a GatedChatModel directly (not through any engine)."""

    model: Any = None

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(is_chat_model=False)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        raise NotImplementedError

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        messages = [Message(role="user", content=prompt)]
        done = await self.model.complete(messages, CompletionParams())
        return CompletionResponse(text=done.text)

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        raise NotImplementedError


@pytest.mark.looptime
@pytest.mark.parametrize(("limit", "expected"), [(None, 2), (1, 1)])
async def test_concurrent_candidates_share_one_limit(
    index: VectorStoreIndex, limit: int | None, expected: int
) -> None:
    model = GatedChatModel(hold_s=1.0)
    llm = HeldLLM(model=model)  # the module's LLM is not on the scoring engine
    query_engine = index.as_query_engine(llm=llm, similarity_top_k=1)
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
