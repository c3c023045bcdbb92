"""The guard's answer, truncation and content-preservation checks, alone and in the rewriter."""

from __future__ import annotations

from pathlib import Path

import pytest

from apo_core import Engine, ScriptedChatModel
from apo_core.bpo import BPORewriter, Guard
from apo_core.bpo.answered import answer_signal, asks, content_preservation
from apo_core.bpo.templates import META_EXAMPLES, meta_prompt_messages
from apo_core.models import ScriptedRequest
from apo_core.types import merge_finish_reasons

Q1 = "How can I improve my time management skills?"
# What the embedded model wrote for Vicuna Q1 before the fix (the audit's example).
Q1_ANSWER = (
    "How can I improve my time management skills?\n\nTo improve your time management, it's "
    "essential to know how to manage your time effectively. Here's a list of actionable tips "
    "that can help you achieve your goals.\n\nImprovements\n1. Effective time management\n"
    "2. Using time management tools\n3. Creating a sche"
)

ANSWERS = [
    (Q1, Q1_ANSWER, "opens like an answer"),
    (Q1, "Sure! Prioritize your tasks and keep a calendar.", "opens like an answer"),
    (Q1, "To improve your schedule, block your mornings for deep work.", "opens like"),
    (
        "What are the most effective ways to deal with stress?",
        "What are the most effective ways to deal with stress?\n\nEffective methods include "
        "relaxation techniques, healthy habits and mindfulness practices. These methods are "
        "based on the notion that stress can be reduced by taking a few moments to relax.",
        "restates the prompt",
    ),
    (
        "How can I increase my productivity while working from home?",
        "Working from home is hard. Success depends on your productivity and on routines.",
        "speaks to the user",
    ),
    (
        "What are the primary factors that influence consumer behavior?",
        "The primary factors that influence consumer behavior are:\n- **Culture**\n"
        "- **Income**\n- **Advertising**",
        "lists content items",
    ),
    (
        "Can you explain the basics of quantum computing?",
        "Quantum computing uses qubits, which hold superpositions of basic states.",
        "only makes statements",
    ),
    (Q1, "Time management matters. I hope this helps you plan.", "answer text"),
    (
        "Explain how photosynthesis works.",
        "A. photosynthesis.\nB. how do plants make food.\nC. how do they use it.",
        "lists content items",
    ),
]

ELABORATIONS = [
    (
        "how can I create a profile on Facebook?",
        "Please explain step by step how I can create a profile on Facebook, including the "
        "privacy settings I should check.",
    ),
    (
        "Tell me about Harry Potter",
        "Tell me about the Harry Potter series by J.K. Rowling. Please summarize the plot, "
        "describe the main characters and explain why the books became so popular.",
    ),
    (
        Q1,
        "How can I improve my time management skills? I work full time and study in the "
        "evenings, so I need strategies that fit a busy schedule.",
    ),
    (
        Q1,
        "How can I improve my time management skills? The answer should cover planning, "
        "prioritizing and avoiding procrastination, with one example for each.",
    ),
    (
        "What is the capital of Australia?",
        "What is the capital of Australia? Briefly explain why it was chosen over Sydney.",
    ),
    (
        "Plan a trip to Rome.",
        "Plan a trip to Rome for a first-time visitor. Please cover:\n1. the main sights\n"
        "2. where to eat\n3. how to get around the city",
    ),
    (
        "Write a haiku about the sea.",
        "Write a haiku about the sea that follows the 5-7-5 syllable pattern and evokes the "
        "sound of the waves.",
    ),
    (
        "Summarize the article below.\nThe city council voted to expand the bike lanes.",
        "Summarize the article below in two sentences, keeping the decision and who made it."
        "\nThe city council voted to expand the bike lanes.",
    ),
    ("Rules for my blog", "Rules for my blog:\n1. Explain the tone\n2. List topics\n3. Avoid ads"),
]


@pytest.mark.parametrize(("original", "rewrite", "why"), ANSWERS)
def test_answers_are_rejected(original: str, rewrite: str, why: str) -> None:
    signal = answer_signal(original, rewrite)
    assert signal is not None and why in signal
    rejection = Guard().check(original, rewrite)
    assert rejection is not None and rejection.reason == "answered"
    assert rejection.detail.startswith("the model answered the prompt")


@pytest.mark.parametrize(("original", "rewrite"), ELABORATIONS)
def test_genuine_elaborations_pass(original: str, rewrite: str) -> None:
    assert answer_signal(original, rewrite) is None
    assert Guard().check(original, rewrite) is None


@pytest.mark.parametrize(("original", "rewrite"), META_EXAMPLES)
def test_the_meta_prompt_examples_pass_the_guard(original: str, rewrite: str) -> None:
    assert Guard().check(original, rewrite) is None


def test_an_opener_the_original_itself_has_is_not_an_answer() -> None:
    original = "Sure, I can do it: here are some tips I wrote. Proofread them."
    assert answer_signal(original, original + " Please also fix the punctuation.") is None


def test_asks_recognises_requests_and_statements() -> None:
    assert asks("Please give examples.") and asks("Why is the sky blue?")
    assert asks("Briefly explain the causes.") and asks("Given a card, determine the owner.")
    assert asks("I work at night.")  # first-person context: the user speaking
    assert not asks("Stress can be reduced by relaxing.")
    assert not asks("Effective methods include relaxation techniques.")


def test_content_preservation_matches_paraphrased_words() -> None:
    assert content_preservation("my time management skills", "a time-management skill") == 1
    assert content_preservation("Why so many timezones?", "Why so many time zones?") == 1
    assert content_preservation("What is a PET scan used to diagnose?", "PET diagnosis") == 0.5
    assert content_preservation("the and of", "nothing shared") == 1.0  # no content words
    dropped = content_preservation("Compare apples, pears, plums and figs.", "Compare apples.")
    assert dropped == 0.4  # compare, apples kept; pears, plums, figs lost


def test_low_preservation_is_rejected_and_configurable() -> None:
    original = "Compare apples, pears, plums and figs for baking a pie."
    rewrite = "Please compare apples for a pie, with details."
    rejection = Guard().check(original, rewrite)
    assert rejection is not None and rejection.reason == "low_preservation"
    assert "keeps 43%" in rejection.detail and "50%" in rejection.detail
    assert Guard(min_preservation=0.4).check(original, rewrite) is None
    assert Guard(min_preservation=0).check(original, "Please bake something nice.") is None


def test_truncation_is_rejected_only_when_the_model_was_cut() -> None:
    rewrite = "Please explain step by step how I can improve my time management skills."
    assert Guard().check(Q1, rewrite, finish_reason="stop") is None
    assert Guard().check(Q1, rewrite) is None  # backend did not say
    rejection = Guard().check(Q1, rewrite, finish_reason="length")
    assert rejection is not None and rejection.reason == "truncated"
    assert "output token cap" in rejection.detail
    assert Guard(reject_truncated=False).check(Q1, rewrite, finish_reason="length") is None
    assert Guard(check_answered=False).check(Q1, Q1_ANSWER.split("\n")[0] + " Sure.") is None


def test_merge_finish_reasons() -> None:
    assert merge_finish_reasons(["stop", "length", "stop"]) == "length"
    assert merge_finish_reasons(["stop", None]) == "stop"
    assert merge_finish_reasons([]) is None


# -- in the rewriter ----------------------------------------------------------------------


def tagged(text: str) -> str:
    return f"<prompt>{text}</prompt>"


async def test_rewriter_falls_back_on_an_answer_and_counts_it() -> None:
    model = ScriptedChatModel(queue=[tagged(Q1_ANSWER)])
    rewriter = BPORewriter(Engine(model))
    result = await rewriter.arewrite(Q1)
    assert result.rewritten == Q1 and result.fallback == "answered"
    assert result.fallback_detail and "'To improve your'" in result.fallback_detail
    assert rewriter.stats.fallbacks == {"answered": 1}


async def test_rewriter_falls_back_on_a_truncated_reply() -> None:
    good = "How can I improve my time management skills? Please give practical tips."
    model = ScriptedChatModel(queue=[tagged(good)], finish_reason="length")
    rewriter = BPORewriter(Engine(model))
    result = await rewriter.arewrite(Q1)
    assert result.fallback == "truncated" and result.rewritten == Q1
    assert rewriter.stats.fallbacks == {"truncated": 1}
    assert rewriter.stats.rejected_candidates == {"truncated": 1}


async def test_a_truncated_sample_cut_at_its_newline_is_whole() -> None:
    # Aggressive mode keeps the first line only: a cap hit later in the text does not matter.
    good = "Please explain step by step how I can improve my time management skills today."
    samples = [good + "\nMore text that ran into the cap", good + " and more"]

    def reply(request: ScriptedRequest) -> str:
        return samples[request.sample % 2]

    model = ScriptedChatModel(default=reply, finish_reason="length")
    rewriter = BPORewriter(Engine(model), source="bpo_model", mode="aggressive")
    result = await rewriter.arewrite(Q1)
    assert result.history[0].rejections == [None, "truncated"] * 2 + [None]
    assert result.rewritten == good


async def test_scripted_finish_reason_per_sample_and_counts_per_reason() -> None:
    good = tagged("How can I improve my time management skills? Please give practical tips.")
    model = ScriptedChatModel(
        default=good, finish_reason=lambda r: "length" if "stress" in r.last_user else "stop"
    )
    rewriter = BPORewriter(Engine(model))
    results = await rewriter.arewrite_batch(
        [Q1, "What are the most effective ways to deal with stress?"]
    )
    assert [r.fallback for r in results] == [None, "truncated"]
    assert rewriter.stats.prompts == 2 and rewriter.stats.rewritten == 1
    assert all(r.fallback_detail for r in results if r.fallback)


async def test_output_cap_follows_the_guard_and_meta_replies_stop_at_the_tag() -> None:
    model = ScriptedChatModel(default=tagged("Please explain " + Q1))
    await BPORewriter(Engine(model)).arewrite(Q1)
    long = " ".join(["word"] * 100)
    await BPORewriter(Engine(model)).arewrite(long)
    await BPORewriter(Engine(model), max_tokens=77).arewrite(Q1)
    caps = [c.params.max_tokens for c in model.calls]
    assert caps == [2 * 64 + 32, 1024, 77]  # 64-word floor; 600 allowed words; explicit
    assert model.calls[0].params.stop == ("</prompt>",)
    bpo = ScriptedChatModel(default="Please explain " + Q1)
    await BPORewriter(Engine(bpo), source="bpo_model").arewrite(Q1)
    assert bpo.calls[0].params.stop == () and bpo.calls[0].params.max_tokens == 160


def test_meta_prompt_shows_worked_examples_as_earlier_turns() -> None:
    messages = meta_prompt_messages(Q1)
    assert [m.role for m in messages] == ["system", "user", "assistant"] * 1 + [
        "user",
        "assistant",
        "user",
    ]
    assert messages[2].content == f"<prompt>{META_EXAMPLES[0][1]}</prompt>"
    assert Q1 in messages[-1].content and "<original>" in messages[-1].content
    bare = meta_prompt_messages(Q1, examples=())
    assert [m.role for m in bare] == ["system", "user"]


async def test_a_replayed_truncated_reply_is_still_rejected(tmp_path: Path) -> None:
    good = tagged("How can I improve my time management skills? Please give practical tips.")
    model = ScriptedChatModel(default=good, finish_reason="length")
    first = await BPORewriter(Engine(model, cache=tmp_path / "c.sqlite")).arewrite(Q1)
    engine = Engine(model, cache=tmp_path / "c.sqlite")  # a new engine: replay from the file
    again = await BPORewriter(engine).arewrite(Q1)
    assert engine.usage().total.cache_hits == 1 and len(model.calls) == 1
    assert first.fallback == again.fallback == "truncated"
