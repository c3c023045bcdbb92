"""BPO components take a LlamaIndex LLM directly, always through an engine (issue 13, item 7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.workflow import StopEvent, Workflow, step

from apo_core import Budget, ConfigError, Engine, ScriptedChatModel
from apo_core.bpo import BPORewriter, as_rewriter
from llama_index_apo import (
    BPOQueryEvent,
    BPOQueryTransform,
    BPOWorkflowStep,
    EngineLLM,
    LlamaIndexChatModel,
    as_transform,
    bpo_step,
)

REWRITE = "What is the capital city of Spain? Reply with the city name only."


class RewritingLLM(CustomLLM):
    """A LlamaIndex LLM (CustomLLM: chat runs through complete) that answers every prompt
    with the same rewrite, counting its calls."""

    calls: int = 0

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="rewriting-llm")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.calls += 1
        return CompletionResponse(text=REWRITE)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        raise NotImplementedError


@pytest.fixture
def llm() -> RewritingLLM:
    return RewritingLLM()


async def test_transform_takes_an_llm_through_a_new_engine(llm: RewritingLLM) -> None:
    transform = BPOQueryTransform(llm=llm)
    rewriter = transform.rewriter
    assert isinstance(rewriter, BPORewriter)
    model = rewriter.engine.model_for("rewriter")
    assert isinstance(model, LlamaIndexChatModel) and model.llm is llm
    assert (await transform.arun("capital of Spain?")).query_str == REWRITE
    assert transform.run("capital of Spain?").query_str == REWRITE  # the sync path too
    usage = rewriter.engine.usage()
    assert usage.by_role["rewriter"].calls == llm.calls == 2  # the ledger saw each call
    positional = BPOQueryTransform(llm, mode="stable")  # LlamaIndex's own LLM, positionally
    assert positional.rewriter.engine.model_for("rewriter").llm is llm  # type: ignore[attr-defined]


async def test_an_llm_on_the_users_engine_gets_its_cache_and_budget(
    llm: RewritingLLM, tmp_path: Path
) -> None:
    engine = Engine(cache=tmp_path / "cache.sqlite", budget=Budget(max_calls=1))
    transform = BPOQueryTransform(engine, llm=llm)
    assert transform.rewriter.engine is engine  # type: ignore[attr-defined]
    assert (await transform.arun("capital of Spain?")).query_str == REWRITE
    assert (await transform.arun("capital of Spain?")).query_str == REWRITE  # a cache hit
    assert llm.calls == 1
    metadata: dict[str, Any] = {}
    bundle = await transform.arun("capital of France?", metadata)  # over budget: kept
    assert bundle.query_str == "capital of France?" and metadata["bpo_fallback"] is not None
    assert llm.calls == 1
    assert engine.usage().by_role["rewriter"].calls == 1


async def test_an_engine_llm_brings_its_own_engine() -> None:
    rewriter_model = ScriptedChatModel(default=REWRITE)
    engine = Engine(roles={"rewriter": rewriter_model})
    transform = BPOQueryTransform(llm=EngineLLM(engine, role="rewriter"))
    assert transform.rewriter.engine is engine  # type: ignore[attr-defined]
    assert (await transform.arun("capital of Spain?")).query_str == REWRITE
    assert engine.usage().by_role["rewriter"].calls == 1  # counted once: no engine in an engine
    assert len(rewriter_model.calls) == 1


async def test_workflow_step_and_bpo_step_take_an_llm(llm: RewritingLLM) -> None:
    class Echo(BPOWorkflowStep):
        @step
        async def answer(self, ev: BPOQueryEvent) -> StopEvent:
            return StopEvent(result=ev.query_str)

    assert await Echo(llm=llm, timeout=30).run(query="capital of Spain?") == REWRITE

    class Plain(Workflow):
        @step
        async def answer(self, ev: BPOQueryEvent) -> StopEvent:
            return StopEvent(result=ev.query_str)

    flow = bpo_step(Plain, llm=llm)
    assert await flow(timeout=30).run(query="capital of Spain?") == REWRITE
    assert llm.calls == 2


def test_wrong_combinations_are_one_line_errors(llm: RewritingLLM) -> None:
    ready = BPORewriter(Engine(ScriptedChatModel(default=REWRITE)))
    with pytest.raises(ConfigError, match="ready rewriter or llm=, not both"):
        BPOQueryTransform(ready, llm=llm)
    with pytest.raises(ConfigError, match="llm must be a LlamaIndex LLM or an apo_core ChatModel"):
        BPOQueryTransform(llm="gpt-4o")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="BPOQueryTransform or llm=, not both"):
        as_transform(BPOQueryTransform(ready), llm=llm)
    with pytest.raises(ConfigError, match="llm= or model=, not both"):
        as_rewriter(llm=ScriptedChatModel(default=""), model=ScriptedChatModel(default=""))
    with pytest.raises(ConfigError, match="a LlamaIndex LLM or an apo_core ChatModel, not object"):
        BPOQueryTransform(object())  # type: ignore[arg-type]
