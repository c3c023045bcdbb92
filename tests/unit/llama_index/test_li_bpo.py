"""BPO as a LlamaIndex query transform, an async-correct transform engine and a workflow step."""

from __future__ import annotations

from typing import Any

import pytest
from li_helpers import Recorder
from llama_index.core import VectorStoreIndex
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.query_engine import TransformQueryEngine
from llama_index.core.schema import QueryBundle
from llama_index.core.workflow import StopEvent, Workflow, step

from apo_core import ConfigError, Engine, ScriptedChatModel
from apo_core.bpo import BPORewriter, Rewriter, as_rewriter
from llama_index_apo import (
    BPOQueryEvent,
    BPOQueryTransform,
    BPORewriteEvent,
    BPOTransformQueryEngine,
    BPOWorkflowStep,
    EngineLLM,
    bpo_step,
)

REWRITE = "What is the capital city of Spain? Reply with the city name only."


@pytest.fixture
def rewriter_model() -> ScriptedChatModel:
    return ScriptedChatModel([("capital of Spain", REWRITE)], default="")


@pytest.fixture
def bpo_engine(task_model: ScriptedChatModel, rewriter_model: ScriptedChatModel) -> Engine:
    return Engine(task_model, roles={"rewriter": rewriter_model})


@pytest.fixture
def rag(index: VectorStoreIndex, bpo_engine: Engine) -> BaseQueryEngine:
    return index.as_query_engine(llm=EngineLLM(bpo_engine), similarity_top_k=1)


@pytest.fixture
def no_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any call of the sync transform path fail loudly."""

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the sync transform ran")

    monkeypatch.setattr(BPOQueryTransform, "_run", boom)
    monkeypatch.setattr(BPOQueryTransform, "run", boom)


def _retrieved_bundles(query_engine: BaseQueryEngine, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    retriever = query_engine._retriever  # type: ignore[attr-defined]
    seen: list[QueryBundle] = []
    original = retriever._aretrieve

    async def recording(query_bundle: QueryBundle) -> Any:
        seen.append(query_bundle)
        return await original(query_bundle)

    monkeypatch.setattr(retriever, "_aretrieve", recording)
    return seen


def test_sync_transform_rewrites_for_the_synthesizer(
    rag: BaseQueryEngine, bpo_engine: Engine, task_model: ScriptedChatModel
) -> None:
    transform = BPOQueryTransform(bpo_engine)
    assert isinstance(transform.rewriter, BPORewriter)
    bundle = transform.run("capital of Spain?")
    assert bundle.query_str == REWRITE and bundle.embedding_strs == [REWRITE]
    BPOTransformQueryEngine(rag, transform).query("capital of Spain?")
    assert f"Query: {REWRITE}" in task_model.calls[-1].last_user


async def test_async_path_never_calls_the_sync_transform(
    rag: BaseQueryEngine, bpo_engine: Engine, task_model: ScriptedChatModel, no_sync: None
) -> None:
    transform = BPOQueryTransform(BPORewriter(bpo_engine))
    response = await BPOTransformQueryEngine(rag, transform).aquery("capital of Spain?")
    assert str(response) == "ok"
    assert f"Query: {REWRITE}" in task_model.calls[-1].last_user
    nodes = await rag.aretrieve(QueryBundle("capital of Spain?"))
    synthesized = await BPOTransformQueryEngine(rag, transform).asynthesize(
        QueryBundle("capital of Spain?"), nodes
    )
    assert str(synthesized) == "ok" and f"Query: {REWRITE}" in task_model.calls[-1].last_user
    with pytest.raises(AssertionError, match="the sync transform ran"):
        await TransformQueryEngine(rag, transform).aquery("capital of Spain?")  # LlamaIndex's


async def test_keep_original_for_retrieval(
    rag: BaseQueryEngine,
    bpo_engine: Engine,
    task_model: ScriptedChatModel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _retrieved_bundles(rag, monkeypatch)
    keep = BPOQueryTransform(bpo_engine, keep_original_for_retrieval=True)
    await BPOTransformQueryEngine(rag, keep).aquery("capital of Spain?")
    assert seen[-1].query_str == REWRITE and seen[-1].embedding_strs == ["capital of Spain?"]
    assert f"Query: {REWRITE}" in task_model.calls[-1].last_user
    rewrite_all = BPOQueryTransform(bpo_engine)
    await BPOTransformQueryEngine(rag, rewrite_all).aquery("capital of Spain?")
    assert seen[-1].embedding_strs == [REWRITE]
    custom = QueryBundle("capital of Spain?", custom_embedding_strs=["Spain capital"])
    assert (await rewrite_all.arun(custom)).embedding_strs == ["Spain capital"]  # caller's choice


async def test_fallback_keeps_the_query_and_is_instrumented(
    bpo_engine: Engine, recorder: Recorder
) -> None:
    transform = BPOQueryTransform(bpo_engine)
    metadata: dict[str, Any] = {}
    bundle = await transform.arun("tell me a joke", metadata)  # rewriter replies ""
    assert bundle.query_str == "tell me a joke"
    assert metadata["bpo_fallback"] == "empty"
    events = [e for e in recorder.events if isinstance(e, BPORewriteEvent)]
    assert [(e.original, e.rewritten, e.fallback) for e in events] == [
        ("tell me a joke", "tell me a joke", "empty")
    ]


def test_transform_prompt_modules(rag: BaseQueryEngine, bpo_engine: Engine) -> None:
    engine = BPOTransformQueryEngine(rag, BPOQueryTransform(bpo_engine))
    assert "query_engine:response_synthesizer:text_qa_template" in engine.get_prompts()
    with pytest.raises(TypeError, match="only accepted together with an Engine"):
        BPOQueryTransform(BPORewriter(bpo_engine), mode="stable")


async def test_workflow_step_subclass(
    rag: BaseQueryEngine, bpo_engine: Engine, task_model: ScriptedChatModel, no_sync: None
) -> None:
    class RAG(BPOWorkflowStep):
        @step
        async def answer(self, ev: BPOQueryEvent) -> StopEvent:
            response = await rag.aquery(ev.to_query_bundle())
            return StopEvent(result=(ev, str(response)))

    transform = BPOQueryTransform(bpo_engine, keep_original_for_retrieval=True)
    event, answer = await RAG(transform, timeout=30).run(query="capital of Spain?")
    assert answer == "ok"
    assert event.query_str == REWRITE and event.original_query == "capital of Spain?"
    assert event.embedding_strs == ["capital of Spain?"] and event.fallback is None
    assert event.to_query_bundle().embedding_strs == ["capital of Spain?"]
    assert f"Query: {REWRITE}" in task_model.calls[-1].last_user


async def test_bpo_step_on_an_existing_workflow(bpo_engine: Engine) -> None:
    class Echo(Workflow):
        @step
        async def answer(self, ev: BPOQueryEvent) -> StopEvent:
            return StopEvent(result=ev.query_str)

    class Free(Workflow):
        """Its step is a free function (kept per class by LlamaIndex)."""

    @step(workflow=Free)
    async def reply(ev: BPOQueryEvent) -> StopEvent:
        return StopEvent(result=ev.query_str.upper())

    before = dict(Echo._get_steps_from_class())
    with_bpo = bpo_step(Echo, BPOQueryTransform(bpo_engine), query_key="question")
    assert issubclass(with_bpo, Echo) and with_bpo is not Echo
    assert Echo._get_steps_from_class() == before  # the user's class is unchanged
    assert set(with_bpo._get_steps_from_class()) == {*before, "bpo_rewrite"}
    assert await with_bpo(timeout=30).run(question="capital of Spain?") == REWRITE
    with pytest.raises(ValueError, match="needs question="):
        await with_bpo(timeout=30).run(query="wrong key")
    again = bpo_step(Echo, BPOQueryTransform(bpo_engine))  # no double registration
    assert await again(timeout=30).run(query="capital of Spain?") == REWRITE
    free = bpo_step(Free, BPOQueryTransform(bpo_engine))
    assert await free(timeout=30).run(query="capital of Spain?") == REWRITE.upper()
    assert set(Free._get_steps_from_class()) == {"reply"}


def test_default_rewriter_matches_the_langchain_step() -> None:
    from langchain_apo import BPORewriter as LangChainStep

    transform = BPOQueryTransform(mode="aggressive", rounds=2)  # no rewriter: the embedded model
    step = LangChainStep(mode="aggressive", rounds=2)
    for rewriter in (transform.rewriter, step.rewriter):
        assert isinstance(rewriter, BPORewriter) and isinstance(rewriter, Rewriter)
        assert (rewriter.mode, rewriter.rounds) == ("aggressive", 2)
        assert isinstance(rewriter.engine, Engine)  # a new one; its model loads on first use


def test_as_rewriter_checks_what_it_gets(bpo_engine: Engine) -> None:
    ready = BPORewriter(bpo_engine)
    assert as_rewriter(ready) is ready
    assert as_rewriter(bpo_engine, mode="aggressive").mode == "aggressive"  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="only accepted together"):
        as_rewriter(ready, mode="stable")
    with pytest.raises(ConfigError, match="arewrite"):
        as_rewriter(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="arewrite"):
        BPOQueryTransform(object())  # type: ignore[arg-type]
