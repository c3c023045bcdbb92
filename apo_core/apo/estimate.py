"""Pre-run estimate of an APO run's LLM calls per role (the CLI shows it before starting).

The figures are upper bounds for a run that goes all its rounds: every parent has errors on
its minibatch, every optimizer reply parses, and no evaluation is shared (the run's memo and
the response cache only make the real count smaller).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from apo_core.apo.config import APOConfig
from apo_core.apo.metaprompts import Style


class RoundEstimate(BaseModel):
    """Calls of one round."""

    beam: int
    candidates: int
    task: int
    optimizer: int


class CallEstimate(BaseModel):
    """Expected (at most) calls per role for a whole run."""

    by_role: dict[str, int] = Field(default_factory=dict)
    replies_by_role: dict[str, int] = Field(default_factory=dict)
    """Replies per role (a paraphrase call returns ``mc_samples_per_step`` of them): output
    tokens are at most replies times ``max_tokens``."""
    rounds: list[RoundEstimate] = Field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.by_role.values())


def optimizer_calls_per_parent(config: APOConfig) -> int:
    """Gradient + edit + paraphrase calls for expanding one parent.

    One paraphrase call per new prompt asks for all its ``mc_samples_per_step`` samples.
    """
    gradients = config.n_gradients
    edits = gradients * config.gradients_per_error
    paraphrases = edits * config.steps_per_gradient if config.mc_samples_per_step else 0
    return gradients + edits + paraphrases


def optimizer_replies_per_parent(config: APOConfig, style: Style = "full") -> int:
    """Replies the optimizer writes for one parent (each paraphrase call has ``n`` samples).

    Compact meta-prompts ask for one item per sample, so a gradient call has
    ``gradients_per_error`` replies and an edit call ``steps_per_gradient``.
    """
    edits = config.n_gradients * config.gradients_per_error
    paraphrases = edits * config.steps_per_gradient * config.mc_samples_per_step
    if style == "compact":
        return edits + edits * config.steps_per_gradient + paraphrases
    return config.n_gradients + edits + paraphrases


def estimate_calls(
    config: APOConfig,
    *,
    train_size: int,
    validation_size: int,
    test_size: int = 0,
    judge: bool = False,
    style: Style = "full",
) -> CallEstimate:
    """Calls per role (``task``, ``optimizer``, and ``judge`` when the metric is an LLM judge).

    Args:
        config: the run's configuration.
        train_size: train examples.
        validation_size: validation examples.
        test_size: test examples (scored twice at the end).
        judge: the metric makes one judge call per evaluation.
        style: the meta-prompt style the run uses (it changes replies, not calls).
    """
    pool = train_size if config.selection_split == "train" else validation_size
    minibatch = min(config.minibatch_size, train_size)
    task = validation_size  # the initial prompt on validation
    optimizer = replies = 0
    rounds: list[RoundEstimate] = []
    beam = 1
    for _ in range(config.rounds):
        candidates = beam * (1 + config.successors_per_parent)
        round_task = beam * minibatch
        if candidates > config.beam_size:
            budget = config.eval_budget or config.pulls_per_candidate * candidates
            round_task += min(budget, candidates * pool)
        next_beam = min(config.beam_size, candidates)
        round_task += next_beam * validation_size
        round_optimizer = beam * optimizer_calls_per_parent(config)
        rounds.append(
            RoundEstimate(
                beam=beam, candidates=candidates, task=round_task, optimizer=round_optimizer
            )
        )
        task += round_task
        optimizer += round_optimizer
        replies += beam * optimizer_replies_per_parent(config, style)
        beam = next_beam
    task += 2 * test_size
    by_role = {"task": task, "optimizer": optimizer}
    if judge:
        by_role["judge"] = task
    return CallEstimate(
        by_role=by_role, replies_by_role={**by_role, "optimizer": replies}, rounds=rounds
    )
