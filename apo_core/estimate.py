"""Token estimates for budgets and pre-run cost estimates.

Uses tiktoken's ``o200k_base`` encoding when its file is already on disk (tiktoken downloads
encodings on first use, and apo-bpo never touches the network on its own). Otherwise it falls
back to a conservative character-based estimate. Backends that can count exactly expose
``count_input_tokens(messages)``, which the engine prefers.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from apo_core.types import Message

_ENCODING = "o200k_base"
_URL = f"https://openaipublic.blob.core.windows.net/encodings/{_ENCODING}.tiktoken"
MESSAGE_OVERHEAD = 4
"""Tokens a chat format adds per message (role markers), as OpenAI documents."""


def _tiktoken_cached() -> bool:
    cache_dir = (
        os.environ.get("TIKTOKEN_CACHE_DIR")
        or os.environ.get("DATA_GYM_CACHE_DIR")
        or str(Path(tempfile.gettempdir()) / "data-gym-cache")
    )
    if not cache_dir:
        return False
    return (Path(cache_dir) / hashlib.sha1(_URL.encode()).hexdigest()).exists()


@functools.lru_cache(maxsize=1)
def _counter() -> tuple[Callable[[str], int], bool]:
    """(count function, exact?)."""
    if _tiktoken_cached():
        try:
            import tiktoken

            enc = tiktoken.get_encoding(_ENCODING)
            return (lambda text: len(enc.encode(text, disallowed_special=()))), True
        except Exception:  # pragma: no cover - depends on the local tiktoken cache
            pass
    return _heuristic, False


_PIECES = re.compile(r"\w+|[^\w\s]")


def _heuristic(text: str) -> int:
    """A deliberately high token estimate without a tokenizer (budgets want upper bounds).

    ASCII: ~3 characters per token (English averages ≈4), but never fewer than its words and
    punctuation marks. Other characters (CJK, accents, emoji) count one token each: ~3 per token
    would undercount them several times over.
    """
    ascii_chars = len(text.encode("ascii", "ignore"))
    by_chars = math.ceil(ascii_chars / 3) + (len(text) - ascii_chars)
    return max(by_chars, len(_PIECES.findall(text)))


def count_text_tokens(text: str) -> int:
    """Estimated tokens of ``text``."""
    return _counter()[0](text)


def estimate_is_exact() -> bool:
    """Whether estimates come from a real tokenizer (tiktoken) rather than the heuristic."""
    return _counter()[1]


def count_message_tokens(messages: list[Message]) -> int:
    """Estimated input tokens of a chat request."""
    return sum(count_text_tokens(m.content) + MESSAGE_OVERHEAD for m in messages) + 3
