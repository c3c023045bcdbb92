"""Concepts: how many successors a parent gets, and a bandit choosing the beam."""

import asyncio
import random

from apo_core import APOConfig
from apo_core.apo.selection import make_selector

# --8<-- [start:expansion]
config = APOConfig(
    n_gradients=4,  # error groups per parent -> one gradient call each
    gradients_per_error=1,  # reasons per gradient call -> one edit call each
    steps_per_gradient=1,  # new prompts per edit call
    mc_samples_per_step=2,  # paraphrases per new prompt
    max_expansion_factor=8,  # successors kept per parent, at most
)
print(config.successors_per_parent)  # min(4 * 1 * 1 * (1 + 2), 8) = 8
# --8<-- [end:expansion]

# --8<-- [start:bandit]
true_accuracy = [0.50, 0.90, 0.60, 0.80, 0.30]  # five candidate prompts (arms)


async def pull(arm: int, examples: list[int]) -> list[float]:
    """Score one candidate on some examples (in a run: one task-model call per example)."""
    return [1.0 if (i * 37 % 100) / 100 < true_accuracy[arm] else 0.0 for i in examples]


selector = make_selector("ucb")  # or "ucb_e", "successive_rejects", "successive_halving", ...
chosen = asyncio.run(selector.select(5, 2, pull, 50, 80, random.Random(0)))
print(chosen.ranking[:2], chosen.total_pulls)  # the beam: the 2 best arms, in <= 80 pulls
# --8<-- [end:bandit]

assert sorted(chosen.ranking[:2]) == [1, 3] and chosen.total_pulls <= 80
