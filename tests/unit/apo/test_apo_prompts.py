"""Meta-prompts: what the optimizer is shown and asked for."""

from __future__ import annotations

from apo_core.apo.prompts import (
    ErrorCase,
    edit_messages,
    format_errors,
    gradient_messages,
    paraphrase_messages,
)

ERRORS = [
    ErrorCase(input="text: great film", expected="positive", got="negative", feedback="wrong"),
    ErrorCase(input="text: " + "x" * 1000, expected="negative", got="positive"),
]


def test_errors_show_input_expected_answer_and_feedback() -> None:
    text = format_errors(ERRORS)
    assert "Case 1\nInput: text: great film\nExpected answer: positive" in text
    assert "Model answer: negative\nGrader's note: wrong" in text
    assert "Case 2" in text and "x" * 1000 not in text and "..." in text


def test_gradient_prompt_structured_and_tagged() -> None:
    structured = gradient_messages("Label {text}", ERRORS, 3, structured=True)
    assert [m.role for m in structured] == ["system", "user"]
    user = structured[1].content
    assert "<<<PROMPT\nLabel {text}\nPROMPT>>>" in user and "3 different reason(s)" in user
    assert '{"reasons": [...]}' in user
    tagged = gradient_messages("Label {text}", ERRORS, 1, structured=False)[1].content
    assert "<START>" in tagged and "<END>" in tagged and "JSON" not in tagged


def test_edit_and_paraphrase_prompts_protect_variables_and_spans() -> None:
    edit = edit_messages(
        "Label {text}. Answer yes or no.",
        ERRORS,
        "the prompt never defines the labels",
        2,
        placeholders=["{text}"],
        spans=["Answer yes or no."],
        structured=True,
    )[1].content
    assert "the prompt never defines the labels" in edit and "2 improved prompt(s)" in edit
    assert "{text}" in edit and '- "Answer yes or no."' in edit
    para = paraphrase_messages("Label {text}.", placeholders=["{text}"], spans=[], structured=True)[
        1
    ].content
    assert "Rewrite this prompt" in para and "{text}" in para and "word for word" not in para
