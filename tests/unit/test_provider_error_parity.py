"""One provider failure, one treatment: the OpenAI backend and both adapters classify alike."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace
from typing import Any

import pytest
from langchain_core.language_models import FakeListChatModel
from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback

from apo_core import CompletionParams, Message, ModelCallError, OpenAIChatModel, RetryableModelError
from apo_core.models import ChatModel
from langchain_apo import LangChainChatModel
from llama_index_apo import LlamaIndexChatModel

Factory = Callable[[], Exception]


class ProviderError(Exception):
    def __init__(
        self, message: str, status: int, headers: dict[str, str] | None = None, body: Any = None
    ) -> None:
        super().__init__(message)
        self.status_code = status
        self.response = SimpleNamespace(status_code=status, headers=headers or {})
        self.body = body


def named(name: str) -> Factory:
    return lambda: type(name, (Exception,), {})("provider says no")


def in_30s() -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)


CASES: dict[str, Factory] = {
    "429-retry-after-date": lambda: ProviderError("slow", 429, {"Retry-After": in_30s()}),
    "429-retry-after-ms": lambda: ProviderError("slow", 429, {"retry-after-ms": "1500"}),
    "429-insufficient-quota": lambda: ProviderError(
        "You exceeded your current quota", 429, body={"code": "insufficient_quota"}
    ),
    "501": lambda: ProviderError("not implemented", 501),
    "529-overloaded": lambda: ProviderError("overloaded", 529, {"retry-after": "2"}),
    "401": lambda: ProviderError("bad key", 401),
    "rate-limit-named-no-status": named("RateLimitError"),
    "overloaded-named": named("OverloadedError"),
    "timeout": lambda: TimeoutError("slow"),
}


class FakeClient:
    def __init__(self, make: Factory) -> None:
        self.make = make
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    async def create(self, **kwargs: Any) -> Any:
        raise self.make()


class RaisingChat(FakeListChatModel):
    make: Any = None

    async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
        raise self.make()


class RaisingLLM(CustomLLM):
    make: Any = None

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="raising")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        raise self.make()

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        raise self.make()


def backends(make: Factory) -> dict[str, ChatModel]:
    return {
        "openai": OpenAIChatModel("m", base_url="http://127.0.0.1:1/v1", client=FakeClient(make)),
        "langchain": LangChainChatModel(RaisingChat(responses=["x"], make=make), model_id="m"),
        "llama_index": LlamaIndexChatModel(RaisingLLM(make=make), model_id="m"),
    }


async def outcome(model: ChatModel) -> tuple[type[BaseException], int | None, float | None]:
    with pytest.raises(ModelCallError) as info:
        await model.complete([Message(role="user", content="x")], CompletionParams())
    wait = info.value.retry_after if isinstance(info.value, RetryableModelError) else None
    return type(info.value), info.value.status_code, None if wait is None else math.ceil(wait)


@pytest.mark.parametrize("case", sorted(CASES))
async def test_the_three_backends_classify_a_provider_error_alike(case: str) -> None:
    outcomes = {name: await outcome(model) for name, model in backends(CASES[case]).items()}
    assert len(set(outcomes.values())) == 1, outcomes
    kind, status, wait = outcomes["openai"]
    expected = {
        "429-retry-after-date": (RetryableModelError, 429, 30),
        "429-retry-after-ms": (RetryableModelError, 429, 2),  # 1.5 s, rounded up
        "429-insufficient-quota": (ModelCallError, 429, None),
        "501": (RetryableModelError, 501, None),
        "529-overloaded": (RetryableModelError, 529, 2),
        "401": (ModelCallError, 401, None),
        "rate-limit-named-no-status": (RetryableModelError, None, None),
        "overloaded-named": (RetryableModelError, None, None),
        "timeout": (RetryableModelError, None, None),
    }[case]
    assert (kind, status, wait) == expected
