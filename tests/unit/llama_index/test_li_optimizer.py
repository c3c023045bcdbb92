"""APOPromptOptimizer end to end on real query engines; programs; LlamaIndexEvaluatorMetric."""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex, get_response_synthesizer
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.evaluation import BaseEvaluator, CorrectnessEvaluator, EvaluationResult
from llama_index.core.llms import MockLLM
from llama_index.core.prompts.mixin import PromptDictType

from apo_core import Budget, ConfigError, Engine, ScriptedChatModel, ScriptedRequest
from apo_core.apo import APOResult
from apo_core.data import Example
from apo_core.program import EngineBypassWarning
from llama_index_apo import (
    APOPromptOptimizer,
    EngineLLM,
    LlamaIndexEvaluatorMetric,
    QueryEngineProgram,
    SynthesizerProgram,
    as_llama_metric,
    as_nodes,
    find_prompt,
)

QA = "response_synthesizer:text_qa_template"
CAPITALS = {"France": "Paris", "Germany": "Berlin", "Spain": "Madrid", "Italy": "Rome"}
FIXED = "Context:\n{context_str}\nQuery: {query_str}\nAnswer with the city name in UPPERCASE: "
PARAPHRASE = "Use this context:\n{context_str}\nQuestion: {query_str}\nReply in UPPERCASE: "


def answer(request: ScriptedRequest) -> str:
    """The task model: right (uppercase) only when the prompt asks for UPPERCASE."""
    query = re.findall(r"(?:Query|Question): (.*)", request.last_user)[-1]
    country = next(c for c in CAPITALS if c in query)
    city = CAPITALS[country]
    return city.upper() if "UPPERCASE" in request.prompt else city.lower()


def optimizer_reply(request: ScriptedRequest) -> str:
    if "Diagnose the prompt" in request.prompt:
        return json.dumps({"reasons": ["The prompt never says the answer must be UPPERCASE."]})
    if "Rewrite this prompt in different words" in request.prompt:
        return json.dumps({"prompts": [PARAPHRASE]})
    return json.dumps({"prompts": [FIXED]})


@pytest.fixture
def models() -> tuple[ScriptedChatModel, ScriptedChatModel]:
    task = ScriptedChatModel([(lambda r: True, answer)], model_id="task")
    optimizer = ScriptedChatModel([(lambda r: True, optimizer_reply)], model_id="optimizer")
    return task, optimizer


@pytest.fixture
def rag(
    index: VectorStoreIndex, models: tuple[ScriptedChatModel, ScriptedChatModel]
) -> BaseQueryEngine:
    engine = Engine(models[0], roles={"optimizer": models[1]})
    return index.as_query_engine(llm=EngineLLM(engine), similarity_top_k=1)


def records() -> list[dict[str, str]]:
    phrasings = ("What is the capital of {}?", "Name the capital city of {}.")
    return [
        {"query": p.format(country), "label": city.upper()}
        for country, city in CAPITALS.items()
        for p in phrasings
    ]


def exact(prediction: str, example: Example) -> bool:
    return bool(prediction == example.output)


def small_config() -> dict[str, Any]:
    return {
        "rounds": 1,
        "beam_size": 2,
        "minibatch_size": 4,
        "n_gradients": 1,
        "errors_per_gradient": 2,
        "mc_samples_per_step": 1,
        "patience": None,
    }


async def test_optimizer_improves_and_applies_in_place(
    rag: BaseQueryEngine, models: tuple[ScriptedChatModel, ScriptedChatModel]
) -> None:
    initial = find_prompt(rag, QA)
    optimizer = APOPromptOptimizer(rag, QA, **small_config())
    assert optimizer.engine is rag._response_synthesizer._llm.engine  # type: ignore[attr-defined]
    result = await optimizer.aoptimize(records(), metric=exact)
    assert isinstance(result.apo, APOResult)
    assert result.best_prompt in (FIXED.strip(), PARAPHRASE.strip())
    assert result.apo.best_validation is not None and result.apo.initial_validation is not None
    assert result.apo.initial_validation.accuracy.value == 0.0
    assert result.apo.best_validation.accuracy.value == 1.0
    assert result.apo.best_validation.accuracy.n == 2  # DEFAULT_SPLIT of 8: 4 / 2 / 2
    assert result.apo.best_test is not None and result.apo.best_test.accuracy.n == 2
    assert result.module is rag and result.initial_template is initial.template
    applied = find_prompt(rag, QA)
    assert applied.text == result.best_prompt and applied.template is result.template
    assert type(applied.template) is type(initial.template)  # still a selector
    assert str(await rag.aquery("What is the capital of Spain?")) == "MADRID"
    assert models[1].calls, "the optimizer role was used"
    assert result.apo.usage.by_role["task"].calls > 0


def test_optimizer_copy_mode_and_sync_entry(rag: BaseQueryEngine) -> None:
    before = find_prompt(rag, QA).text
    data = [{"inputs": {"query": r["query"]}, "outputs": {"city": r["label"]}} for r in records()]

    def langsmith_style(outputs: dict[str, str], reference_outputs: dict[str, str]) -> bool:
        return outputs["output"] == reference_outputs["city"]

    result = APOPromptOptimizer(rag, QA, **small_config()).optimize(
        train=data[::2],
        validation=data[1::2],
        metric=langsmith_style,
        output_key="city",
        inplace=False,
    )
    assert result.apo.best_validation is not None
    assert result.apo.best_validation.accuracy.value == 1.0
    assert result.module is not rag
    assert find_prompt(rag, QA).text == before
    assert find_prompt(result.module, QA).text == result.best_prompt != before


async def test_program_contract(rag: BaseQueryEngine) -> None:
    program = QueryEngineProgram(rag, QA, max_concurrency=2)
    assert program.variables(program.prompt.text) == {"context_str", "query_str"}
    assert program.placeholder("query_str") == "{query_str}"
    examples = [Example(inputs={"query": "capital of Italy?"}), Example(inputs={"q": "France?"})]
    with pytest.raises(ConfigError, match="another engine"):
        await program.arun(FIXED, examples, Engine(ScriptedChatModel(default="x")))
    engine = rag._response_synthesizer._llm.engine  # type: ignore[attr-defined]
    outputs = await program.arun(FIXED, examples, engine)
    assert outputs == ["ROME", "PARIS"]  # a single input is the query whatever its name
    assert program.module_for(FIXED) is program.module_for(FIXED)  # one copy per candidate
    assert find_prompt(rag, QA).text != FIXED  # the user's engine never saw the candidates
    bad = await program.arun(FIXED, [Example(inputs={"a": 1, "b": 2})], engine)
    assert isinstance(bad[0], ConfigError)
    synthesizer = rag._response_synthesizer  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"has no aquery.*runner="):
        QueryEngineProgram(synthesizer, "text_qa_template")  # a synthesizer alone cannot aquery
    nested = QueryEngineProgram(synthesizer, "text_qa_template", runner=rag)
    assert nested.run_key == QA
    assert await nested.arun(FIXED, examples[:1], engine) == ["ROME"]
    with pytest.raises(ConfigError, match="not one of the prompt modules"):
        QueryEngineProgram(get_response_synthesizer(), "text_qa_template", runner=rag)


def test_optimizer_arguments_are_checked(rag: BaseQueryEngine) -> None:
    with pytest.raises(ConfigError, match="not both"):
        APOPromptOptimizer(
            rag, QA, engine=Engine(ScriptedChatModel()), optimizer_model=ScriptedChatModel()
        )
    with pytest.raises(ConfigError, match="another engine"):  # rag's EngineLLM is elsewhere
        APOPromptOptimizer(rag, QA, optimizer_model=ScriptedChatModel(model_id="opt"))
    optimizer = APOPromptOptimizer(
        rag, QA, optimizer_model=ScriptedChatModel(model_id="opt"), task_model=ScriptedChatModel()
    )
    assert optimizer.engine.model_for("optimizer").model_id == "opt"
    with pytest.raises(ConfigError, match="needs data"):
        optimizer.optimize(metric=exact)
    with pytest.raises(ConfigError, match="not both"):
        optimizer.optimize(records(), test=records(), metric=exact)
    with pytest.raises(ConfigError, match="LlamaIndex LLM or an apo_core ChatModel"):
        APOPromptOptimizer(rag, QA, optimizer_model=object())  # type: ignore[arg-type]


class PassOnly(BaseEvaluator):
    """An evaluator that only says pass/fail."""

    def _get_prompts(self) -> PromptDictType:
        return {}

    def _update_prompts(self, prompts_dict: PromptDictType) -> None:
        return None

    async def aevaluate(
        self,
        query: str | None = None,
        response: str | None = None,
        contexts: Any = None,
        **kwargs: Any,
    ) -> EvaluationResult:
        ok = response == kwargs.get("reference")
        return EvaluationResult(query=query, response=response, passing=ok, feedback="checked")


async def test_evaluator_metric_maps_scores_and_feedback() -> None:
    judge = ScriptedChatModel([(re.compile("Generated Answer"), "4.5\nAccurate but terse.")])
    llm = EngineLLM(Engine(judge), role="judge")
    metric = as_llama_metric(CorrectnessEvaluator(llm=llm))
    assert isinstance(metric, LlamaIndexEvaluatorMetric)
    example = Example(inputs={"query": "capital of Spain?"}, output="Madrid")
    score = await metric.ascore("Madrid", example, engine=Engine(judge))
    assert score.value == pytest.approx(0.875) and score.feedback == "Accurate but terse."
    assert "Reference Answer" in judge.calls[-1].prompt and "Madrid" in judge.calls[-1].prompt
    passing = LlamaIndexEvaluatorMetric(PassOnly())
    assert (await passing.ascore("Madrid", example)).value == 1.0
    assert (await passing.ascore("Rome", example)).value == 0.0
    with pytest.raises(ConfigError, match="low < high"):
        LlamaIndexEvaluatorMetric(PassOnly(), score_range=(5, 1))
    assert as_llama_metric(exact).name == "exact"


class Grounded(BaseEvaluator):
    """Passes when the answer's city appears in the retrieved contexts (needs contexts)."""

    def _get_prompts(self) -> PromptDictType:
        return {}

    def _update_prompts(self, prompts_dict: PromptDictType) -> None:
        return None

    async def aevaluate(
        self,
        query: str | None = None,
        response: str | None = None,
        contexts: Any = None,
        **kwargs: Any,
    ) -> EvaluationResult:
        if contexts is None:
            raise ValueError("contexts are required")
        ok = any(str(response).lower() in c.lower() for c in contexts)
        return EvaluationResult(passing=ok, feedback=f"{len(contexts)} context(s)")


async def test_context_evaluators_see_what_was_retrieved(rag: BaseQueryEngine) -> None:
    program = QueryEngineProgram(rag, QA)
    example = Example(inputs={"query": "What is the capital of Italy?"}, output="ROME")
    engine = rag._response_synthesizer._llm.engine  # type: ignore[attr-defined]
    [prediction] = await program.arun(FIXED, [example], engine)
    assert prediction == "ROME"
    contexts = program.contexts_for(example, "ROME")
    assert contexts is not None and len(contexts) == 1  # similarity_top_k=1
    metric = as_llama_metric(Grounded(), contexts=program.contexts_for)
    score = await metric.ascore("ROME", example, engine=Engine(ScriptedChatModel()))
    assert score.feedback == "1 context(s)"
    assert score.value == (1.0 if "rome" in contexts[0].lower() else 0.0)
    with pytest.raises(ValueError, match="contexts are required"):
        await LlamaIndexEvaluatorMetric(Grounded()).ascore("ROME", example)


def with_contexts() -> list[dict[str, Any]]:
    """Records whose context is given (no retrieval): for a bare response synthesizer."""
    return [
        {
            "query": r["query"],
            "contexts": [
                f"{CAPITALS[c]} is the capital of {c}." for c in CAPITALS if c in r["query"]
            ],
            "label": r["label"],
        }
        for r in records()
    ]


async def test_a_bare_response_synthesizer_is_optimized(
    models: tuple[ScriptedChatModel, ScriptedChatModel],
) -> None:
    engine = Engine(models[0], roles={"optimizer": models[1]})
    synthesizer = get_response_synthesizer(llm=EngineLLM(engine), response_mode="compact")
    optimizer = APOPromptOptimizer(synthesizer, "text_qa_template", **small_config())
    assert isinstance(optimizer.program, SynthesizerProgram)
    result = await optimizer.aoptimize(with_contexts(), metric=exact)
    assert result.apo.best_validation is not None and result.apo.initial_validation is not None
    assert result.apo.initial_validation.accuracy.value == 0.0
    assert result.apo.best_validation.accuracy.value == 1.0
    assert find_prompt(synthesizer, "text_qa_template").text == result.best_prompt
    contexts = [c.prompt for c in models[0].calls if "Madrid is the capital of Spain." in c.prompt]
    assert contexts and all("Spain" in c.split("Query:")[-1] for c in contexts)  # its own context
    response = await synthesizer.asynthesize(
        "What is the capital of Spain?", as_nodes("Madrid is in Spain.")
    )
    assert str(response) == "MADRID"
    program = SynthesizerProgram(synthesizer, "text_qa_template")
    [missing] = await program.arun(FIXED, [Example(inputs={"query": "x"})], engine)
    assert isinstance(missing, ConfigError) and "contexts" in str(missing)


async def test_a_module_nested_in_a_query_engine_is_optimized_through_its_runner(
    rag: BaseQueryEngine,
) -> None:
    synthesizer = rag._response_synthesizer  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="aquery"):
        APOPromptOptimizer(PassOnly(), "anything")
    optimizer = APOPromptOptimizer(synthesizer, "text_qa_template", runner=rag, **small_config())
    assert isinstance(optimizer.program, QueryEngineProgram)
    assert optimizer.engine is synthesizer._llm.engine
    result = await optimizer.aoptimize(records(), metric=exact)
    assert result.apo.best_validation is not None
    assert result.apo.best_validation.accuracy.value == 1.0
    assert result.module is synthesizer
    assert find_prompt(rag, QA).text == result.best_prompt  # the runner now carries it
    assert str(await rag.aquery("What is the capital of Spain?")) == "MADRID"


async def test_a_custom_program_scores_the_candidates(rag: BaseQueryEngine) -> None:
    class Uppercase:
        """Answers from the prompt alone: right when it asks for UPPERCASE."""

        def __init__(self) -> None:
            self.prompts: list[str] = []

        def variables(self, prompt: str) -> set[str]:
            return {"context_str", "query_str"} if "{query_str}" in prompt else set()

        async def arun(
            self, prompt: str, examples: list[Example], engine: Engine
        ) -> list[str | Exception]:
            self.prompts.append(prompt)
            return [
                str(ex.output) if "UPPERCASE" in prompt else str(ex.output).lower()
                for ex in examples
            ]

    program = Uppercase()
    with pytest.raises(ConfigError, match="not both"):
        APOPromptOptimizer(rag, QA, program=program, runner=rag)
    with pytest.raises(ConfigError, match="PromptProgram"):
        APOPromptOptimizer(rag, QA, program=object())  # type: ignore[arg-type]
    optimizer = APOPromptOptimizer(rag, QA, program=program, **small_config())
    result = await optimizer.aoptimize(records(), metric=exact, inplace=False)
    assert FIXED.strip() in program.prompts or PARAPHRASE.strip() in program.prompts
    assert result.apo.best_validation is not None
    assert result.apo.best_validation.accuracy.value == 1.0
    assert find_prompt(result.module, QA).text == result.best_prompt != find_prompt(rag, QA).text


async def test_task_model_runs_the_copies_on_the_engine(
    index: VectorStoreIndex, models: tuple[ScriptedChatModel, ScriptedChatModel]
) -> None:
    own = MockLLM()
    query_engine = index.as_query_engine(llm=own, similarity_top_k=1)
    optimizer = APOPromptOptimizer(
        query_engine, QA, task_model=models[0], optimizer_model=models[1], **small_config()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", EngineBypassWarning)
        result = await optimizer.aoptimize(records(), metric=exact)
    assert result.apo.best_validation is not None
    assert result.apo.best_validation.accuracy.value == 1.0
    assert models[0].calls and result.apo.usage.by_role["task"].calls == len(models[0].calls)
    assert query_engine._response_synthesizer._llm is own  # type: ignore[attr-defined]
    chat = EngineLLM(optimizer.engine)  # the selector template was resolved for the task model
    assert find_prompt(query_engine, QA, llm=chat).text == result.best_prompt
    assert find_prompt(query_engine, QA).text != result.best_prompt  # not MockLLM's branch


async def test_a_budgeted_engine_warns_once_when_task_calls_bypass_it(
    index: VectorStoreIndex, models: tuple[ScriptedChatModel, ScriptedChatModel]
) -> None:
    engine = Engine(models[0], roles={"optimizer": models[1]}, budget=Budget(max_calls=500))
    query_engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=1)
    with pytest.warns(EngineBypassWarning, match="MockLLM") as caught:
        optimizer = APOPromptOptimizer(query_engine, QA, engine=engine, **small_config())
        await optimizer.aoptimize(records(), metric=exact)
    assert len([w for w in caught if w.category is EngineBypassWarning]) == 1
    assert "task" not in engine.usage().by_role and not models[0].calls
    with pytest.raises(ConfigError, match="not both"):
        APOPromptOptimizer(query_engine, QA, engine=engine, task_model=models[0])


async def test_contexts_are_bounded(rag: BaseQueryEngine) -> None:
    program = QueryEngineProgram(rag, QA, contexts_size=2)
    engine = rag._response_synthesizer._llm.engine  # type: ignore[attr-defined]
    examples = [Example(inputs={"query": f"capital of {c}?"}) for c in CAPITALS]
    predictions = []
    for example in examples:  # one at a time: a known order
        [prediction] = await program.arun(FIXED, [example], engine)
        predictions.append(prediction)
    kept = [program.contexts_for(ex, p) for ex, p in zip(examples, predictions, strict=True)]
    assert [k is not None for k in kept] == [False, False, True, True]
    assert len(program._contexts) == 2


def test_the_old_evaluator_metric_name_is_a_deprecated_alias() -> None:
    import llama_index_apo

    with pytest.warns(DeprecationWarning, match="LlamaIndexEvaluatorMetric"):
        old = llama_index_apo.EvaluatorMetric
    assert old is LlamaIndexEvaluatorMetric
    assert "EvaluatorMetric" not in llama_index_apo.__all__
    with pytest.raises(AttributeError):
        _ = llama_index_apo.NoSuchName  # type: ignore[attr-defined]
