"""LlamaIndexChatModel (LlamaIndex LLM in the engine) and EngineLLM (engine as a LlamaIndex LLM)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from li_helpers import Recorder
from llama_index.core.base.llms.types import (
    ChatMessage,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.llms import CustomLLM, MockLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from pydantic import BaseModel, Field

from apo_core import (
    Budget,
    BudgetExceeded,
    CompletionParams,
    Engine,
    Message,
    ModelCallError,
    RetriesExhausted,
    RunEvent,
    ScriptedChatModel,
)
from llama_index_apo import (
    EngineEvent,
    EngineLLM,
    LlamaIndexChatModel,
    from_llama_messages,
    instrument_engine,
    to_llama_messages,
)


class Answer(BaseModel):
    value: int


class JsonLLM(CustomLLM):
    """Replies a fixed text; records the prompts; has temperature/max_tokens fields."""

    reply: str = '{"value": 7}'
    temperature: float = 0.5
    max_tokens: int | None = None
    prompts: list[str] = Field(default_factory=list)
    seen_temperatures: list[float] = Field(default_factory=list)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="json-llm")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.prompts.append(prompt)
        self.seen_temperatures.append(self.temperature)
        return CompletionResponse(
            text=self.reply, raw={"usage": {"prompt_tokens": 11, "completion_tokens": 3}}
        )

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        yield self.complete(prompt)


class FailingLLM(JsonLLM):
    error: Any = None

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        raise self.error


def test_message_conversion_round_trips() -> None:
    msgs = [Message(role="system", content="s"), Message(role="user", content="u")]
    assert from_llama_messages(to_llama_messages(msgs)) == msgs
    odd = [ChatMessage(role="developer", content="d"), ChatMessage(role="tool", content="t")]
    assert [m.role for m in from_llama_messages(odd)] == ["system", "user"]


async def test_llama_llm_in_engine_samples_usage_and_temperature() -> None:
    llm = JsonLLM(reply="hello", prompts=[], seen_temperatures=[])
    model = LlamaIndexChatModel(llm)
    assert model.model_id == "json-llm" and "json-llm" in model.cache_identity
    done = await model.complete(
        [Message(role="user", content="hi")], CompletionParams(n=2, temperature=0.9)
    )
    assert done.texts == ["hello", "hello"]
    assert done.usage.input_tokens == 22 and done.usage.output_tokens == 6  # from raw usage
    assert llm.seen_temperatures == [0.9, 0.9] and llm.temperature == 0.5  # user's LLM untouched


class SeededLLM(JsonLLM):
    """Declares ``seed`` (as OpenAI-style LLMs do) and records it per call."""

    seed: int | None = None
    seen_seeds: list[int | None] = Field(default_factory=list)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.seen_seeds.append(self.seed)
        return super().complete(prompt, formatted, **kwargs)


async def test_llama_llm_each_sample_gets_its_own_seed() -> None:
    llm = SeededLLM(reply="x", prompts=[], seen_temperatures=[], seen_seeds=[])
    model = LlamaIndexChatModel(llm)
    params = CompletionParams(n=3, temperature=1.0, seed=4)
    await model.complete([Message(role="user", content="hi")], params)
    assert sorted(s for s in llm.seen_seeds if s is not None) == [4, 5, 6]
    assert llm.seed is None  # the user's LLM is not changed


async def test_llama_llm_usage_is_estimated_without_raw_usage() -> None:
    done = await LlamaIndexChatModel(MockLLM(max_tokens=2)).complete(
        [Message(role="user", content="one two three")], CompletionParams(stop=("xt",))
    )
    assert done.texts == ["te"]  # stop sequence applied
    assert done.usage.input_tokens > 0 and done.usage.output_tokens > 0


async def test_llama_llm_structured_output_and_fallback() -> None:
    engine = Engine(
        LlamaIndexChatModel(JsonLLM(reply='{"value": 7}', prompts=[], seen_temperatures=[]))
    )
    done = await engine.complete("give a number", response_format=Answer)
    assert done.parsed == [Answer(value=7)]
    prose = LlamaIndexChatModel(MockLLM())  # echoes: structured_predict fails, text parse is None
    out = await prose.complete(
        [Message(role="user", content="x")], CompletionParams(), response_format=Answer
    )
    assert out.parsed == [None]


async def test_llama_llm_errors_are_translated() -> None:
    class RateLimited(Exception):
        status_code = 429

    retry = Engine(
        LlamaIndexChatModel(FailingLLM(error=RateLimited("slow down"))),
        max_attempts=2,
        sleep=_no_sleep,
    )
    with pytest.raises(RetriesExhausted):
        await retry.complete("x")
    fatal = Engine(LlamaIndexChatModel(FailingLLM(error=StatusError(400, "bad request"))))
    with pytest.raises(ModelCallError, match="bad request") as info:
        await fatal.complete("x")
    assert not isinstance(info.value, RetriesExhausted) and info.value.status_code == 400
    # Not a provider error (a bug, bad input): shown as it is, not wrapped, not retried.
    unknown = Engine(LlamaIndexChatModel(FailingLLM(error=KeyError("no such field"))))
    with pytest.raises(KeyError, match="no such field"):
        await unknown.complete("x")


class StatusError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status


async def _no_sleep(_: float) -> None:
    return None


def test_engine_llm_sync_calls_share_the_engine(
    engine: Engine, task_model: ScriptedChatModel
) -> None:
    task_model.rules.append(("capital", "Paris"))
    llm = EngineLLM(engine, temperature=0.0)
    assert llm.complete("capital of France?").text == "Paris"
    assert llm.chat([ChatMessage(role="user", content="capital?")]).message.content == "Paris"
    assert [c.text for c in llm.stream_complete("capital?")] == ["Paris"]
    assert [
        c.message.content for c in llm.stream_chat([ChatMessage(role="user", content="capital")])
    ] == ["Paris"]
    assert engine.usage().total.calls == 4
    assert llm.metadata.is_chat_model and llm.metadata.model_name == "scripted"


def test_engine_llm_uses_the_engine_cache(tmp_path: Path) -> None:
    engine = Engine(ScriptedChatModel(default="ok"), cache=tmp_path / "cache.sqlite")
    llm = EngineLLM(engine)
    first, second = llm.complete("same"), llm.complete("same")
    assert first.raw["cached"] is False and second.raw["cached"] is True
    assert engine.usage().total.calls == 1 and engine.usage().total.cache_hits == 1
    engine.close()


async def test_engine_llm_async_calls_params_and_usage(
    engine: Engine, task_model: ScriptedChatModel
) -> None:
    llm = EngineLLM(engine, role="task", max_tokens=50)
    response = await llm.achat(
        [ChatMessage(role="system", content="s"), ChatMessage(role="user", content="hi")],
        temperature=0.7,
        stop=["x"],
    )
    assert response.message.content == "ok"
    assert response.raw["usage"]["completion_tokens"] == 1
    request = task_model.calls[-1]
    assert (
        request.params.temperature == 0.7
        and request.params.max_tokens == 50
        and request.params.stop == ("x",)
    )
    assert [m.role for m in request.messages] == ["system", "user"]
    assert (await llm.acomplete("a")).text == "ok"
    chunks = [c.text async for c in await llm.astream_complete("b")]
    chat_chunks = [
        c.message.content
        async for c in await llm.astream_chat([ChatMessage(role="user", content="c")])
    ]
    assert chunks == ["ok"] and chat_chunks == ["ok"]
    assert engine.usage().by_role["task"].calls == 4


async def test_engine_llm_token_counting_handler_sees_usage(engine: Engine) -> None:
    counter = TokenCountingHandler()
    llm = EngineLLM(engine, callback_manager=CallbackManager([counter]))
    await llm.achat([ChatMessage(role="user", content="one two three")])
    assert counter.completion_llm_token_count == 1
    assert counter.prompt_llm_token_count == 3


async def test_engine_events_nest_under_llm_spans(engine: Engine, recorder: Recorder) -> None:
    llm = EngineLLM(engine)
    EngineLLM(engine)  # a second LLM on the same engine does not double the bridge
    await llm.acomplete("hello")
    engine_events = [e for e in recorder.events if isinstance(e, EngineEvent)]
    assert [e.kind for e in engine_events] == ["call_started", "call_finished"]
    assert engine_events[1].output_tokens == 1 and engine_events[1].role == "task"
    assert engine_events[0].span_id is not None and engine_events[0].span_id.startswith(
        "EngineLLM.acomplete"
    )


async def test_engine_llm_surfaces_engine_errors() -> None:
    llm = EngineLLM(Engine(ScriptedChatModel(default=ValueError("boom")), max_attempts=1))
    with pytest.raises(ValueError, match="boom"):
        await llm.acomplete("x")


async def test_nested_engine_budget_errors_pass_through() -> None:
    inner = Engine(ScriptedChatModel(default="ok"), budget=Budget(max_calls=0))
    outer = Engine(LlamaIndexChatModel(EngineLLM(inner)))
    with pytest.raises(BudgetExceeded):
        await outer.complete("x")


def test_deep_copies_share_the_engine(engine: Engine) -> None:
    llm = EngineLLM(engine, max_tokens=7)
    clone = copy.deepcopy({"llm": llm})["llm"]
    assert clone is not llm and clone.engine is engine and clone.max_tokens == 7


def test_run_events_are_forwarded_and_the_bridge_can_be_removed(recorder: Recorder) -> None:
    engine = Engine(ScriptedChatModel(default="ok"))
    remove = instrument_engine(engine)
    assert instrument_engine(engine) is remove  # idempotent
    engine.events.emit(RunEvent(kind="round_finished", data={"round": 0, "best_validation": 0.5}))
    remove()
    engine.events.emit(RunEvent(kind="round_finished", data={"round": 1}))
    seen = [e for e in recorder.events if isinstance(e, EngineEvent)]
    assert [(e.kind, e.data) for e in seen] == [
        ("round_finished", {"round": 0, "best_validation": 0.5})
    ]
