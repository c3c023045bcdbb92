"""One call of ``APO.optimize``: the run state plus what this call adds (time, usage, saves).

A run may span several calls (a resumed run continues from its checkpoint). The checkpoint
keeps the run's time and usage per role so far, so a resumed run reports the whole run's
usage: what earlier calls spent up to their last save, plus what this call spends. Calls
answered from the cache after a resume are counted as cache hits, never again as paid calls.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apo_core.apo.checkpoint import RunState, save_checkpoint
from apo_core.apo.evaluation import Evaluator, Scored
from apo_core.apo.report import merge_usage, split_scores, usage_since
from apo_core.apo.result import SplitScores
from apo_core.engine import UsageReport

if TYPE_CHECKING:
    from apo_core.data import Example
    from apo_core.engine import Engine


@dataclass
class Session:
    """The state of a run and the bookkeeping of the current ``optimize`` call."""

    engine: Engine
    state: RunState
    evaluator: Evaluator
    checkpoint: str | Path | None = None
    positive_label: Any = None
    started: float = field(default_factory=time.monotonic)
    usage_before: UsageReport = field(init=False)
    """The engine's usage when this call began (the engine may have served other work)."""

    def __post_init__(self) -> None:
        self.usage_before = self.engine.usage()
        self._prior_usage = self.state.usage
        self._prior_elapsed = self.state.elapsed_s
        self.evaluator.load(self.state.memo)

    def elapsed(self) -> float:
        """Seconds the run took: earlier calls plus this one so far."""
        return self._prior_elapsed + time.monotonic() - self.started

    def usage(self) -> UsageReport:
        """Usage of the whole run: earlier calls (as last saved) plus this one so far."""
        return merge_usage(self._prior_usage, usage_since(self.usage_before, self.engine.usage()))

    def save(self, *, memo: bool = True) -> None:
        """Record time, usage and (with ``memo``) the memo in the state; write the checkpoint.

        Args:
            memo: also store the memo. Mid-round the memo is left as of the last completed
                round, so a resumed run replays that round's evaluations like the first time
                (from the cache, free) and records the same history.
        """
        self.state.elapsed_s = self.elapsed()
        if memo:
            self.state.memo = self.evaluator.export()
        self.state.usage = self.usage()
        if self.checkpoint:
            save_checkpoint(self.checkpoint, self.state)

    def scores(self, scored: Sequence[Scored], examples: Sequence[Example]) -> SplitScores:
        """Accuracy and F1 of one prompt on one split (see :func:`split_scores`)."""
        return split_scores(scored, examples, self.positive_label, metric=self.evaluator.metric)
