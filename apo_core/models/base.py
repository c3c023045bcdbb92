"""The ChatModel protocol: the one seam every backend plugs into.

A backend only has to turn messages into texts. Everything else (caching, retries, limits,
accounting, budgets, events) is the engine's job, so backends stay small. Backends raise
:class:`~apo_core.errors.RetryableModelError` for transient failures and
:class:`~apo_core.errors.ModelCallError` for fatal ones.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError

from apo_core.types import Completion, CompletionParams, Message, Usage, merge_finish_reasons

SchemaT = TypeVar("SchemaT", bound=BaseModel)

FREE_PROVIDERS = frozenset({"local", "scripted"})
"""Providers whose calls are free by construction (embedded model, scripted test model)."""

UNPRICED_PROVIDER = "openai-compatible"
"""A self-hosted or unknown OpenAI-compatible server: no price is guessed from the model name."""


@runtime_checkable
class ChatModel(Protocol):
    """An async chat model.

    Attributes:
        model_id: the model's name, used for the usage ledger and for prices
            (e.g. ``"gpt-4o-mini"``).
        provider: the provider name used to look up prices (``"openai"``, ``"local"``, ...).
        cache_identity: a string that tells this model apart from others in the cache key:
            model id plus anything that changes its answers (e.g. the server URL). It must
            never contain a secret.

    A backend may also declare ``max_concurrency: int``, the calls it can serve at once (the
    embedded model: 1). The engine then queues its calls before an attempt's timeout starts
    (see :func:`declared_concurrency`), so a call never times out waiting for its turn. A
    tiny model may declare ``meta_prompt_style = "compact"`` so that APO, as optimizer, uses
    the compact meta-prompts (see :mod:`apo_core.apo.metaprompts`).
    """

    @property
    def model_id(self) -> str: ...

    @property
    def provider(self) -> str: ...

    @property
    def cache_identity(self) -> str: ...

    async def complete(
        self,
        messages: list[Message],
        params: CompletionParams,
        *,
        response_format: type[BaseModel] | None = None,
    ) -> Completion:
        """Return ``params.n`` completions of ``messages``.

        With ``response_format``, ask the model for JSON matching that pydantic model (by the
        best means the backend has) and fill ``Completion.parsed``.
        """
        ...


class ModelIdentity:
    """The read-only identity a :class:`ChatModel` exposes, for backends to inherit.

    A backend sets ``_model_id``, ``_provider`` and ``_cache_identity`` in its ``__init__``.
    """

    _model_id: str
    _provider: str
    _cache_identity: str

    @property
    def model_id(self) -> str:
        """The model's name (ledger, prices)."""
        return self._model_id

    @property
    def provider(self) -> str:
        """The provider name used to look up prices."""
        return self._provider

    @property
    def cache_identity(self) -> str:
        """What tells this model apart in cache keys (never a secret)."""
        return self._cache_identity


def declared_concurrency(model: object) -> int | None:
    """The ``max_concurrency`` a backend declares (a positive int), or None for no limit."""
    value = getattr(model, "max_concurrency", None)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return None


def parse_structured(text: str, schema: type[SchemaT]) -> SchemaT | None:
    """Parse ``text`` as ``schema`` tolerantly: the whole text, else the first JSON object in it.

    Returns ``None`` when nothing validates. Used by backends without native structured output.
    """
    candidates = [text.strip()]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return schema.model_validate_json(candidate)
        except (ValidationError, ValueError):
            continue
    return None


def parse_all(texts: list[str], schema: type[BaseModel] | None) -> list[Any] | None:
    """Parse every text with :func:`parse_structured`, or return None without a schema."""
    if schema is None:
        return None
    return [parse_structured(t, schema) for t in texts]


@dataclass(frozen=True)
class Sample:
    """One sample of a request, as a backend produced it.

    ``parsed`` is the object a native structured-output call already returned; when it is
    ``None`` and a schema was asked for, :func:`complete_samples` parses ``text`` tolerantly.
    """

    text: str
    usage: Usage = field(default_factory=Usage)
    parsed: Any = None
    finish_reason: str | None = None


def sample_params(params: CompletionParams, i: int) -> CompletionParams:
    """The parameters of sample ``i`` of a request made one sample per call: ``n=1`` and
    ``seed + i`` (so a seeded backend gives ``n`` different samples, reproducibly)."""
    seed = None if params.seed is None else params.seed + i
    if params.n == 1 and seed == params.seed:
        return params
    return params.model_copy(update={"n": 1, "seed": seed})


async def complete_samples(
    n: int,
    sample: Callable[[int], Awaitable[Sample]],
    *,
    model_id: str,
    response_format: type[BaseModel] | None = None,
    usage: Usage | None = None,
) -> Completion:
    """Make ``n`` samples with ``sample(i)`` (concurrently) and assemble one Completion.

    For backends that make one sample per call (no native ``n``). The samples run as tasks
    started in order of ``i``; the first failure cancels the others and propagates (a sample
    nobody will use is not paid for).

    Args:
        n: how many samples.
        sample: makes sample ``i`` (0-based); it may use ``i`` to vary the seed.
        model_id: the id reported in the Completion.
        response_format: the structured-output schema, if one was asked for.
        usage: usage billed once for the whole request (e.g. a prompt counted once), added to
            the samples' own usage.
    """
    if n == 1:
        samples = [await sample(0)]
    else:
        tasks = [asyncio.ensure_future(sample(i)) for i in range(n)]
        try:
            samples = list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
    texts = [s.text for s in samples]
    parsed = None
    if response_format is not None:
        parsed = [
            s.parsed if s.parsed is not None else parse_structured(s.text, response_format)
            for s in samples
        ]
    total = sum((s.usage for s in samples), usage or Usage())
    return Completion(
        texts=texts,
        usage=total,
        model_id=model_id,
        parsed=parsed,
        finish_reason=merge_finish_reasons([s.finish_reason for s in samples]),
    )


def schema_instruction(schema: type[BaseModel]) -> str:
    """A system-prompt sentence asking for JSON matching ``schema`` (for text-only backends)."""
    return (
        "Reply with a single JSON object and nothing else. It must match this JSON schema:\n"
        + json.dumps(schema.model_json_schema(), sort_keys=True)
    )
