"""APOOptimizer end to end with scripted models; ChainProgram; results and exports."""

from __future__ import annotations

import itertools
import json
import re
import warnings
from dataclasses import dataclass
from typing import Any

import pytest
from langchain_core.language_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.load import dumps, loads
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.runnables import RunnableParallel
from lc_helpers import RecordingHandler

import langchain_apo
from apo_core import Budget, ConfigError, Engine, ScriptedChatModel, ScriptedRequest
from apo_core.data import DEFAULT_SPLIT, Example
from apo_core.program import EngineBypassWarning, PromptProgram
from langchain_apo import (
    APOOptimizer,
    ChainProgram,
    EngineChatModel,
    find_prompts,
    output_text,
    route_models,
    select_prompt,
)

SMALL = {
    "rounds": 1,
    "beam_size": 2,
    "minibatch_size": 8,
    "n_gradients": 1,
    "errors_per_gradient": 2,
    "mc_samples_per_step": 0,
    "patience": None,
}


def task_reply(request: ScriptedRequest) -> str:
    """Right on review ``i`` when ``i % 5`` < the number of CAREFULs, else ``positive``."""
    match = re.search(r"(\d+) was (good|bad)", request.prompt)
    assert match is not None, request.prompt
    if int(match.group(1)) % 5 < request.prompt.count("CAREFUL"):
        return "positive" if match.group(2) == "good" else "negative"
    return "positive"


def optimizer_reply(request: ScriptedRequest) -> str:
    user = request.last_user
    found = re.search(r"exactly (\d+)", user)
    n = int(found.group(1)) if found else 1
    if "Diagnose the prompt" in user:
        return json.dumps({"reasons": [f"too vague {k}" for k in range(n)]})
    parent = re.search(r"<<<PROMPT\n(.*?)\nPROMPT>>>", user, re.S)
    assert parent is not None
    return json.dumps({"prompts": [f"Be CAREFUL. {parent.group(1)}"] * n})


def models() -> tuple[ScriptedChatModel, ScriptedChatModel]:
    return ScriptedChatModel(default=task_reply), ScriptedChatModel(default=optimizer_reply)


def records(n: int = 40) -> list[dict[str, Any]]:
    return [
        {"i": i, "text": "good" if i % 2 == 0 else "bad", "label": ["positive", "negative"][i % 2]}
        for i in range(n)
    ]


def prompt() -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages(
        [
            ("system", "Classify the review: positive or negative."),
            ("human", "Review {i} was {text}"),
        ]
    )


def engine_chain() -> tuple[Any, Engine, ScriptedChatModel]:
    task, opt = models()
    engine = Engine(roles={"task": task, "optimizer": opt})
    return prompt() | EngineChatModel(engine=engine) | StrOutputParser(), engine, task


async def test_end_to_end_on_engine_chain(recorder: RecordingHandler) -> None:
    chain, engine, _ = engine_chain()
    before = dumps(chain)
    optimizer = APOOptimizer(apo=SMALL).with_config(run_name="apo")
    out = await optimizer.ainvoke({"chain": chain, "dataset": records()}, {"callbacks": [recorder]})
    assert dumps(chain) == before
    assert out.result.best_prompt.startswith("Be CAREFUL.")
    initial, best = out.result.initial_validation, out.result.best_validation
    assert initial is not None and best is not None
    assert best.accuracy.value > initial.accuracy.value
    assert select_prompt(out.chain).text == out.result.best_prompt
    assert out.prompt is select_prompt(out.chain).prompt
    assert out.original_chain is chain and out.results == [out.result]
    assert out.result.best_test is not None  # the split's test part, scored once
    assert APOOptimizer().split == DEFAULT_SPLIT  # 40 records: 20 / 10 / 10
    assert (best.accuracy.n, out.result.best_test.accuracy.n) == (10, 10)
    [(apo_id, apo_parent)] = recorder.runs("chain", "apo")
    assert apo_parent is None
    children = [p for r, p in recorder.runs("chain", "RunnableSequence")]
    assert children and all(parent == apo_id for parent in children)
    assert engine.usage().by_role["optimizer"].calls > 0


async def test_task_model_routes_the_chain_through_the_engine() -> None:
    task, opt = models()
    fake = FakeListChatModel(responses=["never used"])
    chain = prompt() | fake | StrOutputParser()
    optimizer = APOOptimizer(task_model=task, optimizer_model=opt, apo=SMALL)
    out = await optimizer.aoptimize(chain, records())
    assert task.calls and fake.i == 0
    assert out.result.best_prompt.startswith("Be CAREFUL.")
    assert out.chain.invoke({"i": 1, "text": "bad"}) == "never used"  # user's model kept


async def test_langchain_models_for_roles() -> None:
    reply = json.dumps({"reasons": ["too vague"], "prompts": ["Be CAREFUL. Review {i} was {text}"]})
    lc_opt = FakeListChatModel(responses=[reply])
    task, _ = models()
    chain = PromptTemplate.from_template("Review {i} was {text}") | FakeListChatModel(
        responses=["x"]
    )
    optimizer = APOOptimizer(task_model=task, optimizer_model=lc_opt, apo=SMALL)
    out = await optimizer.aoptimize(chain, records(20))
    assert out.result.usage.by_role["optimizer"].calls > 0
    assert out.result.history[0].edits == ["Be CAREFUL. Review {i} was {text}"]
    assert out.result.usage.by_model["fake-list-chat-model"].calls > 0


def test_bare_prompt_sync_with_langsmith_data_and_evaluator() -> None:
    @dataclass
    class LSExample:
        inputs: dict[str, Any]
        outputs: dict[str, Any]

    def correct(outputs: dict[str, Any], reference_outputs: dict[str, Any]) -> dict[str, Any]:
        ok = outputs["output"].strip() == reference_outputs["label"]
        return {"key": "correct", "score": ok, "comment": None if ok else "wrong label"}

    task, opt = models()
    engine = Engine(roles={"task": task, "optimizer": opt})
    data = [LSExample({"i": r["i"], "text": r["text"]}, {"label": r["label"]}) for r in records()]
    bare = PromptTemplate.from_template("Label: review {i} was {text}.")
    recorder = RecordingHandler()
    out = APOOptimizer(engine=engine, metric=correct, apo=SMALL).invoke(
        {"chain": bare, "dataset": data}, {"callbacks": [recorder]}
    )
    [(apo_id, _)] = recorder.runs("chain", "APOOptimizer")
    nested = recorder.runs("chain", "RunnableSequence")
    assert nested and all(parent == apo_id for _, parent in nested)
    optimized = out.chain
    assert isinstance(optimized, PromptTemplate)
    assert optimized.template.startswith("Be CAREFUL.")
    assert set(optimized.input_variables) == {"i", "text"}
    assert out.prompt is out.chain
    assert bare.template == "Label: review {i} was {text}."


async def test_multi_target_coordinate_ascent_and_exports() -> None:
    chain, _, _ = engine_chain()
    train, validation = records(20), records(12)
    optimizer = APOOptimizer(targets=["system", "human"], apo=SMALL)
    out = await optimizer.ainvoke(
        {"chain": chain, "train": train, "validation": validation, "metric": "exact_match"}
    )
    assert len(out.results) == 2 and out.result is out.results[1]
    texts = [ref.text for ref in out.targets]
    assert all(t.startswith("Be CAREFUL.") for t in texts)
    assert texts[1].count("{i}") == 1 and out.result.best_test is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        restored = loads(out.to_json(), allowed_objects="core")
    assert restored == out.prompt
    ab = out.as_configurable_alternatives()
    old = ab.invoke({"i": 1, "text": "bad"})
    new = ab.invoke({"i": 1, "text": "bad"}, {"configurable": {"prompt_variant": "optimized"}})
    assert (old, new) == ("positive", "negative")  # right when 1 % 5 < count of CAREFUL
    assert [spec.id for spec in ab.config_specs] == ["prompt_variant"]


async def test_parallel_targets_get_one_shared_switch() -> None:
    task, opt = models()
    engine = Engine(roles={"task": task, "optimizer": opt})
    llm = EngineChatModel(engine=engine)
    chain = RunnableParallel(a=prompt() | llm | StrOutputParser(), b=prompt() | llm)
    optimizer = APOOptimizer(targets=[0, 2], output_key="a", apo=SMALL)
    out = await optimizer.aoptimize(chain, records())
    assert len(out.prompts) == 2
    ab = out.as_configurable_alternatives("variant")
    assert [spec.id for spec in ab.config_specs] == ["variant"]
    got = ab.invoke({"i": 5, "text": "bad"}, {"configurable": {"variant": "optimized"}})
    assert got["a"] == "negative"
    # b's output is not the prediction (output_key="a"), so its prompt cannot improve
    assert out.results[1].best_prompt == out.results[1].initial_prompt
    assert got["b"].text == "positive"
    a, b = out.targets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        every = loads(out.to_json(), allowed_objects="core")  # both prompts, by location
        only_b = loads(out.to_json(1), allowed_objects="core")
        named = loads(out.to_json(a.location), allowed_objects="core")
    assert every == {a.location_of_prompt: a.prompt, b.location_of_prompt: b.prompt}
    assert a.location_of_prompt != b.location_of_prompt
    assert only_b == b.prompt and named == a.prompt
    assert select_prompt(every[a.location_of_prompt]).text == out.results[0].best_prompt
    with pytest.raises(ConfigError, match="no optimized target"):
        out.to_json(5)


async def test_budget_inside_the_chain_stops_the_run_cleanly() -> None:
    task, opt = models()
    engine = Engine(roles={"task": task, "optimizer": opt}, budget=Budget(max_calls=30))
    chain = prompt() | EngineChatModel(engine=engine) | StrOutputParser()
    out = await APOOptimizer(apo={**SMALL, "rounds": 3}).aoptimize(chain, records())
    assert out.result.stopped_by == "budget"
    assert engine.usage().total.calls <= 30
    assert select_prompt(out.chain).text == out.result.best_prompt


async def test_input_errors() -> None:
    chain, engine, _ = engine_chain()
    optimizer = APOOptimizer(apo=SMALL)
    with pytest.raises(ConfigError, match="dataset"):
        await optimizer.ainvoke({"chain": chain})
    with pytest.raises(ConfigError, match="validation"):
        await optimizer.ainvoke({"chain": chain, "train": records()})
    with pytest.raises(ConfigError, match="not both"):
        await APOOptimizer(engine=engine, task_model=ScriptedChatModel()).aoptimize(
            chain, records()
        )
    with pytest.raises(ConfigError, match="task_model must be a LangChain chat model"):
        await APOOptimizer(task_model=object()).aoptimize(chain, records())


async def test_chain_program_contract() -> None:
    chain, engine, task = engine_chain()
    program = ChainProgram(chain, select_prompt(chain, "human"))
    assert isinstance(program, PromptProgram)
    assert program.variables("Review {i} was {text} {{x}}") == {"i", "text"}
    assert program.placeholder("i") == "{i}"
    with pytest.raises(ValueError):
        program.variables("{a.b}")
    with pytest.raises(ValueError):
        program.variables("{oops")
    examples = [Example(inputs={"i": 1, "text": "bad"}), Example(inputs={"i": 2})]
    out = await program.arun("CAREFUL CAREFUL Review {i} was {text}", examples, engine)
    assert out[0] == "negative" and isinstance(out[1], KeyError)
    assert "CAREFUL CAREFUL Review 1 was bad" in task.calls[0].prompt


def test_route_models_and_output_text() -> None:
    engine = Engine(ScriptedChatModel(default="routed"))
    other = Engine(ScriptedChatModel(default="other"))
    chain = RunnableParallel(
        a=prompt() | FakeListChatModel(responses=["fake"]).bind(stop=["\n"]),
        b=prompt() | EngineChatModel(engine=other),
    )
    routed = route_models(chain, engine)
    out = routed.invoke({"i": 1, "text": "x"})
    assert out["a"].text == "routed" and out["b"].text == "routed"
    assert chain.invoke({"i": 1, "text": "x"})["a"].text == "fake"
    assert output_text({"k": 1}) == '{"k": 1}' and output_text({"k": "v"}, "k") == "v"
    mustache = ChatPromptTemplate.from_messages([("human", "{{q}}")], template_format="mustache")
    assert ChainProgram(mustache, find_prompts(mustache)[0]).placeholder("q") == "{{q}}"


def test_public_names() -> None:
    assert len(set(langchain_apo.__all__)) == len(langchain_apo.__all__)
    assert {"APOOptimizer", "BPORewriter", "EngineChatModel", "LangChainChatModel"} <= set(
        langchain_apo.__all__
    )
    missing = [name for name in langchain_apo.__all__ if not hasattr(langchain_apo, name)]
    assert missing == []


async def test_generic_fake_task_model_usage_reaches_the_ledger() -> None:
    usage = {"input_tokens": 7, "output_tokens": 2, "total_tokens": 9}
    replies = itertools.cycle([AIMessage(content="positive", usage_metadata=usage)])
    task = GenericFakeChatModel(messages=replies)
    _, opt = models()
    chain = prompt() | FakeListChatModel(responses=["never used"]) | StrOutputParser()
    optimizer = APOOptimizer(task_model=task, optimizer_model=opt, apo=SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EngineBypassWarning)
        out = await optimizer.aoptimize(chain, records())
    line = out.result.usage.by_role["task"]
    assert line.calls > 0
    assert (line.input_tokens, line.output_tokens) == (7 * line.calls, 2 * line.calls)


async def test_task_calls_that_bypass_a_budgeted_engine_warn_once() -> None:
    task, opt = models()
    engine = Engine(roles={"task": task, "optimizer": opt}, budget=Budget(max_calls=1000))
    fake = FakeListChatModel(responses=["positive"])
    chain = prompt() | fake | StrOutputParser()
    with pytest.warns(EngineBypassWarning, match="FakeListChatModel") as caught:
        out = await APOOptimizer(engine=engine, apo=SMALL).aoptimize(chain, records())
    assert len([w for w in caught if w.category is EngineBypassWarning]) == 1
    assert out.result.initial_validation is not None  # the chain ran, with its own model
    assert "task" not in engine.usage().by_role  # which the ledger never saw
    unbudgeted = Engine(roles={"task": task, "optimizer": opt})
    with warnings.catch_warnings():
        warnings.simplefilter("error", EngineBypassWarning)
        await APOOptimizer(engine=unbudgeted, apo=SMALL).aoptimize(chain, records(8))


async def test_an_engine_chat_model_on_another_engine_is_an_error() -> None:
    chain, _, _ = engine_chain()
    task, opt = models()
    other = Engine(roles={"task": task, "optimizer": opt})
    with pytest.raises(ConfigError, match="another engine"):
        await APOOptimizer(engine=other, apo=SMALL).aoptimize(chain, records(8))
    assert not task.calls


async def test_a_shared_prompt_is_optimized_at_every_path() -> None:
    task, opt = models()
    engine = Engine(roles={"task": task, "optimizer": opt})
    llm = EngineChatModel(engine=engine)
    shared = prompt()
    chain = RunnableParallel(a=shared | llm | StrOutputParser(), b=shared | llm)
    before = dumps(chain)
    out = await APOOptimizer(output_key="a", apo=SMALL).aoptimize(chain, records())
    [target] = out.targets
    assert len(target.also_at) == 1 and out.notes and "also used at" in out.notes[0]
    best = out.result.best_prompt
    assert best.startswith("Be CAREFUL.")
    systems = [r.text for r in find_prompts(out.chain) if r.role == "system"]
    assert systems == [best, best]
    assert set(out.prompts) == set(target.paths)
    got = out.chain.invoke({"i": 5, "text": "bad"})
    assert got["a"] == "negative" and got["b"].text == "negative"  # both use the new prompt
    assert dumps(chain) == before
    ab = out.as_configurable_alternatives()
    both = ab.invoke({"i": 5, "text": "bad"}, {"configurable": {"prompt_variant": "optimized"}})
    assert both["b"].text == "negative"  # the switch reaches every path
    assert ab.invoke({"i": 5, "text": "bad"})["b"].text == "positive"
