"""The LlamaIndex example's core on the embedded SmolLM2-135M: APO on a real query engine, BPO."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from llama_index.core import Settings
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import LLMChatStartEvent
from pydantic import Field

from apo_core import Engine
from llama_index_apo import BPOQueryTransform, BPOTransformQueryEngine, find_prompt

pytestmark = [pytest.mark.integration, pytest.mark.local_model]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "llama_index_optimize.py"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llama_index_optimize", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example() -> Iterator[ModuleType]:
    """The example module; it sets Settings.llm/embed_model, which are restored afterwards."""
    saved = (getattr(Settings, "_llm", None), getattr(Settings, "_embed_model", None))
    yield _load_example()
    Settings._llm, Settings._embed_model = saved


class ChatStarts(BaseEventHandler):
    """Records the messages of every LLM chat call."""

    messages: list[str] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "ChatStarts"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, LLMChatStartEvent):
            self.messages.append("\n".join(m.content or "" for m in event.messages))


async def test_apo_on_a_query_engine_with_the_embedded_model(
    example: ModuleType, tmp_path: Path
) -> None:
    engine = Engine(cache=tmp_path / "cache.sqlite", max_concurrency=2)
    query_engine, result = await example.optimize(
        engine,
        questions=example.QUESTIONS,
        n_gradients=1,
        mc_samples_per_step=0,
        eval_budget=4,
    )
    apo = result.apo
    print(apo.model_dump_json(indent=1, exclude={"config"}))
    assert result.module is query_engine
    assert find_prompt(query_engine, example.KEY).text == apo.best_prompt  # applied in place
    assert apo.initial_validation is not None and apo.best_validation is not None
    [record] = apo.history
    counts = record.counts
    assert counts.minibatch_errors > 0, "the initial prompt made no train errors to learn from"
    assert counts.gradient_calls == 1
    new = [c.prompt for c in record.candidates if c.origin == "edit"]
    assert new, "the optimizer wrote no usable candidate"
    scored = {entry.prompt: entry.validation for entry in record.beam}
    assert set(scored) - {apo.initial_prompt}, "no new candidate was scored on validation"
    initial = apo.initial_validation.accuracy.value
    best = max(initial, *scored.values())
    assert apo.best_validation.accuracy.value == pytest.approx(best)  # the validation argmax
    if apo.best_prompt != apo.initial_prompt:
        assert scored[apo.best_prompt] == pytest.approx(best) and best > initial
    assert apo.initial_test is not None and apo.best_test is not None
    usage = engine.usage()
    assert usage.by_role["task"].calls > 0 and usage.by_role["optimizer"].calls > 0
    seen = ChatStarts()
    root = get_dispatcher()
    root.add_event_handler(seen)
    try:
        answer = await query_engine.aquery("What colour is the Zorbian flag?")
    finally:
        root.event_handlers.remove(seen)
    assert str(answer).strip()
    literal = [part.strip() for part in re.split(r"\{\w+\}", apo.best_prompt) if part.strip()]
    assert literal and seen.messages  # the model received every literal part of the best prompt
    assert all(part in m for m in seen.messages for part in literal)
    engine.close()


async def test_bpo_transform_with_the_embedded_model(example: ModuleType, tmp_path: Path) -> None:
    engine = Engine(cache=tmp_path / "cache.sqlite", max_concurrency=2)
    query_engine = example.build_query_engine(engine)
    transform = BPOQueryTransform(engine, keep_original_for_retrieval=True)
    metadata: dict[str, object] = {}
    bundle = await transform.arun("colour of the Zorbian flag", metadata)
    assert bundle.query_str.strip()
    assert bundle.embedding_strs == ["colour of the Zorbian flag"]
    assert metadata["bpo_original_query"] == "colour of the Zorbian flag"
    response = await BPOTransformQueryEngine(query_engine, transform).aquery(
        "colour of the Zorbian flag"
    )
    assert str(response).strip()
    roles = engine.usage().by_role
    assert roles["rewriter"].calls + roles["rewriter"].cache_hits >= 2 and roles["task"].calls >= 1
    engine.close()
