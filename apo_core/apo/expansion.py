"""Expansion: one ProTeGi step from a parent prompt to its successors.

Run the parent on a train minibatch; cut its shuffled errors into ``n_gradients`` disjoint
groups (resampled once too few remain, see :func:`error_groups`); per group one gradient call
(``gradients_per_error`` reasons); per reason one edit call (``steps_per_gradient`` prompts);
per accepted new prompt one paraphrase call asking for ``mc_samples_per_step`` samples (``n``),
as the ProTeGi release does. Every group's chain runs concurrently with the others; repeated
identical requests get distinct ``sample_index`` values and every sampled call a seed derived
from the run seed. Successors are validated by the :class:`PromptGuard`, de-duplicated, and
capped at ``max_expansion_factor``. The requests themselves come from the run's meta-prompt
style (:mod:`apo_core.apo.metaprompts`): full for capable optimizers, compact for tiny ones.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeVar

from apo_core.apo.config import APOConfig, derive_seed
from apo_core.apo.evaluation import Evaluator, Scored, settle
from apo_core.apo.metaprompts import MetaPrompts, MetaRequest, make_meta_prompts, resolve_style
from apo_core.apo.prompts import ErrorCase
from apo_core.apo.protection import PromptGuard, instruction_words, normalize
from apo_core.apo.result import ExpansionCounts
from apo_core.errors import (
    BudgetExceeded,
    ConfigError,
    ModelCallError,
    RetriesExhausted,
    RetryableModelError,
)

if TYPE_CHECKING:
    from apo_core.data import Example
    from apo_core.engine import Engine

logger = logging.getLogger("apo_core.apo")
T = TypeVar("T")

REFUSED_REQUEST = frozenset({400, 413, 422})
"""Statuses that refuse one request (too long, filtered content) rather than every request."""


def is_fatal(exc: BaseException) -> bool:
    """Whether an optimizer call's error dooms every other call too, so the run must stop.

    Bad configuration and non-retryable model errors (auth, unknown model, no status) are
    fatal; retries that ran out, refusals of one request (400, 413, 422) and unexpected
    exceptions are not: they lose their branch only (and a round whose every optimizer call
    fails stops the run, see :class:`~apo_core.apo.APO`).
    """
    if isinstance(exc, ConfigError):
        return True
    if isinstance(exc, RetriesExhausted | RetryableModelError):
        return False
    return isinstance(exc, ModelCallError) and exc.status_code not in REFUSED_REQUEST


@dataclass
class Successor:
    """A new candidate and how it was made."""

    prompt: str
    origin: Literal["edit", "paraphrase"]
    gradient: str | None = None
    """The gradient (reason) the edit behind it fixes."""
    edit: str | None = None
    """For a paraphrase: the edited prompt it rewrites."""


@dataclass
class Expansion:
    """What expanding one parent produced."""

    parent: str
    successors: list[Successor] = field(default_factory=list)
    gradients: list[str] = field(default_factory=list)
    edits: list[str] = field(default_factory=list)
    counts: ExpansionCounts = field(default_factory=ExpansionCounts)
    failures: list[str] = field(default_factory=list)
    """The errors of failed optimizer calls (``type: message``), in no particular order."""


def error_case(example: Example, scored: Scored) -> ErrorCase:
    """How one wrong answer is shown to the optimizer."""
    inputs = "\n".join(f"{k}: {v}" for k, v in example.inputs.items())
    got = scored.prediction if scored.prediction is not None else "(no answer: the call failed)"
    return ErrorCase(input=inputs, expected=str(example.output), got=got, feedback=scored.feedback)


def error_groups(errors: list[T], n: int, size: int, rng: random.Random) -> list[list[T]]:
    """``n`` groups of ``size`` errors (fewer if there are fewer errors), fresh while they last.

    The errors are shuffled and cut into disjoint groups, so each gradient sees other cases;
    once fewer than ``size`` unused errors remain, further groups are drawn at random from all.
    """
    size = min(size, len(errors))
    order = rng.sample(errors, len(errors))
    disjoint = min(n, len(order) // size) if size else 0
    groups = [order[i * size : (i + 1) * size] for i in range(disjoint)]
    groups += [rng.sample(errors, size) for _ in range(n - disjoint)]
    return groups


class Expander:
    """Expands parents into successors through the engine's ``optimizer`` role."""

    def __init__(
        self, engine: Engine, config: APOConfig, guard: PromptGuard, evaluator: Evaluator
    ) -> None:
        self.engine = engine
        self.config = config
        self.guard = guard
        self.evaluator = evaluator
        self.style = resolve_style(config.meta_prompt_style, engine.model_for("optimizer"))
        self.meta: MetaPrompts = make_meta_prompts(self.style, guard, config)

    async def _ask(
        self, request: MetaRequest, *, sample_index: int, seed: int, out: Expansion
    ) -> list[list[str]]:
        """The items of each of the request's sampled replies (``[]`` for a failed call)."""
        cfg = self.config
        field_name = request.field
        try:
            completion = await self.engine.complete(
                request.messages,
                role="optimizer",
                temperature=cfg.optimizer_temperature,
                max_tokens=request.max_tokens or cfg.optimizer_max_tokens,
                n=request.n,
                stop=request.stop or None,
                seed=seed,
                response_format=request.schema,
                sample_index=sample_index,
            )
        except BudgetExceeded:
            raise
        except Exception as exc:
            if is_fatal(exc):  # auth, unknown model, bad config: no other call would succeed
                raise
            out.counts.failed_calls += 1  # one failed call loses its branch only
            out.failures.append(f"{type(exc).__name__}: {exc}")
            logger.warning("optimizer call failed, skipped: %s", exc)
            return []
        replies = request.read(completion)
        if field_name == "reasons":  # "," or "A boring documentary" explain nothing
            replies = [
                [r for r in items if instruction_words(r) >= cfg.min_gradient_words]
                for items in replies
            ]
        for text, items in zip(completion.texts, replies, strict=False):
            if not items:
                out.counts.parse_failures += 1
                logger.info("optimizer reply yielded no %s, skipped: %r", field_name, text)
        return replies

    def _accept(self, text: str, counts: ExpansionCounts) -> str | None:
        checked = self.guard.check(text)
        if checked.prompt is None:
            counts.rejected += 1
            logger.info("candidate rejected (%s)", checked.problem)
        elif checked.repaired:
            counts.repaired += 1
            logger.info("candidate repaired (%s)", checked.problem)
        return checked.prompt

    async def _paraphrase(
        self, prompt: str, reason: str, tag: str, out: Expansion
    ) -> list[Successor]:
        cfg = self.config
        if cfg.mc_samples_per_step == 0:
            return []
        request = self.meta.paraphrase(prompt, cfg.mc_samples_per_step)
        out.counts.paraphrase_calls += 1  # one request for all the samples (n = mc samples)
        seed = derive_seed(cfg.seed, "paraphrase", tag)
        replies = await self._ask(request, sample_index=0, seed=seed, out=out)
        texts = [self._accept(items[0], out.counts) for items in replies if items]
        return [Successor(t, "paraphrase", reason, prompt) for t in texts if t is not None]

    async def _edit(
        self, errors: list[ErrorCase], reason: str, tag: str, index: int, out: Expansion
    ) -> tuple[list[str], list[Successor]]:
        cfg = self.config
        request = self.meta.edit(out.parent, errors, reason, cfg.steps_per_gradient)
        out.counts.edit_calls += 1
        seed = derive_seed(cfg.seed, "edit", tag, index)
        replies = await self._ask(request, sample_index=index, seed=seed, out=out)
        edits = [e for items in replies for e in items][: cfg.steps_per_gradient]
        accepted = [self._accept(t, out.counts) for t in edits]
        new = [t for t in accepted if t is not None]
        chains = await settle(
            self._paraphrase(t, reason, f"{tag}:{index}:{s}", out) for s, t in enumerate(new)
        )
        result = [Successor(t, "edit", reason) for t in new]
        for chain in chains:
            result.extend(chain)
        return edits, result

    async def _group(
        self, errors: list[ErrorCase], tag: str, group: int, out: Expansion
    ) -> tuple[list[str], list[str], list[Successor]]:
        cfg = self.config
        request = self.meta.gradient(out.parent, errors, cfg.gradients_per_error)
        out.counts.gradient_calls += 1
        seed = derive_seed(cfg.seed, "gradient", tag, group)
        replies = await self._ask(request, sample_index=group, seed=seed, out=out)
        reasons = [r for items in replies for r in items][: cfg.gradients_per_error]
        per_reason = await settle(
            self._edit(errors, reason, tag, group * cfg.gradients_per_error + r, out)
            for r, reason in enumerate(reasons)
        )
        edits = [e for found, _ in per_reason for e in found]
        return reasons, edits, [s for _, successors in per_reason for s in successors]

    async def expand(self, parent: str, train: Sequence[Example], round_index: int) -> Expansion:
        """Expand ``parent`` using a minibatch of ``train`` (seeded by round and parent)."""
        cfg = self.config
        out = Expansion(parent=parent)
        tag = f"{round_index}:{normalize(parent)}"
        rng = random.Random(derive_seed(cfg.seed, "expand", tag))
        batch = rng.sample(train, min(cfg.minibatch_size, len(train)))
        scores = await self.evaluator.score(parent, batch)
        errors = [error_case(ex, s) for ex, s in zip(batch, scores, strict=True) if s.value < 1.0]
        out.counts.minibatch_errors = len(errors)
        if not errors:
            return out
        groups = error_groups(errors, cfg.n_gradients, cfg.errors_per_gradient, rng)
        chains = await settle(self._group(g, tag, i, out) for i, g in enumerate(groups))
        seen = {normalize(parent)}
        unique: list[Successor] = []
        for reasons, edits, _ in chains:
            out.gradients.extend(reasons)
            out.edits.extend(edits)
        for successor in (s for _, _, chain in chains for s in chain):
            key = normalize(successor.prompt)
            if key in seen:
                out.counts.duplicates += 1
                continue
            seen.add(key)
            unique.append(successor)
        if len(unique) > cfg.max_expansion_factor:
            keep = set(rng.sample(range(len(unique)), cfg.max_expansion_factor))
            out.counts.capped = len(unique) - len(keep)
            unique = [s for i, s in enumerate(unique) if i in keep]
        out.successors = unique
        return out
