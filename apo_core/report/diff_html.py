"""Word-level prompt diffs: escaped HTML with ``<ins>``/``<del>`` marks, and unified text."""

from __future__ import annotations

import difflib
import re
from html import escape

_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")


def tokens(text: str) -> list[str]:
    """Words, runs of whitespace and single punctuation marks; joined they give ``text`` back."""
    return _TOKEN.findall(text)


def diff_html(old: str, new: str) -> str:
    """``new`` against ``old`` as escaped HTML: insertions in ``<ins>``, deletions in ``<del>``.

    The markup is meant for a ``white-space: pre-wrap`` container (newlines are kept).
    """
    a, b = tokens(old), tokens(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    parts: list[str] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        removed, added = "".join(a[i1:i2]), "".join(b[j1:j2])
        if op == "equal":
            parts.append(escape(added))
            continue
        if removed:
            parts.append(f'<del class="diff-del">{escape(removed)}</del>')
        if added:
            parts.append(f'<ins class="diff-ins">{escape(added)}</ins>')
    return "".join(parts)


def diff_stats(old: str, new: str) -> tuple[int, int]:
    """Words inserted and deleted going from ``old`` to ``new``."""
    a, b = old.split(), new.split()
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    inserted = deleted = 0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            deleted += i2 - i1
            inserted += j2 - j1
    return inserted, deleted


def unified_diff(old: str, new: str, *, old_name: str = "initial", new_name: str = "best") -> str:
    """A line-level unified diff (for Markdown ``diff`` code blocks); empty when equal."""
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), fromfile=old_name, tofile=new_name, lineterm=""
    )
    return "\n".join(lines)
