"""The rewrite guard: a rewrite that loses information or runs away is not used.

Checks, in order: empty; an answer to the prompt instead of a rewrite (see
:mod:`apo_core.bpo.answered`); cut off at the output cap (the backend's ``finish_reason`` is
``"length"``); a protected span missing; a template variable, a number or a quoted span of the
original missing; a leaked marker (``[[``, ``]]``, ``[PROTECT]``, ...); longer than
``max_growth`` times the original (in words, with a floor for very short prompts); fewer than
``min_preservation`` of the original's content words kept. Each check has a stable reason
code, used for fallback counts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from apo_core.bpo.answered import answer_signal, content_preservation
from apo_core.bpo.protect import DEFAULT_MARKERS
from apo_core.bpo.templates import BANNED_MARKERS

Reason = Literal[
    "empty",
    "answered",
    "truncated",
    "missing_protected",
    "missing_variable",
    "missing_number",
    "missing_quote",
    "leaked_marker",
    "too_long",
    "too_short",
    "low_preservation",
    "input_too_long",
    "model_error",
    "budget",
]
"""Why a candidate was rejected or the original prompt kept."""

_VARIABLE = re.compile(r"\{\{\s*[A-Za-z_][\w.]*\s*\}\}|\{[A-Za-z_]\w*(?:![rsa])?(?::[^{}\n]*)?\}")
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
_QUOTED = (
    re.compile(r'"([^"\n]{1,300})"'),
    re.compile(r"“([^”\n]{1,300})”"),
    re.compile(r"`([^`\n]{1,300})`"),
    re.compile(r"(?<!\w)'([^'\n]{1,300})'(?!\w)"),
)
_WORD = re.compile(r"\w+")
_TOKEN = re.compile(r"\w+|[^\w\s]")


class Rejection(BaseModel):
    """A failed check: its reason code and a sentence a person can read."""

    model_config = ConfigDict(frozen=True)

    reason: Reason
    detail: str


def template_variables(text: str) -> list[str]:
    """``{name}`` and ``{{ name }}`` placeholders in ``text`` (f-string and mustache styles)."""
    return list(dict.fromkeys(_VARIABLE.findall(text)))


def numbers(text: str) -> list[str]:
    """Numbers in ``text``, thousands separators removed (``1,000`` -> ``1000``)."""
    found = (n.replace(",", "") for n in _NUMBER.findall(text))
    return list(dict.fromkeys(found))


def quoted_spans(text: str) -> list[str]:
    """Contents of double-quoted, curly-quoted, backticked and single-quoted spans."""
    spans: list[str] = []
    for pattern in _QUOTED:
        spans += [s for s in pattern.findall(text) if s.strip()]
    return list(dict.fromkeys(spans))


def word_count(text: str) -> int:
    """Whitespace-separated words (the paper's length unit)."""
    return len(text.split())


def token_count(text: str) -> int:
    """A deterministic, tokenizer-free token count: words and punctuation marks."""
    return len(_TOKEN.findall(text))


def preservation(original: str, rewrite: str) -> float:
    """Share of the original's distinct words (case-folded) that the rewrite contains."""
    words = {w.lower() for w in _WORD.findall(original)}
    if not words:
        return 1.0
    kept = {w.lower() for w in _WORD.findall(rewrite)}
    return len(words & kept) / len(words)


def _cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Guard(BaseModel):
    """Decides whether a rewrite may replace the original prompt.

    Attributes:
        max_growth: a rewrite may have at most this many times the original's words.
        growth_floor_words: ... but always at least this many words (short prompts such as
            "hi" legitimately grow more than 6x).
        check_numbers: require every number of the original in the rewrite.
        check_quotes: require every quoted span of the original in the rewrite.
        check_variables: require every template variable of the original in the rewrite.
        markers: protection markers that must not appear in a rewrite unless the original
            contains them.
        min_preservation: the share of the original's content words (stemmed; function words
            ignored) a rewrite must keep; 0 turns the check off. The default 0.5 passes 95% of
            the BPO paper's own rewrites (``bpo_test.json``), which paraphrase freely.
        check_answered: reject rewrites that answer the prompt instead of rewriting it.
        reject_truncated: reject rewrites the model was cut off in (``finish_reason="length"``).
    """

    model_config = ConfigDict(frozen=True)

    max_growth: float = Field(default=6.0, gt=1.0)
    growth_floor_words: int = Field(default=64, ge=0)
    check_numbers: bool = True
    check_quotes: bool = True
    check_variables: bool = True
    markers: tuple[str, str] | None = DEFAULT_MARKERS
    min_preservation: float = Field(default=0.5, ge=0.0, le=1.0)
    check_answered: bool = True
    reject_truncated: bool = True

    def max_words(self, original: str) -> int:
        """The longest rewrite of ``original`` allowed, in words."""
        return max(math.ceil(self.max_growth * word_count(original)), self.growth_floor_words)

    def check(
        self,
        original: str,
        rewrite: str,
        protected: Sequence[str] = (),
        *,
        finish_reason: str | None = None,
    ) -> Rejection | None:
        """The first failed check of ``rewrite`` against ``original``, or None if it passes.

        Args:
            original: the prompt (markers removed).
            rewrite: the candidate.
            protected: spans the candidate must contain verbatim.
            finish_reason: why the model stopped generating ``rewrite``, if known.
        """
        if not rewrite.strip():
            return Rejection(reason="empty", detail="the rewrite is empty")
        if self.check_answered and (why := answer_signal(original, rewrite)):
            return Rejection(reason="answered", detail=f"the model answered the prompt: {why}")
        if self.reject_truncated and finish_reason == "length":
            return Rejection(
                reason="truncated", detail="the model was cut off at its output token cap"
            )
        for span in protected:
            if span not in rewrite:
                return Rejection(
                    reason="missing_protected",
                    detail=f"protected span {_cut(span)!r} is not in the rewrite verbatim",
                )
        if self.check_variables:
            for var in template_variables(original):
                if var not in rewrite:
                    return Rejection(
                        reason="missing_variable", detail=f"template variable {var} was dropped"
                    )
        if self.check_numbers:
            kept = set(numbers(rewrite))
            for number in numbers(original):
                if number not in kept:
                    return Rejection(reason="missing_number", detail=f"number {number} was dropped")
        if self.check_quotes:
            for quote in quoted_spans(original):
                if quote not in rewrite:
                    return Rejection(
                        reason="missing_quote", detail=f"quoted text {_cut(quote)!r} was dropped"
                    )
        leaked = [m for m in (*BANNED_MARKERS, *(self.markers or ())) if m in rewrite]
        leaked = [m for m in leaked if m not in original]
        if leaked:
            return Rejection(reason="leaked_marker", detail=f"the rewrite contains {leaked[0]!r}")
        words, limit = word_count(rewrite), self.max_words(original)
        if words > limit:
            return Rejection(
                reason="too_long",
                detail=f"the rewrite has {words} words, over the limit of {limit} "
                f"({self.max_growth:g}x the original's {word_count(original)})",
            )
        share = content_preservation(original, rewrite)
        if share < self.min_preservation:
            return Rejection(
                reason="low_preservation",
                detail=f"the rewrite keeps {share:.0%} of the original's content words "
                f"(at least {self.min_preservation:.0%} needed)",
            )
        return None
