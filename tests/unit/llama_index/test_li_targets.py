"""Several prompts of one module in one call: targets=[key or (key, part)], coordinate ascent."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.base.base_query_engine import BaseQueryEngine

from apo_core import ConfigError, Engine, ScriptedChatModel, ScriptedRequest
from apo_core.apo import coordinate_ascent, step_checkpoint
from apo_core.data import Example
from llama_index_apo import APOPromptOptimizer, EngineLLM, QueryEngineProgram, find_prompt

QA = "response_synthesizer:text_qa_template"
CAPITALS = {"France": "Paris", "Germany": "Berlin", "Spain": "Madrid", "Italy": "Rome"}
SHOUT = " Always reply in UPPERCASE."
BARE = "Reply with the city name only.\n"


def answer(request: ScriptedRequest) -> str:
    """Uppercase only when the SYSTEM message says so; bare only when the USER message does."""
    system = next((m.content for m in request.messages if m.role == "system"), "")
    query = re.findall(r"Query: (.*)", request.last_user)[-1]
    city = CAPITALS[next(c for c in CAPITALS if c in query)]
    city = city.upper() if "UPPERCASE" in system else city
    return city if "city name only" in request.last_user else f"The city is {city}."


def optimizer_reply(request: ScriptedRequest) -> str:
    if "Diagnose the prompt" in request.prompt:
        return json.dumps({"reasons": ["The answer is not in the expected form."]})
    quoted = re.search(r"<<<PROMPT\n(.*?)\nPROMPT>>>", request.last_user, re.S)
    text = quoted.group(1) if quoted else ""
    if "{query_str}" in text:  # the user message
        better = text if "city name only" in text else BARE + text
    else:  # the system message
        better = text if "UPPERCASE" in text else text + SHOUT
    return json.dumps({"prompts": [better]})


def score(prediction: str, example: Example) -> float:
    """Half a point for the uppercase city, half for nothing else."""
    return 0.5 * (example.output in prediction) + 0.5 * (prediction.strip() == example.output)


def records() -> list[dict[str, str]]:
    return [
        {"query": q.format(country), "label": city.upper()}
        for country, city in CAPITALS.items()
        for q in ("What is the capital of {}?", "Name the capital of {}.")
    ]


CONFIG: dict[str, Any] = {
    "rounds": 1,
    "beam_size": 2,
    "minibatch_size": 4,
    "n_gradients": 1,
    "errors_per_gradient": 2,
    "mc_samples_per_step": 0,
    "patience": None,
}


@pytest.fixture
def engine() -> Engine:
    task = ScriptedChatModel(default=answer, model_id="task")
    return Engine(task, roles={"optimizer": ScriptedChatModel(default=optimizer_reply)})


@pytest.fixture
def rag(index: VectorStoreIndex, engine: Engine) -> BaseQueryEngine:
    return index.as_query_engine(llm=EngineLLM(engine), similarity_top_k=1)


async def test_two_messages_of_one_template_are_optimized_in_turn(rag: BaseQueryEngine) -> None:
    before_system = find_prompt(rag, QA, part="system").text
    before_user = find_prompt(rag, QA).text
    targets = [(QA, "system"), (QA, "user")]
    optimizer = APOPromptOptimizer(rag, targets=targets, **CONFIG)
    result = await optimizer.aoptimize(train=records(), validation=records()[::2], metric=score)
    assert result.targets == targets and len(result.results) == 2
    first, second = result.results
    assert first.initial_prompt == before_system and first.best_prompt == before_system + SHOUT
    assert (
        second.initial_prompt == before_user and second.best_prompt == (BARE + before_user).strip()
    )
    assert first.best_validation is not None and second.best_validation is not None
    assert first.best_validation.accuracy.value == 0.5  # half there after the first target
    assert second.best_validation.accuracy.value == 1.0  # the second builds on the first
    assert result.apo is second and result.best_prompt == second.best_prompt
    assert list(result.templates) == [QA] and result.template is result.templates[QA]
    assert find_prompt(rag, QA, part="system").text == before_system + SHOUT  # in place
    assert find_prompt(rag, QA).text == (BARE + before_user).strip()
    assert str(await rag.aquery("What is the capital of Spain?")) == "MADRID"
    assert type(result.template) is type(result.initial_template)  # still a selector


async def test_passes_copy_mode_and_a_checkpoint_per_run(
    rag: BaseQueryEngine, engine: Engine, tmp_path: Path
) -> None:
    seen: list[dict[str, Any]] = []
    engine.subscribe(lambda e: seen.append(e.data) if e.kind == "target_started" else None)
    optimizer = APOPromptOptimizer(
        rag, targets=[(QA, "system"), QA], passes=2, **CONFIG
    )  # a plain key is its "user" message
    before = find_prompt(rag, QA).template
    checkpoint = tmp_path / "run.json"
    result = await optimizer.aoptimize(
        records(), metric=score, inplace=False, checkpoint=checkpoint
    )
    assert len(result.results) == 4 and result.module is not rag
    assert find_prompt(rag, QA).template is before  # the user's engine is untouched
    assert find_prompt(result.module, QA).text.startswith(BARE)
    assert [d["target"] for d in seen] == [f"{QA}[system]", f"{QA}[user]"] * 2
    assert [(tmp_path / f"run.{i}.json").is_file() for i in range(5)] == [True] * 4 + [False]
    assert step_checkpoint(checkpoint, 0, 1) == checkpoint


def test_runner_targets_and_bad_targets(rag: BaseQueryEngine) -> None:
    synthesizer = rag._response_synthesizer  # type: ignore[attr-defined]
    optimizer = APOPromptOptimizer(
        synthesizer,
        targets=[("text_qa_template", "system"), "text_qa_template"],
        runner=rag,
        **CONFIG,
    )
    assert optimizer.targets == [("text_qa_template", "system"), ("text_qa_template", "user")]
    result = optimizer.optimize(records(), metric=score)
    assert result.module is synthesizer and str(rag.query("Capital of Italy?")) == "ROME"
    with pytest.raises(ConfigError, match="key=<one prompt key> or targets"):
        APOPromptOptimizer(rag, QA, targets=[QA])
    with pytest.raises(ConfigError, match="say which prompt"):
        APOPromptOptimizer(rag)
    with pytest.raises(ConfigError, match="a prompt key or a \\(key, part\\) pair"):
        APOPromptOptimizer(rag, targets=[(QA,)])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match=r"listed twice: response_synthesizer:text_qa_temp"):
        APOPromptOptimizer(rag, targets=[QA, (QA, "user")])  # the same text twice
    with pytest.raises(ConfigError, match="with several targets leave it out"):
        APOPromptOptimizer(rag, targets=[QA, (QA, "system")], program=QueryEngineProgram(rag, QA))
    with pytest.raises(ConfigError, match="passes must be at least 1"):
        APOPromptOptimizer(rag, QA, passes=0)


async def test_coordinate_ascent_checks_its_arguments(engine: Engine) -> None:
    from apo_core.apo import APO

    with pytest.raises(ConfigError, match="targets is empty"):
        await coordinate_ascent(APO(engine), [], prepare=lambda t: ("", None), apply=print)  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigError, match="passes must be at least 1"):
        await coordinate_ascent(
            APO(engine),
            ["a"],
            prepare=lambda t: ("", None),
            apply=print,
            passes=0,  # type: ignore[arg-type,return-value]
        )
