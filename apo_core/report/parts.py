"""What the run reports show, computed once for HTML and Markdown: lineage, series, numbers."""

from __future__ import annotations

from dataclasses import dataclass

from apo_core.apo.result import APOResult, Candidate, RoundRecord, ScoreCI, SplitScores
from apo_core.engine import UsageLine

SECTIONS: tuple[tuple[str, str], ...] = (
    ("best-prompt", "Best prompt"),
    ("scores", "Scores"),
    ("plot", "Scores per round"),
    ("lineage", "Lineage of the best prompt"),
    ("usage", "Usage and cost"),
    ("config", "Run and configuration"),
)
"""Section ids and headings, in order (both renderers use them)."""


@dataclass
class LineageStep:
    """One prompt on the way from the initial prompt to the best one."""

    prompt: str
    origin: str
    """``"initial"``, ``"edit"`` or ``"paraphrase"`` (of an edit of the parent)."""
    round: int | None = None
    """The round that created it (``None`` for the initial prompt)."""
    parent: str | None = None
    validation: float | None = None
    """Its validation score in the beam of the round that created it."""
    selection_mean: float | None = None
    pulls: int = 0
    gradient: str | None = None
    """The gradient whose edit made this prompt (``None`` in records older than that field)."""
    edit: str | None = None
    """For a paraphrase: the edited prompt it rewrites."""


def trace_lineage(result: APOResult) -> tuple[list[LineageStep], bool]:
    """Steps from the initial prompt to the best one, oldest first, and whether it is complete.

    Walks the history backwards: a prompt was created in the round where it entered the beam
    as an ``edit`` or ``paraphrase`` candidate; its ``parent`` index names the beam prompt it
    came from, which is traced in the earlier rounds the same way.
    """
    steps: list[LineageStep] = []
    target = result.best_prompt
    for record in reversed(result.history):
        beam = {entry.prompt: entry.validation for entry in record.beam}
        if target not in beam:
            continue
        made = _created(record, target)
        if made is None:
            continue
        parents = [c for c in record.candidates if c.parent is None]
        if made.parent is None or not 0 <= made.parent < len(parents):
            break
        parent = parents[made.parent].prompt
        steps.append(
            LineageStep(
                prompt=target,
                origin=made.origin,
                round=record.round,
                parent=parent,
                validation=beam[target],
                selection_mean=made.selection_mean,
                pulls=made.pulls,
                gradient=made.gradient,
                edit=made.edit,
            )
        )
        target = parent
    complete = target == result.initial_prompt
    if complete:
        initial = result.initial_validation
        steps.append(
            LineageStep(
                prompt=target,
                origin="initial",
                validation=None if initial is None else initial.accuracy.value,
            )
        )
    steps.reverse()
    return steps, complete


def _created(record: RoundRecord, prompt: str) -> Candidate | None:
    for candidate in record.candidates:
        if candidate.prompt == prompt and candidate.origin in ("edit", "paraphrase"):
            return candidate
    return None


@dataclass
class RoundPoint:
    """The plotted numbers of one round (round 0 is the initial prompt)."""

    round: int
    best: float | None
    beam: list[float]


def score_series(result: APOResult) -> list[RoundPoint]:
    """Round 0 (the initial prompt, when scored) then each round's best and beam scores."""
    points: list[RoundPoint] = []
    if result.initial_validation is not None:
        value = result.initial_validation.accuracy.value
        points.append(RoundPoint(round=0, best=value, beam=[value]))
    for record in result.history:
        points.append(
            RoundPoint(
                round=record.round + 1,
                best=record.best_validation,
                beam=[entry.validation for entry in record.beam],
            )
        )
    return points


@dataclass
class ScoreRow:
    """One line of the scores table: a split and a metric, initial vs best."""

    split: str
    metric: str
    initial: ScoreCI | None
    best: ScoreCI | None

    @property
    def change(self) -> float | None:
        """Best minus initial, when both are known."""
        if self.initial is None or self.best is None:
            return None
        return self.best.value - self.initial.value


def score_rows(result: APOResult) -> list[ScoreRow]:
    """Accuracy (and binary and macro F1 when present) on validation and test, initial vs best."""
    rows: list[ScoreRow] = []
    splits: list[tuple[str, SplitScores | None, SplitScores | None]] = [
        ("validation", result.initial_validation, result.best_validation),
        ("test", result.initial_test, result.best_test),
    ]
    for name, initial, best in splits:
        if initial is None and best is None:
            continue
        rows.append(
            ScoreRow(name, "accuracy", _acc(initial), _acc(best)),
        )
        if (initial is not None and initial.f1) or (best is not None and best.f1):
            source = best if best is not None else initial
            label = None if source is None else source.positive_label
            metric = f"F1 (positive: {label})" if label else "F1"
            rows.append(
                ScoreRow(
                    name,
                    metric,
                    None if initial is None else initial.f1,
                    None if best is None else best.f1,
                )
            )
        macro = (
            None if initial is None else initial.macro_f1,
            None if best is None else best.macro_f1,
        )
        if macro != (None, None):
            rows.append(ScoreRow(name, "macro F1", *macro))
    return rows


def _acc(scores: SplitScores | None) -> ScoreCI | None:
    return None if scores is None else scores.accuracy


def fmt_score(value: float | None) -> str:
    """A score with three decimals, or an en dash."""
    return "–" if value is None else f"{value:.3f}"


def fmt_ci(score: ScoreCI | None) -> str:
    """``0.720 [0.610, 0.820] n=50``, or an en dash."""
    if score is None:
        return "–"
    return f"{score.value:.3f} [{score.low:.3f}, {score.high:.3f}] n={score.n}"


def fmt_change(change: float | None) -> str:
    """A signed difference, or an en dash."""
    return "–" if change is None else f"{change:+.3f}"


def fmt_cost(line: UsageLine) -> str:
    """Dollars, marked ``+ unpriced`` when some model had no known price (counted as $0)."""
    text = f"${line.cost_usd:.4f}"
    return text if line.cost_known else f"{text} + unpriced"


USAGE_COLUMNS: tuple[str, ...] = (
    "calls",
    "cache hits",
    "failures",
    "retries",
    "input tokens",
    "output tokens",
    "tokens from cache",
    "cost",
    "call time",
)


def usage_cells(line: UsageLine) -> list[str]:
    """The cells of one usage row, in :data:`USAGE_COLUMNS` order."""
    return [
        f"{line.calls:,}",
        f"{line.cache_hits:,}",
        f"{line.failures:,}" + (f" (+{line.cancelled} cancelled)" if line.cancelled else ""),
        f"{line.retries:,}",
        f"{line.input_tokens:,}",
        f"{line.output_tokens:,}",
        f"{line.cached_input_tokens + line.cached_output_tokens:,}",
        fmt_cost(line),
        f"{line.wall_time_s:.1f} s",
    ]


def run_facts(result: APOResult) -> list[tuple[str, str]]:
    """Key facts of the run: how it stopped, rounds, seed, time, cost."""
    cfg = result.config
    return [
        ("stopped by", result.stopped_by),
        ("rounds completed", f"{result.rounds_completed} of {cfg.rounds}"),
        ("seed", str(result.seed)),
        ("improved", "yes" if result.improved else "no (the initial prompt is best)"),
        ("elapsed", f"{result.elapsed_s:.1f} s"),
        ("selector", cfg.selector),
        ("total cost", fmt_cost(result.usage.total)),
    ]


def config_items(result: APOResult) -> list[tuple[str, str]]:
    """Every configuration field as display text."""
    return [(name, repr(value)) for name, value in result.config.model_dump().items()]


def round_counts(record: RoundRecord) -> list[tuple[str, str]]:
    """What one round did, as label/value pairs."""
    c, sel = record.counts, record.selection
    new = sum(1 for cand in record.candidates if cand.parent is not None)
    items = [
        ("candidates", f"{len(record.candidates)} ({new} new)"),
        ("minibatch errors", str(c.minibatch_errors)),
        (
            "optimizer calls",
            f"{c.gradient_calls} gradient, {c.edit_calls} edit, {c.paraphrase_calls} paraphrase",
        ),
        ("failed / unparsed", f"{c.failed_calls} / {c.parse_failures}"),
        (
            "repaired / rejected / duplicates / capped",
            f"{c.repaired} / {c.rejected} / {c.duplicates} / {c.capped}",
        ),
    ]
    if sel is not None:
        items.append(
            (
                "selection",
                f"{sel.selector}: {sel.total_pulls} of {sel.budget} pulls on "
                f"{sel.arms} arms ({sel.new_evaluations} new evaluations)",
            )
        )
    items.append(("best validation", fmt_score(record.best_validation)))
    items.append(("time", f"{record.elapsed_s:.1f} s"))
    return items
