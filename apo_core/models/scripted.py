"""ScriptedChatModel: a deterministic model for tests, docs and users' own tests.

Replies come from rules (first match wins), then from a queue, then from a default. A reply may
be a string, an exception to raise (fault injection), or a callable computing either from the
request. Every request is recorded in :attr:`ScriptedChatModel.calls`.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pydantic import BaseModel

from apo_core.models.base import ModelIdentity, Sample, complete_samples
from apo_core.types import Completion, CompletionParams, Message, Usage


@dataclass(frozen=True)
class ScriptedRequest:
    """What the scripted model was asked, and which sample of the request this is."""

    messages: tuple[Message, ...]
    params: CompletionParams
    sample: int
    response_format: type[BaseModel] | None = None

    @property
    def prompt(self) -> str:
        """All message contents joined by newlines (handy for matching)."""
        return "\n".join(m.content for m in self.messages)

    @property
    def last_user(self) -> str:
        """The content of the last user message, or ''."""
        users = [m.content for m in self.messages if m.role == "user"]
        return users[-1] if users else ""


Reply = str | BaseException | Callable[[ScriptedRequest], str | BaseException]
FinishReason = str | None | Callable[[ScriptedRequest], str | None]
Matcher = str | re.Pattern[str] | Callable[[ScriptedRequest], bool]


def _matches(matcher: Matcher, request: ScriptedRequest) -> bool:
    if callable(matcher) and not isinstance(matcher, re.Pattern):
        return bool(matcher(request))
    pattern = matcher if isinstance(matcher, re.Pattern) else re.compile(matcher, re.S)
    return pattern.search(request.prompt) is not None


def count_tokens(text: str) -> int:
    """A deterministic token count for scripted usage: words and punctuation runs."""
    return len(re.findall(r"\w+|[^\w\s]", text))


class ScriptedChatModel(ModelIdentity):
    """A deterministic, recording chat model.

    Args:
        rules: ``(matcher, reply)`` pairs tried in order. A matcher is a regex searched in the
            request's joined messages, or a predicate on :class:`ScriptedRequest`.
        queue: replies used in order when no rule matches.
        default: reply when no rule matches and the queue is empty; ``None`` raises.
        model_id: the id reported in completions and the ledger.
        provider: provider name for pricing (unknown providers cost 0).
        finish_reason: the reported :attr:`~apo_core.types.Completion.finish_reason`
            (``"length"`` scripts a reply cut at ``max_tokens``), or a callable giving it per
            sample.

    Example:
        >>> model = ScriptedChatModel(rules=[(r"capital of France", "Paris")], default="?")
    """

    def __init__(
        self,
        rules: Iterable[tuple[Matcher, Reply]] = (),
        *,
        queue: Iterable[Reply] = (),
        default: Reply | None = None,
        model_id: str = "scripted",
        provider: str = "scripted",
        finish_reason: FinishReason = "stop",
    ) -> None:
        self.rules: list[tuple[Matcher, Reply]] = list(rules)
        self.queue: deque[Reply] = deque(queue)
        self.default = default
        self._model_id = model_id
        self._provider = provider
        self._cache_identity = f"scripted:{model_id}"
        self.finish_reason = finish_reason
        self.calls: list[ScriptedRequest] = []

    def _reply_for(self, request: ScriptedRequest) -> str:
        reply: Reply | None = None
        for matcher, candidate in self.rules:
            if _matches(matcher, request):
                reply = candidate
                break
        else:
            reply = self.queue.popleft() if self.queue else self.default
        if reply is None:
            raise LookupError(f"ScriptedChatModel has no reply for: {request.prompt[:200]!r}")
        if callable(reply) and not isinstance(reply, BaseException):
            reply = reply(request)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    async def complete(
        self,
        messages: list[Message],
        params: CompletionParams,
        *,
        response_format: type[BaseModel] | None = None,
    ) -> Completion:
        async def one(sample: int) -> Sample:
            request = ScriptedRequest(tuple(messages), params, sample, response_format)
            self.calls.append(request)
            text = self._reply_for(request)
            reason = self.finish_reason
            return Sample(
                text,
                Usage(output_tokens=count_tokens(text)),
                finish_reason=reason(request) if callable(reason) else reason,
            )

        input_tokens = sum(count_tokens(m.content) for m in messages)  # billed once
        return await complete_samples(
            params.n,
            one,
            model_id=self._model_id,
            response_format=response_format,
            usage=Usage(input_tokens=input_tokens),
        )
