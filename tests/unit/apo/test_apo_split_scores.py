"""Corpus scores of a split: F1 and macro F1 from the labels predictions really state."""

from __future__ import annotations

from typing import Any

import pytest
from apo_world import PROMPT, RUN_CONFIG, make_engine

from apo_core import ScriptedRequest
from apo_core.apo import APO
from apo_core.apo.evaluation import Evaluator, Scored
from apo_core.apo.report import NO_LABEL, predicted_labels, split_scores
from apo_core.data import Example
from apo_core.metrics import LabelAccuracy, as_metric, binary_f1, bootstrap_ci, macro_f1
from apo_core.program import TemplateProgram

YES_NO = LabelAccuracy({"yes": ["lie"], "no": []})


async def scored_by(metric: Any, answers: list[str], golds: list[Any]) -> list[Scored]:
    """Score ``answers`` (one per example) with ``metric`` through the APO evaluator."""
    examples = [Example(inputs={"i": i}, output=g) for i, g in enumerate(golds)]
    by_input = {str(i): a for i, a in enumerate(answers)}
    engine, _t, _o = make_engine(task=lambda r: by_input[r.last_user])
    evaluator = Evaluator(TemplateProgram(), as_metric(metric), engine)
    return await evaluator.score("{i}", examples)


def examples_of(golds: list[Any]) -> list[Example]:
    return [Example(inputs={"i": i}, output=g) for i, g in enumerate(golds)]


async def test_an_unparsed_answer_is_no_label_not_a_false_positive() -> None:
    golds = ["yes", "no", "no", "yes", "no"]
    answers = ["Yes, a lie.", "I cannot tell", "No", "no", "Answer: lie"]
    scored = await scored_by(YES_NO, answers, golds)
    assert [s.label for s in scored] == ["yes", None, "no", "no", "yes"]
    scores = split_scores(scored, examples_of(golds), metric=YES_NO)
    # tp=1 (0), fn=1 (3), fp=1 (4); the unparsed answer (1) is no false positive.
    assert scores.f1 is not None and scores.f1.value == pytest.approx(2 / 4)
    assert scores.positive_label == "yes" and scores.no_label == 1
    assert scores.accuracy.value == pytest.approx(2 / 5)
    # macro: F1(yes) = 0.5, F1(no): tp=1, fp=1 (3), fn=2 (1, 4) -> 2/5
    assert scores.macro_f1 is not None and scores.macro_f1.value == pytest.approx((0.5 + 0.4) / 2)
    preds = ["yes", NO_LABEL, "no", "no", "yes"]
    low, high = bootstrap_ci((preds, golds), lambda p, g: binary_f1(p, g, "yes"), seed=0)
    assert (scores.f1.low, scores.f1.high) == (low, high)
    assert scores.macro_f1.low <= scores.macro_f1.value <= scores.macro_f1.high


async def test_multiclass_labels_get_macro_f1_and_no_binary_f1() -> None:
    metric = LabelAccuracy(["red", "green", "blue"])
    golds = ["red", "green", "blue", "red", "green", "blue"]
    answers = ["red", "green", "green", "blue", "no idea", "blue"]
    scores = split_scores(
        await scored_by(metric, answers, golds), examples_of(golds), metric=metric
    )
    assert scores.f1 is None and scores.positive_label is None and scores.no_label == 1
    preds = ["red", "green", "green", "blue", NO_LABEL, "blue"]
    # Averaged over the task's classes: "no label" is a wrong answer, not a class of its own.
    expected = macro_f1(preds, golds, ["red", "green", "blue"])
    assert expected == pytest.approx((2 / 3 + 1 / 2 + 1 / 2) / 3)
    assert scores.macro_f1 is not None and scores.macro_f1.value == pytest.approx(expected)
    assert scores.macro_f1.n == 6


async def test_canonical_labels_and_a_given_positive_label() -> None:
    metric = LabelAccuracy({1: ["yes", "lie"], 0: ["no"]})
    golds = [1, 0, "1", 0]  # the output "1" is the label 1
    scored = await scored_by(metric, ["yes", "no", "maybe", "lie"], golds)
    scores = split_scores(scored, examples_of(golds), "1", metric=metric)
    assert scores.positive_label == "1"
    # preds 1, 0, none, 1 vs golds 1, 0, 1, 0: tp=1, fn=1, fp=1
    assert scores.f1 is not None and scores.f1.value == pytest.approx(0.5)


async def test_a_metric_without_labels_uses_the_gold_or_the_stated_text() -> None:
    def exact(prediction: str, example: Example) -> bool:
        return prediction.strip().lower() == example.output

    golds = ["positive", "negative", "negative", "positive"]
    scored = await scored_by(exact, ["positive", "Hmm?", "positive", "negative"], golds)
    preds, _golds, classes = predicted_labels(scored, examples_of(golds)) or ([], [], [])
    assert preds == ["positive", NO_LABEL, "positive", "negative"]
    assert classes == ["positive", "negative"]
    scores = split_scores(scored, examples_of(golds))
    assert scores.f1 is not None and scores.f1.value == pytest.approx(2 * 1 / (2 + 1 + 1))


async def test_free_text_outputs_get_accuracy_only() -> None:
    golds = [f"answer {i}" for i in range(25)]  # more distinct outputs than labels can have
    scored = await scored_by("exact_match", golds, golds)
    scores = split_scores(scored, examples_of(golds))
    assert scores.accuracy.value == 1.0
    assert scores.f1 is None and scores.macro_f1 is None and scores.no_label is None


async def test_an_apo_run_reports_macro_f1_on_three_classes() -> None:
    colours = ["red", "green", "blue"]

    def task(request: ScriptedRequest) -> str:  # right on red only, unless told to be CAREFUL
        colour = request.last_user.split()[-1]
        return colour if colour == "red" or "CAREFUL" in request.last_user else "dunno"

    def split(prefix: str, n: int) -> list[Example]:
        return [
            Example(inputs={"text": f"{prefix} {i} {colours[i % 3]}"}, output=colours[i % 3])
            for i in range(n)
        ]

    engine, _t, _o = make_engine(task=task)
    result = await APO(engine, RUN_CONFIG, rounds=1).optimize(
        PROMPT.replace("Label:", "Colour of {text}"),
        train=split("train", 24),
        validation=split("val", 9),
        test=split("test", 9),
        metric=LabelAccuracy(colours),
    )
    initial, best = result.initial_test, result.best_test
    assert initial is not None and best is not None
    assert initial.f1 is None and initial.macro_f1 is not None and initial.no_label == 6
    expected = macro_f1(["red", NO_LABEL, NO_LABEL] * 3, colours * 3, colours)
    assert initial.macro_f1.value == pytest.approx(expected) == pytest.approx(1 / 3)
    assert best.macro_f1 is not None and best.macro_f1.value == 1.0 and best.no_label == 0


def test_the_memo_keeps_labels_json_safe() -> None:
    import enum
    import json

    class Colour(enum.Enum):
        RED = "red"

    for label, stored in ((1, 1), ("yes", "yes"), (None, None), (Colour.RED, "Colour.RED")):
        row = Scored(1.0, "x", None, label).to_list()
        assert json.loads(json.dumps(row)) == [1.0, "x", None, stored]
        assert Scored.from_list(row).label == stored
    assert Scored.from_list([0.0, None, "failed"]) == Scored(0.0, None, "failed")  # old rows


async def test_a_perfect_classifier_has_a_macro_f1_interval_of_one() -> None:
    golds = ["yes", "no", "no", "yes", "no", "no"]
    scores = split_scores(await scored_by(YES_NO, golds, golds), examples_of(golds), metric=YES_NO)
    # Bootstrap samples that miss a class average over the class that occurs, not a 0 for it.
    assert scores.macro_f1 is not None and (scores.macro_f1.low, scores.macro_f1.high) == (1, 1)
