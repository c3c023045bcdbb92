"""OpenAIChatModel: OpenAI and any OpenAI-compatible server (vLLM, Ollama, llama.cpp, Azure).

The SDK's own retries are off (``max_retries=0``): the engine retries, with accounting. Provider
errors are translated by :func:`~apo_core.models.classify_provider_error`:
429/408/409/5xx, timeouts, connection errors and garbled replies become
:class:`~apo_core.errors.RetryableModelError`; 400/401/403/404/422 (and a 429 for an exhausted
quota) become :class:`~apo_core.errors.ModelCallError`. The API key is never part of the cache
identity, the repr, or an error message.
"""

from __future__ import annotations

import asyncio
import os
import re
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel

from apo_core.errors import ConfigError, ModelCallError, RetryableModelError
from apo_core.models.base import (
    UNPRICED_PROVIDER,
    parse_all,
    sample_params,
    schema_instruction,
)
from apo_core.models.provider_errors import classify_provider_error
from apo_core.models.tokens import count_message_tokens, count_text_tokens
from apo_core.types import Completion, CompletionParams, Message, Usage, merge_finish_reasons

StructuredMode = Literal["auto", "json_schema", "json_object", "text"]
OPENAI_BASE_URL = "https://api.openai.com/v1"
_STRUCTURED_REFUSAL = re.compile(
    r"response[_ ]?format|json[_ ]?schema|json[_ ]?object|structured[_ ]?output|guided|grammar",
    re.I,
)


def refuses_structured_output(exc: BaseException) -> bool:
    """Whether a 400/422 is the server refusing the structured-output request itself.

    True when the error's ``param`` is ``response_format`` or its message is about
    ``response_format``, JSON schema/JSON mode, structured output or grammars; other bad
    requests (a prompt over the context window, a bad parameter) are not: trying another
    structured-output mode would only repeat them.
    """
    param = getattr(exc, "param", None)
    if isinstance(param, str) and "response_format" in param:
        return True
    message = getattr(exc, "message", None)
    text = message if isinstance(message, str) else str(exc)
    return _STRUCTURED_REFUSAL.search(text) is not None


Samples = tuple[list[str], Usage, list[str | None]]
"""Texts, usage and finish reasons of one request."""


async def complete_topped_up(
    create: Callable[[int, int | None], Awaitable[Samples]],
    params: CompletionParams,
    *,
    model_id: str,
    response_format: type[BaseModel] | None,
) -> Completion:
    """``params.n`` samples from ``create(n, seed)``, as one Completion.

    Some servers (llama.cpp, Ollama) ignore ``n``: the missing samples are asked for one at a
    time, sample ``i`` with ``seed + i``.
    """
    texts, usage, reasons = await create(params.n, params.seed)
    while len(texts) < params.n:
        more, more_usage, more_reasons = await create(1, sample_params(params, len(texts)).seed)
        texts, usage, reasons = texts + more, usage + more_usage, reasons + more_reasons
    texts = texts[: params.n]
    return Completion(
        texts=texts,
        usage=usage,
        model_id=model_id,
        parsed=parse_all(texts, response_format),
        finish_reason=merge_finish_reasons(reasons[: params.n]),
    )


def read_usage(response: Any, texts: list[str], input_estimate: Callable[[], int]) -> Usage:
    """The usage a response reports, or an estimate when the server reports none."""
    usage = getattr(response, "usage", None)
    if usage is not None and usage.prompt_tokens is not None:
        return Usage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens or 0)
    return Usage(
        input_tokens=input_estimate(), output_tokens=sum(count_text_tokens(t) for t in texts)
    )


class OpenAIChatModel:
    """A chat model behind the OpenAI chat-completions API.

    Args:
        model: the model name, e.g. ``"gpt-4o-mini"`` or the name a local server serves.
        base_url: the server, e.g. ``"http://127.0.0.1:8000/v1"``; default OpenAI (or the
            ``OPENAI_BASE_URL`` environment variable).
        api_key: the key; default ``OPENAI_API_KEY``. Local servers need none.
        provider: provider name for prices; default ``"openai"`` for OpenAI itself and
            ``"openai-compatible"`` (unpriced) for other servers.
        structured: how to ask for structured output: ``"json_schema"``, ``"json_object"``,
            ``"text"`` (schema in the prompt, tolerant parsing), or ``"auto"`` (try each in that
            order and remember what the server accepts). ``"auto"`` moves on only when a 400 or
            422 is about the structured-output request (see
            :func:`refuses_structured_output`); any other bad request fails at once.
        max_tokens_param: the request field for the output cap (``"max_tokens"`` is understood
            by every compatible server; OpenAI's reasoning models want
            ``"max_completion_tokens"``).
        client: an ``openai.AsyncOpenAI`` (or any object with the same
            ``chat.completions.create``) to use instead of creating one.
        extra_body: extra JSON fields sent with every request (server-specific options).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        provider: str | None = None,
        structured: StructuredMode = "auto",
        max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens",
        client: Any | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if not model:
            raise ConfigError("OpenAIChatModel needs a model name")
        self._model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL).rstrip(
            "/"
        )
        is_openai = self.base_url == OPENAI_BASE_URL
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if client is None and not key:
            if is_openai:
                raise ConfigError(
                    "no OpenAI API key: set OPENAI_API_KEY or pass api_key=..., "
                    "or point base_url at an OpenAI-compatible server"
                )
            key = "not-needed"
        self.__api_key = key or ""
        self._provider = provider or ("openai" if is_openai else UNPRICED_PROVIDER)
        self.structured: StructuredMode = structured
        self.max_tokens_param = max_tokens_param
        self.extra_body = dict(extra_body or {})
        self._client = client
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"OpenAIChatModel(model={self._model!r}, base_url={self.base_url!r})"

    @property
    def model_id(self) -> str:
        return self._model

    @property
    def provider(self) -> str:
        return self._provider

    @property
    def cache_identity(self) -> str:
        return f"openai:{self.base_url}:{self._model}"

    def _get_client(self) -> Any:
        if self._client is not None:
            return self._client
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            import openai

            client = openai.AsyncOpenAI(
                api_key=self.__api_key, base_url=self.base_url, max_retries=0
            )
            self._clients[loop] = client
        return client

    def _redact(self, text: str) -> str:
        key = self.__api_key
        if key and key != "not-needed" and len(key) >= 6:
            text = text.replace(key, "***")
        return text

    def _translate(self, exc: Exception) -> ModelCallError:
        where = f"{self._model} at {self.base_url}"
        mapped = classify_provider_error(exc, where, redact=self._redact)
        if mapped is not None:
            return mapped
        if isinstance(exc, ValueError):  # the SDK could not read the reply
            return RetryableModelError(f"{where} sent a malformed reply: {self._redact(str(exc))}")
        return ModelCallError(f"{where} failed: {self._redact(str(exc))}")

    def _request(
        self,
        messages: list[Message],
        params: CompletionParams,
        mode: StructuredMode,
        schema: type[BaseModel] | None,
        n: int,
        seed: int | None,
    ) -> dict[str, Any]:
        msgs = [{"role": m.role, "content": m.content} for m in messages]
        if schema is not None and mode in ("text", "json_object"):
            msgs = [{"role": "system", "content": schema_instruction(schema)}, *msgs]
        request: dict[str, Any] = {
            "model": self._model,
            "messages": msgs,
            "temperature": params.temperature,
            "n": n,
        }
        if params.max_tokens is not None:
            request[self.max_tokens_param] = params.max_tokens
        if params.stop:
            request["stop"] = list(params.stop)
        if seed is not None:
            request["seed"] = seed
        if params.top_p is not None:
            request["top_p"] = params.top_p
        if schema is not None and mode == "json_schema":
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()},
            }
        elif schema is not None and mode == "json_object":
            request["response_format"] = {"type": "json_object"}
        if self.extra_body:
            request["extra_body"] = self.extra_body
        return request

    async def _create(
        self,
        messages: list[Message],
        params: CompletionParams,
        schema: type[BaseModel] | None,
        n: int,
        seed: int | None,
    ) -> Samples:
        modes: list[StructuredMode] = (
            ["json_schema", "json_object", "text"]
            if self.structured == "auto"
            else [self.structured]
        )
        if schema is None:
            modes = ["text"]
        import openai  # imported on first use: it takes about a second

        for i, mode in enumerate(modes):
            try:
                response = await self._get_client().chat.completions.create(
                    **self._request(messages, params, mode, schema, n, seed)
                )
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                if i + 1 < len(modes) and refuses_structured_output(exc):
                    continue  # the server refused this structured-output mode: try the next
                raise
            if schema is not None and self.structured == "auto":
                self.structured = mode
            return self._read(response, messages)
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, response: Any, messages: list[Message]) -> Samples:
        choices = getattr(response, "choices", None)
        if not choices:
            raise RetryableModelError(f"{self._model} returned no choices")
        texts = [(c.message.content or "") if c.message else "" for c in choices]
        reasons = [getattr(c, "finish_reason", None) for c in choices]
        return texts, read_usage(response, texts, lambda: count_message_tokens(messages)), reasons

    async def complete(
        self,
        messages: list[Message],
        params: CompletionParams,
        *,
        response_format: type[BaseModel] | None = None,
    ) -> Completion:
        try:
            return await complete_topped_up(
                lambda n, seed: self._create(messages, params, response_format, n, seed),
                params,
                model_id=self._model,
                response_format=response_format,
            )
        except ModelCallError:
            raise
        except Exception as exc:
            raise self._translate(exc) from None
