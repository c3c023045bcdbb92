"""OpenAICompletionModel: a raw-text model behind an OpenAI-compatible *completions* endpoint.

Made for fine-tuned rewriters with their own inference template, such as THUDM/BPO served by
vLLM: the caller applies the template and this backend sends the text verbatim as ``prompt`` to
``client.completions.create`` (no chat template, no system message). Transport and errors are
those of :class:`~apo_core.models.OpenAIChatModel` (same client settings, ``max_retries=0``,
same error translation, the API key never in an id, repr or message).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from apo_core.errors import ConfigError, ModelCallError, RetryableModelError
from apo_core.models.openai_model import OpenAIChatModel, Samples, complete_topped_up, read_usage
from apo_core.models.tokens import count_text_tokens
from apo_core.types import Completion, CompletionParams, Message


def prompt_of(messages: list[Message]) -> str:
    """The raw prompt sent to a completions endpoint: the last user message, verbatim.

    Raises:
        ConfigError: there is no user message.
    """
    for message in reversed(messages):
        if message.role == "user":
            return message.content
    raise ConfigError("OpenAICompletionModel needs a user message: its content is the prompt")


class OpenAICompletionModel:
    """A model behind the OpenAI (legacy) completions API: text in, text out.

    Only the content of the last user message is sent, verbatim, as the prompt; other messages
    are not sent (apply your template before calling). With ``response_format`` nothing is
    added to the prompt; the reply is parsed tolerantly into ``Completion.parsed``.

    Args:
        model: the served model name, e.g. ``"THUDM/BPO"``.
        base_url: the server, e.g. ``"http://127.0.0.1:8000/v1"``; default OpenAI (or the
            ``OPENAI_BASE_URL`` environment variable).
        api_key: the key; default ``OPENAI_API_KEY``. Local servers need none.
        provider: provider name for prices; default as :class:`OpenAIChatModel`.
        client: an ``openai.AsyncOpenAI`` (or any object with ``completions.create``).
        extra_body: extra JSON fields sent with every request (e.g. vLLM's ``min_tokens``).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        provider: str | None = None,
        client: Any | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if not model:
            raise ConfigError("OpenAICompletionModel needs a model name")
        # The chat model is the transport: client per event loop, error translation, redaction.
        self._transport = OpenAIChatModel(
            model, base_url=base_url, api_key=api_key, provider=provider, client=client
        )
        self._model = model
        self.extra_body = dict(extra_body or {})

    def __repr__(self) -> str:
        return f"OpenAICompletionModel(model={self._model!r}, base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def model_id(self) -> str:
        return self._model

    @property
    def provider(self) -> str:
        return self._transport.provider

    @property
    def cache_identity(self) -> str:
        return f"openai-completions:{self.base_url}:{self._model}"

    def count_input_tokens(self, messages: list[Message]) -> int:
        """Estimated tokens of the prompt actually sent."""
        return count_text_tokens(prompt_of(messages))

    def _request(
        self, prompt: str, params: CompletionParams, n: int, seed: int | None
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self._model,
            "prompt": prompt,
            "temperature": params.temperature,
            "n": n,
        }
        if params.max_tokens is not None:
            request["max_tokens"] = params.max_tokens
        if params.stop:
            request["stop"] = list(params.stop)
        if seed is not None:
            request["seed"] = seed
        if params.top_p is not None:
            request["top_p"] = params.top_p
        if self.extra_body:
            request["extra_body"] = self.extra_body
        return request

    async def _create(
        self, prompt: str, params: CompletionParams, n: int, seed: int | None
    ) -> Samples:
        client = self._transport._get_client()
        response = await client.completions.create(**self._request(prompt, params, n, seed))
        choices = getattr(response, "choices", None)
        if not choices:
            raise RetryableModelError(f"{self._model} returned no choices")
        texts = [c.text or "" for c in choices]
        reasons = [getattr(c, "finish_reason", None) for c in choices]
        return texts, read_usage(response, texts, lambda: count_text_tokens(prompt)), reasons

    async def complete(
        self,
        messages: list[Message],
        params: CompletionParams,
        *,
        response_format: type[BaseModel] | None = None,
    ) -> Completion:
        prompt = prompt_of(messages)
        try:
            return await complete_topped_up(
                lambda n, seed: self._create(prompt, params, n, seed),
                params,
                model_id=self._model,
                response_format=response_format,
            )
        except ModelCallError:
            raise
        except Exception as exc:
            raise self._transport._translate(exc) from None
