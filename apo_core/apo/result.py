"""APOResult and the per-round records a run leaves behind."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from apo_core.apo.config import APOConfig
from apo_core.apo.files import atomic_write_text
from apo_core.engine import UsageReport

StoppedBy = Literal["rounds", "patience", "budget", "optimizer_failed"]
"""Why a run ended: all rounds done, no validation gain for ``patience`` rounds, the budget,
or a round in which every optimizer call failed (see ``APOResult.notes``)."""


class ScoreCI(BaseModel):
    """A corpus score with its bootstrap confidence interval."""

    value: float
    low: float
    high: float
    n: int
    """Examples scored."""


class SplitScores(BaseModel):
    """Scores of one prompt on one split: accuracy (mean metric) and, for labels, F1."""

    accuracy: ScoreCI
    f1: ScoreCI | None = None
    """F1 of the positive label (two classes only), from the labels the predictions state."""
    positive_label: str | None = None
    """The label F1 treats as positive (binary labels only)."""
    macro_f1: ScoreCI | None = None
    """Mean F1 over the task's classes (two or more)."""
    no_label: int | None = None
    """Predictions that stated none of the labels (``None``: the split has no labels)."""


class Candidate(BaseModel):
    """A prompt in one round's candidate pool."""

    prompt: str
    origin: Literal["initial", "parent", "edit", "paraphrase"]
    parent: int | None = None
    """Index of the parent in the round's beam (``None`` for parents)."""
    gradient: str | None = None
    """For an edit or a paraphrase: the gradient (reason) the edit fixes."""
    edit: str | None = None
    """For a paraphrase: the edited prompt it rewrites (an edit of the parent)."""
    selection_mean: float | None = None
    pulls: int = 0


class BeamEntry(BaseModel):
    """A beam prompt and its validation score."""

    prompt: str
    validation: float


class SelectionStats(BaseModel):
    """What the selector did in one round."""

    selector: str
    arms: int
    budget: int
    total_pulls: int
    new_evaluations: int
    """Pulls that ran the program (the others were memoised)."""


class ExpansionCounts(BaseModel):
    """Optimizer calls and outcomes of one round's expansion (all parents)."""

    minibatch_errors: int = 0
    gradient_calls: int = 0
    edit_calls: int = 0
    paraphrase_calls: int = 0
    """Paraphrase requests: one per new prompt, with ``n = mc_samples_per_step`` samples."""
    failed_calls: int = 0
    parse_failures: int = 0
    """Replies (samples) that yielded nothing usable (counted, logged, skipped)."""
    repaired: int = 0
    rejected: int = 0
    duplicates: int = 0
    capped: int = 0
    """Successors dropped by ``max_expansion_factor``."""


class RoundRecord(BaseModel):
    """The history of one round."""

    round: int
    candidates: list[Candidate]
    gradients: list[str]
    edits: list[str]
    counts: ExpansionCounts
    selection: SelectionStats | None
    beam: list[BeamEntry]
    best_validation: float
    elapsed_s: float = 0.0


class APOResult(BaseModel):
    """Everything an APO run produced. ``to_json()`` / ``from_json()`` round-trip it."""

    best_prompt: str
    initial_prompt: str
    beam: list[BeamEntry]
    initial_validation: SplitScores | None
    best_validation: SplitScores | None
    initial_test: SplitScores | None = None
    best_test: SplitScores | None = None
    history: list[RoundRecord] = Field(default_factory=list)
    usage: UsageReport = Field(default_factory=UsageReport)
    """What the run spent, per role and model. A resumed run adds what earlier calls spent up
    to their last checkpoint; replies it then gets from the cache count as cache hits."""
    seed: int
    config: APOConfig
    stopped_by: StoppedBy
    rounds_completed: int
    elapsed_s: float
    notes: list[str] = Field(default_factory=list)

    @property
    def improved(self) -> bool:
        """Whether the best prompt differs from the initial one."""
        return self.best_prompt != self.initial_prompt

    def to_json(self, path: str | Path | None = None, *, indent: int | None = 2) -> str:
        """The result as JSON; also written to ``path`` when given (atomically)."""
        text = self.model_dump_json(indent=indent)
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def from_json(cls, data: str | Path) -> APOResult:
        """Load a result from a JSON string or a file path."""
        if isinstance(data, Path) or (isinstance(data, str) and not data.lstrip().startswith("{")):
            data = Path(data).read_text(encoding="utf-8")
        return cls.model_validate_json(data)
