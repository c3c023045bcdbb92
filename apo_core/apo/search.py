"""APO: ProTeGi beam search over prompts (Pryzant et al., 2023) on the engine.

Each round expands every beam prompt (:mod:`~apo_core.apo.expansion`), pools parents and
successors, ranks the pool with a bandit selector on train (or validation) examples within an
evaluation budget, and scores the new beam on validation. The best prompt ever seen on
validation wins; test examples are scored once, after the search, for the report. A
checkpoint is written after each round; ``BudgetExceeded`` stops the run cleanly, and so does a
round in which every optimizer call failed (``stopped_by="optimizer_failed"``, with a note). An
optimizer error no retry can fix (auth, unknown model, bad configuration) is raised at once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from apo_core.apo.checkpoint import RunState, fingerprint, load_checkpoint
from apo_core.apo.config import APOConfig, derive_seed
from apo_core.apo.evaluation import Evaluator, settle
from apo_core.apo.expansion import Expander, Expansion
from apo_core.apo.protection import PromptGuard, normalize
from apo_core.apo.result import (
    APOResult,
    BeamEntry,
    Candidate,
    ExpansionCounts,
    RoundRecord,
    SelectionStats,
    StoppedBy,
)
from apo_core.apo.selection import make_selector
from apo_core.apo.session import Session
from apo_core.apo.splits import check_splits
from apo_core.engine import RunEvent
from apo_core.errors import BudgetExceeded, ConfigError
from apo_core.metrics import as_metric, metric_identity
from apo_core.program import PromptProgram, TemplateProgram
from apo_core.sync import run_sync

if TYPE_CHECKING:
    from apo_core.data import Example
    from apo_core.engine import Engine


logger = logging.getLogger("apo_core.apo")


class OptimizerDown(Exception):
    """Every optimizer call of a round failed: the search cannot go on (internal signal)."""


def _sum_counts(expansions: Sequence[Expansion]) -> ExpansionCounts:
    total = ExpansionCounts()
    for exp in expansions:
        for name in ExpansionCounts.model_fields:
            setattr(total, name, getattr(total, name) + getattr(exp.counts, name))
    return total


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


class APO:
    """ProTeGi prompt optimization.

    Args:
        engine: runs every call (roles ``task``, ``optimizer`` and, for LLM judges, ``judge``).
        config: an :class:`APOConfig`; keyword arguments override its fields.

    Example:
        >>> apo = APO(engine, rounds=2, beam_size=2)  # doctest: +SKIP
        >>> result = await apo.optimize("Label: {text}", train=tr, validation=va, metric=m)
    """

    def __init__(self, engine: Engine, config: APOConfig | None = None, **overrides: Any) -> None:
        base = config or APOConfig()
        self.engine = engine
        try:
            self.config = APOConfig.model_validate({**base.model_dump(), **overrides})
        except ValidationError as exc:
            raise ConfigError(f"invalid APO configuration: {exc}") from None
        self.selector = make_selector(self.config.selector, **self.config.selector_options)

    def _emit(self, kind: str, status: str, **data: Any) -> None:
        self.engine.events.emit(RunEvent(kind=kind, data={**data, "status": status}))

    async def optimize(
        self,
        prompt: str,
        *,
        train: Sequence[Example],
        validation: Sequence[Example],
        metric: Any,
        test: Sequence[Example] | None = None,
        program: PromptProgram | None = None,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        positive_label: Any = None,
    ) -> APOResult:
        """Optimize ``prompt``; see the module docstring for the procedure.

        Args:
            prompt: the initial prompt, a template of the examples' inputs.
            train: examples for minibatches (and, by default, selection).
            validation: examples that pick the best prompt; may share examples with train
                (with a note: its scores are then optimistic).
            metric: a :class:`~apo_core.metrics.Metric` or anything ``as_metric`` accepts.
            test: held-out examples, scored once at the end; none may be a train or
                validation example.
            program: how a prompt makes predictions; default :class:`TemplateProgram`.
            checkpoint: a JSON file written after every round.
            resume: continue from ``checkpoint`` if it exists (the same run only).
            positive_label: the positive class of binary F1 (default: guessed).

        Raises:
            ConfigError: empty train or validation split, a test example in another split,
                a checkpoint of another run, or a program failing on every example.
        """
        cfg = self.config
        if not train:
            raise ConfigError("APO needs train examples (for minibatches)")
        if not validation:
            raise ConfigError("APO needs validation examples (to pick the best prompt)")
        if resume and checkpoint is None:
            raise ConfigError("resume=True needs the checkpoint path of the run to resume")
        notes = check_splits(train, validation, test or [])
        program = program or TemplateProgram()
        evaluator = Evaluator(program, as_metric(metric), self.engine)
        guard = PromptGuard(
            program,
            prompt,
            cfg.protected_spans,
            repair=cfg.repair,
            max_chars=cfg.max_prompt_chars,
            min_ratio=cfg.min_prompt_ratio,
        )
        expander = Expander(self.engine, cfg, guard, evaluator)
        if expander.style == "compact" and cfg.meta_prompt_style == "auto":
            notes.append(
                "compact meta-prompts: the optimizer model advertises them (tiny model); "
                "set meta_prompt_style='full' for the full ones"
            )
        pool = train if cfg.selection_split == "train" else validation  # no copy: O(1) memory
        print_ = fingerprint(
            prompt,
            cfg,
            [train, validation, test or []],
            program=type(program).__name__,
            metric=metric_identity(evaluator.metric),
            models=self.engine.model_identities(),
        )
        state = load_checkpoint(checkpoint, print_) if checkpoint and resume else None
        if state is None:
            state = RunState(
                fingerprint=print_.value,
                fingerprint_parts=print_.parts,
                initial_prompt=prompt,
                config=cfg,
                best_prompt=prompt,
            )
        run = Session(self.engine, state, evaluator, checkpoint, positive_label)
        stopped: StoppedBy | None = state.finished
        try:
            if state.initial_validation is None:
                scored = await evaluator.score(prompt, validation)
                if all(s.prediction is None for s in scored):
                    raise ConfigError(
                        "the program failed on every validation example with the initial "
                        f"prompt, e.g.: {scored[0].feedback}"
                    )
                state.initial_validation = run.scores(scored, validation)
                state.best_validation = _mean([s.value for s in scored])
                state.beam = [BeamEntry(prompt=prompt, validation=state.best_validation)]
            while stopped is None and state.rounds_completed < cfg.rounds:
                await self._round(state, expander, evaluator, train, pool, validation)
                run.save()
                last = state.history[-1]
                self._emit(
                    "round_finished",
                    f"round {last.round + 1}/{cfg.rounds} done: best validation "
                    f"{state.best_validation:.3f}",
                    round=last.round,
                    best_validation=state.best_validation,
                    round_best=last.best_validation,
                )
                more = state.rounds_completed < cfg.rounds
                if more and cfg.patience is not None and state.stale_rounds >= cfg.patience:
                    stopped = "patience"
            stopped = stopped or "rounds"
            state.finished = stopped
            run.save()
        except BudgetExceeded as exc:
            stopped = "budget"
            notes.append(f"stopped by budget: {exc}")
            self._emit("budget_stop", f"budget reached, keeping the best so far: {exc}")
        except OptimizerDown as exc:
            stopped = "optimizer_failed"
            notes.append(str(exc))
            logger.error("%s", exc)
            self._emit("optimizer_failed", f"the optimizer failed, keeping the best so far: {exc}")
        return await self._finish(run, validation, test, stopped, notes)

    async def _round(
        self,
        state: RunState,
        expander: Expander,
        evaluator: Evaluator,
        train: Sequence[Example],
        pool: Sequence[Example],
        validation: Sequence[Example],
    ) -> None:
        cfg, r = self.config, state.rounds_completed
        round_started = time.monotonic()
        beam = [entry.prompt for entry in state.beam]
        self._emit(
            "round_started",
            f"round {r + 1}/{cfg.rounds}: expanding {len(beam)} prompt(s)",
            round=r,
            beam=len(beam),
        )
        expansions = await settle(expander.expand(p, train, r) for p in beam)
        candidates = [
            Candidate(
                prompt=p, origin="initial" if p == state.initial_prompt and r == 0 else "parent"
            )
            for p in beam
        ]
        seen = {normalize(p) for p in beam}
        counts = _sum_counts(expansions)
        asked = counts.gradient_calls + counts.edit_calls + counts.paraphrase_calls
        if asked and counts.failed_calls == asked:
            example = next(f for e in expansions for f in e.failures)
            raise OptimizerDown(
                f"every optimizer call of round {r + 1} failed ({asked} calls), e.g. {example}; "
                f"the search stopped after {r} completed round(s) with the best prompt so far "
                "(a checkpoint keeps them: fix the optimizer and resume)"
            )
        for parent_index, exp in enumerate(expansions):
            for succ in exp.successors:
                if normalize(succ.prompt) in seen:
                    counts.duplicates += 1
                    continue
                seen.add(normalize(succ.prompt))
                candidates.append(
                    Candidate(
                        prompt=succ.prompt,
                        origin=succ.origin,
                        parent=parent_index,
                        gradient=succ.gradient,
                        edit=succ.edit,
                    )
                )
        self._emit(
            "candidates_expanded",
            f"round {r + 1}: {len(candidates)} candidates ({len(candidates) - len(beam)} new)",
            round=r,
            candidates=len(candidates),
            new=len(candidates) - len(beam),
        )
        selection = await self._select(candidates, evaluator, pool, r)
        chosen = [candidates[i].prompt for i in selection[0]]
        self._emit(
            "selection_done",
            f"round {r + 1}: selected {len(chosen)} prompt(s)",
            round=r,
            beam=len(chosen),
        )
        scored = await settle(evaluator.score(p, validation) for p in chosen)
        beam_entries = [
            BeamEntry(prompt=p, validation=_mean([s.value for s in sc]))
            for p, sc in zip(chosen, scored, strict=True)
        ]
        round_best = max(beam_entries, key=lambda e: e.validation)
        if state.best_validation is None or round_best.validation > state.best_validation + 1e-12:
            state.best_prompt, state.best_validation = round_best.prompt, round_best.validation
            state.stale_rounds = 0
        else:
            state.stale_rounds += 1
        state.beam = beam_entries
        state.history.append(
            RoundRecord(
                round=r,
                candidates=candidates,
                gradients=[g for e in expansions for g in e.gradients],
                edits=[t for e in expansions for t in e.edits],
                counts=counts,
                selection=selection[1],
                beam=beam_entries,
                best_validation=round_best.validation,
                elapsed_s=time.monotonic() - round_started,
            )
        )
        state.rounds_completed = r + 1

    async def _select(
        self, candidates: list[Candidate], evaluator: Evaluator, pool: Sequence[Example], r: int
    ) -> tuple[list[int], SelectionStats | None]:
        """Indices of the new beam (best first) and the selector's statistics."""
        cfg, n = self.config, len(candidates)
        if n <= cfg.beam_size:
            return list(range(n)), None
        budget = min(cfg.eval_budget or cfg.pulls_per_candidate * n, n * len(pool))
        before = evaluator.evaluations

        async def pull(arm: int, indices: list[int]) -> list[float]:
            scored = await evaluator.score(candidates[arm].prompt, [pool[i] for i in indices])
            return [s.value for s in scored]

        rng = random.Random(derive_seed(cfg.seed, "select", r))
        result = await self.selector.select(n, cfg.beam_size, pull, len(pool), budget, rng)
        for arm, candidate in enumerate(candidates):
            candidate.pulls = result.pulls[arm]
            candidate.selection_mean = result.means[arm] if result.pulls[arm] else None
        stats = SelectionStats(
            selector=self.selector.name,
            arms=n,
            budget=budget,
            total_pulls=result.total_pulls,
            new_evaluations=evaluator.evaluations - before,
        )
        return list(result.ranking[: cfg.beam_size]), stats

    async def _finish(
        self,
        run: Session,
        validation: Sequence[Example],
        test: Sequence[Example] | None,
        stopped: StoppedBy,
        notes: list[str],
    ) -> APOResult:
        """Score the test split once (initial and best prompt) and assemble the result.

        The checkpoint is saved once more, whatever stopped the run, so its usage counts every
        call made; once the search is over its memo covers the final scoring too (a resumed
        run re-scores nothing).
        """
        state, evaluator = run.state, run.evaluator
        best, initial = state.best_prompt, state.initial_prompt
        best_val = None
        initial_test = best_test = None
        try:
            if state.initial_validation is not None:
                best_val = run.scores(await evaluator.score(best, validation), validation)
            if test:
                self._emit("test_started", f"scoring the test split ({len(test)} examples)")
                on_initial, on_best = await settle(
                    [evaluator.score(initial, test), evaluator.score(best, test)]
                )
                initial_test, best_test = run.scores(on_initial, test), run.scores(on_best, test)
        except BudgetExceeded as exc:
            stopped = "budget"  # the budget cut the final scoring
            notes.append(f"final scoring incomplete, budget reached: {exc}")
        run.save(memo=state.finished is not None)
        result = APOResult(
            best_prompt=best,
            initial_prompt=initial,
            beam=state.beam,
            initial_validation=state.initial_validation,
            best_validation=best_val,
            initial_test=initial_test,
            best_test=best_test,
            history=state.history,
            usage=run.usage(),
            seed=self.config.seed,
            config=self.config,
            stopped_by=stopped,
            rounds_completed=state.rounds_completed,
            elapsed_s=run.elapsed(),
            notes=notes,
        )
        shown = "n/a" if state.best_validation is None else f"{state.best_validation:.3f}"
        self._emit(
            "run_finished",
            f"done ({stopped}): best validation {shown}",
            stopped_by=stopped,
            best_validation=state.best_validation,
        )
        return result

    def optimize_sync(self, prompt: str, **kwargs: Any) -> APOResult:
        """Blocking :meth:`optimize`, usable inside or outside a running event loop."""
        return run_sync(self.optimize(prompt, **kwargs))
