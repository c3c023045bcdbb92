"""Foreign dataset shapes (apo_core.data) and LangSmith-style evaluators (apo_core.metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from apo_core import ConfigError, Engine, ScriptedChatModel
from apo_core.data import Dataset, Example, coerce_examples
from apo_core.metrics import (
    CallableMetric,
    EvaluatorMetric,
    ExactMatch,
    Score,
    coerce_metric,
    evaluator_score,
    is_evaluator,
)


@dataclass
class LSExample:
    """Shaped like langsmith.schemas.Example."""

    inputs: dict[str, Any]
    outputs: dict[str, Any] | None
    id: str = "ex-1"
    metadata: dict[str, Any] | None = None


@dataclass
class EvalResult:
    """Shaped like langsmith.evaluation.EvaluationResult."""

    key: str
    score: float | None = None
    value: Any = None
    comment: str | None = None


ENGINE = Engine(ScriptedChatModel(default="unused"))


def test_dataset_shapes() -> None:
    ds = Dataset([Example(inputs={"q": "a"}, output="b")])
    assert coerce_examples(ds) == list(ds)
    assert coerce_examples([Example(inputs={"q": "a"})])[0].inputs == {"q": "a"}
    flat = coerce_examples([{"text": "t", "label": "pos"}])
    assert flat[0].inputs == {"text": "t"} and flat[0].output == "pos"
    flat2 = coerce_examples([{"q": "x", "y": 1, "ans": "z"}], input_keys=["q"], output_key="ans")
    assert flat2[0].inputs == {"q": "x"} and flat2[0].output == "z"


def test_inputs_outputs_shapes() -> None:
    [one] = coerce_examples([LSExample({"q": "2+2"}, {"answer": "4"}, metadata={"split": "a"})])
    assert one.inputs == {"q": "2+2"} and one.output == "4"
    assert one.metadata["reference_outputs"] == {"answer": "4"}
    assert one.metadata["source_id"] == "ex-1" and one.metadata["split"] == "a"
    [two] = coerce_examples([{"inputs": {"q": "x"}, "outputs": {"a": 1, "b": 2}}])
    assert two.output == {"a": 1, "b": 2}
    [three] = coerce_examples([{"inputs": {"q": "x"}, "outputs": {"a": 1, "b": 2}}], output_key="b")
    assert three.output == 2
    [four] = coerce_examples([LSExample({"q": "x"}, None)])
    assert four.output is None


def test_bad_shapes_are_explained() -> None:
    with pytest.raises(ConfigError, match="LangSmith"):
        coerce_examples([42])
    with pytest.raises(ConfigError, match="list of examples"):
        coerce_examples({"q": 1})
    with pytest.raises(ConfigError, match="no key"):
        coerce_examples([{"inputs": {"q": 1}, "outputs": {"a": 1}}], output_key="zz")


def test_is_evaluator() -> None:
    def new_style(inputs: Any, outputs: Any, reference_outputs: Any) -> bool:
        return True

    def old_style(run: Any, example: Any) -> bool:
        return True

    def metric(prediction: str, example: Example) -> bool:
        return True

    assert is_evaluator(new_style) and is_evaluator(old_style)
    assert not is_evaluator(metric) and not is_evaluator(ExactMatch())


@pytest.mark.parametrize(
    ("result", "value", "feedback"),
    [
        (True, 1.0, None),
        (0.25, 0.25, None),
        ({"key": "k", "score": 0, "comment": "wrong"}, 0.0, "wrong"),
        ({"key": "k", "value": True}, 1.0, None),
        (EvalResult("k", score=1.0, comment="fine"), 1.0, "fine"),
        ({"results": [{"score": 1}, {"score": 0, "comment": "bad"}]}, 0.5, "bad"),
        (Score(value=0.3), 0.3, None),
    ],
)
def test_evaluator_results(result: Any, value: float, feedback: str | None) -> None:
    score = evaluator_score(result)
    assert score.value == value and score.feedback == feedback


def test_evaluator_result_errors() -> None:
    with pytest.raises(ConfigError):
        evaluator_score({"key": "k"})
    with pytest.raises(ConfigError):
        evaluator_score(3.0)


async def test_new_style_evaluator_sees_reference_outputs() -> None:
    seen: dict[str, Any] = {}

    def correct(inputs: dict[str, Any], outputs: dict[str, Any], reference_outputs: Any) -> Any:
        seen.update(inputs=inputs, outputs=outputs, reference=reference_outputs)
        ok = outputs["output"] == reference_outputs["answer"]
        return {"key": "correct", "score": ok, "comment": None if ok else "mismatch"}

    [example] = coerce_examples([LSExample({"q": "2+2"}, {"answer": "4"})])
    metric = coerce_metric(correct)
    assert isinstance(metric, EvaluatorMetric) and metric.name == "correct"
    assert (await metric.ascore("4", example, engine=ENGINE)).value == 1.0
    wrong = await metric.ascore("5", example, engine=ENGINE)
    assert wrong.value == 0.0 and wrong.feedback == "mismatch"
    assert seen["inputs"] == {"q": "2+2"} and seen["reference"] == {"answer": "4"}


async def test_old_style_and_async_evaluators() -> None:
    def by_run(run: Any, example: Any) -> EvalResult:
        return EvalResult("match", score=float(run.outputs["output"] == example.outputs["output"]))

    async def by_outputs(outputs: dict[str, Any]) -> bool:
        return "yes" in outputs["output"]

    def positional(r: Any, e: Any) -> float:
        return 1.0 if r.outputs["output"] == e.outputs["output"] else 0.0

    example = Example(inputs={"q": "x"}, output="yes")
    assert (await coerce_metric(by_run).ascore("yes", example, engine=ENGINE)).value == 1.0
    assert (await coerce_metric(by_outputs).ascore("yes!", example, engine=ENGINE)).value == 1.0
    direct = EvaluatorMetric(positional)
    assert (await direct.ascore("no", example, engine=ENGINE)).value == 0.0


def test_plain_metrics_still_work() -> None:
    def metric(prediction: str, example: Example) -> bool:
        return prediction == str(example.output)

    assert isinstance(coerce_metric(metric), CallableMetric)
    assert isinstance(coerce_metric("exact_match"), ExactMatch)


@pytest.fixture
def no_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    """langsmith evaluators are traceable: keep tracing off (no network)."""
    for name in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_tracing")
async def test_real_langsmith_run_evaluator_on_real_examples() -> None:
    import uuid

    from langsmith.evaluation import run_evaluator
    from langsmith.schemas import Example as LangSmithExample

    seen: list[tuple[Any, Any, Any, Any]] = []

    @run_evaluator
    def by_run(run: Any, example: Any) -> dict[str, Any]:
        seen.append((run.id, run.trace_id, run.session_id, example.id))
        assert run.run_type == "chain" and run.name
        ok = run.outputs["output"] == example.outputs["answer"]
        return {"key": "match", "score": ok, "comment": None if ok else "mismatch"}

    @run_evaluator
    def by_outputs(outputs: dict[str, Any], reference_outputs: dict[str, Any]) -> bool:
        return bool(outputs["output"] == reference_outputs["answer"])

    source = LangSmithExample(
        id=uuid.uuid4(), dataset_id=uuid.uuid4(), inputs={"q": "2+2"}, outputs={"answer": "4"}
    )
    [example] = coerce_examples([source])
    metric = coerce_metric(by_run)
    assert isinstance(metric, EvaluatorMetric)
    assert (await metric.ascore("4", example, engine=ENGINE)).value == 1.0
    wrong = await metric.ascore("5", example, engine=ENGINE)
    assert wrong.value == 0.0 and wrong.feedback == "mismatch"
    (id1, trace1, session1, ex1), (id2, _, _, ex2) = seen
    assert isinstance(id1, uuid.UUID) and trace1 == id1 and session1 is None
    assert id1 != id2  # a new run per scored prediction
    assert ex1 == ex2 == source.id  # the LangSmith example's own id
    other = coerce_metric(by_outputs)
    assert isinstance(other, EvaluatorMetric)
    assert (await other.ascore("4", example, engine=ENGINE)).value == 1.0
    assert (await other.ascore("3", example, engine=ENGINE)).value == 0.0


async def test_stand_in_views_carry_langsmith_ids() -> None:
    import uuid

    seen: dict[str, Any] = {}

    def by_run(run: Any, example: Any) -> bool:
        seen.update(run=run, example=example)
        return True

    metric = coerce_metric(by_run)
    [from_ls] = coerce_examples([LSExample({"q": "x"}, {"answer": "y"}, id="ex-7")])
    await metric.ascore("y", from_ls, engine=ENGINE)
    assert seen["example"].id == "ex-7" and seen["run"].reference_example_id == "ex-7"
    assert isinstance(seen["run"].id, uuid.UUID) and seen["run"].session_id is None
    assert seen["run"].trace_id == seen["run"].id and seen["run"].run_type == "chain"
    await metric.ascore("y", Example(inputs={"q": "x"}, output="y"), engine=ENGINE)
    assert isinstance(seen["example"].id, uuid.UUID)  # no source id: a new one
