"""Random budgets: an APO run never spends past its caps and stops cleanly with the best so far."""

from __future__ import annotations

from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_world import (
    CONFIG,
    PROMPT,
    label_metric,
    make_examples,
    scripted_engine,
)

from apo_core import Budget
from apo_core.apo import APO, APOResult

TRAIN, VALIDATION, TEST = make_examples("train", 24), make_examples("val", 8), make_examples("t", 6)


def run(budget: Budget | None) -> tuple[APOResult, int, int]:
    """A run under ``budget``; returns the result and the engine's settled calls and tokens."""
    engine = scripted_engine(budget=budget, max_concurrency=8)
    result = APO(engine, CONFIG).optimize_sync(
        PROMPT, train=TRAIN, validation=VALIDATION, test=TEST, metric=label_metric
    )
    spent = engine.budget.spent
    return result, spent.calls, spent.tokens


@cache
def unlimited() -> tuple[int, int]:
    """Calls and tokens of the same run without a budget."""
    result, calls, tokens = run(None)
    assert result.stopped_by == "rounds" and calls == result.usage.total.calls
    return calls, tokens


def check_clean_stop(result: APOResult) -> None:
    """A budget stop keeps the best prompt seen so far and a consistent result."""
    seen = {result.initial_prompt} | {c.prompt for r in result.history for c in r.candidates}
    assert result.best_prompt in seen
    assert result.rounds_completed == len(result.history) <= CONFIG.rounds
    if result.stopped_by == "budget":
        assert any("budget" in note for note in result.notes)
    if result.history:
        best = max(r.best_validation for r in result.history)
        assert result.initial_validation is not None
        assert best <= 1.0 and result.beam


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(share=st.floats(min_value=0.0, max_value=1.3))
def test_call_budget_is_never_passed(share: float) -> None:
    full_calls, _ = unlimited()
    cap = int(full_calls * share)
    result, calls, _ = run(Budget(max_calls=cap))
    assert calls <= cap and result.usage.total.calls <= cap
    assert (result.stopped_by == "budget") == (cap < full_calls)
    check_clean_stop(result)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tokens=st.integers(min_value=0, max_value=400_000),
    calls=st.none() | st.integers(min_value=0, max_value=400),
)
def test_token_budget_is_never_passed(tokens: int, calls: int | None) -> None:
    result, spent_calls, spent_tokens = run(Budget(max_tokens=tokens, max_calls=calls))
    assert spent_tokens <= tokens and result.usage.total.total_tokens <= tokens
    assert calls is None or spent_calls <= calls
    assert result.stopped_by in ("budget", "rounds")
    check_clean_stop(result)


def test_budget_stop_then_bigger_budget_finishes() -> None:
    """A stopped run's spending is real: the same run with room to spare completes."""
    full_calls, _ = unlimited()
    stopped, calls, _ = run(Budget(max_calls=full_calls // 2))
    assert stopped.stopped_by == "budget" and calls <= full_calls // 2
    finished, _, _ = run(Budget(max_calls=full_calls))
    assert finished.stopped_by == "rounds" and finished.usage.total.calls == full_calls
