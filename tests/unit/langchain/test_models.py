"""LangChainChatModel (LangChain model in the engine) and EngineChatModel (engine in LangChain)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import get_usage_metadata_callback
from langchain_core.language_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel, Field

from apo_core import (
    CompletionParams,
    Engine,
    Message,
    ModelCallError,
    RetriesExhausted,
    RetryableModelError,
    ScriptedChatModel,
)
from langchain_apo.models import (
    EngineChatModel,
    LangChainChatModel,
    from_langchain,
    map_error,
    to_langchain,
)


class Answer(BaseModel):
    value: int


class ToolFake(GenericFakeChatModel):
    """A fake that supports with_structured_output (tool calls)."""

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kw: Any) -> Any:
        return self


class RecordingFake(FakeListChatModel):
    """Records each call's settings; declares sampling fields (``num_predict`` as Ollama)."""

    temperature: float | None = None
    num_predict: int | None = None
    seen: list[dict[str, Any]] = Field(default_factory=list)

    async def _agenerate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Any:
        settings = {"temperature": self.temperature, "num_predict": self.num_predict}
        self.seen.append({"stop": stop, **kw, **settings, "messages": messages})
        return await super()._agenerate(messages, stop=stop, run_manager=run_manager, **kw)


class StatusError(Exception):
    def __init__(self, status: int, retry_after: str | None = None) -> None:
        super().__init__(f"status {status}")
        self.status_code = status
        headers = {"retry-after": retry_after} if retry_after else {}
        self.response = type("R", (), {"headers": headers, "status_code": status})()


def msgs(*texts: str) -> list[Message]:
    return [Message(role="user", content=t) for t in texts]


def test_message_conversion_round_trip() -> None:
    original = [
        Message(role="system", content="s"),
        Message(role="user", content="u"),
        Message(role="assistant", content="a"),
    ]
    lc = to_langchain(original)
    assert [type(m) for m in lc] == [SystemMessage, HumanMessage, AIMessage]
    assert from_langchain(lc) == original


async def test_samples_usage_and_params() -> None:
    fake = RecordingFake(responses=["one", "two"])
    model = LangChainChatModel(fake, model_id="m1", provider="p")
    params = CompletionParams(n=2, temperature=0.5, max_tokens=7, stop=("X",), seed=3)
    completion = await model.complete(msgs("hi"), params)
    assert completion.texts == ["one", "two"]
    assert completion.model_id == "m1" and model.provider == "p"
    assert fake.seen[0]["temperature"] == 0.5 and fake.seen[0]["num_predict"] == 7
    assert fake.seen[0]["stop"] == ["X"]
    assert "seed" not in fake.seen[0]  # not a field of this model: not set, not passed
    assert fake.temperature is None  # the user's model is not changed
    at_zero = RecordingFake(responses=["a"], temperature=0.0)
    assert LangChainChatModel(at_zero).configured(CompletionParams()) is at_zero  # no copy


async def test_usage_from_usage_metadata() -> None:
    reply = AIMessage(
        content="ok", usage_metadata={"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}
    )
    model = LangChainChatModel(GenericFakeChatModel(messages=iter([reply])))
    completion = await model.complete(msgs("hi"), CompletionParams())
    assert completion.usage.input_tokens == 5 and completion.usage.output_tokens == 2


async def test_structured_output_via_with_structured_output() -> None:
    call = {"name": "Answer", "args": {"value": 4}, "id": "1"}
    fake = ToolFake(messages=iter([AIMessage(content="", tool_calls=[call])]))
    completion = await LangChainChatModel(fake).complete(
        msgs("2+2"), CompletionParams(), response_format=Answer
    )
    assert completion.parsed == [Answer(value=4)]
    assert Answer.model_validate_json(completion.text) == Answer(value=4)


async def test_structured_output_fallback_parses_text() -> None:
    fake = RecordingFake(responses=['Sure: {"value": 9} done'])
    model = LangChainChatModel(fake)
    completion = await model.complete(
        [Message(role="system", content="base"), *msgs("q")],
        CompletionParams(),
        response_format=Answer,
    )
    assert completion.parsed == [Answer(value=9)]
    sent = fake.seen[0]["messages"]
    assert sent[0].type == "system" and sent[0].text.startswith("base") and "JSON" in sent[0].text


def test_cache_identity_is_stable_and_distinguishes_settings() -> None:
    a = LangChainChatModel(FakeListChatModel(responses=["a"]))
    b = LangChainChatModel(FakeListChatModel(responses=["a"]))
    c = LangChainChatModel(FakeListChatModel(responses=["b"]))
    assert a.cache_identity == b.cache_identity != c.cache_identity


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (StatusError(429, "2"), RetryableModelError),
        (StatusError(503), RetryableModelError),
        (StatusError(401), ModelCallError),
        (TimeoutError("slow"), RetryableModelError),
        (type("RateLimitError", (Exception,), {})("x"), RetryableModelError),
    ],
)
def test_error_mapping(exc: Exception, kind: type[Exception]) -> None:
    mapped = map_error(exc, "m")
    assert type(mapped) is kind
    if isinstance(exc, StatusError) and exc.status_code == 429:
        assert isinstance(mapped, RetryableModelError) and mapped.retry_after == 2.0


def test_unrecognised_errors_pass_through() -> None:
    exc = KeyError("x")
    assert map_error(exc, "m") is exc


class Flaky(FakeListChatModel):
    failures: int = 1

    async def _agenerate(self, *a: Any, **kw: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise StatusError(500)
        return await super()._agenerate(*a, **kw)


async def _no_sleep(_: float) -> None:
    return None


async def test_engine_retries_mapped_errors() -> None:
    engine = Engine(LangChainChatModel(Flaky(responses=["fine"])), sleep=_no_sleep)
    assert (await engine.complete("hi")).text == "fine"
    assert engine.usage().total.retries == 1


async def test_engine_fatal_error_is_not_retried() -> None:
    class Denied(FakeListChatModel):
        async def _agenerate(self, *a: Any, **kw: Any) -> Any:
            raise StatusError(401)

    engine = Engine(LangChainChatModel(Denied(responses=["x"])), sleep=_no_sleep)
    with pytest.raises(ModelCallError) as info:
        await engine.complete("hi")
    assert not isinstance(info.value, RetriesExhausted)
    assert engine.usage().total.attempts == 1


def _chain(llm: EngineChatModel) -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{q}")])
    return prompt | llm | StrOutputParser()


async def test_engine_chat_model_in_a_chain_async_and_cached() -> None:
    scripted = ScriptedChatModel(rules=[(r"ping", "pong")], default="?")
    engine = Engine(scripted, cache=None)
    llm = EngineChatModel(engine=engine, role="task")
    chain = _chain(llm)
    assert await chain.ainvoke({"q": "ping"}) == "pong"
    assert await chain.abatch([{"q": "ping"}, {"q": "other"}]) == ["pong", "?"]
    sent = scripted.calls[0].messages
    assert [m.role for m in sent] == ["system", "user"] and sent[1].content == "ping"
    assert engine.usage().by_role["task"].calls + engine.usage().by_role["task"].cache_hits == 3


def test_engine_chat_model_sync_usage_metadata_and_kwargs() -> None:
    scripted = ScriptedChatModel(default="four words right here")
    engine = Engine(roles={"judge": scripted})
    llm = EngineChatModel(engine=engine, role="judge", temperature=0.3, max_tokens=9)
    with get_usage_metadata_callback() as handler:
        reply = llm.invoke("count", stop=["\n"], seed=5)
    assert reply.text == "four words right here"
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] == 4
    assert handler.usage_metadata["scripted"]["output_tokens"] == 4
    params = scripted.calls[0].params
    assert (params.temperature, params.max_tokens, params.stop, params.seed) == (
        0.3,
        9,
        ("\n",),
        5,
    )
    assert engine.usage().by_role["judge"].calls == 1


async def test_engine_chat_model_with_explicit_chat_model() -> None:
    other = ScriptedChatModel(default="from other", model_id="other")
    engine = Engine(ScriptedChatModel(default="from default"))
    llm = EngineChatModel(engine=engine, chat_model=other)
    assert (await llm.ainvoke("x")).text == "from other"
    assert llm._get_ls_params()["ls_model_name"] == "other"


class TempToolFake(ToolFake):
    """Records the temperature each structured call ran with."""

    temperature: float | None = None
    temps: list[float | None] = Field(default_factory=list)

    async def _agenerate(self, *a: Any, **kw: Any) -> Any:
        self.temps.append(kw.get("temperature", self.temperature))
        return await super()._agenerate(*a, **kw)


async def test_structured_samples_keep_sampling_params() -> None:
    call = {"name": "Answer", "args": {"value": 1}, "id": "1"}
    replies = iter([AIMessage(content="", tool_calls=[call]) for _ in range(3)])
    fake = TempToolFake(messages=replies)
    completion = await LangChainChatModel(fake).complete(
        msgs("x"), CompletionParams(n=3, temperature=0.7), response_format=Answer
    )
    assert completion.parsed == [Answer(value=1)] * 3 and len(completion.texts) == 3
    assert fake.temps == [0.7, 0.7, 0.7]


async def test_engine_chat_model_shares_the_engine_cache(tmp_path: Any) -> None:
    scripted = ScriptedChatModel(default="cached answer")
    engine = Engine(scripted, cache=tmp_path / "cache.sqlite")
    chain = _chain(EngineChatModel(engine=engine))
    assert await chain.ainvoke({"q": "same"}) == "cached answer"
    reply = await EngineChatModel(engine=engine).ainvoke(
        [SystemMessage(content="Be brief."), HumanMessage(content="same")]
    )
    assert reply.response_metadata["cached"] is True and len(scripted.calls) == 1
    assert engine.usage().total.cache_hits == 1
    engine.close()


class SeededFake(RecordingFake):
    """A model that declares ``seed`` (as ChatOpenAI does) and records it per call."""

    seed: int | None = None

    async def _agenerate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Any:
        self.seen.append({"seed": self.seed})
        return await super()._agenerate(messages, stop=stop, run_manager=run_manager, **kw)


async def test_each_sample_gets_its_own_seed() -> None:
    fake = SeededFake(responses=["a", "b", "c"])
    model = LangChainChatModel(fake)
    await model.complete(msgs("hi"), CompletionParams(n=3, temperature=1.0, seed=10))
    seeds = sorted(call["seed"] for call in fake.seen if set(call) == {"seed"})
    assert seeds == [10, 11, 12]  # one seed for all would give n identical samples
    assert fake.seed is None  # the user's model is not changed
