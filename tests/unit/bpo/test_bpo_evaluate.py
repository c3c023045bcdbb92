"""Pairwise evaluation: both orders judged, position bias removed, win - loss with a CI."""

from __future__ import annotations

import pytest

from apo_core import Budget, ConfigError, Engine, ModelCallError, ScriptedChatModel
from apo_core.bpo import BPORewriter
from apo_core.bpo.evaluate import evaluate_pairwise
from apo_core.bpo.judge import JUDGE_SYSTEM, combine, judge_messages, parse_verdict
from apo_core.models import ScriptedRequest

PROMPTS = ["How do I boil an egg?", "List three colors.", "What is 12 times 7?"]
REWRITES = [p + " Explain in detail." for p in PROMPTS]


def task_answer(request: ScriptedRequest) -> str:
    """Rewritten prompts get a DETAILED answer, originals a short one."""
    text = request.last_user
    return f"DETAILED answer to {text}" if "in detail" in text else f"short answer to {text}"


def answer_a(request: ScriptedRequest) -> str:
    return request.last_user.split("[The Start of Assistant A's Answer]\n")[1].split("\n")[0]


def judge_prefers_detail(request: ScriptedRequest) -> str:
    return "A is more complete. [[A]]" if "DETAILED" in answer_a(request) else "[[B]]"


def judge_prefers_short(request: ScriptedRequest) -> str:
    return "[[B]]" if "DETAILED" in answer_a(request) else "[[A]]"


def engine_with(judge: object, task: object = task_answer, **kwargs: object) -> Engine:
    return Engine(
        roles={
            "task": ScriptedChatModel(default=task, model_id="task"),  # type: ignore[arg-type]
            "judge": ScriptedChatModel(default=judge, model_id="judge"),  # type: ignore[arg-type]
        },
        **kwargs,  # type: ignore[arg-type]
    )


def test_parse_verdict_and_combine() -> None:
    assert parse_verdict("thinking [[A]] ... final: [[B]]") == "B"
    assert parse_verdict("[[C]]") == "tie" and parse_verdict("[[ tie ]]") == "tie"
    assert parse_verdict("A is better") is None
    assert combine("B", "A") == "win" and combine("A", "B") == "loss"
    assert combine("A", "A") == "tie" and combine("B", None) == "tie"


def test_judge_prompt_is_pair_v2_style() -> None:
    system, user = judge_messages("Q?", "first", "second")
    assert system.content == JUDGE_SYSTEM and '"[[C]]" for a tie' in JUDGE_SYSTEM
    assert user.content == (
        "[User Question]\nQ?\n\n[The Start of Assistant A's Answer]\nfirst\n"
        "[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\nsecond\n"
        "[The End of Assistant B's Answer]"
    )


async def test_both_orders_are_judged_on_the_original_question() -> None:
    engine = engine_with(judge_prefers_detail)
    report = await evaluate_pairwise(engine, PROMPTS[:1], REWRITES[:1])
    judge = engine.model_for("judge")
    assert isinstance(judge, ScriptedChatModel)
    forward, backward = sorted(judge.calls, key=lambda c: "short" not in answer_a(c))
    assert answer_a(forward).startswith("short answer") and "DETAILED" in answer_a(backward)
    for call in (forward, backward):
        assert f"[User Question]\n{PROMPTS[0]}\n" in call.last_user
        assert call.params.temperature == 0.0
    item = report.items[0]
    assert (item.forward, item.backward, item.outcome) == ("B", "A", "win")


async def test_consistent_preferences_count_as_wins_and_losses() -> None:
    win = await evaluate_pairwise(engine_with(judge_prefers_detail), PROMPTS, REWRITES)
    assert (win.wins, win.ties, win.losses, win.win_minus_loss) == (3, 0, 0, 100.0)
    assert win.ci_low == win.ci_high == 100.0
    loss = await evaluate_pairwise(engine_with(judge_prefers_short), PROMPTS, REWRITES)
    assert (loss.wins, loss.losses, loss.win_minus_loss) == (0, 3, -100.0)


async def test_position_bias_becomes_a_tie() -> None:
    report = await evaluate_pairwise(engine_with("Always the first. [[A]]"), PROMPTS, REWRITES)
    assert (report.wins, report.ties, report.losses) == (0, 3, 0)
    assert report.inconsistent == 3 and report.win_minus_loss == 0.0


async def test_unreadable_verdicts_are_ties() -> None:
    report = await evaluate_pairwise(engine_with("Both fine."), PROMPTS, REWRITES)
    assert report.ties == 3 and report.unparsed == 6


async def test_mixed_results_interval_and_usage() -> None:
    def judge(request: ScriptedRequest) -> str:
        if "12 times 7" in request.last_user:
            return judge_prefers_short(request)
        if "colors" in request.last_user:
            return "[[A]]"
        return judge_prefers_detail(request)

    report = await evaluate_pairwise(engine_with(judge), PROMPTS, REWRITES, seed=3)
    assert [i.outcome for i in report.items] == ["win", "tie", "loss"]
    assert report.win_minus_loss == 0.0 and -100.0 <= report.ci_low <= 0 <= report.ci_high
    assert report.usage.by_role["task"].calls == 6 and report.usage.by_role["judge"].calls == 6
    assert report.cost_usd == 0.0 and "win-loss=+0.0" in report.summary()


async def test_identical_answers_skip_the_judge() -> None:
    engine = engine_with("[[A]]", task="same answer")
    report = await evaluate_pairwise(engine, PROMPTS, REWRITES)
    assert report.identical == 3 and report.ties == 3
    assert engine.usage().by_role.get("judge") is None


async def test_rewrites_from_a_rewriter() -> None:
    engine = engine_with(judge_prefers_detail)
    rewriter_model = ScriptedChatModel(
        default=lambda r: (
            "<prompt>"
            + r.last_user.split("<original>\n")[1].split("\n</")[0]
            + " Explain in detail.</prompt>"
        )
    )
    rewriter = BPORewriter(engine, model=rewriter_model)
    report = await evaluate_pairwise(engine, PROMPTS, rewriter)
    assert [i.rewritten for i in report.items] == REWRITES and report.wins == 3


async def test_failures_are_excluded_and_counted() -> None:
    def task(request: ScriptedRequest) -> str:
        if "egg" in request.last_user:
            return ModelCallError("down")  # type: ignore[return-value]
        return task_answer(request)

    report = await evaluate_pairwise(
        engine_with(judge_prefers_detail, task=task, max_attempts=1), PROMPTS, REWRITES
    )
    assert report.n == 2 and report.errors == 1 and report.items[0].error
    broke = await evaluate_pairwise(
        engine_with(judge_prefers_detail, budget=Budget(max_calls=0)), PROMPTS, REWRITES
    )
    assert broke.n == 0 and broke.stopped_by_budget and broke.win_minus_loss == 0.0


async def test_bad_inputs() -> None:
    engine = engine_with("[[A]]")
    with pytest.raises(ConfigError):
        await evaluate_pairwise(engine, [], [])
    with pytest.raises(ConfigError):
        await evaluate_pairwise(engine, PROMPTS, REWRITES[:1])


async def test_structured_judge_asks_for_a_json_verdict() -> None:
    # A small judge rarely writes "[[A]]"; with structured_judge it gets the schema and the
    # verdict is read from the parsed object.
    import json

    from apo_core.bpo.judge import JudgeVerdict

    def json_judge(request: ScriptedRequest) -> str:
        assert request.response_format is JudgeVerdict
        assert "[[A]]" not in request.messages[0].content and "JSON" in request.messages[0].content
        verdict = "A" if "DETAILED" in answer_a(request) else "B"
        return json.dumps({"explanation": "more detail", "verdict": verdict})

    report = await evaluate_pairwise(
        engine_with(json_judge), PROMPTS, REWRITES, structured_judge=True
    )
    assert (report.wins, report.losses, report.unparsed) == (3, 0, 0)
    text_mode = await evaluate_pairwise(engine_with(judge_prefers_detail), PROMPTS, REWRITES)
    assert text_mode.wins == 3  # the default stays the pair-v2 text verdict


def test_verdict_of_reads_objects_json_fields_and_text() -> None:
    from apo_core import Completion
    from apo_core.bpo.judge import JudgeVerdict, verdict_of

    obj = JudgeVerdict(explanation="x", verdict="B")
    assert verdict_of(Completion(texts=["{}"], model_id="j", parsed=[obj])) == "B"
    long = '{"explanation": "' + "y" * 500 + '", "verdict": "tie"}'  # too long to validate
    assert verdict_of(Completion(texts=[long], model_id="j", parsed=[None])) == "tie"
    assert verdict_of(Completion(texts=["so [[A]]"], model_id="j")) == "A"
    assert verdict_of(Completion(texts=["no idea"], model_id="j")) is None


def test_auto_judge_format_asks_tiny_judges_for_json() -> None:
    from apo_core.bpo.judge import structured_verdicts

    class Tiny:
        meta_prompt_style = "compact"  # what the embedded model advertises

    scripted = ScriptedChatModel(default="[[A]]")
    assert structured_verdicts("auto", Tiny()) and not structured_verdicts("auto", scripted)
    assert structured_verdicts("json", scripted) and not structured_verdicts("text", Tiny())
