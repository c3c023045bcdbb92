"""The LangChain example's core on the embedded SmolLM2-135M model: a real chain, real APO."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
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


class SystemMessages(BaseCallbackHandler):
    """Records the system message of every chat-model call."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.seen.extend(m.text for batch in messages for m in batch if m.type == "system")


async def test_example_optimizes_a_real_chain(tmp_path: Path) -> None:
    example = load_example()
    engine = Engine(cache=tmp_path / "cache.sqlite", max_concurrency=2)
    chain, out = await example.optimize(engine, n_train=16, n_validation=8, n_test=6)
    apo = out.result
    print(apo.model_dump_json(indent=1, exclude={"config"}))
    assert select_prompt(chain).text == example.SYSTEM  # the user's chain is untouched
    assert select_prompt(out.chain).text == apo.best_prompt
    assert apo.initial_validation is not None and apo.best_validation is not None
    [record] = apo.history
    new = [c.prompt for c in record.candidates if c.origin in ("edit", "paraphrase")]
    assert new, "the optimizer wrote no usable candidate"
    scored = {entry.prompt: entry.validation for entry in record.beam}
    assert set(scored) - {apo.initial_prompt}, "no new candidate was scored on validation"
    assert set(scored) <= {c.prompt for c in record.candidates}
    initial = apo.initial_validation.accuracy.value
    best = max(initial, *scored.values())
    assert apo.best_validation.accuracy.value == pytest.approx(best)  # the validation argmax
    if apo.best_prompt != apo.initial_prompt:
        assert scored[apo.best_prompt] == pytest.approx(best) and best > initial
    assert apo.best_test is not None and apo.best_test.accuracy.n == 6
    assert apo.history[0].counts.gradient_calls > 0
    usage = engine.usage()
    assert usage.by_role["task"].calls > 0 and usage.by_role["optimizer"].calls > 0
    seen = SystemMessages()
    assert isinstance(await out.chain.ainvoke({"text": "I loved it."}, {"callbacks": [seen]}), str)
    await chain.ainvoke({"text": "I loved it."}, {"callbacks": [seen]})
    assert seen.seen == [apo.best_prompt, example.SYSTEM]  # what the model really received
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
