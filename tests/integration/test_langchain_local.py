"""The LangChain example's core on the embedded SmolLM2-135M model: a real chain, real APO."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from types import ModuleType

import pytest
from langchain_core.load import dumps, loads

from apo_core import Engine
from langchain_apo import BPORewriter, select_prompt

pytestmark = [pytest.mark.integration, pytest.mark.local_model]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "langchain_optimize.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("langchain_optimize_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_example_optimizes_a_real_chain(tmp_path: Path) -> None:
    example = load_example()
    engine = Engine(cache=tmp_path / "cache.sqlite", max_concurrency=2)
    chain, out = await example.optimize(engine, n_train=16, n_validation=8, n_test=6)
    apo = out.result
    assert select_prompt(chain).text == example.SYSTEM  # the user's chain is untouched
    assert select_prompt(out.chain).text == apo.best_prompt
    assert apo.initial_validation is not None and apo.best_validation is not None
    assert apo.best_validation.accuracy.value >= apo.initial_validation.accuracy.value
    assert apo.best_test is not None and apo.best_test.accuracy.n == 6
    assert apo.history and apo.history[0].counts.gradient_calls > 0
    usage = engine.usage()
    assert usage.by_role["task"].calls > 0 and usage.by_role["optimizer"].calls > 0
    assert isinstance(await out.chain.ainvoke({"text": "I loved it."}), str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert loads(out.to_json(), allowed_objects="core") == out.prompt
    before = dumps(out.chain)
    ab = out.as_configurable_alternatives()
    await ab.ainvoke({"text": "Awful."}, {"configurable": {"prompt_variant": "optimized"}})
    assert dumps(out.chain) == before
    engine.close()


async def test_bpo_step_on_the_embedded_model(tmp_path: Path) -> None:
    engine = Engine(cache=tmp_path / "cache.sqlite", max_concurrency=2)
    step = BPORewriter(engine, key="question", keep_original="original", seed=0)
    out = await step.ainvoke({"question": "how do plants make food"})
    assert out["original"] == "how do plants make food"
    assert isinstance(out["question"], str) and out["question"].strip()
    engine.close()
