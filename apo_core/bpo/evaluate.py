"""Pairwise evaluation of rewrites: answer both prompts, judge both orders, report win - loss.

For each prompt the ``task`` role answers the original and the rewritten prompt (temperature 0),
then the ``judge`` role compares the two answers to the *original* question twice, once in each
order (:mod:`apo_core.bpo.judge`). The report gives win/tie/loss for the rewrite, win - loss in
percentage points with a bootstrap confidence interval, and the engine's usage and cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import BaseModel, Field

from apo_core.bpo.judge import JudgeVerdict, Outcome, Verdict, combine, judge_messages, verdict_of
from apo_core.bpo.rewriter import BPORewriter
from apo_core.engine import Engine, RunEvent, UsageReport
from apo_core.errors import BudgetExceeded, ConfigError, ModelCallError
from apo_core.metrics import bootstrap_ci

_SCORE = {"win": 1.0, "tie": 0.0, "loss": -1.0}


class PairwiseItem(BaseModel):
    """One prompt's comparison (``outcome`` is None when a call failed)."""

    index: int
    original: str
    rewritten: str
    answer_original: str | None = None
    answer_rewritten: str | None = None
    forward: Verdict | None = None
    """Verdict with the original's answer as A."""
    backward: Verdict | None = None
    """Verdict with the rewrite's answer as A."""
    outcome: Outcome | None = None
    identical: bool = False
    """Both prompts got the same answer: a tie without asking the judge."""
    error: str | None = None


class PairwiseReport(BaseModel):
    """Win/tie/loss of rewritten over original prompts, with a CI, usage and cost."""

    n: int
    """Prompts judged (failed ones excluded)."""
    wins: int
    ties: int
    losses: int
    win_minus_loss: float
    """(wins - losses) / n, in percentage points (the paper's headline number)."""
    ci_low: float
    ci_high: float
    confidence: float
    inconsistent: int
    """Pairs whose two orders gave different readable verdicts (counted as ties)."""
    unparsed: int
    """Judgments without a readable verdict (their pair counts as a tie)."""
    identical: int
    """Pairs with identical answers (a tie, not sent to the judge)."""
    errors: int
    stopped_by_budget: bool = False
    usage: UsageReport
    """``engine.usage()`` after the run: everything the engine has spent, rewrites included."""
    cost_usd: float
    items: list[PairwiseItem] = Field(default_factory=list)

    def summary(self) -> str:
        """One line: counts, win - loss and its interval, cost."""
        return (
            f"n={self.n} win={self.wins} tie={self.ties} loss={self.losses} "
            f"win-loss={self.win_minus_loss:+.1f} "
            f"[{self.ci_low:+.1f}, {self.ci_high:+.1f}] ({self.confidence:.0%} CI), "
            f"errors={self.errors}, cost=${self.cost_usd:.4f}"
        )


async def _judge(
    engine: Engine, question: str, a: str, b: str, max_tokens: int | None, structured: bool
) -> tuple[Verdict | None, str]:
    completion = await engine.complete(
        judge_messages(question, a, b, structured=structured),
        role="judge",
        temperature=0.0,
        max_tokens=max_tokens,
        response_format=JudgeVerdict if structured else None,
    )
    return verdict_of(completion), completion.text


async def _compare(
    engine: Engine,
    item: PairwiseItem,
    task_max_tokens: int | None,
    judge_max_tokens: int | None,
    structured: bool,
) -> PairwiseItem:
    try:
        answers = await asyncio.gather(
            engine.complete(item.original, role="task", max_tokens=task_max_tokens),
            engine.complete(item.rewritten, role="task", max_tokens=task_max_tokens),
        )
        item.answer_original, item.answer_rewritten = (c.text for c in answers)
        if item.answer_original.strip() == item.answer_rewritten.strip():
            item.identical, item.outcome = True, "tie"
            return item
        (item.forward, _), (item.backward, _) = await asyncio.gather(
            _judge(engine, item.original, item.answer_original, item.answer_rewritten,
                   judge_max_tokens, structured),
            _judge(engine, item.original, item.answer_rewritten, item.answer_original,
                   judge_max_tokens, structured),
        )  # fmt: skip
    except BudgetExceeded as exc:
        item.error = f"budget: {exc}"
        return item
    except ModelCallError as exc:
        item.error = str(exc)
        return item
    item.outcome = combine(item.forward, item.backward)
    engine.events.emit(
        RunEvent(kind="bpo_judged", data={"index": item.index, "outcome": item.outcome})
    )
    return item


def _percent(value: float) -> float:
    return round(100.0 * value, 2)


async def evaluate_pairwise(
    engine: Engine,
    prompts: Sequence[str],
    rewrites: Sequence[str] | BPORewriter,
    *,
    task_max_tokens: int | None = 512,
    judge_max_tokens: int | None = 512,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    structured_judge: bool = False,
) -> PairwiseReport:
    """Compare answers to ``prompts`` and to their rewrites (given, or made by a rewriter).

    Args:
        engine: the engine; its ``task`` role answers, its ``judge`` role judges.
        prompts: the original instructions.
        rewrites: their rewrites, or a rewriter that makes them.
        task_max_tokens: the answers' token cap.
        judge_max_tokens: the judgments' token cap.
        n_resamples: bootstrap resamples of the win - loss interval.
        confidence: the interval's confidence level.
        seed: seeds the bootstrap.
        structured_judge: ask the judge for a JSON verdict (schema passed to the backend)
            instead of ``[[A]]`` text; for small judges that rarely write the text format.

    Raises:
        ConfigError: no prompts, or a rewrite list of another length.
    """
    if not prompts:
        raise ConfigError("evaluate_pairwise needs at least one prompt")
    if isinstance(rewrites, BPORewriter):
        results = await rewrites.arewrite_batch(list(prompts))
        pairs = [(r.original, r.rewritten) for r in results]
    else:
        if len(rewrites) != len(prompts):
            raise ConfigError(f"{len(prompts)} prompts but {len(rewrites)} rewrites")
        pairs = list(zip(prompts, rewrites, strict=True))
    items = await asyncio.gather(
        *(
            _compare(
                engine,
                PairwiseItem(index=i, original=p, rewritten=r),
                task_max_tokens,
                judge_max_tokens,
                structured_judge,
            )
            for i, (p, r) in enumerate(pairs)
        )
    )
    done = [item for item in items if item.outcome is not None]
    scores = [_SCORE[item.outcome or "tie"] for item in done]
    n, wins, losses = len(done), scores.count(1.0), scores.count(-1.0)
    low, high = (
        bootstrap_ci(scores, n_resamples=n_resamples, confidence=confidence, seed=seed)
        if scores
        else (0.0, 0.0)
    )
    judged = [(item.forward, item.backward) for item in done if not item.identical]
    usage = engine.usage()
    return PairwiseReport(
        n=n,
        wins=wins,
        ties=n - wins - losses,
        losses=losses,
        win_minus_loss=_percent((wins - losses) / n) if n else 0.0,
        ci_low=_percent(low),
        ci_high=_percent(high),
        confidence=confidence,
        inconsistent=sum(1 for f, b in judged if f == b and f in ("A", "B")),
        unparsed=sum((f is None) + (b is None) for f, b in judged),
        identical=sum(item.identical for item in done),
        errors=len(items) - n,
        stopped_by_budget=any((item.error or "").startswith("budget:") for item in items),
        usage=usage,
        cost_usd=usage.total.cost_usd,
        items=list(items),
    )
