"""Compact meta-prompts: worked examples, the instruction slot, reading tiny models' replies."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apo_core.apo import compact
from apo_core.apo.compact import (
    WORKED_EXAMPLES,
    copies_worked_example,
    find_instruction,
    fit_words,
    loops,
    read_reply,
)
from apo_core.apo.metaprompts import resolve_style
from apo_core.apo.prompts import ErrorCase

ERRORS = [ErrorCase("text: a dull, slow film", "negative", "positive", feedback="wrong label")]


def has_field(line: str) -> bool:
    return re.search(r"\{\w+\}", line) is not None


def test_worked_examples_are_generic() -> None:
    """Nothing in the demonstrations is about the shipped sentiment task or its labels."""
    for w in WORKED_EXAMPLES:
        text = " ".join((w.prompt, w.reason, w.edit, w.paraphrase, *(e.input for e in w.errors)))
        for word in ("sentiment", "review", "positive", "negative", "movie", "film"):
            assert word not in text.casefold()
        assert w.instruction in w.prompt and w.instruction in w.edit  # an edit builds on it


def test_gradient_messages_show_two_worked_examples_then_the_case() -> None:
    messages = compact.gradient_messages("Label it.\nReview: {text}\nLabel:", ERRORS)
    roles = [m.role for m in messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    shots = [m.content for m in messages if m.role == "assistant"]
    assert shots == [f"<START>{w.reason}<END>" for w in WORKED_EXAMPLES]
    assert "Prompt:\n" + WORKED_EXAMPLES[0].prompt in messages[1].content
    user = messages[-1].content
    assert user.startswith("Prompt:\nLabel it.\nReview: {text}\nLabel:\n\nWrong answers:\n")
    assert "- Input: text: a dull, slow film\n  Expected: negative\n  Model said: positive" in user
    assert "  Note: wrong label" in user
    assert user.endswith("Give one reason about the prompt.")


def test_edit_and_paraphrase_messages_ask_for_the_instruction_only() -> None:
    edit = compact.edit_messages("Label it.", "The prompt\nnever names the labels.")
    assert [m.content for m in edit if m.role == "assistant"] == [
        f"<START>{w.edit}<END>" for w in WORKED_EXAMPLES
    ]
    assert edit[-1].content == (
        "Instruction: Label it.\nProblem: The prompt never names the labels.\n"
        "Write the instruction again so that it fixes the problem."
    )
    para = compact.paraphrase_messages("Label it.")
    assert [m.content for m in para if m.role == "assistant"] == [
        f"<START>{w.paraphrase}<END>" for w in WORKED_EXAMPLES
    ]
    assert para[-1].content == "Instruction: Label it.\nSay it in other words."
    assert "Instruction: " + WORKED_EXAMPLES[1].edit in para[3].content


def test_long_inputs_are_cut_and_flattened() -> None:
    long = ErrorCase("text: " + "word\n" * 300, "a", "b")
    user = compact.gradient_messages("P {text}", [long])[-1].content
    assert "word word" in user and "word\n" not in user and "..." in user
    assert len(user) < 700


@pytest.mark.parametrize(
    ("prompt", "before", "text", "after"),
    [
        (
            "Is it good or bad?\n\nReview: {text}\n\nAnswer:",
            "",
            "Is it good or bad?",
            "\n\nReview: {text}\n\nAnswer:",
        ),
        (
            "Review: {text}\nDid the reviewer like it? The review is",
            "Review: {text}\n",
            "Did the reviewer like it? The review is",
            "",
        ),
        (  # a block of two lines; the one-word cue "Label:" is no instruction
            "Label:\n\nRead the text.\nThen label it.\n{text}",
            "Label:\n\n",
            "Read the text.\nThen label it.",
            "\n{text}",
        ),
    ],
)
def test_the_instruction_is_the_first_free_block(
    prompt: str, before: str, text: str, after: str
) -> None:
    slot = find_instruction(prompt, has_field)
    assert (slot.before, slot.text, slot.after) == (before, text, after)
    assert not slot.whole
    assert slot.splice("  New words.  ") == before + "New words." + after


def test_protected_lines_are_not_the_instruction() -> None:
    prompt = "Answer yes or no only.\nIs this spam at all?\nEmail: {email}"
    slot = find_instruction(prompt, has_field, spans=["yes or no"])
    assert slot.text == "Is this spam at all?"
    assert slot.splice("Spam sells things.").startswith("Answer yes or no only.\n")


def test_a_prompt_without_free_block_is_rewritten_whole() -> None:
    slot = find_instruction("Label {text}:", has_field)
    assert slot.whole and slot.text == "Label {text}:"
    assert slot.splice("Say if {text} is spam.") == "Say if {text} is spam."


@given(
    st.lists(
        st.one_of(
            st.sampled_from(["{text}", "Input: {text}", "", "Label:", "Answer yes or no."]),
            st.text(alphabet="abc ?.", min_size=0, max_size=30),
        ),
        min_size=1,
        max_size=8,
    ),
    st.text(alphabet="xyz ?.", min_size=1, max_size=40).filter(str.strip),
)
def test_splicing_keeps_every_other_line(lines: list[str], new: str) -> None:
    prompt = "\n".join(lines)
    slot = find_instruction(prompt, has_field)
    assert slot.splice(slot.text) == (prompt.strip() if slot.whole else prompt)  # exact cut
    spliced = slot.splice(new)
    if not slot.whole:
        for line in lines:
            if has_field(line):
                assert line in spliced  # the input frame survives
        assert spliced.startswith(slot.before) and spliced.endswith(slot.after)


@pytest.mark.parametrize(
    ("reply", "one_line", "item"),
    [
        (
            "<START>The prompt never names the labels.<END>",
            True,
            "The prompt never names the labels.",
        ),
        ("<END>The prompt is vague.", True, "The prompt is vague."),  # SmolLM2 opens with <END>
        ("The prompt is vague. <END> more", True, "The prompt is vague."),
        ("<START>Instruction: Say yes or no.\nWrong answers: ...", True, "Say yes or no."),
        ('<START>"Say yes or no."</START>', True, "Say yes or no."),
        ("<start>Line one.\nLine two.", False, "Line one.\nLine two."),
        ("  ", True, None),
        ("<START><END>", True, None),
    ],
)
def test_read_reply(reply: str, one_line: bool, item: str | None) -> None:
    assert read_reply(reply, one_line=one_line) == item


def test_loops_and_worked_example_copies_are_dropped() -> None:
    looping = "The review is bad. " * 8
    assert loops(looping) and read_reply(looping, one_line=False) is None
    assert not loops("Say yes if the email sells something nobody asked for, else say no.")
    copy = WORKED_EXAMPLES[0].edit
    assert copies_worked_example(copy) and read_reply(copy, one_line=True) is None
    # the same words are fine when the real request holds them
    assert read_reply(copy, one_line=True, context=copy) == copy
    assert not copies_worked_example("The prompt does not say what spam is.")


def test_a_rambling_line_is_cut_after_its_last_whole_sentence() -> None:
    words = "Say yes or no. " + "Then explain why the answer is right in many words " * 5
    fitted = fit_words(words, limit=12)
    assert fitted == "Say yes or no."
    assert fit_words("one two three", limit=2) is None
    assert fit_words("Short.", limit=2) == "Short."
    assert read_reply("<START>" + words, one_line=True) == "Say yes or no."


class _Tiny:
    meta_prompt_style = "compact"


class _Plain:
    pass


def test_style_resolution() -> None:
    assert resolve_style("auto", _Tiny()) == "compact"
    assert resolve_style("auto", _Plain()) == "full"
    assert resolve_style("full", _Tiny()) == "full"
    assert resolve_style("compact", _Plain()) == "compact"
