"""What a BPO rewrite returns, and the rewriter's running counts."""

from __future__ import annotations

from pydantic import BaseModel, Field

from apo_core.bpo.guard import Reason
from apo_core.bpo.templates import Mode, Source


class BPORound(BaseModel):
    """One rewriting round: the candidates the model gave and what became of them."""

    input: str
    candidates: list[str] = Field(default_factory=list)
    """Post-processed samples, in sample order."""
    rejections: list[str | None] = Field(default_factory=list)
    """Per candidate: the guard's reason code, or None when it passed."""
    chosen: int | None = None
    """Index of the accepted candidate, or None when every candidate was rejected."""
    reason: Reason | None = None
    """Why the round was rejected (None when a candidate was accepted)."""
    detail: str | None = None


class BPOResult(BaseModel):
    """The result of rewriting one prompt.

    ``original`` is the prompt without protection markers (the markers are annotations, not
    prompt text). ``rewritten`` equals ``original`` on fallback; then ``fallback`` holds the
    reason code and ``fallback_detail`` explains it. With several rounds, a rejected later
    round keeps the previous round's rewrite (``rounds_done`` says how many were accepted).
    """

    original: str
    rewritten: str
    source: Source
    mode: Mode
    rounds: int
    """Rounds asked for."""
    rounds_done: int = 0
    """Rounds whose rewrite was accepted (consecutively from the first)."""
    candidates: list[str] = Field(default_factory=list)
    """Every post-processed candidate of every round, in order."""
    protected: list[str] = Field(default_factory=list)
    fallback: Reason | None = None
    fallback_detail: str | None = None
    history: list[BPORound] = Field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the rewrite differs from the original."""
        return self.rewritten != self.original


class BPOStats(BaseModel):
    """Counts over every prompt a rewriter has handled."""

    prompts: int = 0
    rewritten: int = 0
    """Prompts whose result is a rewrite (first round accepted)."""
    fallbacks: dict[str, int] = Field(default_factory=dict)
    """Prompts that kept the original, by reason."""
    stopped_early: dict[str, int] = Field(default_factory=dict)
    """Later rounds rejected (the previous round's rewrite kept), by reason."""
    rejected_candidates: dict[str, int] = Field(default_factory=dict)
    """Candidates rejected, by reason (an aggressive round may reject some and keep one)."""

    def add(self, result: BPOResult) -> None:
        """Count one result."""
        self.prompts += 1
        if result.fallback is None:
            self.rewritten += 1
        else:
            _bump(self.fallbacks, result.fallback)
        for i, step in enumerate(result.history):
            if i > 0 and step.reason is not None:
                _bump(self.stopped_early, step.reason)
            for reason in step.rejections:
                if reason is not None:
                    _bump(self.rejected_candidates, reason)


def _bump(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1
