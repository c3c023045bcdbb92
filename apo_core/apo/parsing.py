"""Tolerant parsing of optimizer replies: structured object, JSON in text, tagged text.

A reply is read in this order: the object the engine parsed with the requested schema; a JSON
object (or list) anywhere in the text; ``<START>...<END>`` tagged spans (``</START>`` and a
missing final closing tag are accepted too). A reply that yields nothing gives ``[]``: the
caller counts it and moves on.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field

from apo_core.types import Completion

_TAGGED = re.compile(r"<\s*START\s*>(.*?)(?:<\s*/?\s*END\s*>|<\s*/\s*START\s*>|\Z)", re.I | re.S)
_QUOTES = "\"'`“”‘’"


class GradientReply(BaseModel):
    """The optimizer's structured answer to a gradient request."""

    reasons: list[str] = Field(
        min_length=1, description="reasons why the prompt fails on the examples"
    )


class PromptsReply(BaseModel):
    """The optimizer's structured answer to an edit or paraphrase request."""

    prompts: list[str] = Field(min_length=1, description="the new prompts, each complete")


def _clean(items: list[Any]) -> list[str]:
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            continue
        text = item.strip()
        if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
            text = text[1:-1].strip()
        if text and text not in out:
            out.append(text)
    return out


def _from_json_value(value: Any, field: str) -> list[str] | None:
    if isinstance(value, dict):
        if isinstance(value.get(field), list):
            return _clean(value[field])
        if isinstance(value.get(field), str):
            return _clean([value[field]])
        lists = [v for v in value.values() if isinstance(v, list)]
        return _clean(lists[0]) if len(lists) == 1 else None
    if isinstance(value, list):
        return _clean(value)
    return None


def items_from_json(text: str, field: str) -> list[str]:
    """Strings under ``field`` of the first JSON object (or list) found in ``text``."""
    spans = [text.strip()]
    for opening, closing in (("{", "}"), ("[", "]")):
        start, end = text.find(opening), text.rfind(closing)
        if 0 <= start < end:
            spans.append(text[start : end + 1])
    for span in spans:
        try:
            value = json.loads(span, strict=False)  # raw newlines inside strings are common
        except ValueError:
            continue
        items = _from_json_value(value, field)
        if items:
            return items
    return []


def items_from_tags(text: str) -> list[str]:
    """The contents of ``<START>...<END>`` spans in ``text``."""
    if not re.search(r"<\s*START\s*>", text, re.I):
        return []
    return _clean([m.group(1) for m in _TAGGED.finditer(text)])


def parse_items(text: str, parsed: Any, field: str, *, prefer_tags: bool = False) -> list[str]:
    """The list of strings a reply carries, or ``[]`` if it carries none.

    Args:
        text: the reply text.
        parsed: the engine's structured parse of ``text`` (a pydantic object or ``None``).
        field: the schema field holding the list (``"reasons"`` or ``"prompts"``).
        prefer_tags: try tagged text before JSON (the request asked for tags).
    """
    if isinstance(parsed, BaseModel):
        items = _from_json_value(parsed.model_dump(), field)
        if items:
            return items
    order = ("tags", "json") if prefer_tags else ("json", "tags")
    for kind in order:
        items = items_from_tags(text) if kind == "tags" else items_from_json(text, field)
        if items:
            return items
    return []


def parse_completion(
    completion: Completion, field: str, *, prefer_tags: bool = False
) -> list[list[str]]:
    """:func:`parse_items` for every sample of ``completion``."""
    parsed = completion.parsed or [None] * len(completion.texts)
    return [
        parse_items(text, obj, field, prefer_tags=prefer_tags)
        for text, obj in zip(completion.texts, parsed, strict=False)
    ]
