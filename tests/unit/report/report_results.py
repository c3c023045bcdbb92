"""APOResult objects built by hand for the report tests: several rounds, a known lineage."""

from __future__ import annotations

from apo_core.apo.config import APOConfig
from apo_core.apo.result import (
    APOResult,
    BeamEntry,
    Candidate,
    ExpansionCounts,
    RoundRecord,
    ScoreCI,
    SelectionStats,
    SplitScores,
)
from apo_core.engine import UsageLine, UsageReport

INITIAL = "Classify the review <b>{text}</b> & answer {{positive}} or negative:"
EDIT_1 = "Read carefully. Classify the review <b>{text}</b> & answer {{positive}} or negative:"
PARA_2 = "Read with care, then classify <b>{text}</b> & answer {{positive}} or negative:"
EDIT_3 = "Read with care, then classify <b>{text}</b> & reply <script>alert(1)</script> label:"
LOSER = "Totally different {text}"
EDIT_2 = "Read with care. Classify the review <b>{text}</b> & answer {{positive}} or negative:"
GRADIENT_1 = "The prompt ignores <sarcasm> & irony"
LOSING_GRADIENT = "Too short {no context}"
GRADIENT_2 = "Round two gradient: mentions of 'not' flip the label"
GRADIENT_3 = "Round three gradient: the label words are ambiguous"


def _scores(acc: float, f1: float | None, n: int = 40) -> SplitScores:
    return SplitScores(
        accuracy=ScoreCI(value=acc, low=acc - 0.1, high=min(acc + 0.1, 1.0), n=n),
        f1=None if f1 is None else ScoreCI(value=f1, low=f1 - 0.12, high=min(f1 + 0.1, 1.0), n=n),
        positive_label=None if f1 is None else "positive",
        macro_f1=None if f1 is None else ScoreCI(value=f1 - 0.01, low=f1 - 0.2, high=f1, n=n),
    )


def _usage() -> UsageReport:
    task = UsageLine(
        calls=321,
        cache_hits=17,
        input_tokens=45678,
        output_tokens=987,
        cost_usd=0.0123,
        wall_time_s=12.5,
        retries=2,
    )
    opt = UsageLine(
        calls=42,
        cache_hits=3,
        input_tokens=23456,
        output_tokens=8765,
        cost_usd=0.0,
        cost_known=False,
        wall_time_s=30.0,
        failures=1,
    )
    return UsageReport(
        by_role={"task": task, "optimizer": opt},
        by_model={"gpt-4o-mini": task, "my-local-model": opt},
        total=task.merged(opt),
        unpriced_models=["my-local-model"],
    )


def lineage_result(*, with_test: bool = True) -> APOResult:
    """Three rounds: initial -> edit (r1) -> paraphrase (r2) -> edit (r3) wins."""
    history = [
        RoundRecord(
            round=0,
            candidates=[
                Candidate(prompt=INITIAL, origin="initial", selection_mean=0.5, pulls=8),
                Candidate(
                    prompt=EDIT_1,
                    origin="edit",
                    parent=0,
                    selection_mean=0.7,
                    pulls=10,
                    gradient=GRADIENT_1,
                ),
                Candidate(
                    prompt=LOSER,
                    origin="paraphrase",
                    parent=0,
                    selection_mean=0.2,
                    pulls=4,
                    gradient=LOSING_GRADIENT,
                    edit=EDIT_1,
                ),
            ],
            gradients=[GRADIENT_1, LOSING_GRADIENT],
            edits=[EDIT_1],
            counts=ExpansionCounts(
                minibatch_errors=5, gradient_calls=2, edit_calls=2, paraphrase_calls=2
            ),
            selection=SelectionStats(
                selector="ucb", arms=3, budget=24, total_pulls=22, new_evaluations=20
            ),
            beam=[
                BeamEntry(prompt=EDIT_1, validation=0.7),
                BeamEntry(prompt=INITIAL, validation=0.55),
            ],
            best_validation=0.7,
            elapsed_s=3.2,
        ),
        RoundRecord(
            round=1,
            candidates=[
                Candidate(prompt=EDIT_1, origin="parent"),
                Candidate(prompt=INITIAL, origin="parent"),
                Candidate(
                    prompt=PARA_2,
                    origin="paraphrase",
                    parent=0,
                    selection_mean=0.8,
                    pulls=9,
                    gradient=GRADIENT_2,
                    edit=EDIT_2,
                ),
            ],
            gradients=["Round two, another parent's gradient", GRADIENT_2],
            edits=["an edit that was rejected", EDIT_2],
            counts=ExpansionCounts(
                minibatch_errors=3, gradient_calls=2, edit_calls=2, paraphrase_calls=2, rejected=1
            ),
            selection=None,
            beam=[
                BeamEntry(prompt=PARA_2, validation=0.78),
                BeamEntry(prompt=EDIT_1, validation=0.7),
            ],
            best_validation=0.78,
            elapsed_s=2.9,
        ),
        RoundRecord(
            round=2,
            candidates=[
                Candidate(prompt=PARA_2, origin="parent"),
                Candidate(prompt=EDIT_1, origin="parent"),
                Candidate(
                    prompt=EDIT_3,
                    origin="edit",
                    parent=0,
                    selection_mean=0.9,
                    pulls=12,
                    gradient=GRADIENT_3,
                ),
            ],
            gradients=[GRADIENT_3],
            edits=[EDIT_3],
            counts=ExpansionCounts(
                minibatch_errors=2,
                gradient_calls=2,
                edit_calls=2,
                paraphrase_calls=1,
                parse_failures=1,
            ),
            selection=SelectionStats(
                selector="ucb", arms=3, budget=24, total_pulls=24, new_evaluations=11
            ),
            beam=[
                BeamEntry(prompt=EDIT_3, validation=0.85),
                BeamEntry(prompt=PARA_2, validation=0.78),
            ],
            best_validation=0.85,
            elapsed_s=4.1,
        ),
    ]
    return APOResult(
        best_prompt=EDIT_3,
        initial_prompt=INITIAL,
        beam=history[-1].beam,
        initial_validation=_scores(0.55, 0.5),
        best_validation=_scores(0.85, 0.84),
        initial_test=_scores(0.52, 0.49) if with_test else None,
        best_test=_scores(0.81, 0.8) if with_test else None,
        history=history,
        usage=_usage(),
        seed=7,
        config=APOConfig(rounds=3, beam_size=2, seed=7, protected=["{{positive}}"]),
        stopped_by="rounds",
        rounds_completed=3,
        elapsed_s=10.2,
        notes=["a note with <angle> brackets"],
    )


def empty_result() -> APOResult:
    """A run that stopped before any round (budget), without scores."""
    return APOResult(
        best_prompt=INITIAL,
        initial_prompt=INITIAL,
        beam=[],
        initial_validation=None,
        best_validation=None,
        history=[],
        seed=0,
        config=APOConfig(rounds=0),
        stopped_by="budget",
        rounds_completed=0,
        elapsed_s=0.1,
    )
