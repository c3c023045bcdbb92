"""Chat models both ways: LangChain models inside the engine, the engine inside LangChain.

* :class:`LangChainChatModel` wraps any LangChain ``BaseChatModel`` as an apo_core
  :class:`~apo_core.models.ChatModel`, so it can serve an engine role.
* :class:`EngineChatModel` is a LangChain ``BaseChatModel`` backed by an
  :class:`~apo_core.engine.Engine`, so chains share the engine's cache, limits, budget and
  ledger.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, ConfigDict

from apo_core.engine import Engine
from apo_core.models import classify_provider_error
from apo_core.models.base import (
    ChatModel,
    ModelIdentity,
    Sample,
    complete_samples,
    parse_all,
    sample_params,
    schema_instruction,
)
from apo_core.sync import run_sync
from apo_core.types import Completion, CompletionParams, Message, Role, Usage

__all__ = ["EngineChatModel", "LangChainChatModel", "from_langchain", "to_langchain"]

_PARAM_FIELDS: dict[str, tuple[str, ...]] = {
    "temperature": ("temperature",),
    "max_tokens": (
        "max_tokens",
        "max_completion_tokens",
        "num_predict",
        "max_output_tokens",
        "max_new_tokens",
    ),
    "seed": ("seed", "random_seed"),
    "top_p": ("top_p",),
}


def to_langchain(messages: Sequence[Message]) -> list[BaseMessage]:
    """apo_core messages as LangChain messages."""
    kinds: dict[str, type[BaseMessage]] = {
        "system": SystemMessage,
        "user": HumanMessage,
        "assistant": AIMessage,
    }
    return [kinds[m.role](content=m.content) for m in messages]


def from_langchain(messages: Sequence[BaseMessage]) -> list[Message]:
    """LangChain messages as apo_core messages (tool and function messages count as user)."""
    roles = {"system": "system", "developer": "system", "ai": "assistant"}
    out: list[Message] = []
    for message in messages:
        role = roles.get(message.type, "user")
        out.append(Message.model_validate({"role": role, "content": message.text}))
    return out


def _usage_of(message: BaseMessage) -> Usage:
    meta = getattr(message, "usage_metadata", None)
    if not meta:
        return Usage()
    return Usage(
        input_tokens=int(meta.get("input_tokens", 0)),
        output_tokens=int(meta.get("output_tokens", 0)),
    )


def _with_instruction(messages: list[BaseMessage], instruction: str) -> list[BaseMessage]:
    """Append ``instruction`` to the first system message, or prepend one."""
    if messages and isinstance(messages[0], SystemMessage):
        merged = SystemMessage(content=f"{messages[0].text}\n\n{instruction}")
        return [merged, *messages[1:]]
    return [SystemMessage(content=instruction), *messages]


def map_error(exc: Exception, model_id: str) -> Exception:
    """Translate a provider exception into an apo_core error when it is recognisable.

    The rules are :func:`apo_core.models.classify_provider_error`'s (shared by every
    backend): 408, 409, 429 and 5xx are retryable (honouring Retry-After), other 4xx fatal;
    without a status, timeouts, connection errors and rate-limit-like exceptions are
    retryable. Anything else is returned unchanged.
    """
    return classify_provider_error(exc, model_id) or exc


class LangChainChatModel(ModelIdentity):
    """Any LangChain chat model as an apo_core :class:`~apo_core.models.ChatModel`.

    Sampling parameters are set on a shallow copy of the model (``model_copy``), on the
    fields it declares: ``temperature``, ``max_tokens`` (or ``max_completion_tokens``,
    ``num_predict``, ``max_output_tokens``, ``max_new_tokens``), ``seed``, ``top_p``; every
    provider reads its own fields, while call kwargs are not understood by all of them.
    ``stop`` is passed to ``ainvoke``. ``n`` samples are ``n`` concurrent calls. With a
    ``response_format`` the model's ``with_structured_output`` is used when it has one, else
    the reply is parsed tolerantly. Provider SDK retries (e.g. ``max_retries``) stack with the
    engine's: consider turning them off.

    Args:
        model: the LangChain chat model.
        model_id: id for the ledger and prices; default from the model's LangSmith params.
        provider: provider for prices; default from the model's LangSmith params.
        structured: try ``with_structured_output`` for ``response_format`` requests.
    """

    def __init__(
        self,
        model: BaseChatModel,
        *,
        model_id: str | None = None,
        provider: str | None = None,
        structured: bool = True,
    ) -> None:
        self.model = model
        params = model._get_ls_params()
        self._model_id = model_id or str(params.get("ls_model_name") or model._llm_type)
        self._provider = provider or str(params.get("ls_provider") or model._llm_type)
        self.structured = structured
        declared = type(model).model_fields
        self._fields = {
            param: next(name for name in names if name in declared)
            for param, names in _PARAM_FIELDS.items()
            if any(name in declared for name in names)
        }
        digest = hashlib.sha256(model._get_llm_string().encode()).hexdigest()[:16]
        self._cache_identity = f"langchain:{self._provider}:{self._model_id}:{digest}"

    def __repr__(self) -> str:
        return f"LangChainChatModel({type(self.model).__name__}, model_id={self._model_id!r})"

    def configured(self, params: CompletionParams) -> BaseChatModel:
        """The model with ``params`` set on the fields it declares (a shallow copy if any)."""
        update = {
            field: getattr(params, param)
            for param, field in self._fields.items()
            if getattr(params, param) is not None
            and getattr(params, param) != getattr(self.model, field)
        }
        return self.model.model_copy(update=update) if update else self.model

    async def _structured(
        self, model: BaseChatModel, lc_messages: list[BaseMessage], schema: type[BaseModel]
    ) -> tuple[str, Any, Usage] | None:
        try:
            runnable = model.with_structured_output(schema, include_raw=True)
        except NotImplementedError:
            return None
        out = await runnable.ainvoke(lc_messages)
        raw = out.get("raw") if isinstance(out, dict) else None
        parsed = out.get("parsed") if isinstance(out, dict) else out
        usage = _usage_of(raw) if isinstance(raw, BaseMessage) else Usage()
        text = raw.text if isinstance(raw, BaseMessage) else ""
        if isinstance(parsed, BaseModel):
            text = text or parsed.model_dump_json()
        elif isinstance(parsed, dict):
            parsed = schema.model_validate(parsed)
            text = text or parsed.model_dump_json()
        else:
            parsed = None
        return text, parsed, usage

    async def _sample(
        self,
        model: BaseChatModel,
        lc_messages: list[BaseMessage],
        stop: list[str] | None,
        response_format: type[BaseModel] | None,
    ) -> tuple[str, Any, Usage]:
        if response_format is not None and self.structured:
            done = await self._structured(model, lc_messages, response_format)
            if done is not None:
                return done
        if response_format is not None:
            lc_messages = _with_instruction(lc_messages, schema_instruction(response_format))
        reply = await model.ainvoke(lc_messages, stop=stop)
        text = reply.text
        parsed = parse_all([text], response_format)
        return text, parsed[0] if parsed else None, _usage_of(reply)

    async def complete(
        self,
        messages: list[Message],
        params: CompletionParams,
        *,
        response_format: type[BaseModel] | None = None,
    ) -> Completion:
        """``params.n`` completions, one LangChain call each."""
        lc_messages = to_langchain(messages)
        stop = list(params.stop) or None

        shared = self.configured(params)
        seeded = params.seed is not None and "seed" in self._fields

        async def one(i: int) -> Sample:
            # Sample i gets seed + i (as the OpenAI and embedded backends do): with one seed a
            # seeded provider would return n identical samples.
            model = self.configured(sample_params(params, i)) if seeded else shared
            try:
                text, parsed, usage = await self._sample(model, lc_messages, stop, response_format)
            except Exception as exc:
                mapped = map_error(exc, self._model_id)
                if mapped is exc:
                    raise
                raise mapped from exc
            return Sample(text, usage, parsed)

        return await complete_samples(
            params.n, one, model_id=self._model_id, response_format=response_format
        )


class EngineChatModel(BaseChatModel):
    """A LangChain chat model whose calls go through an apo_core :class:`Engine`.

    Every call takes the engine's path (cache, budget, limits, retries, ledger, events) with
    the model of ``role`` (or ``chat_model`` when set). Call kwargs ``temperature``,
    ``max_tokens``, ``seed`` and ``top_p`` override the fields for one call. Prefer the async
    API: the sync one runs the engine with :func:`apo_core.run_sync`.

    Example:
        >>> llm = EngineChatModel(engine=engine, role="task")
        >>> chain = prompt | llm | StrOutputParser()
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    engine: Engine
    role: Role = "task"
    chat_model: Any = None
    """An apo_core ChatModel used instead of the role's model (``engine.complete(model=...)``)."""
    temperature: float = 0.0
    max_tokens: int | None = None
    seed: int | None = None
    top_p: float | None = None

    @property
    def _llm_type(self) -> str:
        return "apo-engine"

    def _backend(self) -> ChatModel:
        return cast(ChatModel, self.chat_model or self.engine.model_for(self.role))

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "model_id": self._backend().model_id,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "top_p": self.top_p,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        backend = self._backend()
        params["ls_provider"] = backend.provider
        params["ls_model_name"] = backend.model_id
        params["ls_temperature"] = kwargs.get("temperature", self.temperature)
        return params

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        completion = await self.engine.complete(
            from_langchain(messages),
            role=self.role,
            temperature=kwargs.get("temperature", self.temperature),
            max_tokens=kwargs.get("max_tokens", self.max_tokens),
            seed=kwargs.get("seed", self.seed),
            top_p=kwargs.get("top_p", self.top_p),
            stop=stop,
            sample_index=int(kwargs.get("sample_index", 0)),
            model=cast(ChatModel | None, self.chat_model),
        )
        usage = completion.usage
        usage_metadata = UsageMetadata(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            total_tokens=usage.total_tokens,
        )
        metadata = {"model_name": completion.model_id, "cached": completion.cached}
        message = AIMessage(
            content=completion.text, usage_metadata=usage_metadata, response_metadata=metadata
        )
        return ChatResult(
            generations=[ChatGeneration(message=message)],
            llm_output={"model_name": completion.model_id, "token_usage": dict(usage_metadata)},
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return run_sync(self._agenerate(messages, stop=stop, **kwargs))
