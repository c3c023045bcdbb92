"""Model adapters in both directions between LlamaIndex and the apo_core engine.

* :class:`LlamaIndexChatModel` makes any LlamaIndex ``LLM`` an apo_core
  :class:`~apo_core.ChatModel`, so the engine (cache, budget, limits, retries) can drive it in
  any role.
* :class:`EngineLLM` makes the engine a LlamaIndex ``LLM``, so query engines, synthesizers and
  workflows share the engine's cache, limits and budget while they are being optimized, and
  their calls appear in the engine's ledger and in LlamaIndex instrumentation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator, Mapping, Sequence
from typing import Any, Self

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms import LLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.prompts import ChatPromptTemplate
from pydantic import BaseModel, PrivateAttr

from apo_core import (
    APOError,
    ChatModel,
    Completion,
    CompletionParams,
    Engine,
    Message,
    Role,
    Usage,
)
from apo_core.models import classify_provider_error, count_text_tokens
from apo_core.models.base import ModelIdentity, Sample, complete_samples, sample_params
from apo_core.sync import run_sync
from llama_index_apo.instrumentation import instrument_engine

__all__ = [
    "EngineLLM",
    "LlamaIndexChatModel",
    "adapt_llm",
    "from_llama_messages",
    "to_llama_messages",
]

ACCEPTS = "a LlamaIndex LLM"
"""What :func:`adapt_llm` takes, for apo_core's error messages."""

_CALL_KWARGS = ("temperature", "max_tokens", "stop", "seed", "top_p")


def to_llama_messages(messages: Sequence[Message]) -> list[ChatMessage]:
    """apo_core messages as LlamaIndex ``ChatMessage`` objects."""
    return [ChatMessage(role=MessageRole(m.role), content=m.content) for m in messages]


def from_llama_messages(messages: Sequence[ChatMessage]) -> list[Message]:
    """LlamaIndex messages as apo_core messages (developer -> system; tool/function -> user)."""
    out: list[Message] = []
    for m in messages:
        role = m.role.value if isinstance(m.role, MessageRole) else str(m.role)
        if role in ("system", "developer"):
            mapped = "system"
        elif role in ("assistant", "model", "chatbot"):
            mapped = "assistant"
        else:
            mapped = "user"
        out.append(Message(role=mapped, content=m.content or ""))  # type: ignore[arg-type]
    return out


def _usage_from_raw(response: ChatResponse) -> Usage | None:
    raw: Any = response.raw
    usage: Any = None
    if isinstance(raw, Mapping):
        usage = raw.get("usage") or raw.get("usage_metadata")
    elif raw is not None:
        usage = getattr(raw, "usage", None)
    if usage is None:
        usage = response.additional_kwargs or None
    if usage is None:
        return None
    if isinstance(usage, BaseModel):
        usage = usage.model_dump()
    if not isinstance(usage, Mapping):
        usage = {k: getattr(usage, k) for k in dir(usage) if k.endswith("tokens")}
    ins = next((usage[k] for k in ("prompt_tokens", "input_tokens") if k in usage), None)
    outs = next((usage[k] for k in ("completion_tokens", "output_tokens") if k in usage), None)
    if not isinstance(ins, int) or not isinstance(outs, int):
        return None
    return Usage(input_tokens=ins, output_tokens=outs)


class LlamaIndexChatModel(ModelIdentity):
    """Any LlamaIndex ``LLM`` as an apo_core :class:`~apo_core.ChatModel`.

    Sampling parameters reach the LLM through its own ``temperature``/``max_tokens`` fields
    (on a shallow copy, so the user's object is untouched) when it has them; ``n`` samples are
    ``n`` concurrent calls; usage comes from the raw response when the provider reports it,
    else it is estimated. Structured output uses the LLM's ``astructured_predict`` and falls
    back to a tolerant JSON parse of a plain reply.

    Args:
        llm: the LlamaIndex LLM.
        model_id: id for the ledger and prices; default ``llm.metadata.model_name``.
        provider: provider name for prices; default the LLM's class name.
        cache_identity: cache-key identity; default ``llama_index:<class>:<model_id>``.
    """

    def __init__(
        self,
        llm: LLM,
        *,
        model_id: str | None = None,
        provider: str | None = None,
        cache_identity: str | None = None,
    ) -> None:
        self.llm = llm
        self._model_id = model_id or llm.metadata.model_name
        self._provider = provider or llm.class_name()
        self._cache_identity = cache_identity or f"llama_index:{llm.class_name()}:{self._model_id}"
        self._variants: dict[tuple[float, int | None, int | None], LLM] = {}

    def __repr__(self) -> str:
        return f"LlamaIndexChatModel({type(self.llm).__name__}, model_id={self._model_id!r})"

    def _llm_for(self, params: CompletionParams) -> LLM:
        fields = type(self.llm).model_fields
        update: dict[str, Any] = {}
        if "temperature" in fields:
            update["temperature"] = params.temperature
        if "max_tokens" in fields and params.max_tokens is not None:
            update["max_tokens"] = params.max_tokens
        if "seed" in fields and params.seed is not None:
            update["seed"] = params.seed
        if not update:
            return self.llm
        key = (params.temperature, params.max_tokens, params.seed)
        if key not in self._variants:
            self._variants[key] = self.llm.model_copy(update=update)
        return self._variants[key]

    async def _one(
        self, llm: LLM, messages: list[ChatMessage], schema: type[BaseModel] | None
    ) -> tuple[str, Usage | None]:
        if schema is not None:
            try:
                obj = await llm.astructured_predict(schema, ChatPromptTemplate(messages))
                return obj.model_dump_json(), None
            except asyncio.CancelledError:
                raise
            except Exception:
                pass  # fall back to a plain reply parsed tolerantly
        response = await llm.achat(messages)
        return response.message.content or "", _usage_from_raw(response)

    async def complete(
        self,
        messages: list[Message],
        params: CompletionParams,
        *,
        response_format: type[BaseModel] | None = None,
    ) -> Completion:
        li_messages = to_llama_messages(messages)
        prompt_tokens = sum(count_text_tokens(m.content) for m in messages)

        async def sample(i: int) -> Sample:
            llm = self._llm_for(sample_params(params, i))  # seed + i: n distinct samples
            try:
                text, reported = await self._one(llm, li_messages, response_format)
            except APOError:
                raise  # an engine error from a nested EngineLLM (budget, retries) stays as is
            except Exception as exc:
                mapped = classify_provider_error(exc, self._model_id)
                if mapped is None:
                    raise  # not a provider error: a bug or bad input, shown as it is
                raise mapped from exc
            if params.stop:
                cuts = [i for i in (text.find(s) for s in params.stop) if i >= 0]
                text = text[: min(cuts)] if cuts else text
            estimate = Usage(input_tokens=prompt_tokens, output_tokens=count_text_tokens(text))
            return Sample(text, reported or estimate)

        return await complete_samples(
            params.n, sample, model_id=self._model_id, response_format=response_format
        )


class EngineLLM(LLM):
    """The apo_core engine as a LlamaIndex ``LLM`` (chat and completion, sync and async).

    Every call goes through ``engine.complete`` in the given ``role``: cached, rate limited,
    retried, budgeted and recorded in the ledger. Streaming yields the full text as one chunk.
    Usage goes into ``raw["usage"]`` (so ``TokenCountingHandler`` sees it). With
    ``instrument=True`` the engine's events are forwarded to LlamaIndex instrumentation as
    :class:`~llama_index_apo.instrumentation.EngineEvent`, nested under this LLM's spans.

    Example:
        >>> Settings.llm = EngineLLM(Engine(ScriptedChatModel(default="ok")))
    """

    role: str = "task"
    temperature: float = 0.0
    max_tokens: int | None = None
    context_window: int = 8192
    is_chat_model: bool = True
    model_name: str | None = None

    _engine: Engine = PrivateAttr()

    def __init__(
        self, engine: Engine, *, role: Role = "task", instrument: bool = True, **kwargs: Any
    ) -> None:
        kwargs["role"] = role
        super().__init__(**kwargs)
        self._engine = engine
        if instrument:
            instrument_engine(engine)

    @classmethod
    def class_name(cls) -> str:
        return "EngineLLM"

    @property
    def engine(self) -> Engine:
        """The engine every call goes through."""
        return self._engine

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        """Deep copies share the engine: its cache, limits, budget and ledger are the point
        (and its locks cannot be copied)."""
        clone = self.model_copy()
        if memo is not None:
            memo[id(self)] = clone
        return clone

    @property
    def metadata(self) -> LLMMetadata:
        name = self.model_name
        if name is None:
            try:
                name = self._engine.model_for(self.role).model_id
            except Exception:
                name = "apo-engine"
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_tokens or 256,
            is_chat_model=self.is_chat_model,
            model_name=name,
        )

    # -- the one engine call ------------------------------------------------------------------

    def _engine_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "role": self.role,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        out.update({k: kwargs[k] for k in _CALL_KWARGS if kwargs.get(k) is not None})
        return out

    async def _acall(self, messages: list[Message], kwargs: dict[str, Any]) -> Completion:
        return await self._engine.complete(messages, **self._engine_kwargs(kwargs))

    def _call(self, messages: list[Message], kwargs: dict[str, Any]) -> Completion:
        return run_sync(self._acall(messages, kwargs))

    @staticmethod
    def _raw(done: Completion) -> dict[str, Any]:
        u = done.usage
        usage = {
            "prompt_tokens": u.input_tokens,
            "completion_tokens": u.output_tokens,
            "total_tokens": u.total_tokens,
        }
        return {"model": done.model_id, "cached": done.cached, "usage": usage}

    def _chat_response(self, done: Completion) -> ChatResponse:
        message = ChatMessage(role=MessageRole.ASSISTANT, content=done.text)
        return ChatResponse(message=message, raw=self._raw(done), delta=done.text)

    def _completion_response(self, done: Completion) -> CompletionResponse:
        return CompletionResponse(text=done.text, raw=self._raw(done), delta=done.text)

    @staticmethod
    def _prompt_messages(prompt: str) -> list[Message]:
        return [Message(role="user", content=prompt)]

    # -- LlamaIndex LLM interface ---------------------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._chat_response(self._call(from_llama_messages(messages), kwargs))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._chat_response(await self._acall(from_llama_messages(messages), kwargs))

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self._completion_response(self._call(self._prompt_messages(prompt), kwargs))

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        done = await self._acall(self._prompt_messages(prompt), kwargs)
        return self._completion_response(done)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        response = self._chat_response(self._call(from_llama_messages(messages), kwargs))

        def gen() -> Generator[ChatResponse, None, None]:
            yield response

        return gen()

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        response = self._chat_response(await self._acall(from_llama_messages(messages), kwargs))

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            yield response

        return gen()

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        response = self._completion_response(self._call(self._prompt_messages(prompt), kwargs))

        def gen() -> Generator[CompletionResponse, None, None]:
            yield response

        return gen()

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        done = await self._acall(self._prompt_messages(prompt), kwargs)
        response = self._completion_response(done)

        async def gen() -> AsyncGenerator[CompletionResponse, None]:
            yield response

        return gen()


def adapt_llm(model: Any) -> ChatModel | None:
    """A LlamaIndex ``LLM`` as an apo_core chat model (``None`` for anything else).

    An :class:`EngineLLM` gives the model of its engine's role (no engine inside an engine);
    any other LLM is wrapped by :class:`LlamaIndexChatModel`. This is the ``adapt`` the
    optimizer and the BPO components pass to :mod:`apo_core.models.roles`.
    """
    if isinstance(model, EngineLLM):
        return model.engine.model_for(model.role)
    return LlamaIndexChatModel(model) if isinstance(model, LLM) else None
