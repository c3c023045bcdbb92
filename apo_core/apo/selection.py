"""Best-arm identification for the beam: which k of n candidate prompts are best.

A *pull* scores one arm (candidate prompt) on one example (an LLM call, so pulls of a phase
run concurrently). Every selector obeys the same hard rules:

* it never spends more than ``budget`` pulls in total;
* it never pulls the same (arm, example) pair twice: all arms walk one shared random order of
  the examples (so arms are compared on the same examples), and an arm that has seen every
  example is not pulled again;
* it is deterministic given ``rng``.

Selectors: :class:`UCB` (ProTeGi's choice), :class:`UCBE`, :class:`SuccessiveRejects`,
:class:`SuccessiveHalving` and :class:`BruteForce`; :func:`make_selector` builds one by name.
"""

from __future__ import annotations

import asyncio
import math
import numbers
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from apo_core.errors import ConfigError

__all__ = [
    "UCB",
    "UCBE",
    "BruteForce",
    "Pull",
    "SelectionResult",
    "Selector",
    "SuccessiveHalving",
    "SuccessiveRejects",
    "make_selector",
]

Pull = Callable[[int, list[int]], Awaitable[list[float]]]
"""``await pull(arm, example_indices)`` -> one score in [0, 1] per example index."""


class SelectionResult(BaseModel):
    """What a selector found.

    Attributes:
        ranking: every arm, best first; the first ``k`` are the chosen beam.
        means: mean score per arm (0.0 for an arm never pulled).
        pulls: pulls spent on each arm.
        total_pulls: ``sum(pulls)``, never more than the budget.
    """

    ranking: list[int]
    means: list[float]
    pulls: list[int]
    total_pulls: int


@runtime_checkable
class Selector(Protocol):
    """Chooses the best ``k`` of ``n_arms`` arms within ``budget`` pulls."""

    name: str

    async def select(
        self, n_arms: int, k: int, pull: Pull, n_examples: int, budget: int, rng: random.Random
    ) -> SelectionResult: ...


class _Arms:
    """Pull bookkeeping: budget, per-arm means, the shared lazy example order."""

    def __init__(self, n_arms: int, pull: Pull, n_examples: int, budget: int, rng: random.Random):
        self.n_arms = n_arms
        self._pull = pull
        self.n_examples = n_examples
        self.budget = budget
        self._rng = rng
        self.sums = [0.0] * n_arms
        self.counts = [0] * n_arms
        self.total = 0
        self._order: list[int] = []
        self._swaps: dict[int, int] = {}

    @property
    def remaining(self) -> int:
        return self.budget - self.total

    def mean(self, arm: int) -> float:
        return self.sums[arm] / self.counts[arm] if self.counts[arm] else 0.0

    def open(self, arm: int) -> bool:
        """Whether ``arm`` still has unseen examples."""
        return self.counts[arm] < self.n_examples

    def goodness(self, arm: int) -> tuple[float, int, int]:
        """Sort key, higher is better: mean, then more evidence, then lower arm index."""
        return (self.mean(arm), self.counts[arm], -arm)

    def _example(self, position: int) -> int:
        """The example at ``position`` of the shared order (a lazy Fisher-Yates shuffle)."""
        while len(self._order) <= position:
            i = len(self._order)
            j = self._rng.randrange(i, self.n_examples)
            self._order.append(self._swaps.get(j, j))
            self._swaps[j] = self._swaps.pop(i, i)
        return self._order[position]

    def allocate(self, wants: Mapping[int, int], cap: int | None = None) -> dict[int, int]:
        """Grant new pulls per arm: at most what each wants, what it has left to see and (in
        total) ``cap`` and the remaining budget. Short of that, pulls go one at a time to the
        arms with the fewest pulls so far, so that counts stay as even as possible."""
        limit = self.remaining if cap is None else max(0, min(cap, self.remaining))
        room = {a: max(0, min(w, self.n_examples - self.counts[a])) for a, w in wants.items()}
        if sum(room.values()) <= limit:
            return {a: r for a, r in room.items() if r > 0}
        grant = dict.fromkeys(room, 0)
        while limit > 0:
            hungry = [a for a in room if grant[a] < room[a]]
            if not hungry:
                break
            hungry.sort(key=lambda a: (self.counts[a] + grant[a], a))
            for arm in hungry[:limit]:
                grant[arm] += 1
            limit -= min(limit, len(hungry))
        return {a: g for a, g in grant.items() if g > 0}

    async def pull(self, wants: Mapping[int, int], cap: int | None = None) -> int:
        """Pull arms concurrently as :meth:`allocate` grants; returns the pulls made."""
        grant = self.allocate(wants, cap)
        plan = [
            (arm, [self._example(self.counts[arm] + j) for j in range(m)])
            for arm, m in sorted(grant.items())
        ]
        results = await asyncio.gather(
            *(self._pull(arm, indices) for arm, indices in plan), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        made = 0
        for (arm, indices), scores in zip(plan, results, strict=True):
            values = _check_scores(arm, indices, scores)
            self.sums[arm] += math.fsum(values)
            self.counts[arm] += len(values)
            made += len(values)
        self.total += made
        return made

    def ranking(self, eliminated: Sequence[int] = ()) -> list[int]:
        """Arms not in ``eliminated`` best first (pulled before unpulled), then ``eliminated``
        in reverse order (the last arm eliminated ranks highest among them)."""
        out = set(eliminated)
        alive = [a for a in range(self.n_arms) if a not in out]
        pulled = sorted((a for a in alive if self.counts[a]), key=self.goodness, reverse=True)
        return pulled + [a for a in alive if not self.counts[a]] + list(eliminated)[::-1]

    def result(self, ranking: list[int]) -> SelectionResult:
        return SelectionResult(
            ranking=ranking,
            means=[self.mean(a) for a in range(self.n_arms)],
            pulls=list(self.counts),
            total_pulls=self.total,
        )


def _check_scores(arm: int, indices: list[int], scores: Any) -> list[float]:
    if not isinstance(scores, list | tuple) or len(scores) != len(indices):
        got = len(scores) if isinstance(scores, list | tuple) else type(scores).__name__
        raise ConfigError(f"pull(arm={arm}) must return {len(indices)} scores, got {got}")
    values: list[float] = []
    for score in scores:
        raw: Any = getattr(score, "value", score)
        value = float(raw) if isinstance(raw, numbers.Real) else math.nan
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ConfigError(f"pull(arm={arm}) returned score {score!r}; scores lie in [0, 1]")
        values.append(value)
    return values


class _BaseSelector:
    """Validation and the degenerate cases shared by every selector."""

    name = "selector"

    async def select(
        self, n_arms: int, k: int, pull: Pull, n_examples: int, budget: int, rng: random.Random
    ) -> SelectionResult:
        """Rank ``n_arms`` arms best first, spending at most ``budget`` pulls.

        With ``n_arms <= k`` every arm is in the beam and nothing is pulled (arm order is
        kept). With ``budget < n_arms``, ``budget`` arms chosen at random get one pull each.

        Raises:
            ConfigError: no examples or arms, ``k < 1``, a negative budget, or a pull that
                returns the wrong number of scores or a score outside [0, 1].
        """
        if n_examples < 1:
            raise ConfigError("selection needs at least one example (n_examples == 0)")
        if n_arms < 1 or k < 1:
            raise ConfigError(f"selection needs n_arms >= 1 and k >= 1, got {n_arms} and {k}")
        if budget < 0:
            raise ConfigError(f"the pull budget must be >= 0, got {budget}")
        arms = _Arms(n_arms, pull, n_examples, budget, rng)
        if n_arms <= k:
            return arms.result(list(range(n_arms)))
        if budget < n_arms:
            chosen = rng.sample(range(n_arms), budget)
            await arms.pull(dict.fromkeys(chosen, 1))
            return arms.result(arms.ranking())
        return arms.result(await self._run(arms, k))

    async def _run(self, arms: _Arms, k: int) -> list[int]:
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({params})"


class BruteForce(_BaseSelector):
    """Uniform allocation: every arm gets ``budget // n_arms`` pulls on the same examples, in
    one concurrent phase; arms are ranked by mean."""

    name = "brute_force"

    async def _run(self, arms: _Arms, k: int) -> list[int]:
        per_arm = arms.budget // arms.n_arms
        await arms.pull(dict.fromkeys(range(arms.n_arms), per_arm))
        return arms.ranking()


class UCB(_BaseSelector):
    """Upper confidence bound sampling (UCB1, as in ProTeGi), batched.

    Every arm first gets one batch of ``samples_per_pull`` examples. Then each round the
    ``arms_per_round`` arms (default ``k``) with the highest index
    ``mean + c * sqrt(log(t) / n)`` (t = pulls so far, n = the arm's pulls) get one more batch
    each, concurrently, until the budget or the examples run out. Arms are ranked by mean.
    """

    name = "ucb"

    def __init__(
        self, c: float = 2.0, *, samples_per_pull: int = 4, arms_per_round: int | None = None
    ) -> None:
        if c < 0:
            raise ConfigError(f"{self.name}: exploration must be >= 0, got {c}")
        if samples_per_pull < 1:
            raise ConfigError(f"samples_per_pull must be >= 1, got {samples_per_pull}")
        if arms_per_round is not None and arms_per_round < 1:
            raise ConfigError(f"arms_per_round must be >= 1, got {arms_per_round}")
        self.c = c
        self.samples_per_pull = samples_per_pull
        self.arms_per_round = arms_per_round

    def index(self, mean: float, n: int, t: int) -> float:
        """The optimistic value of an arm with ``mean`` over ``n`` pulls after ``t`` in all."""
        if n == 0:
            return math.inf
        return mean + self.c * math.sqrt(math.log(max(t, 1)) / n)

    async def _run(self, arms: _Arms, k: int) -> list[int]:
        first = min(self.samples_per_pull, arms.budget // arms.n_arms)
        await arms.pull(dict.fromkeys(range(arms.n_arms), first))
        width = self.arms_per_round or k
        while arms.remaining > 0:
            candidates = [a for a in range(arms.n_arms) if arms.open(a)]
            if not candidates:
                break
            t = arms.total
            candidates.sort(key=lambda a: (-self.index(arms.mean(a), arms.counts[a], t), a))
            wanted = dict.fromkeys(candidates[:width], self.samples_per_pull)
            if await arms.pull(wanted) == 0:
                break
        return arms.ranking()


class UCBE(UCB):
    """UCB-E (Audibert, Bubeck & Munos 2010): index ``mean + sqrt(a / n)``.

    ``a`` trades exploration for exploitation; the theory suggests ``a`` of the order of
    ``(budget - n_arms) / H1`` (H1 = sum of inverse squared gaps); 1.0 is ProTeGi's default.
    """

    name = "ucb_e"

    def __init__(
        self, a: float = 1.0, *, samples_per_pull: int = 4, arms_per_round: int | None = None
    ) -> None:
        super().__init__(a, samples_per_pull=samples_per_pull, arms_per_round=arms_per_round)

    @property
    def a(self) -> float:
        return self.c

    def index(self, mean: float, n: int, t: int) -> float:
        return math.inf if n == 0 else mean + math.sqrt(self.c / n)


class SuccessiveRejects(_BaseSelector):
    """Successive rejects (Audibert & Bubeck 2010), stopped when ``k`` arms remain.

    Phase p = 1..K-k pulls every surviving arm up to ``n_p = ceil((B - K) / (L (K + 1 - p)))``
    pulls, then rejects the arm with the lowest mean. ``L = k/(k+1) + sum_{j=k+1..K} 1/j``
    (for k = 1 the paper's ``log-bar(K)``), so the phases together need at most ``B`` pulls.
    """

    name = "successive_rejects"

    async def _run(self, arms: _Arms, k: int) -> list[int]:
        n_arms, budget = arms.n_arms, arms.budget
        log_bar = k / (k + 1) + sum(1.0 / j for j in range(k + 1, n_arms + 1))
        alive = list(range(n_arms))
        rejected: list[int] = []
        for phase in range(1, n_arms - k + 1):
            target = max(1, math.ceil((budget - n_arms) / (log_bar * (n_arms + 1 - phase))))
            await arms.pull({a: target - arms.counts[a] for a in alive})
            worst = min(alive, key=arms.goodness)
            alive.remove(worst)
            rejected.append(worst)
        return arms.ranking(rejected)


class SuccessiveHalving(_BaseSelector):
    """Successive halving (Karnin, Koren & Somekh 2013), stopped when ``k`` arms remain.

    Each round splits the budget left evenly over the rounds left and the surviving arms,
    pulls them concurrently, and keeps the better half (at least ``k``) by mean.
    """

    name = "successive_halving"

    async def _run(self, arms: _Arms, k: int) -> list[int]:
        sizes = [arms.n_arms]
        while sizes[-1] > k:
            sizes.append(max(k, math.ceil(sizes[-1] / 2)))
        alive = list(range(arms.n_arms))
        dropped: list[int] = []
        for rounds_left, keep in zip(range(len(sizes) - 1, 0, -1), sizes[1:], strict=True):
            share = arms.remaining // rounds_left
            if not any(arms.counts[a] for a in alive):  # first round: every arm pulled once
                share = max(share, min(arms.remaining, len(alive)))
            per_arm = math.ceil(share / len(alive))
            await arms.pull(dict.fromkeys(alive, per_arm), cap=share)
            alive.sort(key=arms.goodness, reverse=True)
            dropped.extend(reversed(alive[keep:]))
            alive = alive[:keep]
        return arms.ranking(dropped)


_SELECTORS: dict[str, type[_BaseSelector]] = {
    "ucb": UCB,
    "ucb_e": UCBE,
    "ucbe": UCBE,
    "successive_rejects": SuccessiveRejects,
    "sr": SuccessiveRejects,
    "successive_halving": SuccessiveHalving,
    "sh": SuccessiveHalving,
    "brute_force": BruteForce,
    "bruteforce": BruteForce,
    "uniform": BruteForce,
}


def make_selector(name: str | Selector, **kwargs: Any) -> Selector:
    """Build a selector by name: ``"ucb"``, ``"ucb_e"``, ``"successive_rejects"`` (``"sr"``),
    ``"successive_halving"`` (``"sh"``) or ``"brute_force"`` (``"uniform"``); keyword
    arguments go to its constructor. A Selector instance is returned as is.

    Raises:
        ConfigError: an unknown name or bad arguments.
    """
    if not isinstance(name, str):
        if kwargs:
            raise ConfigError("keyword arguments are only accepted with a selector name")
        return name
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    cls = _SELECTORS.get(key)
    if cls is None:
        names = "ucb, ucb_e, successive_rejects, successive_halving, brute_force"
        raise ConfigError(f"unknown selector {name!r}; choose one of {names}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad arguments for selector {name!r}: {exc}") from exc
