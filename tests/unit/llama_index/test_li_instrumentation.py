"""APOPromptOptimizer in LlamaIndex instrumentation: its own engine is bridged, rounds nest."""

from __future__ import annotations

import json

from li_helpers import Recorder
from llama_index.core import VectorStoreIndex
from llama_index.core.llms import MockLLM

from apo_core import ScriptedChatModel, ScriptedRequest
from llama_index_apo import APOPromptOptimizer, EngineEvent

QA = "response_synthesizer:text_qa_template"


def optimizer_reply(request: ScriptedRequest) -> str:
    if "Diagnose the prompt" in request.prompt:
        return json.dumps({"reasons": ["The prompt is too vague."]})
    return json.dumps({"prompts": ["Be exact.\n{context_str}\nQuery: {query_str}\nAnswer: "]})


async def test_own_engine_events_nest_under_the_optimize_span(
    index: VectorStoreIndex, recorder: Recorder
) -> None:
    query_engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=1)  # no EngineLLM
    optimizer = APOPromptOptimizer(
        query_engine,
        QA,
        optimizer_model=ScriptedChatModel(default=optimizer_reply),
        rounds=1,
        beam_size=2,
        minibatch_size=2,
        n_gradients=1,
        mc_samples_per_step=0,
        patience=None,
    )
    data = [{"query": f"capital {i}?", "label": "X"} for i in range(4)]
    await optimizer.aoptimize(data, metric="exact_match")
    engine_events = [e for e in recorder.events if isinstance(e, EngineEvent)]
    kinds = {e.kind for e in engine_events}
    assert {"round_started", "round_finished", "call_finished"} <= kinds
    spans = {e.span_id for e in engine_events if e.kind.startswith("round_")}
    assert len(spans) == 1
    [span] = spans
    assert span is not None and span.startswith("APOPromptOptimizer.aoptimize")
    calls = [e for e in engine_events if e.kind == "call_finished"]
    assert calls and all(e.role == "optimizer" and e.span_id == span for e in calls)
