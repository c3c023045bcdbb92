"""Optimize the system prompt of a real LangChain chain with APO, fully offline.

The chain is ``ChatPromptTemplate | EngineChatModel | StrOutputParser``: the chat model is the
embedded SmolLM2-135M behind an apo_core engine, so task and optimizer calls share one cache,
one concurrency limit and one usage ledger. APO (ProTeGi) rewrites the system message on the
shipped ``sentiment`` reviews; the result is a NEW chain (the original is untouched), an A/B
switch between the two prompts, and the prompt as LangChain JSON.

Run it (needs ``pip install 'apo-bpo[local]'``; a few minutes on 2 CPU cores)::

    python examples/langchain_optimize.py [--cache apo-cache.sqlite] [--rounds 1]

With ``--cache`` a second run replays every call from the cache in seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable

from apo_core import Engine
from apo_core.data.shipped import load_dataset
from apo_core.metrics import LabelAccuracy
from langchain_apo import APOOptimizer, EngineChatModel, LangChainAPOResult, select_prompt

SYSTEM = "Is the sentiment of this review positive or negative?"

APO_SETTINGS: dict[str, Any] = {
    "rounds": 1,
    "beam_size": 2,
    "minibatch_size": 8,
    "n_gradients": 2,
    "errors_per_gradient": 2,
    "mc_samples_per_step": 0,
    "max_expansion_factor": 2,
    "eval_budget": 12,
    "optimizer_max_tokens": 160,
    "patience": None,
    "seed": 0,
}


def build_chain(engine: Engine) -> Runnable[Any, str]:
    """The user's chain: a chat prompt, the engine-backed model and a string parser."""
    prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", "Review: {text}")])
    llm = EngineChatModel(engine=engine, role="task", max_tokens=8)
    return prompt | llm | StrOutputParser()


async def optimize(
    engine: Engine,
    *,
    rounds: int = 1,
    n_train: int = 24,
    n_validation: int = 12,
    n_test: int = 12,
) -> tuple[Runnable[Any, str], LangChainAPOResult]:
    """Run APO on the chain over slices of the shipped sentiment data."""
    splits = load_dataset("sentiment").split(train=0.5, validation=0.25, test=0.25, seed=0)
    chain = build_chain(engine)
    optimizer = APOOptimizer(
        engine=engine,
        metric=LabelAccuracy(["positive", "negative"]),
        apo={**APO_SETTINGS, "rounds": rounds},
    )
    result = await optimizer.ainvoke(
        {
            "chain": chain,
            "train": list(splits.train)[:n_train],
            "validation": list(splits.validation)[:n_validation],
            "test": list(splits.test)[:n_test],
        }
    )
    return chain, result


def _show(label: str, scores: Any) -> str:
    if scores is None:
        return f"{label}: n/a"
    acc = scores.accuracy
    return f"{label}: {acc.value:.2f} (95% CI {acc.low:.2f}-{acc.high:.2f}, n={acc.n})"


async def main(cache: str | None, rounds: int) -> None:
    started = time.monotonic()
    engine = Engine(cache=cache, max_concurrency=2)
    chain, out = await optimize(engine, rounds=rounds)
    apo = out.result
    print("initial system prompt:", select_prompt(chain).text, sep="\n  ")
    print("optimized system prompt:", select_prompt(out.chain).text, sep="\n  ")
    print(_show("validation before", apo.initial_validation))
    print(_show("validation after ", apo.best_validation))
    print(_show("test before", apo.initial_test))
    print(_show("test after ", apo.best_test))
    print(f"stopped by: {apo.stopped_by}; rounds: {apo.rounds_completed}")
    review = {"text": "The battery died after two days and support never answered."}
    ab = out.as_configurable_alternatives()
    before = await ab.ainvoke(review)
    after = await ab.ainvoke(review, {"configurable": {"prompt_variant": "optimized"}})
    print(f"A/B on one review: original -> {before.strip()!r}, optimized -> {after.strip()!r}")
    print(f"prompt as LangChain JSON: {len(out.to_json())} characters")
    total = engine.usage().total
    print(
        f"calls: {total.calls} ({total.cache_hits} from cache), tokens: "
        f"{total.input_tokens + total.output_tokens}, time: {time.monotonic() - started:.0f}s"
    )
    engine.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache", default=None, help="SQLite response cache file")
    parser.add_argument("--rounds", type=int, default=1, help="APO rounds (default 1)")
    args = parser.parse_args()
    asyncio.run(main(args.cache, args.rounds))
