"""Tolerant parsing of optimizer replies: structured, JSON in text, tagged text, garbage."""

from __future__ import annotations

import pytest

from apo_core.apo.parsing import (
    GradientReply,
    PromptsReply,
    items_from_tags,
    parse_completion,
    parse_items,
)
from apo_core.types import Completion


def test_structured_object_wins() -> None:
    parsed = PromptsReply(prompts=["  new prompt {text} ", ""])
    assert parse_items("ignored", parsed, "prompts") == ["new prompt {text}"]


@pytest.mark.parametrize(
    "text",
    [
        '{"reasons": ["too vague", "no labels"]}',
        'Sure! Here you go:\n{"reasons": ["too vague", "no labels"]}\nHope it helps.',
        '["too vague", "no labels"]',
        '{"why": ["too vague", "no labels"]}',
        "<START>too vague<END>\n<START>no labels<END>",
        "<start> too vague </start> and <START>no labels</END>",
        "<START>too vague<END> <START>no labels",
        '{"reasons": ["too vague",\n "no labels"]}',
    ],
)
def test_json_and_tagged_fallbacks(text: str) -> None:
    assert parse_items(text, None, "reasons") == ["too vague", "no labels"]


@pytest.mark.parametrize("text", ["", "   ", "I cannot help with that.", "{broken json", "[]"])
def test_garbage_yields_nothing(text: str) -> None:
    assert parse_items(text, None, "reasons") == []


def test_prefer_tags_order_and_quotes_stripped() -> None:
    text = '<START>"tagged"<END> {"prompts": ["json"]}'
    assert parse_items(text, None, "prompts", prefer_tags=True) == ["tagged"]
    assert parse_items(text, None, "prompts") == ["json"]


def test_duplicates_removed() -> None:
    assert items_from_tags("<START>a<END><START>a<END><START>b<END>") == ["a", "b"]


def test_parse_completion_per_sample() -> None:
    completion = Completion(
        texts=['{"reasons": ["x"]}', "nothing"],
        model_id="m",
        parsed=[GradientReply(reasons=["x"]), None],
    )
    assert parse_completion(completion, "reasons") == [["x"], []]


def test_raw_newlines_inside_json_strings_are_tolerated() -> None:
    assert parse_items('{"prompts": ["line one\nline two {text}"]}', None, "prompts") == [
        "line one\nline two {text}"
    ]


def test_schemas_ask_for_at_least_one_item() -> None:
    assert GradientReply.model_json_schema()["properties"]["reasons"]["minItems"] == 1
    assert PromptsReply.model_json_schema()["properties"]["prompts"]["minItems"] == 1
