"""Meta-prompt styles: how the expander asks the optimizer for reasons, edits, paraphrases.

``"full"`` (:mod:`apo_core.apo.prompts`) suits capable models: one request returns all ``k``
items, as JSON (``structured``) or tagged text. ``"compact"`` (:mod:`apo_core.apo.compact`)
suits tiny ones: worked examples, one item per sample (``n=k``), stop sequences, instruction
rewrites spliced into the prompt. ``"auto"`` takes the style the optimizer model advertises
in a ``meta_prompt_style`` attribute (the embedded model says ``"compact"``), else ``"full"``.
Both styles produce the same things (reasons, whole candidate prompts), so the ProTeGi steps
around them do not change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel

from apo_core.apo import compact
from apo_core.apo.config import APOConfig
from apo_core.apo.parsing import GradientReply, PromptsReply, parse_completion
from apo_core.apo.prompts import ErrorCase, edit_messages, gradient_messages, paraphrase_messages
from apo_core.apo.protection import PromptGuard
from apo_core.types import Completion, Message

Style = Literal["full", "compact"]
Field = Literal["reasons", "prompts"]
COMPACT_MAX_TOKENS = 120
"""Output cap of a compact reason or one-line instruction (a whole rewrite gets the config's)."""


def resolve_style(setting: str, model: object) -> Style:
    """The style to use: ``setting`` unless it is ``"auto"``, then the model's advertised one."""
    if setting in ("full", "compact"):
        return "full" if setting == "full" else "compact"
    advertised = getattr(model, "meta_prompt_style", None)
    return "compact" if advertised == "compact" else "full"


@dataclass(frozen=True)
class MetaRequest:
    """One optimizer request and how to read its replies.

    ``read`` gives the items of each sample: reasons, or whole candidate prompts.
    """

    messages: list[Message]
    field: Field
    read: Callable[[Completion], list[list[str]]]
    n: int = 1
    stop: tuple[str, ...] = ()
    max_tokens: int | None = None
    """``None``: the config's ``optimizer_max_tokens``."""
    schema: type[BaseModel] | None = None
    """Sent as ``response_format`` (structured output)."""


class MetaPrompts(Protocol):
    """Builds the three kinds of optimizer requests of one style."""

    style: Style

    def gradient(self, prompt: str, errors: Sequence[ErrorCase], k: int) -> MetaRequest:
        """Ask for ``k`` reasons why ``prompt`` fails on ``errors``."""
        ...

    def edit(self, prompt: str, errors: Sequence[ErrorCase], reason: str, k: int) -> MetaRequest:
        """Ask for ``k`` new prompts that fix ``reason``."""
        ...

    def paraphrase(self, prompt: str, n: int) -> MetaRequest:
        """Ask for ``n`` paraphrases of ``prompt`` (one per sample)."""
        ...


class FullMetaPrompts:
    """The full meta-prompts: JSON or tagged lists, all ``k`` items in one reply."""

    style: Style = "full"

    def __init__(self, guard: PromptGuard, structured: bool) -> None:
        self.guard = guard
        self.structured = structured

    def _reader(self, field: Field) -> Callable[[Completion], list[list[str]]]:
        prefer_tags = not self.structured

        def read(completion: Completion) -> list[list[str]]:
            return parse_completion(completion, field, prefer_tags=prefer_tags)

        return read

    def _schema(self, schema: type[BaseModel]) -> type[BaseModel] | None:
        return schema if self.structured else None

    def gradient(self, prompt: str, errors: Sequence[ErrorCase], k: int) -> MetaRequest:
        messages = gradient_messages(prompt, errors, k, structured=self.structured)
        return MetaRequest(
            messages, "reasons", self._reader("reasons"), schema=self._schema(GradientReply)
        )

    def edit(self, prompt: str, errors: Sequence[ErrorCase], reason: str, k: int) -> MetaRequest:
        messages = edit_messages(
            prompt,
            errors,
            reason,
            k,
            placeholders=self.guard.placeholders(),
            spans=self.guard.spans,
            structured=self.structured,
        )
        return MetaRequest(
            messages, "prompts", self._reader("prompts"), schema=self._schema(PromptsReply)
        )

    def paraphrase(self, prompt: str, n: int) -> MetaRequest:
        messages = paraphrase_messages(
            prompt,
            placeholders=self.guard.placeholders(),
            spans=self.guard.spans,
            structured=self.structured,
        )
        return MetaRequest(
            messages, "prompts", self._reader("prompts"), n=n, schema=self._schema(PromptsReply)
        )


class CompactMetaPrompts:
    """The compact meta-prompts for tiny models (see :mod:`apo_core.apo.compact`)."""

    style: Style = "compact"

    def __init__(self, guard: PromptGuard, max_tokens: int) -> None:
        self.guard = guard
        self.max_tokens = max_tokens

    def _is_fixed(self, line: str) -> bool:
        try:
            return bool(self.guard.program.variables(line))
        except ValueError:  # a lone brace: leave the line alone
            return True

    def slot(self, prompt: str) -> compact.Slot:
        """Where an edit or paraphrase of ``prompt`` goes."""
        return compact.find_instruction(prompt, self._is_fixed, self.guard.spans)

    def _cap(self, whole: bool) -> int:
        return self.max_tokens if whole else min(self.max_tokens, COMPACT_MAX_TOKENS)

    def gradient(self, prompt: str, errors: Sequence[ErrorCase], k: int) -> MetaRequest:
        def read(completion: Completion) -> list[list[str]]:
            items = (compact.read_reply(t, one_line=True) for t in completion.texts)
            return [[item] if item else [] for item in items]

        messages = compact.gradient_messages(prompt, errors)
        return MetaRequest(
            messages, "reasons", read, n=k, stop=compact.REASON_STOP, max_tokens=self._cap(False)
        )

    def _rewrite(
        self, slot: compact.Slot, messages: list[Message], n: int, context: str
    ) -> MetaRequest:
        whole = slot.whole

        def read(completion: Completion) -> list[list[str]]:
            out: list[list[str]] = []
            for text in completion.texts:
                item = compact.read_reply(text, one_line=not whole, context=context)
                out.append([slot.splice(item)] if item else [])
            return out

        stop = () if whole else compact.LINE_STOP
        return MetaRequest(messages, "prompts", read, n=n, stop=stop, max_tokens=self._cap(whole))

    def edit(self, prompt: str, errors: Sequence[ErrorCase], reason: str, k: int) -> MetaRequest:
        slot = self.slot(prompt)
        messages = compact.edit_messages(slot.text, reason)
        return self._rewrite(slot, messages, k, context=f"{slot.text}\n{reason}")

    def paraphrase(self, prompt: str, n: int) -> MetaRequest:
        slot = self.slot(prompt)
        messages = compact.paraphrase_messages(slot.text)
        return self._rewrite(slot, messages, n, context=slot.text)


def make_meta_prompts(style: Style, guard: PromptGuard, config: APOConfig) -> MetaPrompts:
    """The meta-prompt builder of ``style`` for a run."""
    if style == "compact":
        return CompactMetaPrompts(guard, config.optimizer_max_tokens)
    return FullMetaPrompts(guard, config.structured)
