"""Token estimates used by budgets: high rather than low, without a tokenizer download."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from apo_core.estimate import MESSAGE_OVERHEAD, _heuristic, count_message_tokens
from apo_core.models.scripted import count_tokens as scripted_tokens
from apo_core.types import Message


@settings(deadline=None)
@given(st.text(max_size=300))
def test_heuristic_is_never_below_words_and_punctuation(text: str) -> None:
    # ScriptedChatModel bills words and punctuation runs: budgets built on the estimate hold.
    assert _heuristic(text) >= scripted_tokens(text)


@settings(deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=200))
def test_cjk_text_counts_at_least_one_token_per_character(text: str) -> None:
    assert _heuristic(text) >= len(text)


def test_english_is_overestimated_moderately() -> None:
    text = "The quick brown fox jumps over the lazy dog near the riverbank today."
    assert 17 <= _heuristic(text) <= 30  # ≈15 real tokens


def test_message_overhead() -> None:
    msgs = [Message(role="system", content=""), Message(role="user", content="")]
    assert count_message_tokens(msgs) == 2 * MESSAGE_OVERHEAD + 3
