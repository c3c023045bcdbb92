"""Plain data types shared by every part of apo_core."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["task", "optimizer", "judge", "rewriter"]
"""The four roles an LLM call can play. Each role may use its own model."""

ROLES: tuple[Role, ...] = ("task", "optimizer", "judge", "rewriter")

MessageRole = Literal["system", "user", "assistant"]


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(frozen=True)

    role: MessageRole
    content: str


class Usage(BaseModel):
    """Token usage of one call (all samples together)."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class CompletionParams(BaseModel):
    """Sampling parameters of one request. Part of the cache key."""

    model_config = ConfigDict(frozen=True)

    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, gt=0)
    n: int = Field(default=1, ge=1, le=128)
    stop: tuple[str, ...] = ()
    seed: int | None = None
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)


class Completion(BaseModel):
    """What a model returned: ``n`` texts, their usage and provenance.

    ``parsed`` holds one validated object per text when a structured-output schema was asked
    for and the text parsed (``None`` where it did not). ``finish_reason`` is why generation
    stopped, as the backend reports it (``"stop"``, ``"length"``, ...): ``"length"`` when any
    sample hit ``max_tokens`` (so a cut text is never mistaken for a whole one), ``None`` when
    the backend does not say.
    """

    texts: list[str]
    usage: Usage = Usage()
    model_id: str
    cached: bool = False
    parsed: list[Any] | None = None
    finish_reason: str | None = None

    @property
    def text(self) -> str:
        """The first sample's text."""
        return self.texts[0] if self.texts else ""


def merge_finish_reasons(reasons: list[str | None]) -> str | None:
    """One :attr:`Completion.finish_reason` for several samples: ``"length"`` if any sample
    was cut, else the first sample's reason."""
    if "length" in reasons:
        return "length"
    return reasons[0] if reasons else None


def as_messages(messages: str | Message | dict[str, str] | list[Any]) -> list[Message]:
    """Coerce a string, a message, a dict or a list of them into a list of :class:`Message`.

    A bare string becomes one user message.
    """
    if isinstance(messages, str):
        return [Message(role="user", content=messages)]
    if isinstance(messages, Message):
        return [messages]
    if isinstance(messages, dict):
        return [Message.model_validate(messages)]
    return [m if isinstance(m, Message) else Message.model_validate(m) for m in messages]
