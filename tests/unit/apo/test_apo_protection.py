"""Protection: candidates keep the original's variables and protected spans, or are rejected."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apo_core import ConfigError
from apo_core.apo.protection import PromptGuard, escape_stray_braces, normalize
from apo_core.program import TemplateProgram

PROGRAM = TemplateProgram()
NAMES = ["text", "question", "ctx", "label", "x1"]

fragment = st.one_of(
    st.text(alphabet="ab ,.:\n{}", max_size=8),
    st.sampled_from(NAMES).map(lambda n: "{" + n + "}"),
    st.sampled_from(NAMES).map(lambda n: "{{" + n + "}}"),
    st.sampled_from(["{", "}", "{{", "}}", "{0}", "{a.b}", "{x!r}", "Answer in JSON."]),
)
prompt_text = st.lists(fragment, max_size=12).map("".join)


def _parses(text: str) -> bool:
    try:
        PROGRAM.variables(text)
    except ValueError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(original=prompt_text, candidate=prompt_text, protect=st.booleans(), repair=st.booleans())
def test_candidates_are_never_accepted_broken(
    original: str, candidate: str, protect: bool, repair: bool
) -> None:
    original = escape_stray_braces(original, set(NAMES)) + " Answer with one word."
    assert _parses(original)
    spans = ["Answer with one word."] if protect else []
    guard = PromptGuard(PROGRAM, original, spans, repair=repair)
    checked = guard.check(candidate)
    if checked.prompt is None:
        assert checked.problem
        return
    assert PROGRAM.variables(checked.prompt) == PROGRAM.variables(original)
    for span in spans:
        assert span in checked.prompt
    if not repair:
        assert not checked.repaired


def test_missing_variable_and_span_are_reappended() -> None:
    guard = PromptGuard(PROGRAM, "Classify {text}. Reply 'yes' or 'no'.", ["Reply 'yes' or 'no'."])
    checked = guard.check("Decide carefully whether it is a lie.")
    assert checked.repaired and checked.prompt is not None
    assert "{text}" in checked.prompt and checked.prompt.endswith("Reply 'yes' or 'no'.")
    assert "variables changed" in (checked.problem or "")


def test_added_variable_and_stray_brace_are_escaped() -> None:
    guard = PromptGuard(PROGRAM, "Classify {text}.")
    checked = guard.check("Classify {text} as {label} using {json: true}")
    assert checked.prompt == "Classify {text} as {{label}} using {{json: true}}"
    assert checked.repaired


def test_without_repair_broken_candidates_are_rejected() -> None:
    guard = PromptGuard(PROGRAM, "Classify {text}.", repair=False)
    assert guard.check("Classify it.").prompt is None
    assert guard.check("Classify {text} {extra}").prompt is None
    assert guard.check("Classify {text} well.").prompt == "Classify {text} well."


def test_empty_and_overlong_candidates_are_rejected() -> None:
    guard = PromptGuard(PROGRAM, "Classify {text}.", max_chars=50)
    assert guard.check("   ").problem == "empty"
    assert guard.check("<<<PROMPT\n\nPROMPT>>>").prompt is None
    assert guard.check("x" * 51 + "{text}").prompt is None


def test_wrappers_echoed_by_the_optimizer_are_removed() -> None:
    guard = PromptGuard(PROGRAM, "Classify {text}.")
    assert guard.check("<<<PROMPT\nSort {text}.\nPROMPT>>>").prompt == "Sort {text}."


def test_bad_initial_prompt_or_span_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        PromptGuard(PROGRAM, "broken { prompt")
    with pytest.raises(ConfigError):
        PromptGuard(PROGRAM, "Classify {text}.", ["not in the prompt"])


def test_placeholders_and_normalize() -> None:
    guard = PromptGuard(PROGRAM, "{b} and {a}")
    assert guard.placeholders() == ["{a}", "{b}"]
    assert normalize("  Hello\n  World ") == normalize("hello world")
