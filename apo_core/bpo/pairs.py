"""BPO training pairs from preference data: (prompt, optimized prompt) via the optimizer role.

For each row (instruction, optional context, good response, bad response) one ``optimizer``
call compares the two responses (correctness, then helpfulness, then harmlessness) and writes
an improved instruction. Replies are parsed for ``Detailed Comparison Result:`` and
``Optimized Instruction:``; the paper's filters drop rows without an optimized instruction,
rewrites shorter than half or longer than 6x the original (in words) and rewrites that leak
protection markers. Kept pairs become chat-format SFT records (see :mod:`apo_core.bpo.sft`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from apo_core.bpo.data import PreferenceRow
from apo_core.bpo.guard import word_count
from apo_core.bpo.templates import BANNED_MARKERS
from apo_core.engine import Engine
from apo_core.errors import ConfigError, ModelCallError
from apo_core.types import Message

DropReason = Literal[
    "no_optimized_instruction", "empty", "too_short", "too_long", "leaked_marker", "model_error"
]

PAIR_PROMPT = """\
Instruction:
"{instruction}"
{context}
Bad response:
"{bad}"

Good response:
"{good}"

First compare the good response with the bad response: correctness first (does the response \
follow the instruction and answer accurately?), then helpfulness (depth, creativity, \
coherence), then harmlessness. Then, as an expert prompt engineer, rewrite the instruction so \
that a model would answer it like the good response rather than the bad response.

Rules for the rewritten instruction:
1. Keep every piece of information in the original instruction, and the user's intent.
2. Do not add detailed content requirements taken from the good response that the instruction \
does not ask for, except as examples.
3. If the instruction raises safety issues, make it completely harmless and safe on the same \
topic.
4. Some parts of the instruction may be protected: never change or drop them.
5. Never answer the instruction yourself.{context_rule}

Reply in exactly this format:
Detailed Comparison Result: <your comparison>
Optimized Instruction: <the rewritten instruction> [END]"""

CONTEXT_BLOCK = '\nContext:\n"{context}"\n'
CONTEXT_RULE = (
    "\n6. Do not rewrite the context or copy it into the instruction: improve the instruction only."
)

_OPTIMIZED = re.compile(r"[*_#\s]*optimized\s+instruction[*_\s]*:[*_]*", re.I)
_COMPARISON = re.compile(r"\A[*_#\s]*detailed\s+comparison\s+result[*_\s]*:[*_]*\s*", re.I)
_LEAKS = ("[protect", *(m.lower() for m in BANNED_MARKERS), "[[", "]]")


class BPOPair(BaseModel):
    """One kept training pair."""

    prompt: str
    """The original prompt (instruction, then context on a new line when there is one)."""
    optimized_prompt: str
    comparison: str = ""
    instruction: str
    optimized_instruction: str
    context: str = ""


class DroppedRow(BaseModel):
    """A row the filters dropped, and why."""

    index: int
    reason: DropReason
    detail: str


class PairStats(BaseModel):
    """How many rows were kept and dropped, by reason."""

    total: int = 0
    kept: int = 0
    dropped: dict[str, int] = Field(default_factory=dict)


class PairResult(BaseModel):
    """Kept pairs (input order), dropped rows and the counts."""

    pairs: list[BPOPair] = Field(default_factory=list)
    dropped: list[DroppedRow] = Field(default_factory=list)
    stats: PairStats = Field(default_factory=PairStats)


def pair_messages(row: PreferenceRow) -> list[Message]:
    """The optimizer request for one row."""
    text = PAIR_PROMPT.format(
        instruction=row.instruction,
        context=CONTEXT_BLOCK.format(context=row.context) if row.context else "",
        bad=row.bad,
        good=row.good,
        context_rule=CONTEXT_RULE if row.context else "",
    )
    return [Message(role="user", content=text)]


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def parse_pair_reply(text: str) -> tuple[str, str | None]:
    """``(comparison, optimized instruction or None)`` from an optimizer reply."""
    text = text.split("[END]", 1)[0]
    found = list(_OPTIMIZED.finditer(text))
    if not found:
        return _COMPARISON.sub("", text.strip()), None
    first = found[0]
    comparison = _COMPARISON.sub("", text[: first.start()].strip()).strip()
    return comparison, _unquote(text[first.end() :])


def filter_pair(instruction: str, optimized: str | None) -> tuple[DropReason, str] | None:
    """The paper's filters: ``(reason, detail)`` for a rewrite to drop, or None to keep it."""
    if optimized is None:
        return "no_optimized_instruction", "the reply has no 'Optimized Instruction:'"
    if not optimized.strip():
        return "empty", "the optimized instruction is empty"
    before, after = word_count(instruction), word_count(optimized)
    if before > 2 * after:
        return "too_short", f"{after} words is less than half of the original's {before}"
    if after > 6 * before:
        return "too_long", f"{after} words is more than 6x the original's {before}"
    lowered, original = optimized.lower(), instruction.lower()
    for marker in _LEAKS:
        if marker in lowered and marker not in original:
            return "leaked_marker", f"the optimized instruction contains {marker!r}"
    return None


def make_pair(row: PreferenceRow, comparison: str, optimized: str) -> BPOPair:
    """A training pair; context goes after the instruction unless the rewrite already has it."""
    prompt, target = row.instruction.strip(), optimized.strip()
    if row.context:
        prompt = f"{prompt}\n{row.context.strip()}"
        if row.context.strip().lower() not in target.lower():
            target = f"{target}\n{row.context.strip()}"
    return BPOPair(
        prompt=prompt,
        optimized_prompt=target,
        comparison=comparison,
        instruction=row.instruction,
        optimized_instruction=optimized,
        context=row.context,
    )


async def _one(
    engine: Engine, row: PreferenceRow, temperature: float, max_tokens: int | None
) -> tuple[str, str | None] | str:
    try:
        completion = await engine.complete(
            pair_messages(row), role="optimizer", temperature=temperature, max_tokens=max_tokens
        )
    except ModelCallError as exc:
        return str(exc)
    return parse_pair_reply(completion.text)


async def build_pairs(
    engine: Engine,
    rows: Sequence[PreferenceRow],
    *,
    temperature: float = 0.9,
    max_tokens: int | None = None,
) -> PairResult:
    """One optimizer call per row (concurrently), parse, filter; failed calls are dropped.

    ``BudgetExceeded`` stops the run: it propagates (rows already answered stay cached).
    """
    if not rows:
        raise ConfigError("build_pairs needs at least one row")
    replies = await asyncio.gather(
        *(_one(engine, row, temperature, max_tokens) for row in rows), return_exceptions=True
    )
    result = PairResult(stats=PairStats(total=len(rows)))
    for index, (row, reply) in enumerate(zip(rows, replies, strict=True)):
        if isinstance(reply, BaseException):  # BudgetExceeded or a bug: stop the run
            raise reply
        if isinstance(reply, str):
            drop: tuple[DropReason, str] | None = ("model_error", reply)
            comparison, optimized = "", None
        else:
            comparison, optimized = reply
            drop = filter_pair(row.instruction, optimized)
        if drop is not None or optimized is None:
            reason, detail = drop or ("no_optimized_instruction", "")
            result.dropped.append(DroppedRow(index=index, reason=reason, detail=detail))
            result.stats.dropped[reason] = result.stats.dropped.get(reason, 0) + 1
            continue
        result.pairs.append(make_pair(row, comparison, optimized))
    result.stats.kept = len(result.pairs)
    return result
