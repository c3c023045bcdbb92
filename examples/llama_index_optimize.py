"""Optimize the answer prompt of a real LlamaIndex query engine with APO, fully offline.

A ``VectorStoreIndex`` over a few documents (``MockEmbedding``, so no embedding model is
needed) answers questions with the embedded SmolLM2-135M through ``EngineLLM``: every call,
task and optimizer alike, goes through one apo_core engine (cache, limits, usage). APO
rewrites the synthesizer's ``text_qa_template`` and applies the best version in place.

Run it (needs ``pip install 'apo-bpo[local]'``; a few minutes on 2 CPU cores)::

    python examples/llama_index_optimize.py [--cache apo-cache.sqlite] [--rounds 1]

With ``--cache`` a second run replays every call from the cache in seconds. SmolLM2-135M is a
weak optimizer (its gradients and edits rarely beat the start prompt); pass
``--optimizer-model gpt-4o-mini`` (or any OpenAI-compatible model) to let a stronger model
write the edits while the embedded model stays the task model.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import TextNode

from apo_core import Engine, OpenAIChatModel
from apo_core.data import Dataset
from apo_core.metrics import Contains
from llama_index_apo import APOPromptOptimizer, EngineLLM, LlamaIndexAPOResult, find_prompt

KEY = "response_synthesizer:text_qa_template"

DOCUMENTS = [
    "The Zorbian flag is green with a white star in the middle.",
    "Captain Mira Voss founded the harbour town of Eastwick in 1821.",
    "The Eastwick lighthouse is 43 metres tall and painted red.",
    "Eastwick's main export is seaweed, shipped mostly to Norland.",
    "The town's annual festival, Lantern Night, is held every October.",
    "Eastwick's football club is called the Eastwick Gulls.",
]

QUESTIONS = [
    ("What colour is the Zorbian flag?", "green"),
    ("Who founded Eastwick?", "Mira Voss"),
    ("How tall is the Eastwick lighthouse?", "43"),
    ("What is Eastwick's main export?", "seaweed"),
    ("In which month is Lantern Night held?", "October"),
    ("What is the name of Eastwick's football club?", "Gulls"),
    ("In what year was Eastwick founded?", "1821"),
    ("What colour is the Eastwick lighthouse?", "red"),
    ("Where is Eastwick's seaweed mostly shipped?", "Norland"),
]

APO_SETTINGS: dict[str, Any] = {
    "rounds": 1,
    "beam_size": 2,
    "minibatch_size": 3,
    "n_gradients": 3,
    "errors_per_gradient": 1,
    "mc_samples_per_step": 1,
    "max_expansion_factor": 4,
    "eval_budget": 12,
    "optimizer_max_tokens": 160,
    "patience": None,
    "seed": 0,
}


def build_query_engine(engine: Engine, *, max_tokens: int = 24) -> BaseQueryEngine:
    """A real RAG query engine whose LLM is the apo_core engine."""
    Settings.embed_model = MockEmbedding(embed_dim=8)
    llm = EngineLLM(engine, max_tokens=max_tokens)
    Settings.llm = llm
    # Fixed node ids keep the context (and so every prompt) identical from run to run, which
    # makes the run reproducible and lets a second run replay from the cache.
    index = VectorStoreIndex([TextNode(id_=f"doc-{i}", text=t) for i, t in enumerate(DOCUMENTS)])
    # MockEmbedding cannot rank, so every document goes into the context (they are short).
    return index.as_query_engine(llm=llm, similarity_top_k=len(DOCUMENTS))


def dataset(questions: list[tuple[str, str]] | None = None) -> Dataset:
    rows = [{"query": q, "label": a} for q, a in questions or QUESTIONS]
    return Dataset.from_records(rows, name="eastwick")


async def optimize(
    engine: Engine, *, questions: list[tuple[str, str]] | None = None, **overrides: Any
) -> tuple[BaseQueryEngine, LlamaIndexAPOResult[BaseQueryEngine]]:
    """Build the query engine and optimize its text_qa_template in place (train/val/test)."""
    query_engine = build_query_engine(engine)
    splits = dataset(questions).split(train=1 / 3, validation=1 / 3, test=1 / 3, seed=0)
    optimizer = APOPromptOptimizer(
        query_engine, KEY, engine=engine, **{**APO_SETTINGS, **overrides}
    )
    result = await optimizer.aoptimize(
        train=splits.train,
        validation=splits.validation,
        test=splits.test,
        metric=Contains(),
    )
    return query_engine, result


def _score(scores: Any) -> str:
    return "n/a" if scores is None else f"{scores.accuracy.value:.2f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=None, help="SQLite response cache (replays re-runs)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--optimizer-model",
        default=None,
        help="an OpenAI-compatible model for the optimizer role (e.g. gpt-4o-mini; uses "
        "OPENAI_API_KEY / OPENAI_BASE_URL); default: the embedded model does everything",
    )
    args = parser.parse_args()
    roles = {"optimizer": OpenAIChatModel(args.optimizer_model)} if args.optimizer_model else {}
    # The task model is the embedded SmolLM2-135M (the engine's default model).
    engine = Engine(cache=args.cache, max_concurrency=2, roles=roles)
    started = time.monotonic()
    query_engine, result = await optimize(engine, rounds=args.rounds)
    apo = result.apo
    print("Before:\n" + apo.initial_prompt + "\n")
    print("After:\n" + apo.best_prompt + "\n")
    print(f"validation accuracy: {_score(apo.initial_validation)} -> {_score(apo.best_validation)}")
    print(f"test accuracy:       {_score(apo.initial_test)} -> {_score(apo.best_test)}")
    assert find_prompt(query_engine, KEY).text == apo.best_prompt  # applied in place
    answer = await query_engine.aquery("What colour is the Zorbian flag?")
    print(f"\nQ: What colour is the Zorbian flag?\nA: {str(answer).strip()}")
    usage = engine.usage().total
    print(
        f"\n{usage.calls} model calls, {usage.cache_hits} cache hits, "
        f"{usage.input_tokens + usage.output_tokens} tokens, {time.monotonic() - started:.0f}s"
    )
    engine.close()


if __name__ == "__main__":
    asyncio.run(main())
