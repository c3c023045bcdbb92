"""Pair construction: loading, the optimizer request, parsing, the paper's filters, SFT output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apo_core import Budget, BudgetExceeded, ConfigError, Engine, ModelCallError, ScriptedChatModel
from apo_core.bpo.data import load_preference_rows, load_prompts, read_records
from apo_core.bpo.pairs import (
    BPOPair,
    build_pairs,
    filter_pair,
    make_pair,
    pair_messages,
    parse_pair_reply,
)
from apo_core.bpo.sft import sft_record, write_sft_jsonl
from apo_core.bpo.templates import BPO_INSTRUCTION
from apo_core.models import ScriptedRequest

FIXTURES = Path(__file__).parents[2] / "fixtures" / "bpo"


def reply(comparison: str, optimized: str) -> str:
    return f"Detailed Comparison Result: {comparison}\nOptimized Instruction: {optimized} [END]"


# -- loading ------------------------------------------------------------------------------


def test_loads_jsonl_and_json_with_flexible_keys() -> None:
    plain = load_preference_rows(FIXTURES / "preferences.jsonl")
    assert len(plain) == 4 and plain[0].instruction == "Name a planet."
    assert plain[0].good.startswith("Mars") and plain[0].bad == "A planet." and not plain[0].context
    ctx = load_preference_rows(FIXTURES / "preferences_context.json")
    assert ctx[1].context.startswith("Dear Sam") and ctx[1].good.startswith("Priya")


def test_explicit_keys_and_clear_errors(tmp_path: Path) -> None:
    records = [{"q": "Say hi.", "yes": "Hi!", "no": "..."}]
    rows = load_preference_rows(records, keys={"instruction": "q", "good": "yes", "bad": "no"})
    assert rows[0].good == "Hi!"
    with pytest.raises(ConfigError, match="keys present"):
        load_preference_rows(records)
    with pytest.raises(ConfigError, match="not found"):
        read_records(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json\n")
    with pytest.raises(ConfigError, match="neither JSON nor JSONL"):
        read_records(bad)


def test_load_prompts_joins_context() -> None:
    assert load_prompts(FIXTURES / "prompts.jsonl")[2] == "What is 12 times 7?"
    prompts = load_prompts(FIXTURES / "preferences_context.json")
    assert prompts[1] == "Who wrote the letter?\nDear Sam, thank you for the flowers. Love, Priya"


# -- request and parsing ------------------------------------------------------------------


def test_pair_request_contains_both_responses_and_the_format() -> None:
    row = load_preference_rows(FIXTURES / "preferences_context.json")[0]
    [message] = pair_messages(row)
    text = message.content
    assert row.instruction in text and row.context in text
    assert text.index(row.bad) < text.index(row.good)
    assert "correctness" in text and "harmlessness" in text and "Optimized Instruction:" in text
    assert "Context:" in text
    no_ctx = pair_messages(load_preference_rows(FIXTURES / "preferences.jsonl")[0])[0].content
    assert "Context:" not in no_ctx


@pytest.mark.parametrize(
    ("text", "comparison", "optimized"),
    [
        (reply("Good is accurate.", "Name one planet and say a fact about it."),
         "Good is accurate.", "Name one planet and say a fact about it."),
        ('**Detailed Comparison Result:** x\n**Optimized Instruction:** "Quoted." [END] junk',
         "x", "Quoted."),
        ("Detailed Comparison Result: only a comparison [END]", "only a comparison", None),
    ],
)  # fmt: skip
def test_parse_pair_reply(text: str, comparison: str, optimized: str | None) -> None:
    assert parse_pair_reply(text) == (comparison, optimized)


# -- filters ------------------------------------------------------------------------------

FOUR = "Name a big planet."


@pytest.mark.parametrize(
    ("optimized", "reason"),
    [
        (None, "no_optimized_instruction"),
        ("  ", "empty"),
        ("Planet.", "too_short"),  # 1 word < 4 / 2
        (" ".join(["word"] * 25), "too_long"),  # 25 > 6 * 4
        ("Name a big planet. [PROTECTED] keep this", "leaked_marker"),
        ("Name a big planet [[and]] explain.", "leaked_marker"),
        ("Name a big planet [KEEP it].", "leaked_marker"),
    ],
)
def test_filters_drop(optimized: str | None, reason: str) -> None:
    drop = filter_pair(FOUR, optimized)
    assert drop is not None and drop[0] == reason and drop[1]


def test_filters_keep_boundaries() -> None:
    assert filter_pair(FOUR, "Name planets.") is None  # exactly half
    assert filter_pair(FOUR, " ".join(["word"] * 24)) is None  # exactly 6x


def test_context_goes_after_instruction_unless_the_rewrite_has_it() -> None:
    row = load_preference_rows(FIXTURES / "preferences_context.json")[1]
    pair = make_pair(row, "cmp", "Read the letter below and say who wrote it and to whom.")
    assert pair.prompt == f"{row.instruction}\n{row.context}"
    assert pair.optimized_prompt.endswith("\n" + row.context)
    inline = make_pair(row, "cmp", f"Who wrote this letter: {row.context}")
    assert inline.optimized_prompt == f"Who wrote this letter: {row.context}"


# -- the whole step -----------------------------------------------------------------------


async def test_build_pairs_one_optimizer_call_per_row(tmp_path: Path) -> None:
    rows = load_preference_rows(FIXTURES / "preferences.jsonl")

    def answer(request: ScriptedRequest) -> str:
        if "Name a planet." in request.prompt:
            return reply("Good is specific.", "Name a planet and give one fact about it.")
        if "sleeping" in request.prompt:
            return "I think the good one is better."  # no optimized instruction
        if "haiku" in request.prompt:
            return reply("x", "Haiku.")  # 1 word: less than half of 5
        return ModelCallError("server said no")  # type: ignore[return-value]

    model = ScriptedChatModel(default=answer)
    engine = Engine(model, max_attempts=1)
    result = await build_pairs(engine, rows)
    assert len(model.calls) == 4
    assert {c.params.temperature for c in model.calls} == {0.9}
    assert engine.usage().by_role["optimizer"].calls == 3
    assert [p.instruction for p in result.pairs] == ["Name a planet."]
    assert result.stats.model_dump() == {
        "total": 4,
        "kept": 1,
        "dropped": {"no_optimized_instruction": 1, "too_short": 1, "model_error": 1},
    }
    assert [d.index for d in result.dropped] == [1, 2, 3]

    out, stats = tmp_path / "sft" / "pairs.jsonl", tmp_path / "stats.json"
    assert write_sft_jsonl(result, out, stats_path=stats) == 1
    [record] = [json.loads(line) for line in out.read_text().splitlines()]
    assert record == {
        "messages": [
            {"role": "user", "content": BPO_INSTRUCTION + "Name a planet."},
            {"role": "assistant", "content": "Name a planet and give one fact about it."},
        ]
    }
    report = json.loads(stats.read_text())
    assert report["stats"]["kept"] == 1 and len(report["dropped"]) == 3


async def test_build_pairs_stops_on_budget_and_needs_rows() -> None:
    rows = load_preference_rows(FIXTURES / "preferences.jsonl")
    engine = Engine(ScriptedChatModel(default=reply("x", "y")), budget=Budget(max_calls=0))
    with pytest.raises(BudgetExceeded):
        await build_pairs(engine, rows)
    with pytest.raises(ConfigError):
        await build_pairs(engine, [])


def test_sft_record_with_system() -> None:
    pair = BPOPair(prompt="p", optimized_prompt="q", instruction="p", optimized_instruction="q")
    record = sft_record(pair, system="You rewrite prompts.")
    assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant"]
    assert BPO_INSTRUCTION == (
        "You are an expert prompt engineer. Please help me improve this prompt to get a "
        "more helpful and harmless response:\n"
    )
