"""The rewriter's parts: template and modes, markers, guard checks, output post-processing."""

from __future__ import annotations

import pytest

import apo_core.bpo as bpo
from apo_core import ConfigError
from apo_core.bpo.guard import Guard, numbers, preservation, quoted_spans, template_variables
from apo_core.bpo.postprocess import apply_mode, from_bpo_model, from_meta_prompt
from apo_core.bpo.protect import protect, strip_markers
from apo_core.bpo.rewriter import choose_candidate
from apo_core.bpo.templates import BPO_TEMPLATE, MODES, bpo_prompt, meta_prompt_messages


def test_public_names_exist() -> None:
    assert [name for name in bpo.__all__ if not hasattr(bpo, name)] == []


def test_exact_template_and_modes() -> None:
    assert BPO_TEMPLATE == (
        "[INST] You are an expert prompt engineer. Please help me improve this prompt to get a "
        "more helpful and harmless response:\n{} [/INST]"
    )
    assert bpo_prompt("Hi {x}") == BPO_TEMPLATE.replace("{}", "Hi {x}")
    stable, aggressive = MODES["stable"], MODES["aggressive"]
    assert (stable.samples, stable.temperature, stable.top_p, stable.max_tokens) == (
        1, 0.6, 0.9, 1024,
    )  # fmt: skip
    assert not (stable.cut_at_newline or stable.cut_banned_markers or stable.min_growth_tokens)
    assert (aggressive.samples, aggressive.temperature, aggressive.min_growth_tokens) == (5, 0.9, 5)
    assert aggressive.cut_at_newline and aggressive.cut_banned_markers


def test_meta_prompt_rules() -> None:
    messages = meta_prompt_messages("Tell me a joke.", ["joke"])
    system, user = messages[0], messages[-1]
    text = system.content.lower()
    for rule in ("never answer", "keep every piece of information", "safe", "hints", "verbatim"):
        assert rule in text or rule in user.content.lower()
    assert "<original>\nTell me a joke.\n</original>" in user.content
    assert user.content.startswith("Keep these words exactly: joke\nImprove this prompt:")
    listed = meta_prompt_messages("Say yes, or no.", ["yes, or no", "Say"])[-1].content
    assert listed.startswith("Keep these words exactly:\n1. yes, or no\n2. Say\n")
    assert "protected" not in meta_prompt_messages("Tell me a joke.")[-1].content
    assert all("protected" not in m.content for m in messages[1:-1])  # examples: none listed


# -- markers ------------------------------------------------------------------------------


def test_strip_markers() -> None:
    assert strip_markers("a [[b]] c [[d e]]", ("[[", "]]")) == ("a b c d e", ["b", "d e"])
    assert strip_markers("open [[ only", ("[[", "]]")) == ("open [[ only", [])
    assert strip_markers("x [[]] y", ("[[", "]]")) == ("x  y", [])
    assert strip_markers("keep [[A]]", None) == ("keep [[A]]", [])
    assert strip_markers("<<a>> b", ("<<", ">>")) == ("a b", ["a"])
    with pytest.raises(ConfigError):
        strip_markers("x", ("", "]]"))


def test_protect_merges_and_orders_spans() -> None:
    p = protect("use [[JSON]] for {name}", ["{name}", "absent", "JSON"])
    assert p.text == "use JSON for {name}" and p.spans == ("JSON", "{name}")


# -- guard --------------------------------------------------------------------------------


def test_extractors() -> None:
    assert template_variables("{a} {{ b }} {c:>4} {{d}} {{ not valid") == [
        "{a}", "{{ b }}", "{c:>4}", "{{d}}",
    ]  # fmt: skip
    assert numbers("1,000 items, 3.5 kg, steps 1,2") == ["1000", "3.5", "1", "2"]
    assert quoted_spans("say \"yes\", `code`, 'single' but don't") == ["yes", "code", "single"]
    assert preservation("a b c d", "A b x") == 0.5 and preservation("", "x") == 1.0


def test_guard_passes_a_faithful_rewrite() -> None:
    original = 'Summarize {text} in 3 bullet points, titled "Summary".'
    rewrite = 'Read {text} and summarize it in 3 clear bullet points under the title "Summary".'
    assert Guard().check(original, rewrite) is None
    assert Guard().check(original, rewrite, ["{text}"]) is None


def test_guard_checks_can_be_switched_off() -> None:
    guard = Guard(
        check_numbers=False, check_quotes=False, check_variables=False, min_preservation=0
    )
    assert guard.check('Use {x} and "y" 3 times.', "Rewrite without them.") is None


def test_guard_growth_floor() -> None:
    assert Guard().max_words("hi") == 64 and Guard().max_words(" ".join("w" * 20)) == 120
    assert Guard(max_growth=2, growth_floor_words=0).check("a b", "a b c d e").reason == "too_long"  # type: ignore[union-attr]


def test_markers_in_the_original_are_not_leaks() -> None:
    assert (
        Guard().check("Answer [[A]] or [[B]].", "Answer with [[A]] or [[B]], nothing else.") is None
    )


# -- post-processing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<prompt>Do X well.</prompt>", "Do X well."),
        ("Sure! Here is the improved prompt:\nDo X well.", "Do X well."),
        ("Improved prompt: Do X well.", "Do X well."),
        ('"Do X well."', "Do X well."),
        ("```\nDo X well.\n```", "Do X well."),
        ("<prompt>\nDo X well.", "Do X well."),
        ("Do X well.</prompt> trailing chatter", "Do X well."),
        ("<original>\nDo X well.\n</original>", "Do X well."),
        ('"Say "hi" twice."', '"Say "hi" twice."'),
        ("Here is a revised version of the prompt:\n\nImproved Prompt:\nDo X.", "Do X."),
        ("Sure, here's a better version: Do X.", "Do X."),
        ("Here is my list:\na, b", "Here is my list:\na, b"),
        (
            "Rewrite the following prompt in French:\nhi",
            "Rewrite the following prompt in French:\nhi",
        ),
    ],
)
def test_from_meta_prompt(raw: str, expected: str) -> None:
    assert from_meta_prompt(raw) == expected


def test_from_bpo_model_and_apply_mode() -> None:
    assert from_bpo_model("  Better prompt.\n") == "Better prompt."
    assert from_bpo_model("[INST] ... [/INST] Better prompt.") == "Better prompt."
    aggressive, stable = MODES["aggressive"], MODES["stable"]
    assert apply_mode("\n First line.\nSecond line.", aggressive) == "First line."
    for marker in ("[KEEP this]", "[INSTRUCTION] x", "[PROTECT] y", "[PRO"):
        assert apply_mode(f"Rewrite here {marker}", aggressive) == "Rewrite here"
    assert apply_mode("A\nB [KEEP]", stable) == "A\nB [KEEP]"


def test_choose_candidate() -> None:
    original = "plan a trip to Rome"
    cands = ["Plan a short trip.", "Plan a trip to Rome with a budget.", "Plan a trip to Rome."]
    assert choose_candidate(original, cands) == 1
    assert choose_candidate(original, ["same words", "same words"]) == 0
    ten = "a b c d e f g h i j"
    near = "a b c d e f g h i " + "more " * 20  # keeps 9 of 10 words: within the slack
    far = "a b c d e " + "more " * 50
    assert choose_candidate(ten, [ten, near, far]) == 1
    with pytest.raises(ConfigError):
        choose_candidate(original, [])
