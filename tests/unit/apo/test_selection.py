"""apo_core.apo.selection: budgets, no repeated pulls, concurrency, determinism, correctness."""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apo_core.apo.selection import (
    UCB,
    UCBE,
    BruteForce,
    Pull,
    SelectionResult,
    Selector,
    SuccessiveHalving,
    SuccessiveRejects,
    make_selector,
)
from apo_core.errors import ConfigError

NAMES = ["ucb", "ucb_e", "successive_rejects", "successive_halving", "brute_force"]


class Bernoulli:
    """Arms with fixed success rates; a pair's score depends only on (seed, arm, example)."""

    def __init__(self, rates: list[float], n_examples: int, seed: int = 0) -> None:
        self.rates = rates
        self.n_examples = n_examples
        self.seed = seed
        self.log: list[tuple[int, int]] = []
        self.calls: list[tuple[int, list[int]]] = []

    async def __call__(self, arm: int, indices: list[int]) -> list[float]:
        assert 0 <= arm < len(self.rates)
        assert all(0 <= i < self.n_examples for i in indices)
        self.calls.append((arm, list(indices)))
        self.log.extend((arm, i) for i in indices)
        draw = [random.Random(f"{self.seed}:{arm}:{i}").random() for i in indices]
        return [1.0 if u < self.rates[arm] else 0.0 for u in draw]


def run(
    selector: Selector, n_arms: int, k: int, pull: Pull, n: int, budget: int, seed: int = 0
) -> SelectionResult:
    return asyncio.run(selector.select(n_arms, k, pull, n, budget, random.Random(seed)))


def check_invariants(result: SelectionResult, pull: Bernoulli, n_arms: int, budget: int) -> None:
    assert result.total_pulls <= budget
    assert len(pull.log) == len(set(pull.log)), "an (arm, example) pair was pulled twice"
    assert result.total_pulls == len(pull.log) == sum(result.pulls)
    assert result.pulls == [Counter(a for a, _ in pull.log)[arm] for arm in range(n_arms)]
    assert sorted(result.ranking) == list(range(n_arms))
    assert len(result.means) == n_arms
    for arm in range(n_arms):
        assert 0.0 <= result.means[arm] <= 1.0
        assert result.pulls[arm] <= pull.n_examples


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    n_arms=st.integers(1, 12),
    k=st.integers(1, 5),
    n_examples=st.integers(1, 30),
    budget=st.integers(0, 250),
    seed=st.integers(0, 10_000),
)
def test_budget_and_no_repeats_hold_for_any_shape(
    name: str, n_arms: int, k: int, n_examples: int, budget: int, seed: int
) -> None:
    rates = [random.Random(seed + a).random() for a in range(n_arms)]
    pull = Bernoulli(rates, n_examples, seed)
    result = run(make_selector(name), n_arms, k, pull, n_examples, budget, seed)
    check_invariants(result, pull, n_arms, budget)
    if n_arms > k and budget >= n_arms:
        assert all(p >= 1 for p in result.pulls)
    # deterministic: the same seed gives the same pulls and the same answer
    again = Bernoulli(rates, n_examples, seed)
    assert run(make_selector(name), n_arms, k, again, n_examples, budget, seed) == result
    assert again.calls == pull.calls


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", range(8))
def test_a_clearly_best_arm_ranks_first(name: str, seed: int) -> None:
    n_arms = 8
    best = random.Random(seed).randrange(n_arms)
    rates = [0.9 if a == best else 0.2 for a in range(n_arms)]
    pull = Bernoulli(rates, n_examples=200, seed=seed)
    result = run(make_selector(name), n_arms, 2, pull, 200, budget=240, seed=seed)
    check_invariants(result, pull, n_arms, 240)
    assert result.ranking[0] == best
    assert result.pulls[best] == max(result.pulls) or name == "brute_force"


@pytest.mark.parametrize("name", NAMES)
def test_top_k_is_found(name: str) -> None:
    rates = [0.1, 0.85, 0.15, 0.8, 0.2, 0.9, 0.1, 0.2, 0.15, 0.1]
    pull = Bernoulli(rates, n_examples=300, seed=7)
    result = run(make_selector(name), len(rates), 3, pull, 300, budget=600, seed=7)
    assert set(result.ranking[:3]) == {1, 3, 5}


@pytest.mark.parametrize("name", NAMES)
def test_first_phase_pulls_run_concurrently(name: str) -> None:
    n_arms = 6

    async def main() -> SelectionResult:
        barrier = asyncio.Barrier(n_arms)
        first_phase = True

        async def pull(arm: int, indices: list[int]) -> list[float]:
            nonlocal first_phase
            if first_phase:
                async with asyncio.timeout(5):  # deadlocks (-> TimeoutError) if run one by one
                    await barrier.wait()
                first_phase = False
            return [arm / n_arms] * len(indices)

        return await make_selector(name).select(n_arms, 2, pull, 50, 120, random.Random(0))

    result = asyncio.run(main())
    assert result.ranking[:2] == [5, 4]


@pytest.mark.parametrize("name", NAMES)
def test_arms_stop_when_every_example_is_seen(name: str) -> None:
    pull = Bernoulli([0.5, 0.6, 0.4, 0.7], n_examples=3)
    result = run(make_selector(name), 4, 1, pull, 3, budget=1000)
    check_invariants(result, pull, 4, 1000)
    assert max(result.pulls) <= 3


@pytest.mark.parametrize("name", NAMES)
def test_small_and_degenerate_cases(name: str) -> None:
    selector = make_selector(name)
    pull = Bernoulli([0.5, 0.9, 0.1], n_examples=10)
    everyone = run(selector, 3, 3, pull, 10, budget=100)
    assert everyone.ranking == [0, 1, 2] and everyone.total_pulls == 0 and pull.log == []
    short = Bernoulli([0.5] * 10, n_examples=10)
    result = run(selector, 10, 2, short, 10, budget=4, seed=3)
    check_invariants(result, short, 10, 4)
    assert result.total_pulls == 4 and sorted(result.pulls, reverse=True)[:5] == [1, 1, 1, 1, 0]
    nothing = Bernoulli([0.5] * 4, n_examples=10)
    assert run(selector, 4, 1, nothing, 10, budget=0).total_pulls == 0
    with pytest.raises(ConfigError, match="n_examples == 0"):
        run(selector, 4, 1, pull, 0, budget=10)
    with pytest.raises(ConfigError, match="k >= 1"):
        run(selector, 4, 0, pull, 10, budget=10)
    with pytest.raises(ConfigError, match="budget"):
        run(selector, 4, 1, pull, 10, budget=-1)


@pytest.mark.parametrize("bad", [[0.5], [1.5, 0.0], [math.nan, 0.5], ["0.5", 0.5]])
def test_bad_pull_results_are_rejected(bad: list[object]) -> None:
    async def pull(arm: int, indices: list[int]) -> list[float]:
        return bad  # type: ignore[return-value]

    with pytest.raises(ConfigError, match="pull"):
        run(BruteForce(), 3, 1, pull, 2, budget=6)


def test_pull_errors_propagate() -> None:
    class Boom(RuntimeError):
        pass

    async def pull(arm: int, indices: list[int]) -> list[float]:
        if arm == 2:
            raise Boom("provider down")
        return [0.5] * len(indices)

    with pytest.raises(Boom):
        run(UCB(), 4, 1, pull, 10, budget=40)


def test_brute_force_gives_every_arm_the_same_examples() -> None:
    pull = Bernoulli([0.3, 0.6, 0.5], n_examples=50)
    result = run(BruteForce(), 3, 1, pull, 50, budget=100)
    assert result.pulls == [33, 33, 33]
    per_arm = {arm: sorted(indices) for arm, indices in pull.calls}
    assert per_arm[0] == per_arm[1] == per_arm[2]
    assert len(pull.calls) == 3  # one concurrent phase


def test_ucb_index_and_batches() -> None:
    ucb = UCB(c=2.0, samples_per_pull=5)
    assert ucb.index(0.5, 4, 100) == pytest.approx(0.5 + 2.0 * math.sqrt(math.log(100) / 4))
    assert UCBE(a=3.0).index(0.5, 4, 100) == pytest.approx(0.5 + math.sqrt(3.0 / 4))
    pull = Bernoulli([0.2, 0.5, 0.8, 0.3], n_examples=100)
    run(ucb, 4, 2, pull, 100, budget=63)
    assert all(len(indices) <= 5 for _, indices in pull.calls)
    assert sum(len(indices) for _, indices in pull.calls) == 63


def test_successive_rejects_phase_lengths_follow_audibert_bubeck() -> None:
    n_arms, budget = 5, 200
    log_bar = 0.5 + sum(1 / i for i in range(2, n_arms + 1))
    phase = [math.ceil((budget - n_arms) / (log_bar * (n_arms + 1 - p))) for p in range(1, n_arms)]
    pull = Bernoulli([0.1, 0.3, 0.5, 0.7, 0.9], n_examples=1000)
    result = run(SuccessiveRejects(), n_arms, 1, pull, 1000, budget)
    rejected_first_to_last = result.ranking[::-1][: n_arms - 1]
    assert [result.pulls[a] for a in rejected_first_to_last] == phase
    assert result.pulls[result.ranking[0]] == phase[-1]
    assert result.total_pulls <= budget


def test_successive_halving_halves_and_keeps_k() -> None:
    pull = Bernoulli([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.95], n_examples=1000)
    result = run(SuccessiveHalving(), 8, 1, pull, 1000, budget=240)
    # 8 -> 4 -> 2 -> 1: three rounds of 80 pulls; survivors of later rounds have more pulls
    counts = sorted(result.pulls)
    assert counts[:4] == [10] * 4 and counts[4:6] == [30, 30] and counts[6:] == [70, 70]
    assert result.ranking[0] == 7 and result.total_pulls == 240


def test_make_selector() -> None:
    assert isinstance(make_selector("UCB"), UCB)
    assert isinstance(make_selector("ucb-e", a=2.0), UCBE)
    assert isinstance(make_selector("sr"), SuccessiveRejects)
    assert isinstance(make_selector("successive halving"), SuccessiveHalving)
    assert isinstance(make_selector("uniform"), BruteForce)
    assert make_selector("ucb", c=1.0).c == 1.0  # type: ignore[attr-defined]
    ucb = UCB()
    assert make_selector(ucb) is ucb
    assert isinstance(ucb, Selector)
    with pytest.raises(ConfigError, match="unknown selector"):
        make_selector("thompson")
    with pytest.raises(ConfigError, match="bad arguments"):
        make_selector("brute_force", c=1.0)
    with pytest.raises(ConfigError):
        UCB(samples_per_pull=0)
