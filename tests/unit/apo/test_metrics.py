"""apo_core.metrics: scores, per-example metrics, the LLM judge, corpus metrics, bootstrap."""

from __future__ import annotations

import asyncio
import math
import time
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from apo_core import Engine, ScriptedChatModel
from apo_core.data import Example
from apo_core.data.text import extract_number
from apo_core.errors import ConfigError
from apo_core.metrics import (
    YES_NO_ALIASES,
    CallableMetric,
    Contains,
    ExactMatch,
    JudgeVerdict,
    LabelAccuracy,
    LLMJudge,
    Metric,
    NumericTolerance,
    RegexMatch,
    Score,
    accuracy,
    as_metric,
    binary_f1,
    bootstrap_ci,
    macro_f1,
    parse_judge_reply,
)


def ex(output: Any = "yes", **inputs: Any) -> Example:
    return Example(inputs=inputs or {"question": "q"}, output=output)


def score(metric: Any, prediction: str, example: Example, engine: Engine | None = None) -> Score:
    result: Score = asyncio.run(as_metric(metric).ascore(prediction, example, engine=engine))  # type: ignore[arg-type]
    return result


# -- Score and as_metric ---------------------------------------------------------------------

OUT_OF_RANGE = st.one_of(
    st.floats(max_value=-1e-9), st.floats(min_value=1.0 + 1e-9), st.just(math.nan)
)


@given(OUT_OF_RANGE)
def test_score_rejects_out_of_range(value: float) -> None:
    with pytest.raises(ValidationError):
        Score(value=value)


@settings(max_examples=50, deadline=None)
@given(value=OUT_OF_RANGE, shape=st.sampled_from(["plain", "tuple", "async"]))
def test_as_metric_rejects_out_of_range(value: float, shape: str) -> None:
    def plain(prediction: str, example: Example) -> float:
        return value

    def pair(prediction: str, example: Example) -> tuple[float, str]:
        return value, "why"

    async def coroutine(prediction: str, example: Example) -> float:
        return value

    fn = {"plain": plain, "tuple": pair, "async": coroutine}[shape]
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        score(fn, "p", ex())


@given(st.floats(0.0, 1.0))
def test_as_metric_accepts_unit_floats(value: float) -> None:
    assert score(lambda p, e: value, "p", ex()).value == value


def test_as_metric_adapts_every_return_shape() -> None:
    async def judge(prediction: str, example: Example) -> tuple[float, str]:
        return 0.5, "half right"

    assert score(lambda p, e: True, "p", ex()) == Score(value=1.0)
    assert score(lambda p, e: 0, "p", ex()) == Score(value=0.0)
    assert score(lambda p, e: Score(value=0.3, feedback="f"), "p", ex()).feedback == "f"
    assert score(judge, "p", ex()) == Score(value=0.5, feedback="half right")
    metric = as_metric(judge)
    assert isinstance(metric, Metric) and isinstance(metric, CallableMetric)
    assert metric.name == "judge"
    for bad in ("0.5", None, (0.5,), (0.5, 1)):
        with pytest.raises(ConfigError, match="metric"):
            score(lambda p, e, bad=bad: bad, "p", ex())


def test_as_metric_objects_and_names() -> None:
    class Foreign:
        name = "foreign"

        async def ascore(self, prediction: str, example: Example, *, engine: Any) -> Any:
            return 2.0 if prediction == "bad" else 1.0

    metric = as_metric(Foreign())
    assert metric.name == "foreign" and score(metric, "ok", ex()).value == 1.0
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        score(metric, "bad", ex())

    class SyncAscore:
        name = "sync"

        def ascore(self, prediction: str, example: Example, *, engine: Any) -> Score:
            return Score(value=1.0)

    with pytest.raises(ConfigError, match="async"):
        as_metric(SyncAscore())
    built_in = ExactMatch()
    assert as_metric(built_in) is built_in
    assert isinstance(as_metric("exact-match"), ExactMatch)
    with pytest.raises(ConfigError, match="unknown metric"):
        as_metric("bleu")
    with pytest.raises(ConfigError, match="instance"):
        as_metric(ExactMatch)
    assert score(lambda p, e: Fraction(1, 4), "p", ex()).value == 0.25
    with pytest.raises(ConfigError, match="cannot use a int"):
        as_metric(3)


# -- built-in metrics ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "expected", "value"),
    [
        ("Paris", "paris", 1.0),
        ("  PARIS.  ", "Paris", 1.0),
        ("New   York!", "new york", 1.0),
        ("Paris, France", "Paris", 0.0),
        ("Lyon", ["Paris", "Lyon"], 1.0),
    ],
)
def test_exact_match_normalises(prediction: str, expected: Any, value: float) -> None:
    assert score(ExactMatch(), prediction, ex(expected)).value == value


def test_exact_match_options_and_feedback() -> None:
    assert score(ExactMatch(case_sensitive=True), "paris", ex("Paris")).value == 0.0
    assert score(ExactMatch(ignore_punctuation=False), "Paris.", ex("Paris")).value == 0.0
    yes_no = ExactMatch(aliases=YES_NO_ALIASES)
    assert score(yes_no, "True", ex("yes")).value == 1.0
    assert score(yes_no, "yes", ex(1)).value == 1.0
    assert score(yes_no, "false", ex("yes")).value == 0.0
    miss = score(ExactMatch(), "Lyon", ex("Paris"))
    assert miss.feedback == "expected 'Paris', got 'Lyon'"
    with pytest.raises(ConfigError, match="labelled"):
        score(ExactMatch(), "x", ex(None))
    with pytest.raises(ConfigError, match="given for"):
        ExactMatch(aliases={"yes": ["ok"], "no": ["ok"]})


def test_contains_and_regex() -> None:
    assert score(Contains(), "The capital is PARIS.", ex("paris")).value == 1.0
    assert score(Contains(), "not sure", ex("no")).value == 1.0
    assert score(Contains(whole_word=True), "not sure", ex("no")).value == 0.0
    assert score(Contains(), "nothing", ex("Paris")).feedback
    assert score(RegexMatch(), "Answer: 42", ex(r"\b42\b")).value == 1.0
    assert score(RegexMatch(r"^\d+$", fullmatch=True), " 42 ", ex("x")).value == 1.0
    assert score(RegexMatch(r"^\d+$", fullmatch=True), "42 apples", ex("x")).value == 0.0
    with pytest.raises(ConfigError, match="invalid regular expression"):
        RegexMatch("(")


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("It costs $1,234.50 today", 1234.5),
        ("-3 degrees", -3.0),
        ("about 2e-3 of it", 0.002),
        ("x = .5", 0.5),
        ("1, 2, 3", 1.0),
        ("no digits", None),
    ],
)
def test_extract_number(text: str, number: float | None) -> None:
    assert extract_number(text) == number


def test_numeric_tolerance() -> None:
    assert score(NumericTolerance(), "The answer is 42.", ex(42)).value == 1.0
    assert score(NumericTolerance(), "42.0000001", ex("#### 42")).value == 1.0
    assert score(NumericTolerance(rel_tol=0.05), "103", ex(100)).value == 1.0
    assert score(NumericTolerance(), "43", ex(42)).feedback == "expected 42, got 43"
    assert "no number" in (score(NumericTolerance(), "dunno", ex(42)).feedback or "")
    with pytest.raises(ConfigError, match="not a number"):
        score(NumericTolerance(), "1", ex("many"))


@pytest.mark.parametrize(
    ("prediction", "got"),
    [
        ("Yes", "yes"),
        ("Answer: Yes", "yes"),
        ("yes.", "yes"),
        ("I first thought no. Final answer: YES", "yes"),
        ("No, it is not.", "no"),
        ("Nope", None),
        ("The label is: no", "no"),
    ],
)
def test_label_accuracy_parses_the_stated_label(prediction: str, got: str | None) -> None:
    metric = LabelAccuracy(["yes", "no"])
    assert metric.parse(prediction) == got
    result = score(metric, prediction, ex("Yes"))
    assert result.value == (1.0 if got == "yes" else 0.0)
    if got == "no":
        assert result.feedback == "expected 'yes', got 'no'"
    if got is None:
        assert "none of the labels" in (result.feedback or "")


def test_label_accuracy_with_spellings_and_position() -> None:
    liar = LabelAccuracy({1: ["yes", "lie"], 0: ["no", "true statement"]})
    assert score(liar, "It is a lie.", ex(1)).value == 1.0
    assert score(liar, "Yes", ex("1")).value == 1.0
    assert score(liar, "That is a true statement", ex(1)).feedback == "expected 1, got 0"
    last = LabelAccuracy(["yes", "no"], position="last")
    assert last.parse("Yes... or rather no") == "no"
    with pytest.raises(ConfigError, match="not one of the labels"):
        score(liar, "yes", ex("maybe"))
    with pytest.raises(ConfigError, match="given for"):
        LabelAccuracy({"a": ["x"], "b": ["x"]})


# -- LLM judge -------------------------------------------------------------------------------


def _judge_engine(*replies: str) -> tuple[Engine, ScriptedChatModel]:
    model = ScriptedChatModel(queue=list(replies))
    return Engine(roles={"judge": model}, max_attempts=1), model


def test_llm_judge_structured_reply() -> None:
    engine, model = _judge_engine('{"score": 4, "feedback": "mostly right"}')
    judge = LLMJudge("Is the answer correct?", scale=(1, 5))
    result = score(judge, "Paris", ex("Paris", question="capital of France?"), engine)
    assert result == Score(value=0.75, feedback="mostly right")
    request = model.calls[0]
    assert request.response_format is JudgeVerdict
    assert "Is the answer correct?" in request.prompt
    assert "capital of France?" in request.prompt and "Reference answer:\nParis" in request.prompt
    assert engine.usage().model_dump()  # the call went through the engine's ledger
    assert judge.unparsable == 0


@pytest.mark.parametrize(
    ("reply", "value", "feedback"),
    [
        ("The answer is fine.\nScore: 4/5\nFeedback: concise", 0.75, "concise"),
        ("**Rating:** 8/10", 0.8, None),
        ("5", 1.0, None),
        ("Score: 1", 0.0, None),
    ],
)
def test_llm_judge_text_fallback(reply: str, value: float, feedback: str | None) -> None:
    engine, _ = _judge_engine(reply)
    judge = LLMJudge("rubric")
    result = score(judge, "x", ex(), engine)
    assert result.value == pytest.approx(value)
    if feedback:
        assert result.feedback == feedback
    assert judge.unparsable == 0


def test_llm_judge_counts_unparsable_replies() -> None:
    engine, _ = _judge_engine("I cannot decide.", '{"score": 9, "feedback": "wow"}', "Score: 3")
    judge = LLMJudge("rubric", scale=(1, 5))
    first = score(judge, "x", ex(), engine)
    assert first.value == 0.0 and "could not be used" in (first.feedback or "")
    second = score(judge, "y", ex(), engine)
    assert second.value == 0.0 and "outside the scale" in (second.feedback or "")
    assert score(judge, "z", ex(), engine).value == 0.5
    assert judge.unparsable == 2


def test_llm_judge_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="engine"):
        score(LLMJudge("rubric"), "x", ex())
    with pytest.raises(ConfigError, match="scale"):
        LLMJudge("rubric", scale=(5, 1))
    with pytest.raises(ConfigError, match="rubric"):
        LLMJudge("  ")


def test_parse_judge_reply() -> None:
    assert parse_judge_reply("Score: 3 out of 5", (1, 5)) == (0.5, "Score: 3 out of 5")
    assert parse_judge_reply("score=7", (0, 10)) == (0.7, "score=7")
    assert parse_judge_reply("no grade here") is None
    assert parse_judge_reply("Score: 12/10") is None


# -- corpus metrics --------------------------------------------------------------------------


def test_accuracy() -> None:
    assert accuracy([1, 0, True, Score(value=0.5)]) == pytest.approx(0.625)
    assert accuracy(["a", "b", "c"], ["a", "x", "c"]) == pytest.approx(2 / 3)
    with pytest.raises(ConfigError):
        accuracy([])
    with pytest.raises(ConfigError, match="predictions"):
        accuracy([1, 0], [1])


def test_binary_and_macro_f1_match_hand_computation() -> None:
    preds = [1, 1, 0, 0, 1, 0]
    golds = [1, 0, 0, 1, 1, 0]
    # positive 1: tp=2 fp=1 fn=1 -> 4/6 ; positive 0: tp=2 fp=1 fn=1 -> 4/6
    assert binary_f1(preds, golds, 1) == pytest.approx(2 / 3)
    assert macro_f1(preds, golds) == pytest.approx(2 / 3)
    assert binary_f1([0, 0], [0, 0], 1) == 0.0
    assert binary_f1([0, 0], [0, 0], 1, zero_division=1.0) == 1.0
    three = macro_f1(["a", "b", "c", "a"], ["a", "b", "b", "c"])
    # a: tp1 fp1 fn0 -> 2/3 ; b: tp1 fp0 fn1 -> 2/3 ; c: tp0 fp1 fn1 -> 0
    assert three == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)


@settings(max_examples=60, deadline=None)
@given(
    values=st.one_of(
        st.lists(st.sampled_from([0.0, 1.0]), min_size=1, max_size=60),
        st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60),
    ),
    seed=st.integers(0, 1000),
)
def test_bootstrap_ci_contains_the_mean(values: list[float], seed: int) -> None:
    low, high = bootstrap_ci(values, n_resamples=300, seed=seed)
    mean = math.fsum(values) / len(values)
    assert low <= mean + 1e-12 and mean - 1e-12 <= high
    assert 0.0 <= low <= high <= 1.0
    assert bootstrap_ci(values, n_resamples=300, seed=seed) == (low, high)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, 1.0]), min_size=2, max_size=20).filter(
        lambda v: len(set(v)) == 2
    )
)
def test_bootstrap_ci_narrows_with_n(values: list[float]) -> None:
    small = bootstrap_ci(values, n_resamples=400)
    large = bootstrap_ci(values * 16, n_resamples=400)
    assert large[1] - large[0] < small[1] - small[0]


def test_bootstrap_ci_paired_and_custom_statistic() -> None:
    preds = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1] * 5
    golds = [1, 0, 0, 1, 0, 1, 1, 0, 1, 0] * 5
    low, high = bootstrap_ci((preds, golds), macro_f1, n_resamples=300)
    assert 0.0 <= low <= macro_f1(preds, golds) <= high <= 1.0
    acc_low, acc_high = bootstrap_ci([preds, golds], n_resamples=300)  # default: accuracy
    assert acc_low <= accuracy(preds, golds) <= acc_high
    median_ci = bootstrap_ci([0.1, 0.2, 0.9], lambda xs: sorted(xs)[1], n_resamples=100)
    assert 0.1 <= median_ci[0] <= median_ci[1] <= 0.9
    assert bootstrap_ci([0.5] * 10) == (0.5, 0.5)
    with pytest.raises(ConfigError):
        bootstrap_ci([])
    with pytest.raises(ConfigError, match="confidence"):
        bootstrap_ci([1.0], confidence=1.0)
    with pytest.raises(ConfigError, match="equal in length"):
        bootstrap_ci(([1, 0], [1]))


def test_bootstrap_ci_is_fast_enough() -> None:
    values = [float(i % 3 == 0) for i in range(500)]
    pairs = ([i % 2 for i in range(500)], [i % 3 % 2 for i in range(500)])
    started = time.perf_counter()
    bootstrap_ci(values, n_resamples=1000)
    bootstrap_ci(pairs, binary_f1, n_resamples=1000)
    assert time.perf_counter() - started < 10.0  # ~0.3 s alone; generous for shared CPUs
