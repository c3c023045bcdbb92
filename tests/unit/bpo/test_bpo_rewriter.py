"""BPORewriter with a scripted model: modes, template, iteration, protection, fallbacks, API."""

from __future__ import annotations

from pathlib import Path

import pytest

from apo_core import Budget, Engine, ModelCallError, RunEvent, ScriptedChatModel
from apo_core.bpo import BPO_TEMPLATE, BPORewriter, Guard
from apo_core.models import ScriptedRequest

PROMPT = "how can I create a profile on Facebook?"
GOOD = (
    "Please explain step by step how I can create a profile on Facebook, "
    "including the privacy settings I should check."
)


def tagged(text: str) -> str:
    return f"<prompt>{text}</prompt>"


def make(
    *replies: str | BaseException, default: str | None = None, **kwargs: object
) -> tuple[BPORewriter, ScriptedChatModel]:
    model = ScriptedChatModel(queue=replies, default=default)
    return BPORewriter(Engine(model), **kwargs), model  # type: ignore[arg-type]


# -- modes and templates ------------------------------------------------------------------


async def test_stable_mode_sends_one_sample_at_0_6() -> None:
    rewriter, model = make(tagged(GOOD))
    result = await rewriter.arewrite(PROMPT)
    [call] = model.calls
    assert (call.params.n, call.params.temperature, call.params.top_p) == (1, 0.6, 0.9)
    assert call.params.max_tokens == 160  # the mode's 1024, capped at what the guard accepts
    assert result.rewritten == GOOD and result.fallback is None and result.rounds_done == 1


async def test_bpo_model_source_sends_the_exact_template() -> None:
    rewriter, model = make(" " + GOOD + "  ", source="bpo_model")
    result = await rewriter.arewrite(PROMPT)
    [call] = model.calls
    assert [m.role for m in call.messages] == ["user"]
    assert call.messages[0].content == (
        "[INST] You are an expert prompt engineer. Please help me improve this prompt to get a "
        "more helpful and harmless response:\n" + PROMPT + " [/INST]"
    )
    assert call.messages[0].content == BPO_TEMPLATE.format(PROMPT)
    assert result.rewritten == GOOD  # stripped


async def test_bpo_model_output_after_echoed_template_is_kept() -> None:
    rewriter, _ = make(BPO_TEMPLATE.format(PROMPT) + " " + GOOD, source="bpo_model")
    assert (await rewriter.arewrite(PROMPT)).rewritten == GOOD


async def test_aggressive_mode_parameters_and_post_processing() -> None:
    samples = [
        GOOD + "\nSecond line that must be cut.",  # cut at the newline -> valid
        "Please explain how I can create a profile on Facebook [PROTECT] quickly.",  # cut
        "how can I create a profile on Facebook?!",  # not 5 tokens longer: too_short
        "",  # empty
        GOOD + " Also mention what to do if the sign-up page does not load.",  # longest
    ]

    def reply(request: ScriptedRequest) -> str:
        return samples[request.sample]

    model = ScriptedChatModel(default=reply)
    rewriter = BPORewriter(Engine(model), source="bpo_model", mode="aggressive")
    result = await rewriter.arewrite(PROMPT)
    call = model.calls[0]
    assert len(model.calls) == 5 and {c.sample for c in model.calls} == set(range(5))
    assert (call.params.n, call.params.temperature, call.params.top_p) == (5, 0.9, 0.9)
    assert call.params.max_tokens == 160
    step = result.history[0]
    assert step.candidates[0] == GOOD
    assert step.candidates[1] == "Please explain how I can create a profile on Facebook"
    assert step.rejections == [None, "too_short", "too_short", "empty", None]
    # the choice rule: most original words kept, then the longest
    assert result.rewritten == samples[4]
    assert step.chosen == 4
    assert rewriter.stats.rejected_candidates == {"too_short": 2, "empty": 1}


async def test_aggressive_fallback_reports_the_most_common_reason() -> None:
    model = ScriptedChatModel(default="hi")
    rewriter = BPORewriter(Engine(model), mode="aggressive")
    result = await rewriter.arewrite(PROMPT)
    assert result.rewritten == PROMPT and result.fallback == "too_short"
    assert result.fallback_detail is not None and "5 of 5 samples" in result.fallback_detail


async def test_custom_choice_rule_and_max_tokens() -> None:
    samples = [GOOD, GOOD + " Keep it short."]
    model = ScriptedChatModel(default=lambda r: tagged(samples[r.sample % 2]))
    rewriter = BPORewriter(
        Engine(model), mode="aggressive", choose=lambda original, cands: 0, max_tokens=64
    )
    result = await rewriter.arewrite(PROMPT)
    assert result.rewritten == GOOD and model.calls[0].params.max_tokens == 64


# -- iteration ----------------------------------------------------------------------------


async def test_rounds_rewrite_the_previous_rewrite() -> None:
    r1, r2, r3 = GOOD, GOOD + " Use simple words.", GOOD + " Use simple words. Add tips."
    rewriter, model = make(tagged(r1), tagged(r2), tagged(r3), rounds=3)
    result = await rewriter.arewrite(PROMPT)
    inputs = [c.last_user for c in model.calls]
    assert PROMPT in inputs[0] and r1 in inputs[1] and r2 in inputs[2]
    assert result.rewritten == r3 and result.rounds_done == 3 and result.rounds == 3
    assert [h.input for h in result.history] == [PROMPT, r1, r2]
    assert result.candidates == [r1, r2, r3]


async def test_a_rejected_later_round_keeps_the_previous_rewrite() -> None:
    rewriter, model = make(tagged(GOOD), tagged(""), tagged("unused"), rounds=3)
    result = await rewriter.arewrite(PROMPT)
    assert len(model.calls) == 2  # iteration stops at the rejected round
    assert result.rewritten == GOOD and result.rounds_done == 1 and result.fallback is None
    assert result.history[1].reason == "empty"
    assert rewriter.stats.stopped_early == {"empty": 1}


async def test_later_rounds_are_checked_against_the_original() -> None:
    prompt = "Give 3 tips for a trip to Rome."
    r1 = "Give 3 practical tips for a first trip to Rome, with reasons."
    r2 = "Give practical tips for a first trip to Rome, with reasons."  # lost the 3
    rewriter, _ = make(tagged(r1), tagged(r2), rounds=2)
    result = await rewriter.arewrite(prompt)
    assert result.rewritten == r1 and result.history[1].reason == "missing_number"


# -- protected spans ----------------------------------------------------------------------


async def test_markers_are_stripped_for_the_model_and_spans_listed() -> None:
    prompt = "Translate [[Le Petit Prince]] into English, keep the title."
    rewrite = "Translate the book Le Petit Prince into English and keep the French title."
    rewriter, model = make(tagged(rewrite))
    result = await rewriter.arewrite(prompt)
    sent = model.calls[0].prompt
    assert "[[" not in sent and "]]" not in sent
    assert model.calls[0].last_user.startswith("Keep these words exactly: Le Petit Prince\n")
    assert result.original == "Translate Le Petit Prince into English, keep the title."
    assert result.protected == ["Le Petit Prince"] and result.rewritten == rewrite


async def test_bpo_model_never_sees_markers() -> None:
    rewriter, model = make(GOOD, source="bpo_model")
    await rewriter.arewrite("how can I create a profile on [[Facebook]]?")
    assert model.calls[0].last_user == BPO_TEMPLATE.format(PROMPT)


async def test_missing_protected_span_falls_back() -> None:
    rewriter, _ = make(tagged("Explain how to make a profile on a social network."))
    result = await rewriter.arewrite(PROMPT, protected=["Facebook"])
    assert result.rewritten == PROMPT and result.fallback == "missing_protected"
    assert "Facebook" in (result.fallback_detail or "")


async def test_rewriter_level_spans_apply_where_present() -> None:
    rewriter, _ = make(tagged(GOOD), protected=["Facebook", "not in this prompt"])
    result = await rewriter.arewrite(PROMPT)
    assert result.protected == ["Facebook"] and result.fallback is None


async def test_markers_can_be_turned_off() -> None:
    prompt = 'Reply "[[A]]" if the first answer is better.'
    rewrite = 'Compare both answers and reply "[[A]]" if the first answer is better.'
    rewriter, model = make(tagged(rewrite), markers=None)
    result = await rewriter.arewrite(prompt)
    assert "[[A]]" in model.calls[0].prompt and result.rewritten == rewrite


# -- fallbacks ----------------------------------------------------------------------------

FALLBACKS = [
    ("Summarize {text} in {n} words.", "Summarize {text} briefly.", "missing_variable"),
    ("Name 3 rivers in Spain.", "Name some rivers in Spain, with their lengths.", "missing_number"),
    (
        'Explain the phrase "carpe diem".',
        "Explain a Latin phrase and its history.",
        "missing_quote",
    ),
    (PROMPT, GOOD + " [[Facebook]]", "leaked_marker"),
    (PROMPT, GOOD + " [KEEP this]", "leaked_marker"),
    ("hi", " ".join(["word"] * 65), "too_long"),
    (PROMPT, "   ", "empty"),
]


@pytest.mark.parametrize(("prompt", "rewrite", "reason"), FALLBACKS)
async def test_each_guard_fallback(prompt: str, rewrite: str, reason: str) -> None:
    rewriter, _ = make(tagged(rewrite))
    events: list[RunEvent] = []
    rewriter.engine.subscribe(lambda e: events.append(e) if isinstance(e, RunEvent) else None)
    result = await rewriter.arewrite(prompt)
    assert result.rewritten == result.original == prompt
    assert result.fallback == reason and result.fallback_detail
    assert rewriter.stats.fallbacks == {reason: 1} and rewriter.stats.rewritten == 0
    assert [e.kind for e in events] == ["bpo_fallback"]
    assert events[0].data["reason"] == reason


async def test_growth_limit_is_configurable() -> None:
    long = " ".join(["word"] * 30)
    rewriter, _ = make(tagged(long), guard=Guard(max_growth=2.0, growth_floor_words=10))
    result = await rewriter.arewrite("one two three four five six")
    assert result.fallback == "too_long" and "12" in (result.fallback_detail or "")


async def test_bpo_model_input_limit_skips_the_call() -> None:
    long_prompt = "word " * 600
    rewriter, model = make(GOOD, source="bpo_model")
    result = await rewriter.arewrite(long_prompt)
    assert result.fallback == "input_too_long" and model.calls == []
    assert "512" in (result.fallback_detail or "")
    unlimited, _ = make(tagged(long_prompt + " Please."))
    assert unlimited.max_input_tokens is None
    assert (await unlimited.arewrite(long_prompt)).fallback is None
    capped, _ = make(tagged(GOOD), max_input_tokens=3)
    assert (await capped.arewrite(PROMPT)).fallback == "input_too_long"


async def test_model_error_falls_back_or_raises() -> None:
    rewriter, _ = make(ModelCallError("boom"))
    result = await rewriter.arewrite(PROMPT)
    assert result.fallback == "model_error" and "boom" in (result.fallback_detail or "")
    raising, _ = make(ModelCallError("boom"), on_error="raise")
    with pytest.raises(ModelCallError):
        await raising.arewrite(PROMPT)


async def test_budget_falls_back() -> None:
    model = ScriptedChatModel(default=tagged(GOOD))
    rewriter = BPORewriter(Engine(model, budget=Budget(max_calls=0)))
    result = await rewriter.arewrite(PROMPT)
    assert result.fallback == "budget" and model.calls == []


# -- API ----------------------------------------------------------------------------------


async def test_batch_stream_and_sync() -> None:
    prompts = [f"Tell me about topic number {i}." for i in range(4)]

    def reply(request: ScriptedRequest) -> str:
        n = request.last_user.split("topic number ")[1].split(".")[0]
        return tagged(f"Give a clear, detailed overview of topic number {n}, with examples.")

    model = ScriptedChatModel(default=reply)
    rewriter = BPORewriter(Engine(model))
    batch = await rewriter.arewrite_batch(prompts)
    assert [r.original for r in batch] == prompts
    assert all(f"number {i}," in r.rewritten for i, r in enumerate(batch))
    streamed = [item async for item in rewriter.arewrite_stream(prompts)]
    assert sorted(i for i, _ in streamed) == [0, 1, 2, 3]
    assert all(r.rewritten == batch[i].rewritten for i, r in streamed)
    assert rewriter.rewrite(prompts[0]).rewritten == batch[0].rewritten
    assert rewriter.stats.prompts == 9


async def test_leaving_the_stream_early_cancels_the_rest() -> None:
    rewriter, _ = make(default=tagged(GOOD))
    stream = rewriter.arewrite_stream([PROMPT] * 3)
    async for _, result in stream:
        assert result.rewritten == GOOD
        break
    await stream.aclose()


async def test_results_are_cached_through_the_engine(tmp_path: Path) -> None:
    model = ScriptedChatModel(default=tagged(GOOD))
    engine = Engine(model, cache=tmp_path / "cache.sqlite")
    first = await BPORewriter(engine).arewrite(PROMPT)
    second = await BPORewriter(engine).arewrite(PROMPT)
    engine.close()
    assert first.rewritten == second.rewritten and len(model.calls) == 1
    usage = engine.usage()
    assert usage.by_role["rewriter"].calls == 1 and usage.by_role["rewriter"].cache_hits == 1


def test_invalid_configuration() -> None:
    engine = Engine(ScriptedChatModel(default="x"))
    for bad in ({"source": "x"}, {"mode": "x"}, {"rounds": 0}, {"on_error": "x"}):
        with pytest.raises(ValueError):
            BPORewriter(engine, **bad)
