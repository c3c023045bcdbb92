"""The run report: HTML and Markdown sections, escaping, diff, lineage, chart, usage."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

import pytest
from report_results import (
    EDIT_1,
    EDIT_2,
    EDIT_3,
    GRADIENT_1,
    GRADIENT_2,
    GRADIENT_3,
    INITIAL,
    PARA_2,
    empty_result,
    lineage_result,
)

from apo_core.apo.result import APOResult
from apo_core.report import render_html, render_markdown, write_report
from apo_core.report.diff_html import diff_html, tokens
from apo_core.report.parts import score_series, trace_lineage
from apo_core.report.svg_chart import score_chart

SECTION_IDS = ("best-prompt", "scores", "plot", "lineage", "usage", "config")


def _section(html: str, sid: str) -> str:
    match = re.search(rf'<section id="{sid}">(.*?)</section>', html, re.S)
    assert match is not None, sid
    return match.group(1)


def test_html_has_every_section_an_svg_and_no_external_resources() -> None:
    html = render_html(lineage_result(), title="Sentiment <run>")
    for sid in SECTION_IDS:
        assert f'<section id="{sid}">' in html
    assert "<svg" in _section(html, "plot")
    assert "<title>Sentiment &lt;run&gt;</title>" in html
    assert "<script" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html


def test_prompts_and_run_text_are_escaped() -> None:
    html = render_html(lineage_result())
    assert "<b>{text}</b>" not in html and "<script>alert" not in html
    assert escape(EDIT_3) in _section(html, "best-prompt")
    assert "{{positive}}" in html  # braces survive as text
    assert "The prompt ignores &lt;sarcasm&gt; &amp; irony" in html
    assert "a note with &lt;angle&gt; brackets" in html


def test_best_prompt_diff_marks_insertions_and_deletions() -> None:
    html = _section(render_html(lineage_result()), "best-prompt")
    assert '<ins class="diff-ins">' in html and '<del class="diff-del">' in html
    assert re.search(r'<ins class="diff-ins">[^<]*&lt;script&gt;', html)
    assert re.search(r'<del class="diff-del">[^<]*positive', html)


def test_diff_html_rebuilds_both_texts() -> None:
    old, new = "a <b> & c\nline two", "a <i> & c\nline 2 added"
    markup = diff_html(old, new)
    without_ins = re.sub(r'<ins class="diff-ins">.*?</ins>', "", markup, flags=re.S)
    without_del = re.sub(r'<del class="diff-del">.*?</del>', "", markup, flags=re.S)
    strip = re.compile(r"</?(ins|del)[^>]*>")
    assert strip.sub("", without_ins) == escape(old)
    assert strip.sub("", without_del) == escape(new)
    assert "".join(tokens(old)) == old


def test_scores_show_accuracy_f1_and_confidence_intervals() -> None:
    html = _section(render_html(lineage_result()), "scores")
    assert "0.550 [0.450, 0.650] n=40" in html  # initial validation accuracy
    assert "0.850 [0.750, 0.950] n=40" in html  # best validation accuracy
    assert "F1 (positive: positive)" in html
    assert "macro F1" in html and "0.830 [0.640, 0.840] n=40" in html  # best validation
    assert ">test<" in html and "0.810 [0.710, 0.910] n=40" in html
    assert "+0.300" in html


def test_scores_without_a_test_split() -> None:
    result = lineage_result(with_test=False)
    html = _section(render_html(result), "scores")
    assert ">test<" not in html and "No test split was scored." in html
    assert "No test split was scored." in render_markdown(result)


def test_lineage_walks_edits_and_paraphrases_back_to_the_initial_prompt() -> None:
    steps, complete = trace_lineage(lineage_result())
    assert complete
    assert [s.prompt for s in steps] == [INITIAL, EDIT_1, PARA_2, EDIT_3]
    assert [s.origin for s in steps] == ["initial", "edit", "paraphrase", "edit"]
    assert [s.round for s in steps] == [None, 0, 1, 2]
    assert steps[3].parent == PARA_2 and steps[3].pulls == 12
    # Each step carries the gradient that made it, not every gradient of its round.
    assert [s.gradient for s in steps] == [None, GRADIENT_1, GRADIENT_2, GRADIENT_3]
    assert [s.edit for s in steps] == [None, None, EDIT_2, None]

    html = _section(render_html(lineage_result()), "lineage")
    chain, every_round = html.split("<h3>Every round</h3>")
    assert chain.count('<span class="tag edit">') == 2
    assert chain.count('<span class="tag paraphrase">') == 1
    assert "Round two gradient: mentions of &#x27;not&#x27; flip the label" in chain
    assert "The prompt ignores &lt;sarcasm&gt; &amp; irony" in chain
    assert "Too short" not in chain and "another parent" not in chain  # losers' gradients
    assert "The edit it paraphrases" in chain and escape(EDIT_2) in chain
    assert "Too short {no context}" in every_round and "another parent" in every_round
    assert "an edit that was rejected" in every_round  # each round's edits are listed

    md = render_markdown(lineage_result())
    md_chain = md.split("## Lineage")[1].split("### Every round")[0]
    assert "The gradient it answers: The prompt ignores" in md_chain
    assert "Too short" not in md_chain and "another parent" not in md_chain
    assert "The edit it paraphrases:" in md_chain and EDIT_2 in md_chain  # fenced verbatim


def test_lineage_of_a_partial_history_says_so() -> None:
    result = lineage_result()
    result.history = result.history[1:]  # as if round 1 were missing
    steps, complete = trace_lineage(result)
    assert not complete and steps[0].prompt == PARA_2
    assert "does not reach back" in render_html(result)


def test_plot_series_and_plain_svg_chart() -> None:
    result = lineage_result()
    points = score_series(result)
    assert [p.round for p in points] == [0, 1, 2, 3]
    assert [p.best for p in points] == [0.55, 0.7, 0.78, 0.85]
    svg = score_chart(points, initial=0.55, backend="svg")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<circle") == 1 + 2 * 3 + 4 + 1  # beam dots, best dots, legend dot
    assert "<polyline" in svg and "initial prompt: 0.550" in svg
    assert "<svg" in score_chart([], initial=None, backend="svg")


def test_matplotlib_chart_when_installed() -> None:
    pytest.importorskip("matplotlib", reason="the [report] extra (matplotlib) is not installed")
    result = lineage_result()
    svg = score_chart(score_series(result), initial=0.55, backend="matplotlib")
    assert svg.startswith("<svg") and "best of round" in svg
    assert svg == score_chart(score_series(result), initial=0.55, backend="matplotlib")


def test_usage_per_role_with_unpriced_models_flagged() -> None:
    html = _section(render_html(lineage_result()), "usage")
    for number in ("321", "17", "45,678", "987", "$0.0123", "42", "23,456", "8,765", "363"):
        assert f">{number}<" in html, number
    assert ">optimizer<" in html and ">task<" in html and ">total<" in html
    assert "$0.0000 + unpriced" in html and "Unpriced models" in html
    assert "my-local-model</p>" in html
    md = render_markdown(lineage_result())
    assert "| task | 321 | 17 |" in md and "**Unpriced models**" in md


def test_config_section_has_stopped_by_seed_and_config() -> None:
    html = _section(render_html(lineage_result()), "config")
    assert "stopped by" in html and ">rounds<" in html
    assert "<th>seed</th><td>7</td>" in html
    assert "beam_size" in html and "ucb" in html
    assert "[&#x27;{{positive}}&#x27;]" in html


def test_markdown_has_the_same_sections_and_a_score_table() -> None:
    md = render_markdown(lineage_result())
    for sid in SECTION_IDS:
        assert f'<a id="{sid}"></a>' in md
    for heading in (
        "## Best prompt",
        "## Scores",
        "## Scores per round",
        "## Lineage",
        "## Usage and cost",
        "## Run and configuration",
    ):
        assert heading in md
    assert "| 3 | 0.850 | 0.850, 0.780 |" in md
    assert "```diff" in md and "+" + EDIT_3 in md
    assert "The prompt ignores &lt;sarcasm&gt; &amp; irony" in md
    assert "0.550 [0.450, 0.650] n=40" in md
    assert "macro F1" in md and "0.490 [0.300, 0.500] n=40" in md  # initial validation


def test_markdown_fence_survives_backticks_in_prompts() -> None:
    result = lineage_result()
    result.best_prompt = "Use ``` fences {text}"
    md = render_markdown(result)
    assert "````text\nUse ``` fences {text}\n````" in md


def test_a_result_with_zero_rounds_renders() -> None:
    result = empty_result()
    html = render_html(result)
    for sid in SECTION_IDS:
        assert f'<section id="{sid}">' in html
    assert "<svg" in html
    assert "No rounds ran" in html and "no change" in html
    md = render_markdown(result)
    assert "No rounds ran" in md and "No model calls were recorded." in md


def test_round_trip_through_json_renders_the_same(tmp_path: Path) -> None:
    result = lineage_result()
    again = APOResult.from_json(result.to_json())
    assert render_html(again) == render_html(result)


def test_write_report_writes_both_files(tmp_path: Path) -> None:
    html_path, md_path = write_report(lineage_result(), tmp_path / "run", stem="final")
    assert html_path == tmp_path / "run" / "final.html" and md_path.name == "final.md"
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert md_path.read_text(encoding="utf-8").startswith("# APO run report")
    default = write_report(empty_result(), tmp_path)
    assert [p.name for p in default] == ["report.html", "report.md"]
